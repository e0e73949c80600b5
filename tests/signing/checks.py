"""Independent checks of sealed PDFs: pyHanko's validator, poppler's pdfsig, openssl ts.

pyHanko is the tamper oracle (integrity, trust, time-stamp, DocMDP and the difference
analysis of later revisions); pdfsig (poppler 22.12 with NSS) is a second opinion on the
CMS and the chain; ``openssl ts -verify`` checks the signature time-stamp token. pdfsig
asks the OCSP responder named in the certificate (our live test server), because with
``-no-ocsp`` poppler 22.12 reports "Unknown issue" for certificates that name one.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from asn1crypto import cms, pem, x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.errors import NoDSSFoundError
from pyhanko.sign.validation.status import PdfSignatureStatus
from pyhanko_certvalidator import ValidationContext

from ..support import require_tool

__all__ = ["Verdict", "nss_database", "openssl_ts_verify", "pdfsig_check", "pyhanko_verdicts"]


@dataclass(frozen=True)
class Verdict:
    """pyHanko's findings for one signature."""

    field: str
    intact: bool
    valid: bool
    trusted: bool
    docmdp_ok: bool | None
    modification_level: str | None
    timestamp_ok: bool | None
    bottom_line: bool
    summary: str

    @property
    def passed(self) -> bool:
        """Intact, valid, trusted and no forbidden change."""
        return self.intact and self.valid and self.trusted and self.docmdp_ok is not False


def _verdict(name: str, status: PdfSignatureStatus) -> Verdict:
    stamp = status.timestamp_validity
    return Verdict(
        field=name, intact=status.intact, valid=status.valid, trusted=status.trusted,
        docmdp_ok=status.docmdp_ok,
        modification_level=status.modification_level.name
        if status.modification_level else None,
        timestamp_ok=None if stamp is None else bool(stamp.intact and stamp.valid
                                                     and stamp.trusted),
        bottom_line=status.bottom_line, summary=status.summary(),
    )


def offline_context(root_der: bytes, **extra: object) -> ValidationContext:
    """Trusts only our root, never fetches."""
    return ValidationContext(trust_roots=[x509.Certificate.load(root_der)],
                             allow_fetching=False, **extra)  # type: ignore[arg-type]


def pyhanko_verdicts(pdf: bytes, root_der: bytes, *, from_dss: bool = False
                     ) -> list[Verdict]:
    """Validate every signature (document time-stamps excluded).

    ``from_dss``: revocation data and certificates come only from the file's DSS, and
    revocation data is required for every certificate: B-LT/B-LTA must carry their own.
    """
    reader = PdfFileReader(BytesIO(pdf))
    verdicts = []
    for signature in reader.embedded_signatures:
        if signature.sig_object.get("/Type") == "/DocTimeStamp":
            continue
        if from_dss:
            settings = {"trust_roots": [x509.Certificate.load(root_der)],
                        "allow_fetching": False, "revocation_mode": "require"}
            try:
                context = DocumentSecurityStore.read_dss(reader).as_validation_context(settings)
            except NoDSSFoundError:
                context = ValidationContext(crls=[], ocsps=[], **settings)  # type: ignore[arg-type]
        else:
            context = offline_context(root_der)
        status = validate_pdf_signature(signature, context)
        verdicts.append(_verdict(signature.field_name, status))
    assert verdicts, "no signature in the document"
    return verdicts


def assert_pyhanko_passes(pdf: bytes, root_der: bytes, *, timestamped: bool = True,
                          from_dss: bool = False) -> list[Verdict]:
    """Every signature intact, valid, trusted, unmodified, time-stamped if asked."""
    verdicts = pyhanko_verdicts(pdf, root_der, from_dss=from_dss)
    for verdict in verdicts:
        assert verdict.passed, verdict.summary
        if timestamped:
            assert verdict.timestamp_ok, verdict.summary
    return verdicts


