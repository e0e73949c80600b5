"""Checking a PDF before anything is signed: size, type, encryption, structure.

Every refusal is a :class:`BadPDFError` subclass with a stable code, raised before a key
is touched, so a bad file is never signed and never counted as a seal use.

A file whose cross-reference table is damaged but whose objects are intact (a common
result of careless editing or truncated uploads that still end in ``%%EOF``) is repaired
by qpdf (pikepdf) and rewritten once; that is safe only when the file carries no
signature yet, because rewriting invalidates earlier signatures.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError

from .errors import BrokenPDFError, EncryptedPDFError, NotPDFError, PDFTooLargeError

__all__ = ["OpenedPDF", "open_pdf", "too_deep"]

# ISO 32000-1 §7.5.2 puts the header first; readers accept up to 1024 leading bytes.
_HEADER_WINDOW = 1024


@dataclass(frozen=True)
class OpenedPDF:
    """The bytes to sign (possibly repaired) and a writer over them."""

    data: bytes
    writer: IncrementalPdfFileWriter
    repaired: bool
    page_count: int


def _writer(data: bytes) -> IncrementalPdfFileWriter:
    writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=True)
    if writer.prev.encrypted:
        raise EncryptedPDFError(
            "the PDF is encrypted", hint="remove the password protection and send it again",
        )
    return writer


def _page_count(writer: IncrementalPdfFileWriter) -> int:
    """Walk the page tree, reading every page and content stream object.

    pyHanko parses lazily, so a damaged cross-reference table would otherwise surface
    half-way through signing; reading these objects now costs well under a millisecond
    per page and makes the file's state known before anything is signed.
    """
    count = 0
    stack = [writer.root["/Pages"]]
    while stack:
        node = stack.pop()
        kids = node.get("/Kids")
        if kids is None:
            contents = node.get("/Contents")
            if contents is not None:
                items = contents if isinstance(contents, list) else [contents]
                for item in items:
                    item.get_object()
            count += 1
        else:
            stack.extend(kid.get_object() for kid in kids)
        if count > 100_000 or len(stack) > 100_000:
            raise BrokenPDFError("the page tree is malformed")
    if count < 1 or count != int(writer.root["/Pages"]["/Count"]):
        raise BrokenPDFError("the PDF's page tree is inconsistent")
    return count


def _repair(data: bytes) -> bytes:
    import pikepdf

    try:
        with pikepdf.open(io.BytesIO(data)) as pdf:
            if pdf.is_encrypted:
                raise EncryptedPDFError("the PDF is encrypted",
                                        hint="remove the password protection and send it again")
            out = io.BytesIO()
            pdf.save(out)
            return out.getvalue()
    except pikepdf.PasswordError:
        raise EncryptedPDFError("the PDF is encrypted",
                                hint="remove the password protection and send it again"
                                ) from None
    except (pikepdf.PdfError, RuntimeError, ValueError) as exc:
        raise BrokenPDFError(
            "the PDF is damaged beyond repair",
            hint="export the document to PDF again from its source",
        ) from exc


def too_deep() -> BrokenPDFError:
    """The refusal of a PDF whose objects nest deeper than the parser's recursion."""
    return BrokenPDFError("the PDF nests its objects too deeply to be read",
                          hint="export the document to PDF again from its source")


def open_pdf(data: bytes, *, max_bytes: int) -> OpenedPDF:
    """Open ``data`` for signing, or raise the :class:`BadPDFError` that describes it."""
    if len(data) > max_bytes:
        raise PDFTooLargeError(
            f"the PDF is {len(data)} bytes; the limit is {max_bytes}",
            hint="split the document or ask an administrator to raise ZHENGYIN_MAX_PDF_BYTES",
        )
    if b"%PDF-" not in data[:_HEADER_WINDOW]:
        raise NotPDFError("the file is not a PDF", hint="send the document as PDF")
    try:
        writer = _writer(data)
        return OpenedPDF(data, writer, repaired=False, page_count=_page_count(writer))
    except EncryptedPDFError:
        raise
    except RecursionError:
        # pyHanko's object parser recurses once per nesting level; a repair would rewrite
        # (and qpdf truncate) the structure, so such a file is refused, not repaired.
        raise too_deep() from None
    except (PdfError, ValueError, KeyError, TypeError, IndexError, AttributeError,
            BrokenPDFError):
        pass
    repaired = _repair(data)
    try:
        writer = _writer(repaired)
        if writer.prev.embedded_signatures:
            # Cannot happen for a file qpdf had to rebuild, but never rewrite a signed file.
            raise BrokenPDFError("the signed PDF is damaged; it cannot be repaired without "
                                 "breaking its signatures")
        return OpenedPDF(repaired, writer, repaired=True, page_count=_page_count(writer))
    except (PdfError, ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        raise BrokenPDFError("the PDF is damaged beyond repair",
                             hint="export the document to PDF again from its source") from exc
