"""Malformed and hostile input: a clear 4xx error or a FORMAT_FAILURE verdict, in bounded
time and memory, through the real worker pool; never an internal error, never a hang.

Each bad file is named for its defect (STYLE §6). The pool runs one worker with the
service's limits; its time limit is also exercised directly (a worker that overruns is
killed and replaced, and the next document is served). Every bad file also goes through
HTTP, to the API and to the public page, whose service examines in its own worker pool.
"""

from __future__ import annotations

import io
import os
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import replace
from functools import cache
from typing import Any

import pytest

from zhengyin.core.clock import utcnow
from zhengyin.core.models import ClientRole
from zhengyin.trust.validation import (
    DEFAULT_LIMITS,
    DocumentTooComplexError,
    DocumentTooLargeError,
    EncryptedDocumentError,
    Indication,
    NotAPDFError,
    SubIndication,
    VerificationError,
)
from zhengyin.trust.validation.material import TrustMaterial
from zhengyin.trust.validation.pool import ExaminationPool

from ..support import bearer
from .conftest import VerifyEnv, make_verify_env

# Each document must be answered within this many seconds (limits: 20 s per document).
BOUND = 15.0


def _pdf(objects: list[bytes], *, root: int = 1, trailer_extra: bytes = b"") -> bytes:
    """A classic single-revision PDF from object bodies numbered 1..n."""
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += (b"trailer\n<< /Size %d /Root %d 0 R" % (len(objects) + 1, root) + trailer_extra
            + b" >>\nstartxref\n%d\n%%%%EOF\n" % xref)
    return bytes(out)


_PAGE = [b"<< /Type /Catalog /Pages 2 0 R /AcroForm 4 0 R >>",
         b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
         b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>"]


def deeply_nested_field_array() -> bytes:
    """The AcroForm's fields nested 50 000 arrays deep (recursive parsers overflow)."""
    return _pdf([*_PAGE, b"<< /Fields [" + b"[" * 50_000 + b"]" * 50_000 + b"] >>"])


def many_signatures() -> bytes:
    """Sixty filled signature fields (each with a bogus value): beyond the cap of 50."""
    count = 60
    fields = b" ".join(b"%d 0 R" % (5 + 2 * index) for index in range(count))
    objects = [*_PAGE, b"<< /Fields [" + fields + b"] >>"]
    for index in range(count):
        objects.append(b"<< /FT /Sig /T (S%d) /V %d 0 R >>" % (index, 6 + 2 * index))
        objects.append(b"<< /Type /Sig /Filter /Adobe.PPKLite /SubFilter "
                       b"/ETSI.CAdES.detached /ByteRange [0 1 2 3] /Contents <00> >>")
    return _pdf(objects)


def lying_stream_length() -> bytes:
    """A page content stream claiming a length of a terabyte."""
    return _pdf([b"<< /Type /Catalog /Pages 2 0 R >>",
                 b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                 b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
                 b"<< /Length 1000000000000 >>\nstream\nq Q\nendstream"])


@cache
def _bomb(size: int = 512 * 1024 * 1024) -> bytes:
    """``size`` zero bytes, deflated (about a thousandth of it)."""
    compressor = zlib.compressobj(9)
    chunk = bytes(1 << 20)
    parts = [compressor.compress(chunk) for _ in range(size >> 20)]
    parts.append(compressor.flush())
    return b"".join(parts)


def decompression_bomb_in_dss(sealed: bytes) -> bytes:
    """A later revision adds a DSS whose "CRL" inflates to 512 MiB."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.generic import pdf_name
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(io.BytesIO(sealed), strict=False)
    stream = generic.StreamObject({pdf_name("/Filter"): pdf_name("/FlateDecode")},
                                  encoded_data=_bomb())
    # pyHanko leaves DictionaryObject, update_root and write unannotated.
    dss = generic.DictionaryObject({pdf_name("/CRLs"): generic.ArrayObject(  # type: ignore[no-untyped-call]
        [writer.add_object(stream)])})
    writer.root[pdf_name("/DSS")] = writer.add_object(dss)
    writer.update_root()  # type: ignore[no-untyped-call]
    out = io.BytesIO()
    writer.write(out)  # type: ignore[no-untyped-call]
    return out.getvalue()


def decompression_bomb_in_object_stream() -> bytes:
    """The catalog stored in an object stream that inflates to 512 MiB (cross-reference
    stream, PDF 1.5), so resolving the root decodes the bomb."""
    bomb = _bomb()
    out = bytearray(b"%PDF-1.7\n")
    objstm_at = len(out)
    out += (b"1 0 obj\n<< /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode /Length %d >>\n"
            b"stream\n" % len(bomb)) + bomb + b"\nendstream\nendobj\n"
    xref_at = len(out)
    rows = (bytes([0]) + (0).to_bytes(4, "big") + (65535).to_bytes(2, "big")
            + bytes([1]) + objstm_at.to_bytes(4, "big") + (0).to_bytes(2, "big")
            + bytes([2]) + (1).to_bytes(4, "big") + (0).to_bytes(2, "big")
            + bytes([1]) + xref_at.to_bytes(4, "big") + (0).to_bytes(2, "big"))
    out += (b"3 0 obj\n<< /Type /XRef /Size 4 /W [1 4 2] /Root 2 0 R /Length %d >>\n"
            b"stream\n" % len(rows)) + rows + b"\nendstream\nendobj\n"
    out += b"startxref\n%d\n%%%%EOF\n" % xref_at
    return bytes(out)


def many_revisions(sealed: bytes) -> bytes:
    """120 empty incremental updates after the seal."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    data = sealed
    for _ in range(120):
        writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)
        writer.update_root()  # type: ignore[no-untyped-call]  # unannotated in pyHanko
        out = io.BytesIO()
        writer.write(out)  # type: ignore[no-untyped-call]
        data = out.getvalue()
    return data


