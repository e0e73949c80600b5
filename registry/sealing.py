"""Sealing licences: render a licence page and certify it with its issuer's seal.

One :class:`LicenceSealer` per process keeps what is expensive to build warm: the parsed
font, the QR encoders, and (through :class:`~zhengyin.signing.pdf.signers.SealSigners`)
per seal its appearance objects and CMS signer, rebuilt when the seal's certificate changes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from zhengyin.core.clock import beijing_date
from zhengyin.keys import KeyStore
from zhengyin.signing.models import Seal, SealStatus, SealType
from zhengyin.signing.pdf.fonts import pdf_font
from zhengyin.signing.pdf.fontsubset import FontSource
from zhengyin.signing.pdf.signers import SealSigners
from zhengyin.signing.timestamps import TimeStampClient
from zhengyin.trust.models import CertificateRecord

from .errors import RegistryError
from .models import Licence, LicenceType
from .render import LicenceRenderer, LicenceView

__all__ = ["REDACTED", "IssuerSeal", "LicenceSealer", "NoIssuerSealError", "SealedLicence",
           "find_issuer_seal", "licence_view"]

_SEALS = cast(Table, Seal.__table__)
_CERTIFICATES = cast(Table, CertificateRecord.__table__)


class NoIssuerSealError(RegistryError):
    """The issuing organisation has no active seal of a type that may seal this licence."""

    code = "licence.no_issuer_seal"


@dataclass(frozen=True)
class IssuerSeal:
    """The seal a licence is sealed with, as issuance needs it: no row loaded, no image.

    ``certificate_serial`` tells a sealer whether its cached signer for the seal is still
    the seal's current certificate (a rekeyed seal gets a new one).
    """

    id: str
    seal_code: str
    certificate_serial: str

    @classmethod
    def of(cls, seal: Seal) -> IssuerSeal:
        """From a loaded seal row."""
        return cls(seal.id, seal.seal_code, seal.certificate.serial_hex)


# The organisation's seals usable at :at, newest first, with their certificates' serials;
# held (FOR KEY SHARE, trust.locks.hold_rows) until the issuance commits, so that a
# suspension or revocation waits for the licences being sealed and takes effect after them.
_USABLE_SEALS = (
    select(_SEALS.c.id, _SEALS.c.seal_code, _SEALS.c.seal_type, _CERTIFICATES.c.serial_hex)
    .join(_CERTIFICATES, _CERTIFICATES.c.id == _SEALS.c.certificate_id)
    .where(_SEALS.c.org_credit_code == bindparam("issuer_code"))
    .where(_SEALS.c.status == bindparam("active"))
    .where(_SEALS.c.valid_from <= bindparam("at")).where(_SEALS.c.valid_until > bindparam("at"))
    .order_by(_SEALS.c.created_at.desc())
    .with_for_update(key_share=True, of=_SEALS)
)


def find_issuer_seal(session: Session, issuer_code: str, seal_types: list[str],
                     at: datetime) -> IssuerSeal:
    """The issuer's seal of the first allowed type that is active and valid at ``at``.

    Only a usable seal is found, so the caller need not check it again; it stays usable
    until the caller's unit of work ends. One Core query: no seal row (its image is hundreds
    of KB) and no certificate DER is loaded.
    """
    candidates = session.execute(_USABLE_SEALS, {"issuer_code": issuer_code, "at": at,
                                                 "active": SealStatus.ACTIVE}).all()
    for kind in seal_types:
        for row in candidates:
            if SealType(row.seal_type) is SealType(kind):
                return IssuerSeal(row.id, row.seal_code, row.serial_hex)
    raise NoIssuerSealError(
        f"organisation {issuer_code} has no active {' or '.join(seal_types)} seal",
        hint="an administrator creates one with: zhengyin seal create",
    )


def _display(value: Any, schema: dict[str, Any]) -> str:
    if schema.get("format") == "date" and isinstance(value, str) and len(value) == 10:
        year, month, day = value.split("-")
        return f"{year}年{month}月{day}日"
    return str(value)


REDACTED = "（已隐去：本事项无权获取）"
"""What a use-copy prints instead of a value its use may not receive."""


def licence_view(licence: Licence, licence_type: LicenceType, *, verify_url: str,
                 disclosed: Collection[str] | None = None, status_uri: str = "") -> LicenceView:
    """What the licence page shows, from the licence row and its type version.

    ``disclosed``: the surface fields a use-copy may show (a use's); every other value,
    and a person holder's name (checks never disclose it), becomes :data:`REDACTED`, so
    it is not in the page at all. None: the licence itself, everything shown.
    ``status_uri``: the status list holding the licence's entry (its signed metadata).
    """
    template = licence_type.template
    properties = licence_type.fields_schema.get("properties", {})
    fields = [
        (entry["label"],
         _display(licence.fields[entry["key"]], properties.get(entry["key"], {}))
         if disclosed is None or entry["key"] in disclosed else REDACTED)
        for entry in template["fields"]
        if licence.fields.get(entry["key"]) not in (None, "")
    ]
    holder_label = "统一社会信用代码" if licence.holder_kind == "credit-code" else "持证人"
    holder = licence.holder_name if licence.holder_kind != "credit-code" \
        else f"{licence.holder_code}"
    if disclosed is not None and licence.holder_kind != "credit-code":
        holder = REDACTED  # the checker sent the holder's code; the name is not disclosed
    return LicenceView(
        title=template["title"],
        subtitle=template.get("subtitle", ""),
        number_label=template.get("number_label", "证照编号"),
        printed_number=licence.printed_number,
        fields=fields,
        holder_label=holder_label,
        holder=holder,
        valid_from=licence.valid_from,
        valid_until=licence.valid_until,
        issuer_name=licence.issuer_name,
        issued_on=beijing_date(licence.issued_at),
        identifier=licence.identifier,
        verify_url=verify_url,
        footer=template.get("footer", ""),
        type_code=licence.type_code,
        issuer_code=licence.issuer_code,
        status_list_uri=status_uri if licence.status_list_index is not None else "",
        status_list_index=licence.status_list_index if status_uri else None,
    )


@dataclass(frozen=True)
class SealedLicence:
    """A licence PDF as sealed, and the digest verification will know it by."""

    pdf: bytes

    @property
    def signed_sha256(self) -> str:
        """SHA-256 of the signed revision: the bytes the seal's /ByteRange ends with
        (ISO 32000-1 §12.8.1), as verification computes it per signature. The sealer
        writes licences born sealed (signing.pdf.pdfwriter.PdfWriter.finish_signed): one
        revision whose /ByteRange ends at the end of the file, so that is the whole file.
        A sealer that appends after the seal (B-LT validation data, a document
        time-stamp) must take the end from the seal's /ByteRange instead."""
        return hashlib.sha256(self.pdf).hexdigest()


class LicenceSealer:
    """Renders and certifies licence PDFs; thread-safe, one per process.

    Seals' signers come from ``signers`` (one per process, shared with sealed verification
    reports); without one, the sealer keeps its own.
    """

    def __init__(self, keystore: KeyStore, timestamps: Callable[[], TimeStampClient | None],
                 *, font: FontSource | None = None, signers: SealSigners | None = None) -> None:
        if font is None:
            face = pdf_font()
            font = FontSource(face.path, face.index)
        self.renderer = LicenceRenderer(font)
        self.signers = signers if signers is not None else SealSigners(keystore, timestamps)

    def seal(self, session: Session, view: LicenceView, seal: IssuerSeal, *,
             at: datetime) -> SealedLicence:
        """The licence PDF, certified (DocMDP: no changes) with ``seal``, time-stamped."""
        entry = self.signers.of(session, seal.id, seal.certificate_serial)
        page = self.renderer.page(view)
        return SealedLicence(page.write(self.renderer.font, entry.appearance, entry.cms,
                                        at=at, producer="Zhengyin 证印"))

    @staticmethod
    def today(at: datetime) -> date:
        """The calendar date in China at ``at`` (licences print Beijing dates)."""
        return beijing_date(at)