def nss_database(directory: Path, root_der: bytes) -> Path:
    """An NSS database trusting our root for signatures (the middle, S/MIME flag)."""
    certutil = require_tool("certutil")
    directory.mkdir(parents=True, exist_ok=True)
    root_pem = directory / "root.pem"
    root_pem.write_bytes(pem.armor("CERTIFICATE", root_der))
    subprocess.run([certutil, "-N", "--empty-password", "-d", f"sql:{directory}"],
                   check=True, capture_output=True)
    subprocess.run([certutil, "-A", "-n", "zhengyin-test-root", "-t", ",C,", "-i",
                    str(root_pem), "-d", f"sql:{directory}"], check=True, capture_output=True)
    return directory


_SIGNATURE = re.compile(r"^Signature #\d+:", re.M)


def pdfsig_check(pdf: bytes, nss: Path, tmp: Path) -> str:
    """pdfsig's report; every CMS signature must be Valid and Trusted.

    pdfsig exits 0 even on a digest mismatch, so its output is read. Document time-stamps
    (B-LTA) are listed as "Signature Type: unknown" and not checked by pdfsig; empty
    reserved fields are listed by name only.
    """
    tool = require_tool("pdfsig")
    path = tmp / f"pdfsig-{hashlib.sha256(pdf).hexdigest()[:12]}.pdf"
    path.write_bytes(pdf)
    result = subprocess.run([tool, "-nssdir", f"sql:{nss}", str(path)],
                            capture_output=True, text=True, timeout=60, check=False)
    text = result.stdout + result.stderr
    blocks = _SIGNATURE.split(text)[1:]
    assert blocks, f"pdfsig found no signature:\n{text}"
    checked = 0
    for block in blocks:
        # Empty (reserved) signature fields are listed with their name only.
        if "Signature Type: unknown" in block or "Signature Type:" not in block:
            continue
        checked += 1
        assert "Signature Validation: Signature is Valid." in block, text
        assert "Certificate Validation: Certificate is Trusted." in block, text
    assert checked, text
    return text


def signature_tokens(pdf: bytes) -> list[tuple[bytes, bytes]]:
    """(signature value, time-stamp token DER) of every time-stamped CMS signature."""
    reader = PdfFileReader(BytesIO(pdf))
    result = []
    for signature in reader.embedded_signatures:
        if signature.sig_object.get("/Type") == "/DocTimeStamp":
            continue
        signer_info = signature.signer_info
        attrs = signer_info["unsigned_attrs"]
        if not attrs:
            continue
        for attr in attrs:
            if attr["type"].native == "signature_time_stamp_token":
                token: cms.ContentInfo = attr["values"][0]
                result.append((bytes(signer_info["signature"].native), token.dump()))
    return result


def openssl_ts_verify(pdf: bytes, root_der: bytes, issuing_der: bytes, tmp: Path) -> int:
    """Verify each signature's time-stamp token with ``openssl ts -verify``."""
    openssl = require_tool("openssl")
    root = tmp / "ts-root.pem"
    root.write_bytes(pem.armor("CERTIFICATE", root_der))
    issuing = tmp / "ts-issuing.pem"
    issuing.write_bytes(pem.armor("CERTIFICATE", issuing_der))
    tokens = signature_tokens(pdf)
    assert tokens, "no signature time-stamp token"
    for number, (value, token) in enumerate(tokens):
        data = tmp / f"ts-data-{number}.bin"
        data.write_bytes(value)
        token_file = tmp / f"ts-token-{number}.der"
        token_file.write_bytes(token)
        result = subprocess.run(
            [openssl, "ts", "-verify", "-token_in", "-in", str(token_file), "-data", str(data),
             "-CAfile", str(root), "-untrusted", str(issuing)],
            capture_output=True, text=True, timeout=30, check=False)
        assert result.returncode == 0 and "Verification: OK" in result.stdout, (
            result.stdout + result.stderr)
    return len(tokens)
