"""Sealing licences: render a licence page and certify it with its issuer's seal.

One :class:`LicenceSealer` per process keeps what is expensive to build warm: the parsed
font, the QR encoders, and per seal its appearance objects and CMS signer (a key handle,
certificates, pre-encoded ASN.1). A seal's entry is rebuilt when its certificate changes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from asn1crypto import x509 as asn1_x509
from sqlalchemy import select
from sqlalchemy.orm import Session, defer, joinedload

from keys import KeyHandle, KeyStore
from signing.certified import CHINA_TZ, SealAppearance
from signing.cms import CMSSigner
from signing.fonts import pdf_font
from signing.fontsubset import FontSource
from signing.models import Seal, SealStatus, SealType
from signing.timestamps import TimeStampClient
from trust.models import CertificateRecord

from .errors import RegistryError
from .models import Licence, LicenceType
from .render import LicenceRenderer, LicenceView

__all__ = ["LicenceSealer", "NoIssuerSealError", "find_issuer_seal", "licence_view"]


class NoIssuerSealError(RegistryError):
    """The issuing organisation has no active seal of a type that may seal this licence."""

    code = "licence.no_issuer_seal"


@dataclass(frozen=True)
class _SealEntry:
    certificate_serial: str
    appearance: SealAppearance
    signer: CMSSigner


def find_issuer_seal(session: Session, issuer_code: str, seal_types: list[str],
                     at: datetime) -> Seal:
    """The issuer's active seal of the first allowed type, valid at ``at``."""
    # The image (hundreds of KB at 600 dpi) loads only when a sealer first builds the
    # seal's appearance; every issuance looks the seal up, few need its picture. Each
    # seal's certificate comes with it, without its DER: the sealer needs only its serial
    # to know that its cached signer is current.
    candidates = list(session.scalars(
        select(Seal).options(
            defer(Seal.image_png),
            joinedload(Seal.certificate).load_only(CertificateRecord.serial_hex,
                                                   CertificateRecord.issuer_id))
        .where(Seal.org_credit_code == issuer_code)
        .where(Seal.status == SealStatus.ACTIVE)
        .where(Seal.valid_from <= at).where(Seal.valid_until > at)
        .order_by(Seal.created_at.desc())
    ))
    for kind in seal_types:
        for seal in candidates:
            if seal.seal_type is SealType(kind):
                return seal
    raise NoIssuerSealError(
        f"organisation {issuer_code} has no active {' or '.join(seal_types)} seal",
        hint="an administrator creates one with: zhengyin seal create",
    )


def _display(value: Any, schema: dict[str, Any]) -> str:
    if schema.get("format") == "date" and isinstance(value, str) and len(value) == 10:
        year, month, day = value.split("-")
        return f"{year}年{month}月{day}日"
    return str(value)


def licence_view(licence: Licence, licence_type: LicenceType, *, verify_url: str) -> LicenceView:
    """What the licence page shows, from the licence row and its type version."""
    template = licence_type.template
    properties = licence_type.fields_schema.get("properties", {})
    fields = [
        (entry["label"], _display(licence.fields[entry["key"]], properties.get(entry["key"], {})))
        for entry in template["fields"]
        if licence.fields.get(entry["key"]) not in (None, "")
    ]
    holder_label = "统一社会信用代码" if licence.holder_kind == "credit-code" else "持证人"
    holder = licence.holder_name if licence.holder_kind != "credit-code" \
        else f"{licence.holder_code}"
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
        issued_on=licence.issued_at.astimezone(CHINA_TZ).date(),
        identifier=licence.identifier,
        verify_url=verify_url,
        footer=template.get("footer", ""),
        type_code=licence.type_code,
        issuer_code=licence.issuer_code,
    )


class LicenceSealer:
    """Renders and certifies licence PDFs; thread-safe, one per process."""

    def __init__(self, keystore: KeyStore, timestamps: Callable[[], TimeStampClient | None],
                 *, font: FontSource | None = None) -> None:
        self._keys = keystore
        self._timestamps = timestamps
        if font is None:
            face = pdf_font()
            font = FontSource(face.path, face.index)
        self.renderer = LicenceRenderer(font)
        self._seals: dict[str, _SealEntry] = {}
        self._lock = threading.Lock()

    def _entry(self, session: Session, seal: Seal) -> _SealEntry:
        record = seal.certificate
        if record is None:
            raise RegistryError(f"seal {seal.seal_code} has no certificate")
        entry = self._seals.get(seal.id)
        if entry is not None and entry.certificate_serial == record.serial_hex:
            return entry
        with self._lock:
            certificate = asn1_x509.Certificate.load(record.der)
            chain = []
            issuer_id = record.issuer_id
            while issuer_id is not None:
                issuer = session.get(CertificateRecord, issuer_id)
                if issuer is None or issuer.issuer_id is None:
                    break  # the root is a trust anchor: not embedded
                chain.append(asn1_x509.Certificate.load(issuer.der))
                issuer_id = issuer.issuer_id
            entry = _SealEntry(
                certificate_serial=record.serial_hex,
                appearance=SealAppearance.from_png(seal.name, seal.image_png),
                signer=CMSSigner(self._keys, KeyHandle.parse(seal.key_handle), certificate,
                                 chain, timestamps=self._timestamps()),
            )
            self._seals[seal.id] = entry
            return entry

    def seal(self, session: Session, view: LicenceView, seal: Seal, *, at: datetime) -> bytes:
        """The licence PDF, certified (DocMDP: no changes) with ``seal``, time-stamped."""
        entry = self._entry(session, seal)
        page = self.renderer.page(view)
        return page.write(self.renderer.font, entry.appearance, entry.signer, at=at,
                          producer="Zhengyin 证印")

    @staticmethod
    def today(at: datetime) -> date:
        """The calendar date in China at ``at`` (licences print Beijing dates)."""
        return at.astimezone(CHINA_TZ).date()