@pytest.fixture(scope="module")
def verify_env(database_url: str, kek_text: str,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[VerifyEnv]:
    """A service examining in its worker pool (one worker, the service's limits), with a
    public rate limit these tests do not reach."""
    yield from make_verify_env(database_url, kek_text, tmp_path_factory,
                               verify_in_process=False, verify_workers=1,
                               public_verify_per_minute=10_000)


@pytest.fixture(scope="module")
def material(verify_env: VerifyEnv) -> TrustMaterial:
    """The service's current trust material."""
    with verify_env.runtime.unit_of_work(readonly=True) as services:
        return verify_env.runtime.verification.material(services)


@pytest.fixture(scope="module")
def pool(verify_env: VerifyEnv) -> Iterator[ExaminationPool]:
    """One real worker with the service's limits."""
    current = ExaminationPool(verify_env.runtime.examination_limits, workers=1)
    current.warm()
    yield current
    current.close()


@pytest.fixture(scope="module")
def sealed(verify_env: VerifyEnv) -> bytes:
    """A sealed licence to break."""
    return verify_env.issue()[1]


BuildBad = Callable[[bytes], bytes]

FORMAT_FAILURES: list[tuple[str, BuildBad]] = [
    ("truncated_at_half", lambda pdf: pdf[:len(pdf) // 2]),
    ("truncated_before_eof", lambda pdf: pdf[:-40]),
    ("garbage_after_header", lambda _pdf: b"%PDF-1.7\n" + os.urandom(200_000)),
    ("deeply_nested_field_array", lambda _pdf: deeply_nested_field_array()),
    ("many_signatures", lambda _pdf: many_signatures()),
    ("lying_stream_length", lambda _pdf: lying_stream_length()),
    ("decompression_bomb_in_dss", decompression_bomb_in_dss),
    ("decompression_bomb_in_object_stream", lambda _pdf: decompression_bomb_in_object_stream()),
    ("many_revisions", many_revisions),
]


@pytest.mark.parametrize(("name", "build"), FORMAT_FAILURES,
                         ids=[name for name, _build in FORMAT_FAILURES])
def test_malformed_document_is_a_format_failure_in_bounded_time(
        verify_env: VerifyEnv, pool: ExaminationPool, material: TrustMaterial,
        sealed: bytes, name: str, build: BuildBad) -> None:
    data = build(sealed)
    started = time.monotonic()
    try:
        evidence = pool.examine(data, at=utcnow(), material=material)
    except DocumentTooComplexError:
        pytest.fail(f"{name}: the worker hit a limit instead of reporting the defect")
    elapsed = time.monotonic() - started
    assert elapsed < BOUND, f"{name} took {elapsed:.1f} s"
    with verify_env.runtime.unit_of_work(readonly=True) as services:
        report = services.verifier.judge(evidence, at=utcnow())
    assert report.verdict.indication is Indication.TOTAL_FAILED, name
    assert report.verdict.sub_indication is SubIndication.FORMAT_FAILURE, \
        [reason.en for reason in report.verdict.reasons]


def password_protected() -> bytes:
    """A PDF that opens only with a user password (AES-256)."""
    import pikepdf

    with pikepdf.open(io.BytesIO(_pdf(_PAGE[:3]))) as document:
        out = io.BytesIO()
        document.save(out, encryption=pikepdf.Encryption(owner="owner", user="user"))
        return out.getvalue()


@pytest.mark.parametrize(("name", "data", "error"), [
    ("png_named_pdf", b"\x89PNG\r\n\x1a\n" + bytes(100), NotAPDFError),
    ("empty_file", b"", NotAPDFError),
    ("over_the_size_limit", b"%PDF-1.7\n" + bytes(DEFAULT_LIMITS.max_bytes), DocumentTooLargeError),
    ("password_protected", password_protected(), EncryptedDocumentError),
], ids=["png_named_pdf", "empty_file", "over_the_size_limit", "password_protected"])
def test_not_a_pdf_or_too_large_is_a_clear_error(pool: ExaminationPool, material: TrustMaterial,
                                                 name: str, data: bytes,
                                                 error: type[VerificationError]) -> None:
    with pytest.raises(error):
        pool.examine(data, at=utcnow(), material=material)


def test_a_worker_over_its_time_limit_is_replaced_and_the_pool_serves_on(
        verify_env: VerifyEnv, material: TrustMaterial, sealed: bytes) -> None:
    limits = replace(verify_env.runtime.examination_limits, timeout_seconds=0.001)
    hasty = ExaminationPool(limits, workers=1)
    try:
        hasty.warm()
        before = hasty.pids
        with pytest.raises(DocumentTooComplexError, match="within"):
            hasty.examine(many_revisions(sealed), at=utcnow(), material=material)
        assert hasty.pids != before
        hasty.limits = replace(limits, timeout_seconds=30)
        evidence = hasty.examine(sealed, at=utcnow(), material=material)
        assert evidence.signatures and evidence.signatures[0].intact
    finally:
        hasty.close()


def test_the_pool_examines_a_genuine_document(verify_env: VerifyEnv, pool: ExaminationPool,
                                              material: TrustMaterial, sealed: bytes) -> None:
    evidence = pool.examine(sealed, at=utcnow(), material=material)
    with verify_env.runtime.unit_of_work(readonly=True) as services:
        assert services.verifier.judge(evidence, at=utcnow()).verdict.passed


# ---------------------------------------------------------------------- over HTTP


@pytest.fixture(scope="module")
def verifier(verify_env: VerifyEnv) -> dict[str, str]:
    """The Authorization header of an API client with verify:run."""
    with verify_env.runtime.unit_of_work() as services:
        issued = services.clients.add(name="malformed-verifier", role=ClientRole.VERIFIER,
                                      org_credit_code=None, at=utcnow(), actor="test")
        return bearer(issued.credential)


def _verdict_of(endpoint: str, response: Any) -> tuple[str, str | None]:
    """(indication, sub-indication) a 200 answer shows, from JSON or from the page."""
    if endpoint == "/verifications":
        verdict = response.json()["verdict"]
        return verdict["indication"], verdict["sub_indication"]
    import re

    shown = re.search(r'data-indication="([A-Z-]+)"', response.text)
    sub = re.search(r"结论：[A-Z-]+（([A-Z_]+)）", response.text)
    assert shown is not None, response.text[:2000]
    return shown.group(1), sub.group(1) if sub else None


@pytest.mark.parametrize("endpoint", ["/verifications", "/verify"], ids=["api", "page"])
@pytest.mark.parametrize(("name", "build"), FORMAT_FAILURES,
                         ids=[name for name, _build in FORMAT_FAILURES])
def test_malformed_upload_is_answered_as_a_format_failure_in_bounded_time(
        api: Any, verifier: dict[str, str], sealed: bytes, name: str, build: BuildBad,
        endpoint: str) -> None:
    data = build(sealed)
    started = time.monotonic()
    response = api.post(endpoint, headers=verifier if endpoint == "/verifications" else {},
                        files={"file": (f"{name}.pdf", data, "application/pdf")})
    elapsed = time.monotonic() - started
    assert elapsed < BOUND, f"{name} took {elapsed:.1f} s"
    assert response.status_code == 200, (response.status_code, response.text[:500])
    assert _verdict_of(endpoint, response) == ("TOTAL-FAILED", "FORMAT_FAILURE")


@pytest.mark.parametrize("endpoint", ["/verifications", "/verify"], ids=["api", "page"])
@pytest.mark.parametrize(("name", "data", "status"), [
    ("png_named_pdf", b"\x89PNG\r\n\x1a\n" + bytes(100), 422),
    ("empty_file", b"", 422),
], ids=["png_named_pdf", "empty_file"])
def test_an_upload_that_is_no_pdf_is_a_client_error(
        api: Any, verifier: dict[str, str], name: str, data: bytes, status: int,
        endpoint: str) -> None:
    response = api.post(endpoint, headers=verifier if endpoint == "/verifications" else {},
                        files={"file": (f"{name}.pdf", data, "application/pdf")})
    assert response.status_code == status, (response.status_code, response.text[:500])
    if endpoint == "/verifications":
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "verify.not_pdf"
    else:
        assert 'id="error"' in response.text and "无法核验" in response.text
