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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from zhengyin.core.asyncdb import AsyncStatements, prepared
from zhengyin.core.audit import AuditLog, AuditRecord, outbox_batch
from zhengyin.core.db import insert_together, together_statement

from .consent import ITEM_AND_CONSENT, ConsentService, no_consent_error
from .errors import RegistryError
from .holders import normalise_holder
from .items import ItemView, Material
from .lifecycle import effective_status
from .models import Licence, LicenceCheck, LicenceStatus, LicenceUse
from .receipts import RECEIPT_TYP, ServiceSigner
from .sealing import LicenceSealer

__all__ = ["CheckOutcome", "CheckRequest", "CheckService", "MaterialResult",
           "check_under_consent"]

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
        holder_code = _validated_holder(request)
        connection = self._session.connection()  # Core statements, no ORM: the hot path
        consent_id: str | None
        use_code_id: str | None = None
        held: list[HeldLicence] | None = None
        if request.consent_id is not None and request.use_code is None:
            rows = connection.execute(_ITEM_CONSENT_AND_LICENCES,
                                      _consent_parameters(request, caller, holder_code, at))
            item, consent_id, held = _under_consent(request, rows.all())
        elif request.use_code is not None and request.consent_id is None:
            try:
                item, use_code_id = self._consents.claim_use_code(
                    holder_code=holder_code, item_code=request.item_code,
                    client_id=caller.client_id, use_code=request.use_code, at=at)
            except RegistryError:
                raise no_consent_error() from None  # an unknown item or no use code: the same
            consent_id = None
        else:
            raise no_consent_error()  # neither a consent nor a use code, or both
        materials = _wanted_materials(request, item)
        accepted = sorted({code for m in materials for code in m.fields_by_type})
        if held is None:
            licences = [HeldLicence(*row) for row in connection.execute(
                _HELD_LICENCES, {"holder_code": holder_code, "type_codes": accepted})]
        else:
            licences = [licence for licence in held if licence.type_code in accepted]
        outcome, check_row, uses, records = _conclude(
            request, caller, item, holder_code=holder_code, materials=materials,
            licences=licences, signer=self._signer, consent_id=consent_id,
            use_code_id=use_code_id, at=at)
        # The check, its uses and their audit records: one statement on PostgreSQL.
        insert_together(self._session, [(_CHECKS, [check_row]), (_USES, uses),
                                        self._audit.outbox_batch(records)])
        return outcome


async def check_under_consent(statements: AsyncStatements, dialect: Dialect,
                              signer: ServiceSigner, request: CheckRequest, caller: Caller,
                              *, at: datetime) -> CheckOutcome:
    """:meth:`CheckService.check` for a consent, run on the event loop (PostgreSQL).

    The same two statements and the same answer, over an async connection in autocommit
    (:mod:`zhengyin.core.asyncdb`); the caller tells the audit sequencer that records wait.
    """
    if request.consent_id is None or request.use_code is not None:
        raise ValueError("only a check under a consent alone runs here")
    holder_code = _validated_holder(request)
    async with statements.connection() as connection:
        rows = await connection.fetch(prepared(_ITEM_CONSENT_AND_LICENCES, dialect),
                                      _consent_parameters(request, caller, holder_code, at))
        item, consent_id, held = _under_consent(request, rows)
        materials = _wanted_materials(request, item)
        accepted = {code for m in materials for code in m.fields_by_type}
        outcome, check_row, uses, records = _conclude(
            request, caller, item, holder_code=holder_code, materials=materials,
            licences=[licence for licence in held if licence.type_code in accepted],
            signer=signer, consent_id=consent_id, use_code_id=None, at=at)
        statement, parameters = together_statement(
            [(_CHECKS, [check_row]), (_USES, uses), outbox_batch(records)], dialect)
        await connection.execute(prepared(statement, dialect), parameters)
    return outcome


def _validated_holder(request: CheckRequest) -> str:
    if not request.purpose.strip() or len(request.purpose) > 200:
        raise RegistryError("purpose: 1 to 200 characters are required")
    if not request.case_number.strip():
        raise RegistryError("case_number is required")
    try:
        return normalise_holder(request.holder_kind, request.holder_code).code
    except RegistryError:
        raise no_consent_error() from None  # the same refusal as for no consent


def _consent_parameters(request: CheckRequest, caller: Caller, holder_code: str,
                        at: datetime) -> dict[str, Any]:
    return {"consent_id": request.consent_id, "holder_code": holder_code,
            "item_code": request.item_code, "at": at, "client_id": caller.client_id,
            "case_number": request.case_number}


def _under_consent(request: CheckRequest, rows: Sequence[Sequence[Any]]
                   ) -> tuple[ItemView, str, list[HeldLicence]]:
    """The item, the consent and the holder's licences from the rows read; or the refusal."""
    if not rows:
        raise no_consent_error()  # no such item
    name, materials, consent = rows[0][:3]
    if consent is None:
        raise no_consent_error()  # no consent covers this check
    held = [HeldLicence(*row[3:]) for row in rows if row[3] is not None]
    return ItemView.of(request.item_code, name, materials), consent, held


def _wanted_materials(request: CheckRequest, item: ItemView) -> list[Material]:
    materials = list(item.materials)
    if request.materials:
        wanted = set(request.materials)
        unknown = wanted - {m.id for m in materials}
        if unknown:
            raise RegistryError(f"materials {sorted(unknown)} are not required by "
                                f"item {item.code}")
        materials = [m for m in materials if m.id in wanted]
    return materials


def _conclude(request: CheckRequest, caller: Caller, item: ItemView, *, holder_code: str,
              materials: list[Material], licences: list[HeldLicence], signer: ServiceSigner,
              consent_id: str | None, use_code_id: str | None, at: datetime,
              ) -> tuple[CheckOutcome, dict[str, Any], list[dict[str, Any]], list[AuditRecord]]:
    """The answer, its signed receipt, and the rows that record it."""
    today = LicenceSealer.today(at)
    results, disclosed = [], []
    for material in materials:
        result, licence = _answer(material, licences, today)
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
    receipt = signer.sign(payload, typ=RECEIPT_TYP)
    check_row = {
        "id": check_id, "client_id": caller.client_id, "item_code": item.code,
        "case_number": request.case_number, "purpose": request.purpose,
        "holder_code": holder_code, "consent_id": consent_id, "use_code_id": use_code_id,
        "request_sha256": payload["request_sha256"], "at": at, "receipt": receipt,
    }
    records = [AuditRecord(
        actor=caller.actor, action="check.performed", object_type="check",
        object_id=check_id, at=at,
        details={"item": item.code, "case": request.case_number, "holder": holder_code,
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
    return CheckOutcome(check_id, at, results, receipt), check_row, uses, records


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
