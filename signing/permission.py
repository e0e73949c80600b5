"""Before signing: does every signature already in the document permit this stamp's change?

A stamp adds one revision: a new signature field (box, anchor or invisible placement) or
the value of an existing empty one (field placement), and with a cross-page seal, page
content. Each earlier signature limits what may follow it, and a change one of them
forbids breaks it (issue 14: a second seal in a new box on a document certified for
co-sealing was accepted and the first seal then failed). The rules, in the order checked:

1. Page content may not change after any signature (no certification level permits it;
   ISO 32000-1 §12.8.2.2): a cross-page seal goes only on an unsigned document.
2. Certification (DocMDP, ISO 32000-1 §12.8.2.2; a signed field's ``/Lock /P``,
   ISO 32000-2 §12.7.5.5): P=1 permits nothing. P=2 permits form filling and signing,
   P=3 also annotations, but a *new* signature field is neither: pyHanko's difference
   analysis fails a certification signature when one is added (its ``valid_when_certifying``
   rule), so after any certification only an existing empty signature field may be signed.
3. Field locks (``/Lock`` of a signed field, ``/FieldMDP`` in a signature's ``/Reference``,
   ISO 32000-1 §12.8.2.4): a locked field may not be filled, and a new field may not be
   created under a locked name (``/All`` locks every name).
4. This service's own seals are final (issue 13 §3: the verifier fails anything else
   after one of them, approval seals included): only a seal filling a field that was
   reserved when that seal was applied -- an empty signature field in the revision it
   signed -- and validation data may follow.

A signature from elsewhere without certification or locks permits a new signature field
(form filling and signing, ISO 32000-1 §12.8.2.2 for approval signatures). Fail closed: a
signature whose certificate or revision cannot be read is treated as final.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from asn1crypto import x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import FieldMDPSpec, MDPPerm, enumerate_sig_fields
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature

from .errors import BrokenPDFError, StampNotPermittedError

__all__ = ["IntendedChange", "check_permitted", "read_signatures"]


@dataclass(frozen=True)
class IntendedChange:
    """What the stamp will write: the signature field, filled or created, and page content."""

    field: str
    fills_existing: bool
    page_content: bool = False


@dataclass(frozen=True)
class _Earlier:
    """What one existing signature allows after it."""

    field: str
    signer: str
    docmdp: MDPPerm | None
    ours: bool
    locks: tuple[FieldMDPSpec, ...]
    reserved: frozenset[tuple[str, int]] | None  # empty sig fields then; None: unreadable

    @property
    def final(self) -> bool:
        """Only reserved fields may be signed after it."""
        return self.ours or self.docmdp is not None or self.reserved is None


def read_signatures(reader: PdfFileReader) -> tuple[EmbeddedPdfSignature, ...]:
    """The document's signatures, or :class:`BrokenPDFError` if one cannot be read (an
    emptied ``/Contents``, a missing ``/ByteRange``): nothing is stamped over those."""
    try:
        return tuple(reader.embedded_signatures)
    except Exception as exc:
        raise BrokenPDFError(
            "the document carries a signature that cannot be read",
            hint="verify the document; a damaged signature cannot be stamped over") from exc


def _empty_fields(handler: Any) -> frozenset[tuple[str, int]]:
    """(name, object number) of each empty signature field the handler's root lists."""
    return frozenset((str(name), int(ref.reference.idnum))
                     for name, _value, ref in enumerate_sig_fields(handler, filled_status=False))


def _signer_label(signature: EmbeddedPdfSignature) -> str:
    try:
        subject = signature.signer_cert.subject.native
    except Exception:  # an unreadable signer is named by its field alone
        return "an unreadable signer"
    return str(subject.get("organization_name") or subject.get("common_name") or "?")


