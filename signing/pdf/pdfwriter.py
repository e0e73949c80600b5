"""Minimal single-revision PDF writer with an in-place signature (ByteRange / Contents).

The writer appends already-serialised object bodies, records their offsets and writes a classic
cross-reference table (ISO 32000-1 s7.5.4: every entry exactly 20 bytes).  A signature
dictionary is written with fixed-width placeholders; :meth:`PdfWriter.finish_signed` fills the
/ByteRange, hashes the two ranges and writes the CMS hex into /Contents, so the document is
rendered and signed in one pass without re-parsing anything.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import zlib
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["PdfWriter", "SignaturePlaceholder", "pdf_date", "stream_object", "utf16_hex"]

_HEADER = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
_BYTERANGE_WIDTH = 10  # digits per ByteRange number: enough for files < 10 GB
_BYTERANGE_TEMPLATE = b"/ByteRange [0 " + b" ".join([b"0" * _BYTERANGE_WIDTH] * 3) + b"]"


def pdf_date(at: dt.datetime) -> str:
    """PDF date string (ISO 32000-1 s7.9.4) ``D:YYYYMMDDHHmmSS+HH'mm'`` for an aware datetime.

    pdfsig and pyHanko both accept the trailing-apostrophe-free PDF 2.0 form too; this is the
    form Acrobat writes.
    """
    if at.tzinfo is None:
        raise ValueError("pdf_date needs an aware datetime")
    offset = at.utcoffset() or dt.timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    if minutes == 0:
        tz = "Z"
    else:
        sign = "+" if minutes > 0 else "-"
        tz = f"{sign}{abs(minutes) // 60:02d}'{abs(minutes) % 60:02d}'"
    return "D:" + at.strftime("%Y%m%d%H%M%S") + tz


def utf16_hex(text: str) -> str:
    """A PDF text string as ``<FEFF...>`` (UTF-16BE with BOM): safe for any Unicode text."""
    return "<FEFF" + text.encode("utf-16-be").hex().upper() + ">"


def stream_object(entries: str, data: bytes, *, compress: int | None) -> bytes:
    """Body of a stream object; *compress* is a zlib level or None for no filter."""
    if compress is not None:
        data = zlib.compress(data, compress)
        entries += " /Filter /FlateDecode"
    return b"<< " + entries.encode() + b" /Length %d >>\nstream\n" % len(data) + data + \
        b"\nendstream"


@dataclass(frozen=True, slots=True)
class SignaturePlaceholder:
    """A signature dictionary body with fixed-width /ByteRange and /Contents placeholders."""

    body: bytes
    byterange_at: int
    """Offset of ``/ByteRange`` inside :attr:`body`."""
    contents_at: int
    """Offset of the ``<`` that opens the /Contents hex string inside :attr:`body`."""
    contents_len: int
    """Length of the hex string including both angle brackets."""

    @classmethod
    def build(cls, entries: str, *, max_cms_bytes: int) -> SignaturePlaceholder:
        """Signature dictionary with *entries* (no /ByteRange, /Contents) and placeholders."""
        head = b"<< " + entries.encode() + b" "
        contents = b"<" + b"0" * (2 * max_cms_bytes) + b">"
        body = head + _BYTERANGE_TEMPLATE + b" /Contents " + contents + b" >>"
        return cls(body, len(head), len(head) + len(_BYTERANGE_TEMPLATE) + 11, len(contents))


class PdfWriter:
    """Append-only writer for one revision; objects are numbered by the caller."""

    def __init__(self) -> None:
        self._parts: list[bytes] = [_HEADER]
        self._pos = len(_HEADER)
        self._offsets: dict[int, int] = {}
        self._sig: tuple[int, SignaturePlaceholder] | None = None

    def add(self, num: int, body: bytes) -> None:
        """Append object *num* with an already-serialised *body*."""
        self._offsets[num] = self._pos
        chunk = b"%d 0 obj\n" % num + body + b"\nendobj\n"
        self._parts.append(chunk)
        self._pos += len(chunk)

    def add_raw(self, objects: dict[int, int], chunk: bytes) -> None:
        """Append a pre-serialised run of objects (``n 0 obj ... endobj``).

        *objects* maps object numbers to their offsets inside *chunk*; used for per-seal
        objects serialised once (appearance form, image, soft mask).
        """
        for num, rel in objects.items():
            self._offsets[num] = self._pos + rel
        self._parts.append(chunk)
        self._pos += len(chunk)

    def add_signature(self, num: int, placeholder: SignaturePlaceholder) -> None:
        """Append the signature dictionary; only one per revision."""
        if self._sig is not None:
            raise ValueError("only one signature per revision")
        self._sig = (num, placeholder)
        self.add(num, placeholder.body)

    def _trailer(self, *, root: int, info: int | None, file_id: bytes) -> bytes:
        size = max(self._offsets) + 1
        missing = set(range(1, size)) - self._offsets.keys()
        if missing:
            raise ValueError(f"objects never written: {sorted(missing)}")
        xref = [b"xref\n0 %d\n0000000000 65535 f \n" % size]
        xref += [b"%010d 00000 n \n" % self._offsets[n] for n in range(1, size)]
        ident = file_id.hex().upper().encode()
        info_entry = b" /Info %d 0 R" % info if info is not None else b""
        trailer = (b"trailer\n<< /Size %d /Root %d 0 R" % (size, root) + info_entry
                   + b" /ID [<" + ident + b"> <" + ident + b">] >>\nstartxref\n%d\n%%%%EOF\n"
                   % self._pos)
        return b"".join(xref) + trailer

    def finish(self, *, root: int, info: int | None, file_id: bytes) -> bytes:
        """Unsigned file."""
        return b"".join(self._parts) + self._trailer(root=root, info=info, file_id=file_id)

    def finish_signed(self, *, root: int, info: int | None, file_id: bytes,
                      sign: Callable[[bytes], bytes], digest_algorithm: str = "sha256",
                      mark: Callable[[], None] | None = None) -> bytes:
        """Write xref and trailer, fill /ByteRange, hash, call *sign(digest)*, embed the CMS.

        *mark* is a benchmarking hook, called once before and once after hashing.
        """
        if self._sig is None:
            raise ValueError("no signature placeholder was added")
        num, ph = self._sig
        buf = bytearray(b"".join(self._parts))
        buf += self._trailer(root=root, info=info, file_id=file_id)
        obj_start = self._offsets[num] + len(b"%d 0 obj\n" % num)
        start = obj_start + ph.contents_at
        end = start + ph.contents_len
        byte_range = b"/ByteRange [0 %d %d %d]" % (start, end, len(buf) - end)
        br_at = obj_start + ph.byterange_at
        buf[br_at:br_at + len(_BYTERANGE_TEMPLATE)] = byte_range.ljust(len(_BYTERANGE_TEMPLATE))
        if mark is not None:
            mark()
        view = memoryview(buf)
        h = hashlib.new(digest_algorithm, view[:start])
        h.update(view[end:])
        view.release()
        if mark is not None:
            mark()
        signature = sign(h.digest())
        hex_sig = signature.hex().encode()
        if len(hex_sig) > ph.contents_len - 2:
            raise ValueError(f"CMS of {len(signature)} bytes exceeds the reserved /Contents")
        buf[start + 1:start + 1 + len(hex_sig)] = hex_sig
        return bytes(buf)
