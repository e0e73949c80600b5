"""The seal registry as verification sees it (implements trust.validation.SealDirectory).

A signing certificate is a registered seal only if it is byte for byte the certificate
the registry issued for that seal: the lookup goes by serial number, then compares the
whole DER, so a self-made certificate copying a seal's name or serial is not one.

A seal's state at a past moment is replayed from the audit log (``seal.created``,
``seal.suspended``, ``seal.resumed``, ``seal.revoked``; hash-chained, append-only), which
is the registry's only history of seal states.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from asn1crypto import x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhengyin.core.models import AuditEntry
from zhengyin.trust.models import CertificateRecord
from zhengyin.trust.trustlist import ListedSeal
from zhengyin.trust.validation.directories import SealRecord, SealState

from .models import Seal

__all__ = ["TIME_STAMP_ACCURACY", "RegistrySealDirectory"]

TIME_STAMP_ACCURACY = timedelta(seconds=1)
_IMAGES: dict[tuple[str, str], bytes] = {}
"""Seal images by (seal id, image SHA-256); images never change under a hash."""

_TRANSITIONS = {
    "seal.created": SealState.ACTIVE,
    "seal.suspended": SealState.SUSPENDED,
    "seal.resumed": SealState.ACTIVE,
    "seal.revoked": SealState.REVOKED,
}


class RegistrySealDirectory:
    """Seal lookups for verification, within the caller's unit of work."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def seal_for_certificate(self, certificate_der: bytes, *, signed_at: datetime
                             ) -> SealRecord | None:
        """The seal whose certificate is exactly ``certificate_der``, or None.

        One query finds the certificate row and its seal (without the image, which comes
        from a per-process cache keyed by its hash); the audit log is read only for a
        seal whose state ever changed.
        """
        try:
            serial = format(x509.Certificate.load(certificate_der).serial_number, "x")
        except ValueError:
            return None
        row = self._session.execute(
            select(CertificateRecord.der, Seal.id, Seal.seal_code, Seal.name, Seal.seal_type,
                   Seal.org_name, Seal.org_credit_code, Seal.valid_from, Seal.valid_until,
                   Seal.status, Seal.status_changed_at, Seal.status_reason, Seal.created_at,
                   Seal.image_sha256)
            .join(Seal, Seal.certificate_id == CertificateRecord.id)
            .where(CertificateRecord.serial_hex == serial)
        ).first()
        if row is None or bytes(row.der) != bytes(certificate_der):
            return None
        return SealRecord(
            seal_id=row.id, seal_code=row.seal_code, name=row.name,
            seal_type=row.seal_type.value, organisation=row.org_name,
            credit_code=row.org_credit_code, valid_from=row.valid_from,
            valid_until=row.valid_until, state_now=SealState(row.status.value),
            state_changed_at=row.status_changed_at, state_reason=row.status_reason,
            state_at_signing=self._state_at(row.id, row.created_at, row.status_changed_at,
                                            SealState(row.status.value), signed_at),
            image_png=self._image(row.id, row.image_sha256),
        )

    def _image(self, seal_id: str, digest: str) -> bytes:
        key = (seal_id, digest)
        image = _IMAGES.get(key)
        if image is None:
            image = bytes(self._session.scalar(select(Seal.image_png).where(Seal.id == seal_id))
                          or b"")
            if len(_IMAGES) >= 256:
                _IMAGES.clear()
            _IMAGES[key] = image
        return image

    def listed_seals(self) -> list[ListedSeal]:
        """Every seal with its certificate's serial and SHA-256 (for the trust list)."""
        import hashlib

        rows = self._session.execute(
            select(Seal.seal_code, Seal.name, Seal.seal_type, Seal.org_name,
                   Seal.org_credit_code, Seal.status, Seal.status_changed_at,
                   Seal.valid_from, Seal.valid_until, CertificateRecord.serial_hex,
                   CertificateRecord.der)
            .join(CertificateRecord, CertificateRecord.id == Seal.certificate_id)
            .order_by(Seal.seal_code)
        ).all()
        return [ListedSeal(
            seal_code=row.seal_code, name=row.name, seal_type=row.seal_type.value,
            organisation=row.org_name, credit_code=row.org_credit_code,
            status=row.status.value, status_changed_at=row.status_changed_at,
            valid_from=row.valid_from, valid_until=row.valid_until,
            certificate_serial=row.serial_hex,
            certificate_sha256=hashlib.sha256(row.der).hexdigest(),
        ) for row in rows]

    def state_at(self, seal: Seal, moment: datetime) -> SealState | None:
        """The seal's state at ``moment`` (None before it was created)."""
        return self._state_at(seal.id, seal.created_at, seal.status_changed_at,
                              SealState(seal.status.value), moment)

    def _state_at(self, seal_id: str, created_at: datetime, changed_at: datetime | None,
                  state_now: SealState, moment: datetime) -> SealState | None:
        """A time-stamp is accurate to a second (our TSA's accuracy, whole seconds),
        registry times to the microsecond: creation is compared with that tolerance."""
        if moment + TIME_STAMP_ACCURACY < created_at:
            return None
        if changed_at is None:
            return SealState.ACTIVE  # never suspended, resumed or revoked
        events = self._session.execute(
            select(AuditEntry.action, AuditEntry.at)
            .where(AuditEntry.object_type == "seal").where(AuditEntry.object_id == seal_id)
            .where(AuditEntry.action.in_(list(_TRANSITIONS)))
            .order_by(AuditEntry.seq)
        ).all()
        if not events:
            return state_now if changed_at <= moment else SealState.ACTIVE
        state: SealState | None = None
        for action, at in events:
            if at <= moment:
                state = _TRANSITIONS[action]
        return state if state is not None else SealState.ACTIVE
