"""Errors of the signing layer: seals, images, PDFs and stamping."""

from __future__ import annotations

from zhengyin.core.errors import ZhengyinError

__all__ = [
    "AnchorNotFoundError",
    "BadImageError",
    "BadPDFError",
    "BoxOutsidePageError",
    "BrokenPDFError",
    "DocumentLockedError",
    "EncryptedPDFError",
    "FieldNotFoundError",
    "NotPDFError",
    "PDFTooLargeError",
    "PageOutOfRangeError",
    "PlacementError",
    "SealError",
    "SealNotAuthorisedError",
    "SealNotFoundError",
    "SealOrganisationError",
    "SealStateError",
    "SealUnusableError",
    "SigningError",
    "StampJobNotFoundError",
    "StampNotPermittedError",
    "StampOptionsError",
]


class SigningError(ZhengyinError):
    """Root of every signing-layer failure; carries a stable ``code`` and a ``hint``."""

    code = "signing.error"



class SealError(SigningError):
    """A seal-registry failure."""

    code = "seal.error"


class SealNotFoundError(SealError):
    """No seal with this id (or not one this caller may see)."""

    code = "seal.not_found"


class SealStateError(SealError):
    """The transition is not allowed from the seal's current state."""

    code = "seal.illegal_transition"


class SealUnusableError(SealError):
    """The seal is suspended, revoked, or outside its validity window."""

    code = "seal.unusable"


class SealNotAuthorisedError(SealNotFoundError):
    """The calling client may not use (so may not see) this seal.

    Answered exactly as a seal that does not exist, code and message alike: a client
    must not learn which seal ids exist from the difference (issue 14).
    """


class SealOrganisationError(SealError):
    """A client may use only its own organisation's seals (no cross-organisation grant)."""

    code = "seal.other_organisation"


class BadImageError(SigningError):
    """An uploaded seal or signature image is not acceptable."""

    code = "image.invalid"


class BadPDFError(SigningError):
    """The input is not a PDF we can sign (not a PDF, encrypted, broken, too big)."""

    code = "pdf.invalid"


class NotPDFError(BadPDFError):
    """The bytes are not a PDF file at all."""

    code = "pdf.not_pdf"


class EncryptedPDFError(BadPDFError):
    """The PDF is encrypted; we neither guess passwords nor strip protection."""

    code = "pdf.encrypted"


class BrokenPDFError(BadPDFError):
    """The PDF cannot be read, even after an attempt to repair its structure."""

    code = "pdf.broken"


class PDFTooLargeError(BadPDFError):
    """The PDF exceeds the configured size limit."""

    code = "pdf.too_large"


class DocumentLockedError(BadPDFError):
    """An earlier certification forbids the change (DocMDP), or the field is taken."""

    code = "pdf.locked"


class PlacementError(SigningError):
    """The requested placement does not fit the document (page out of range, anchor missing)."""

    code = "placement.invalid"


class PageOutOfRangeError(PlacementError):
    """A page number outside the document."""

    code = "placement.page_out_of_range"


class AnchorNotFoundError(PlacementError):
    """The anchor text does not occur in the document (or on the requested page)."""

    code = "placement.anchor_not_found"


class FieldNotFoundError(PlacementError):
    """No empty signature field of that name to fill."""

    code = "placement.field_not_found"


class BoxOutsidePageError(PlacementError):
    """The seal's box is not wholly on the page (a seal partly or wholly invisible)."""

    code = "stamp.box_outside_page"


class StampNotPermittedError(SigningError):
    """An existing signature forbids the change this stamp would make.

    ``signature`` names the field of the signature that forbids it; ``fields`` are the
    reserved empty signature fields the seal may fill instead (possibly none).
    """

    code = "stamp.not_permitted"

    def __init__(self, message: str, *, hint: str | None = None, signature: str,
                 fields: tuple[str, ...] = ()) -> None:
        super().__init__(message, hint=hint)
        self.signature = signature
        self.fields = fields
        # Extra members of the problem+json body (api/problems.py).
        self.problem_extra = {"signature": signature, "reserved_fields": list(fields)}


class StampOptionsError(SigningError):
    """Contradictory or incomplete stamping options (fail closed)."""

    code = "stamp.invalid_options"


class StampJobNotFoundError(SigningError):
    """No batch job with this id for this client."""

    code = "stamp_job.not_found"
