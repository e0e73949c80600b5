"""Inputs that once escaped as 500s: deeply nested PDFs and damaged or hostile zips.

Each is refused with the signing layer's own error (a 422 over HTTP), before anything is
signed or recorded; a zip entry's name never climbs out of the output directory.
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
from collections.abc import Callable

import pytest

from zhengyin.signing.batch import documents_from_zip, safe_document_name
from zhengyin.signing.errors import BrokenPDFError, StampOptionsError
from zhengyin.signing.models import Seal
from zhengyin.signing.pdfinput import open_pdf

from .documents import approval_pdf
from .fixtures import StampingEnv
from .test_stamping import stamp, use_count


def deeply_nested_catalog_pdf(depth: int = 5000) -> bytes:
    """An approval whose catalog, rewritten in an incremental update, nests ``depth`` arrays.

    pyHanko's parser recurses once per level: this exhausts Python's recursion limit.
    """
    base: bytes = approval_pdf(1)
    root: bytes = re.findall(rb"/Root (\d+) 0 R", base)[-1]
    pages: bytes = re.findall(rb"/Pages (\d+) 0 R", base)[0]
    size = int(re.findall(rb"/Size (\d+)", base)[-1])
    previous = int(re.findall(rb"startxref\s+(\d+)", base)[-1])
    body = (b"\n" + root + b" 0 obj\n<< /Type /Catalog /Pages " + pages + b" 0 R /Deep "
            + b"[" * depth + b"]" * depth + b" >>\nendobj\n")
    xref = len(base) + len(body)
    tail = (b"xref\n0 1\n0000000000 65535 f \n" + root + b" 1\n"
            + b"%010d 00000 n \n" % (len(base) + 1)
            + b"trailer\n<< /Size %d /Root " % size + root
            + b" 0 R /Prev %d >>\nstartxref\n%d\n%%%%EOF\n" % (previous, xref))
    return base + body + tail


def test_a_deeply_nested_pdf_is_refused_as_unreadable_not_an_internal_error() -> None:
    with pytest.raises(BrokenPDFError, match="too deeply"):
        open_pdf(deeply_nested_catalog_pdf(), max_bytes=10**8)


def test_stamping_a_deeply_nested_pdf_is_refused_and_records_no_use(
        stamping: StampingEnv, approval_seal: Seal) -> None:
    with pytest.raises(BrokenPDFError):
        stamp(stamping, approval_seal, deeply_nested_catalog_pdf())
    assert use_count(stamping, approval_seal) == 0


# --------------------------------------------------------------------------- zips


def _zip(name: str = "a.pdf", data: bytes = b"%PDF-1.7 " + b"x" * 200,
         method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=method) as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


def _patch_headers(data: bytes, offset: int, value: int) -> bytes:
    """Set a 2-byte field of both the local and the central header (APPNOTE 4.3.7, 4.3.12)."""
    patched = bytearray(data)
    local, central = 0, data.index(b"PK\x01\x02")
    struct.pack_into("<H", patched, local + 4 + offset, value)      # after version needed
    struct.pack_into("<H", patched, central + 6 + offset, value)    # after version made by
    return bytes(patched)


def _bad_crc() -> bytes:
    data = bytearray(_zip(method=zipfile.ZIP_STORED))
    data[30 + len("a.pdf") + 20] ^= 0xFF  # one byte of the stored content
    return bytes(data)


def _corrupt_deflate() -> bytes:
    data = bytearray(_zip())
    start = 30 + len("a.pdf")
    data[start:start + 8] = b"\xff" * 8  # an invalid deflate block type
    return bytes(data)


DAMAGED: dict[str, tuple[Callable[[], bytes], str]] = {
    "bad-crc": (_bad_crc, "damaged"),
    "corrupt-deflate": (_corrupt_deflate, "damaged"),
    "method-99": (lambda: _patch_headers(_zip(), 4, 99), "method 99"),
    "encrypted-flag": (lambda: _patch_headers(_zip(), 2, 0x1), "encrypted"),
}


@pytest.mark.parametrize("defect", list(DAMAGED))
def test_a_damaged_or_unreadable_zip_entry_refuses_the_archive(defect: str) -> None:
    make, message = DAMAGED[defect]
    with pytest.raises(StampOptionsError, match=message):
        documents_from_zip(make(), max_bytes=10**6)


@pytest.mark.parametrize(("name", "safe"), [
    ("../../etc/cron.d/x.pdf", "x.pdf"), ("..\\..\\Windows\\x.pdf", "x.pdf"),
    ("C:\\Users\\a\\决定书.pdf", "决定书.pdf"), ("/abs/y.pdf", "y.pdf"), ("..", "document-1.pdf"),
    ("a\x01b.pdf", "a_b.pdf"), ("dir/sub/z.pdf", "z.pdf"),
])
def test_a_zip_entry_name_is_reduced_to_a_safe_base_name(name: str, safe: str) -> None:
    assert safe_document_name(name, 1) == safe
    assert documents_from_zip(_zip(name), max_bytes=10**6)[0][0] == safe
