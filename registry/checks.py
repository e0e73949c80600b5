"""Certificate-free checks (免提交): does the applicant hold what the service item needs?

1. The holder's consent or one-time use code must cover this client, item and case
   (registry/consent.py); otherwise one uninformative 403.
2. For each requested material: the holder's current licences of an accepted type; a
   licence valid today satisfies it, else the reason (none held, expired, suspended,
   revoked, lost).
3. Only the fields the item may receive for that type are returned (data minimisation).
4. Every licence disclosed is one use record; the check, the uses and the audit entries
   are written by one statement (so a check under a consent needs no transaction of its
   own, see api/routes/checks.py), and the answer is a receipt the registry signs.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from trust.audit import AuditLog, AuditRecord
from trust.db import insert_together

from .consent import ITEM_AND_CONSENT, ConsentService, no_consent_error
from .errors import RegistryError
from .holders import normalise_holder
from .items import ItemView, Material
from .lifecycle import effective_status
from .models import Licence, LicenceCheck, LicenceStatus, LicenceUse
from .receipts import RECEIPT_TYP, ServiceSigner
from .sealing import LicenceSealer

__all__ = ["CheckOutcome", "CheckRequest", "CheckService", "MaterialResult"]

# Which reason to give when nothing is valid: the most telling state among the
# holder's licences for the material.
_REASON_ORDER = (LicenceStatus.SUSPENDED, LicenceStatus.LOST, LicenceStatus.EXPIRED,
                 LicenceStatus.REVOKED)


@dataclass(frozen=True)
class CheckRequest:
    """What an intake system asks."""

    holder_kind: str
    holder_code: str
    item_code: str
    case_number: str
    purpose: str
    consent_id: str | None = None
    use_code: str | None = None
    materials: tuple[str, ...] | None = None

    def digest(self) -> str:
        """SHA-256 of the canonical request (the use code itself is left out)."""
        canonical = json.dumps({
            "holder_kind": self.holder_kind, "holder_code": self.holder_code,
            "item_code": self.item_code, "case_number": self.case_number,
            "purpose": self.purpose, "consent_id": self.consent_id,
            "use_code": bool(self.use_code), "materials": list(self.materials or ()),
        }, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class MaterialResult:
    """The answer for one material."""

    material: str
    name: str
    satisfied: bool
    reason: str | None = None
    identifier: str | None = None
    version: int | None = None
    type_code: str | None = None
    valid_from: date | None = None
    valid_until: date | None = None
    fields: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        """The receipt's form (None values left out)."""
        body: dict[str, Any] = {"material": self.material, "name": self.name,
                                "satisfied": self.satisfied}
        for key in ("reason", "identifier", "version", "type_code", "fields"):
            value = getattr(self, key)
            if value is not None:
                body[key] = value
        if self.valid_from is not None:
            body["valid_from"] = self.valid_from.isoformat()
        if self.satisfied:
            body["valid_until"] = self.valid_until.isoformat() if self.valid_until else None
        return body


@dataclass(frozen=True)
class CheckOutcome:
    """A check's answer and the signed receipt."""

    check_id: str
    at: datetime
    results: list[MaterialResult]
    receipt: str


@dataclass(frozen=True)
class HeldLicence:
    """What a check reads of one of the holder's current licences."""

    id: int
    identifier: str
    version: int
    type_code: str
    holder_code: str
    issuer_code: str
    status: LicenceStatus
    issued_at: datetime
    valid_from: date
    valid_until: date | None
    fields: dict[str, Any]


# Built once: every check runs these.
_HELD_COLUMNS = (Licence.id, Licence.identifier, Licence.version, Licence.type_code,
                 Licence.holder_code, Licence.issuer_code, Licence.status, Licence.issued_at,
                 Licence.valid_from, Licence.valid_until, Licence.fields)
_HELD_LICENCES = (
    select(*_HELD_COLUMNS)
    .where(Licence.holder_code == bindparam("holder_code"))
    .where(Licence.type_code.in_(bindparam("type_codes", expanding=True)))
    .where(Licence.superseded_by_id.is_(None))
)
# A check under a consent in one round trip: the item, the consent that covers the check
# (NULL if none does) and the holder's current licences of every type, one row each (a
# holder has few; the item's accepted types are applied after), or one row of NULLs
# without any. No row: no such item. Nothing read is used unless the consent holds.
_ITEM_CONSENT_AND_LICENCES = ITEM_AND_CONSENT.add_columns(*_HELD_COLUMNS).outerjoin(
    Licence, (Licence.holder_code == bindparam("holder_code"))
    & Licence.superseded_by_id.is_(None))
_CHECKS = cast(Table, LicenceCheck.__table__)
_USES = cast(Table, LicenceUse.__table__)


@dataclass(frozen=True)
class Caller:
    """The intake system asking."""

    client_id: str
    client_name: str
    actor: str