def _is_ours(signature: EmbeddedPdfSignature, authority_key_ids: frozenset[bytes]) -> bool:
    if not authority_key_ids:
        return True  # nothing to tell ours from others': fail closed
    try:
        certificate: x509.Certificate = signature.signer_cert
        issuer_key = certificate.authority_key_identifier
    except Exception:  # unreadable: treated as ours, i.e. final
        return True
    return issuer_key is None or issuer_key in authority_key_ids


def _locks(signature: EmbeddedPdfSignature) -> tuple[FieldMDPSpec, ...]:
    locks = []
    if signature.fieldmdp is not None:
        locks.append(signature.fieldmdp)
    if "/Lock" in signature.sig_field:
        locks.append(FieldMDPSpec.from_pdf_object(signature.sig_field["/Lock"]))
    return tuple(locks)


def _earlier(reader: PdfFileReader, authority_key_ids: frozenset[bytes]) -> Iterator[_Earlier]:
    for signature in read_signatures(reader):
        field = signature.field_name or "?"
        try:
            is_timestamp = signature.sig_object.get("/Type") == "/DocTimeStamp"
            docmdp = None if is_timestamp else signature.docmdp_level
            locks = _locks(signature)
            ours = not is_timestamp and _is_ours(signature, authority_key_ids)
            reserved: frozenset[tuple[str, int]] | None = _empty_fields(
                reader.get_historical_resolver(signature.signed_revision))
        except Exception:  # fail closed: an unreadable signature is final
            docmdp, locks, ours, reserved = None, (), True, None
        yield _Earlier(field, _signer_label(signature), docmdp, ours, locks, reserved)


def _refuse(earlier: _Earlier, why: str, candidates: tuple[str, ...]) -> StampNotPermittedError:
    if candidates:
        hint = ("sign a reserved field instead: placement {\"kind\": \"field\", \"name\": "
                f"\"{candidates[0]}\"}}" + (f" (free: {', '.join(candidates)})"
                                            if len(candidates) > 1 else ""))
    else:
        hint = ("the document takes no further seal without breaking this one; the first "
                "seal must reserve a field for each co-sealer")
    return StampNotPermittedError(
        f"signature {earlier.field!r} ({earlier.signer}) forbids this stamp: {why}",
        hint=hint, signature=earlier.field, fields=candidates)


def _violation(earlier: _Earlier, change: IntendedChange,
               current: frozenset[tuple[str, int]]) -> str | None:
    """Why ``earlier`` forbids ``change`` (None: it permits it)."""
    if change.page_content:
        return "a cross-page seal changes page content, which no signature permits after it"
    if earlier.docmdp is MDPPerm.NO_CHANGES:
        return "it certifies the document with no changes allowed"
    if any(lock.is_locked(change.field) for lock in earlier.locks):
        return f"it locks the field {change.field!r}"
    if not earlier.final:
        return None
    kind = ("it certifies the document" if earlier.docmdp is not None
            else "it is a seal of this service, final once applied")
    if not change.fills_existing:
        return f"{kind}; a new signature field would break it"
    target = next((item for item in current if item[0] == change.field), None)
    if earlier.reserved is None or target is None or target not in earlier.reserved:
        return f"{kind}; the field {change.field!r} was not reserved when it was signed"
    return None


def check_permitted(reader: PdfFileReader, change: IntendedChange, *,
                    authority_key_ids: frozenset[bytes]) -> None:
    """Raise :class:`StampNotPermittedError` unless every signature permits ``change``.

    ``authority_key_ids`` are the key identifiers of this service's CAs: a signature whose
    certificate they issued is one of our seals (rule 4). The error names the first
    signature that forbids the change and the reserved empty fields that every signature
    would let the seal fill.
    """
    earlier = list(_earlier(reader, authority_key_ids))
    if not earlier:
        return
    current = _empty_fields(reader)
    for signature in earlier:
        why = _violation(signature, change, current)
        if why is not None:
            candidates = tuple(sorted(
                name for name, _ in current
                if all(_violation(other, IntendedChange(name, fills_existing=True), current)
                       is None for other in earlier)))
            raise _refuse(signature, why, candidates)