class CheckService:
    """Runs checks inside the caller's unit of work."""

    def __init__(self, session: Session, audit: AuditLog, consents: ConsentService,
                 signer: ServiceSigner) -> None:
        self._session = session
        self._audit = audit
        self._consents = consents
        self._signer = signer

    def check(self, request: CheckRequest, caller: Caller, *, at: datetime) -> CheckOutcome:
        """Answer one check (see the module docstring)."""
        if not request.purpose.strip() or len(request.purpose) > 200:
            raise RegistryError("purpose: 1 to 200 characters are required")
        if not request.case_number.strip():
            raise RegistryError("case_number is required")
        try:
            holder = normalise_holder(request.holder_kind, request.holder_code)
        except RegistryError:
            raise self._refusal() from None  # the same refusal as for no consent
        connection = self._session.connection()  # Core statements, no ORM: the hot path
        consent_id: str | None
        use_code_id: str | None = None
        held: list[HeldLicence] | None = None
        if request.consent_id is not None and request.use_code is None:
            item, consent_id, held = self._under_consent(request, caller, holder.code, at)
        elif request.use_code is not None and request.consent_id is None:
            try:
                item, use_code_id = self._consents.claim_use_code(
                    holder_code=holder.code, item_code=request.item_code,
                    client_id=caller.client_id, use_code=request.use_code, at=at)
            except RegistryError:
                raise self._refusal() from None  # an unknown item or no use code: the same
            consent_id = None
        else:
            raise self._refusal()  # neither a consent nor a use code, or both
        materials = list(item.materials)
        if request.materials:
            wanted = set(request.materials)
            unknown = wanted - {m.id for m in materials}
            if unknown:
                raise RegistryError(f"materials {sorted(unknown)} are not required by "
                                    f"item {item.code}")
            materials = [m for m in materials if m.id in wanted]
        accepted = sorted({code for m in materials for code in m.fields_by_type})
        if held is None:
            licences = [HeldLicence(*row) for row in connection.execute(
                _HELD_LICENCES, {"holder_code": holder.code, "type_codes": accepted})]
        else:
            licences = [licence for licence in held if licence.type_code in accepted]
        today = LicenceSealer.today(at)
        results, disclosed = [], []
        for material in materials:
            result, licence = self._answer(material, licences, today)
            results.append(result)
            if licence is not None:
                disclosed.append((licence, result))

        check_id = uuid.uuid4().hex
        payload = {
            "v": 1,
            "check_id": check_id,
            "iat": int(at.timestamp()),
            "at": at.isoformat(),
            "client": {"id": caller.client_id, "name": caller.client_name},
            "item": {"code": item.code, "name": item.name},
            "case_number": request.case_number,
            "purpose": request.purpose,
            "request_sha256": request.digest(),
            "results": [result.as_json() for result in results],
        }
        receipt = self._signer.sign(payload, typ=RECEIPT_TYP)
        check_row = {
            "id": check_id, "client_id": caller.client_id, "item_code": item.code,
            "case_number": request.case_number, "purpose": request.purpose,
            "holder_code": holder.code, "consent_id": consent_id, "use_code_id": use_code_id,
            "request_sha256": payload["request_sha256"], "at": at, "receipt": receipt,
        }
        records = [AuditRecord(
            actor=caller.actor, action="check.performed", object_type="check",
            object_id=check_id, at=at,
            details={"item": item.code, "case": request.case_number, "holder": holder.code,
                     "satisfied": [r.material for r in results if r.satisfied],
                     "consent": consent_id, "use_code": use_code_id},
        )]
        uses = []
        for licence, result in disclosed:
            fields = sorted(result.fields or {})
            uses.append({
                "licence_id": licence.id, "identifier": licence.identifier,
                "version": licence.version, "holder_code": licence.holder_code,
                "issuer_code": licence.issuer_code, "check_id": check_id,
                "client_id": caller.client_id, "client_name": caller.client_name,
                "item_code": item.code, "item_name": item.name,
                "case_number": request.case_number, "purpose": request.purpose,
                "fields": fields, "consent_id": consent_id, "use_code_id": use_code_id,
                "use_copy_sha256": None, "at": at,
            })
            records.append(AuditRecord(
                actor=caller.actor, action="licence.used", object_type="licence",
                object_id=licence.identifier, at=at,
                details={"check": check_id, "item": item.code, "case": request.case_number,
                         "purpose": request.purpose, "fields": fields},
            ))
        # The check, its uses and their audit records: one statement on PostgreSQL.
        insert_together(self._session, [(_CHECKS, [check_row]), (_USES, uses),
                                        self._audit.outbox_batch(records)])
        return CheckOutcome(check_id, at, results, receipt)

    def _under_consent(self, request: CheckRequest, caller: Caller, holder_code: str,
                       at: datetime) -> tuple[ItemView, str, list[HeldLicence]]:
        """The item, the consent and the holder's licences, read together; or the refusal."""
        rows = self._session.connection().execute(_ITEM_CONSENT_AND_LICENCES, {
            "consent_id": request.consent_id, "holder_code": holder_code,
            "item_code": request.item_code, "at": at, "client_id": caller.client_id,
            "case_number": request.case_number,
        }).all()
        if not rows or rows[0].consent is None:
            raise self._refusal()  # no such item, or no consent covers this check
        first = rows[0]
        held = [HeldLicence(*row[3:]) for row in rows if row.id is not None]
        return ItemView.of(request.item_code, first.name, first.materials), first.consent, held

    @staticmethod
    def _refusal() -> RegistryError:
        return no_consent_error()

    @staticmethod
    def _answer(material: Material, licences: list[HeldLicence], today: date
                ) -> tuple[MaterialResult, HeldLicence | None]:
        candidates = [lic for lic in licences if lic.type_code in material.fields_by_type]
        valid = [lic for lic in candidates
                 if effective_status(lic, today) is LicenceStatus.VALID]
        if valid:
            best = max(valid, key=lambda lic: (lic.issued_at, lic.version))
            allowed = material.fields_by_type[best.type_code]
            fields = {key: best.fields[key] for key in allowed if key in best.fields}
            return MaterialResult(
                material=material.id, name=material.name, satisfied=True,
                identifier=best.identifier, version=best.version, type_code=best.type_code,
                valid_from=best.valid_from, valid_until=best.valid_until, fields=fields,
            ), best
        if not candidates:
            return MaterialResult(material.id, material.name, False, reason="none-held"), None
        states = {effective_status(lic, today) for lic in candidates}
        reason = next(state for state in _REASON_ORDER if state in states)
        return MaterialResult(material.id, material.name, False, reason=reason.value), None
