"""Issuing a licence: validate, identify, render, seal, store, commit.

1. An ``Idempotency-Key`` seen before returns the first result (the same key with another
   body is a conflict); the key is claimed first, so concurrent retries wait for the
   first and then return its licence.
2. The issuer may issue the type; the holder code passes its check; the surface fields
   match the type's JSON Schema; the validity follows the type's rule.
3. A serial is allocated (unique per type, issuer and year, also under concurrency) and
   the GB/T 36904 identifier built, version 001.
4. The page is rendered and certified with the issuer's seal (DocMDP, PAdES B-T).
5. The PDF goes to the content-addressed store (fsynced) *before* the rows are written;
   the licence, its history event, the seal use and the audit entry commit together in
   the caller's transaction. A crash leaves at most an unreferenced file, which
   ``zhengyin store sweep`` removes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Table, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, make_transient_to_detached

from zhengyin.core.audit import AuditLog, AuditRecord
from zhengyin.core.db import insert_together, reserve_ids
from zhengyin.signing.models import SealUse, SignatureLevel
from zhengyin.signing.uselog import SealUseLog, UseEntry

from .catalogue import Catalogue, ValidityRule, fields_validator, format_printed_number
from .errors import IdempotencyConflictError, InvalidSurfaceFieldsError, NotAllowedToIssueError
from .fieldcheck import fields_conform
from .filestore import FileStore
from .holders import HolderKind, normalise_holder
from .identifiers import LicenceIdentifier
from .models import (
    IdempotencyRecord,
    Licence,
    LicenceEvent,
    LicenceStatus,
    LicenceType,
    TransitionAction,
)
from .render import LicenceView
from .sealing import IssuerSeal, LicenceSealer, find_issuer_seal, licence_view
from .serials import SerialAllocator
from .statuslists import StatusLists, status_list_uri
from .templatefit import unprintable_fields

__all__ = [
    "IssuanceService",
    "IssueOutcome",
    "IssueRequest",
    "IssuingParty",
    "verify_url",
]

_LICENCES = cast(Table, Licence.__table__)
_EVENTS = cast(Table, LicenceEvent.__table__)
_SEAL_USES = cast(Table, SealUse.__table__)


@dataclass(frozen=True)
class IssueRequest:
    """What an issuing department sends."""

    type_code: str
    holder_kind: str
    holder_code: str
    holder_name: str
    fields: dict[str, Any]
    valid_from: date | None = None
    valid_until: date | None = None
    printed_number: str | None = None

    def digest(self) -> str:
        """SHA-256 of the canonical request, to recognise a retry."""
        body = asdict(self)
        canonical = json.dumps(body, ensure_ascii=False, sort_keys=True, default=str,
                               separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class IssuingParty:
    """Who issues: the organisation and the client acting for it."""

    org_code: str
    client_id: str | None
    actor: str


@dataclass(frozen=True)
class IssueOutcome:
    """The issued licence, and whether this call replayed an earlier one."""

    licence: Licence
    replayed: bool = False


def verify_url(base_url: str, identifier: str) -> str:
    """The public verification page of a licence (printed as its QR code)."""
    return f"{base_url.rstrip('/')}/v/{identifier}"


@dataclass
class _Prepared:
    licence_type: LicenceType
    holder_kind: HolderKind
    holder_code: str
    issuer_name: str
    valid_from: date
    valid_until: date | None
    fields: dict[str, Any] = field(default_factory=dict)


def _require_printable(licence_type: LicenceType, kind: HolderKind, holder_name: str,
                       fields: dict[str, Any], printed_number: str | None) -> None:
    """Refuse printed values the licence page cannot show, before anything is allocated."""
    problems = unprintable_fields(
        licence_type.template, fields=fields, printed_number=printed_number,
        holder_name=None if kind is HolderKind.CREDIT_CODE else holder_name)
    if problems:
        raise InvalidSurfaceFieldsError(
            "the licence page cannot print: " + ", ".join(item["field"] for item in problems),
            errors=problems,
            hint="write the character with one the font has, or install a font that has it")


def _not_ended(valid_until: date | None, today: date) -> None:
    """Refuse a validity that ends before the day of issue: a licence born expired."""
    if valid_until is not None and valid_until < today:
        raise InvalidSurfaceFieldsError(
            f"valid_until: the validity ended on {valid_until.isoformat()}, before the licence "
            f"would be issued ({today.isoformat()})",
            errors=[{"field": "valid_until", "message": "ends before the day of issue"}],
            hint="give a validity that lasts until today at least; a licence issued elsewhere "
                 "in the past is imported (zhengyin licence import) with its issue date")


class IssuanceService:
    """Issues licences inside the caller's unit of work."""

    def __init__(
        self,
        session: Session,
        *,
        catalogue: Catalogue,
        seal_uses: SealUseLog,
        audit: AuditLog,
        files: FileStore,
        sealer: LicenceSealer,
        serials: SerialAllocator,
        base_url: str,
    ) -> None:
        self._session = session
        self._catalogue = catalogue
        self._seal_uses = seal_uses
        self._audit = audit
        self._files = files
        self._sealer = sealer
        self._serials = serials
        self._base_url = base_url
        self.status_lists = StatusLists(session, base_url=base_url)

    # ------------------------------------------------------------------ checks

    def prepare(self, request: IssueRequest, issuer_code: str, *, today: date) -> _Prepared:
        """Every check that does not write: type, issuer, holder, fields, validity."""
        licence_type, issuer_name = self._catalogue.current_for_issuer(request.type_code,
                                                                       issuer_code)
        if issuer_name is None:
            raise NotAllowedToIssueError(
                f"organisation {issuer_code} may not issue licence type {licence_type.code} "
                f"({licence_type.name})",
                hint="an administrator adds issuers to the type's definition",
            )
        return self.check_request(licence_type, issuer_name, request, today=today)

    @classmethod
    def check_request(cls, licence_type: LicenceType, issuer_name: str, request: IssueRequest,
                      *, today: date, historic: bool = False) -> _Prepared:
        """The checks of :meth:`prepare` that need no database: holder, fields, validity.

        Bulk import runs them per row after looking the type and issuer up once, with
        ``historic``: a licence issued elsewhere long ago is recorded as it was, even if
        its validity has ended; a licence issued here never is issued already expired.
        """
        try:
            kind = HolderKind(request.holder_kind)
        except ValueError:
            raise InvalidSurfaceFieldsError(
                f"holder_kind: {request.holder_kind!r} is not a holder kind",
                errors=[{"field": "holder_kind", "message": "unknown holder kind"}],
            ) from None
        if kind.value not in licence_type.holder_kinds:
            raise InvalidSurfaceFieldsError(
                f"holder_kind: {licence_type.name} is held by "
                f"{', '.join(licence_type.holder_kinds)}, not {kind.value}",
                errors=[{"field": "holder_kind", "message": "not accepted by this type"}],
            )
        holder = normalise_holder(kind, request.holder_code, today=today)
        if not request.holder_name.strip():
            raise InvalidSurfaceFieldsError(
                "holder_name: required", errors=[{"field": "holder_name", "message": "required"}])
        cls.validate_fields(licence_type, request.fields)
        _require_printable(licence_type, kind, request.holder_name, request.fields,
                           request.printed_number)
        valid_from, valid_until = ValidityRule.of(licence_type.validity).period(
            issued_on=today, valid_from=request.valid_from, valid_until=request.valid_until)
        if not historic:
            _not_ended(valid_until, today)
        return _Prepared(licence_type, kind, holder.code, issuer_name, valid_from, valid_until,
                         dict(request.fields))

    @staticmethod
    def validate_fields(licence_type: LicenceType, fields: dict[str, Any]) -> None:
        """Check surface fields against the type's schema; errors name every field."""
        if fields_conform(licence_type, fields):
            return  # certainly valid: the fast path (registry/fieldcheck.py)
        errors = sorted(fields_validator(licence_type).iter_errors(fields),
                        key=lambda error: list(error.absolute_path))
        if not errors:
            return
        # One problem per field: jsonschema reports a ``required`` error per missing
        # property, each carrying the whole list, so k missing fields must not become k².
        found: dict[str, str] = {}
        for error in errors:
            base = ".".join(["fields", *(str(part) for part in error.absolute_path)])
            instance = error.instance if isinstance(error.instance, dict) else {}
            if error.validator == "required":
                for name in error.validator_value:
                    if name not in instance:
                        found.setdefault(f"{base}.{name}", "required")
            elif error.validator == "additionalProperties":
                known = set(error.schema.get("properties", {}))
                for name in sorted(set(instance) - known):
                    found.setdefault(f"{base}.{name}", "not a field of this type")
            else:
                found.setdefault(base, error.message)
        problems = [{"field": field, "message": message} for field, message in found.items()]
        listed = ", ".join(found)
        raise InvalidSurfaceFieldsError(f"surface fields do not match the licence type: {listed}",
                                        errors=problems)

    # ------------------------------------------------------------------ issue

    def issue(self, request: IssueRequest, party: IssuingParty, *, at: datetime,
              idempotency_key: str | None = None) -> IssueOutcome:
        """Issue one licence (see the module docstring for the steps)."""
        digest = request.digest()
        if idempotency_key is not None and party.client_id is not None:
            replay = self._claim_key(party.client_id, idempotency_key, digest, at)
            if replay is not None:
                return IssueOutcome(replay, replayed=True)

        today = self._sealer.today(at)
        prepared = self.prepare(request, party.org_code, today=today)
        licence_type = prepared.licence_type
        seal = find_issuer_seal(self._session, party.org_code, licence_type.seal_types, at)

        value = self._serials.allocate(self._session, licence_type.code, party.org_code,
                                       today.year)
        serial = SerialAllocator.serial(today.year, value)
        identifier = LicenceIdentifier.new(licence_type.code, party.org_code, serial)
        printed = request.printed_number or self.printed_number(
            licence_type, party.org_code, serial, today, prepared.holder_code)

        licence = Licence(
            identifier=str(identifier), type_id=licence_type.id, type_code=licence_type.code,
            issuer_code=party.org_code, issuer_name=prepared.issuer_name, serial=serial,
            version=1, printed_number=printed, holder_kind=prepared.holder_kind.value,
            holder_code=prepared.holder_code, holder_name=request.holder_name.strip(),
            fields=prepared.fields, issued_at=at, valid_from=prepared.valid_from,
            valid_until=prepared.valid_until, status=LicenceStatus.VALID,
            status_changed_at=at, seal_id=seal.id, created_by=party.actor,
        )
        # Its status-list entry first: the index is printed in the PDF's signed metadata.
        licence.status_list_id, licence.status_list_index = self.status_lists.allocate(at)[0]
        self._seal_and_store(licence, licence_type, seal, at=at)
        self._insert_issued(licence, party, at, TransitionAction.ISSUED, None)
        if idempotency_key is not None and party.client_id is not None:
            self._session.execute(
                update(IdempotencyRecord)
                .where(IdempotencyRecord.client_id == party.client_id)
                .where(IdempotencyRecord.key == idempotency_key)
                .values(licence_id=licence.id)
            )
        return IssueOutcome(licence)

    def _claim_key(self, client_id: str, key: str, digest: str, at: datetime) -> Licence | None:
        """Return the first result for a seen key, or claim the key for this request."""
        record = self._session.get(IdempotencyRecord, (client_id, key))
        if record is None:
            try:
                with self._session.begin_nested():
                    self._session.add(IdempotencyRecord(
                        client_id=client_id, key=key, request_sha256=digest, licence_id=None,
                        created_at=at))
                return None
            except IntegrityError:
                # A concurrent request with the same key committed first.
                record = self._session.scalar(
                    select(IdempotencyRecord)
                    .where(IdempotencyRecord.client_id == client_id)
                    .where(IdempotencyRecord.key == key)
                    .execution_options(populate_existing=True)
                )
                assert record is not None
        if record.request_sha256 != digest:
            raise IdempotencyConflictError(
                f"Idempotency-Key {key!r} was used before with a different request",
                hint="use a new key for a new request",
            )
        if record.licence_id is None:
            raise IdempotencyConflictError(
                f"a request with Idempotency-Key {key!r} is still being processed",
                hint="retry shortly",
            )
        licence = self._session.get(Licence, record.licence_id)
        assert licence is not None
        return licence

    @staticmethod
    def printed_number(licence_type: LicenceType, issuer_code: str, serial: str,
                       today: date, holder_code: str) -> str:
        """The printed licence number from the type's pattern (default: the serial)."""
        pattern = licence_type.number_pattern or "{serial}"
        return format_printed_number(pattern, year=today.year, region=issuer_code[2:8],
                                     serial=serial, issuer=issuer_code, holder_code=holder_code)

    def view(self, licence: Licence, licence_type: LicenceType) -> LicenceView:
        """What the licence's page shows, with its verification URL and status-list entry."""
        return licence_view(licence, licence_type,
                            verify_url=verify_url(self._base_url, licence.identifier),
                            status_uri=status_list_uri(self._base_url, licence.status_list_id)
                            if licence.status_list_id is not None else "")

    def _seal_and_store(self, licence: Licence, licence_type: LicenceType,
                        seal: IssuerSeal, *, at: datetime) -> None:
        """Certify the licence's PDF and store it (fsynced) before its rows are written."""
        view = self.view(licence, licence_type)
        sealed = self._sealer.seal(self._session, view, seal, at=at)
        licence.pdf_sha256 = self._files.put(sealed.pdf)
        licence.signed_sha256 = sealed.signed_sha256
        licence.pdf_size = len(sealed.pdf)

    @staticmethod
    def data_digest(licence: Licence) -> str:
        """SHA-256 of what a licence PDF seals: its identifier, holder and surface fields.

        A born-sealed PDF has no input document; the seal-use log records this instead.
        """
        canonical = json.dumps({
            "identifier": licence.identifier, "holder_kind": licence.holder_kind,
            "holder_code": licence.holder_code, "holder_name": licence.holder_name,
            "fields": licence.fields, "valid_from": licence.valid_from.isoformat(),
            "valid_until": licence.valid_until.isoformat() if licence.valid_until else None,
        }, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def _insert_issued(self, licence: Licence, party: IssuingParty, at: datetime,
                       action: TransitionAction, previous: Licence | None) -> None:
        """Write the new licence, its history event, its seal use and their audit records.

        One statement on PostgreSQL (:func:`zhengyin.core.db.insert_together`), with the ids the
        rows name reserved first; then ``licence`` joins the session as the stored row.
        """
        licence.id, use_id = reserve_ids(self._session, [_LICENCES, _SEAL_USES])
        event = {
            "licence_id": licence.id, "action": action, "operation_code": action.operation_code,
            "from_status": None, "to_status": LicenceStatus.VALID, "reason_code": None,
            "reason": None, "legal_basis": None, "effective_at": at, "recorded_at": at,
            "actor": party.actor,
            "details": {"version": licence.version,
                        "previous": previous.identifier if previous else None},
        }
        batches = [(_LICENCES, [{column.key: getattr(licence, column.key)
                                 for column in _LICENCES.columns}]), (_EVENTS, [event])]
        if licence.seal_id and licence.pdf_sha256:
            batches += self._seal_uses.insert_batches(UseEntry(
                seal_id=licence.seal_id, client_id=party.client_id, actor=party.actor, at=at,
                case_number=licence.identifier, purpose="电子证照签发 licence issuance",
                document_name=f"{licence.identifier}.pdf",
                input_sha256=self.data_digest(licence),
                output_sha256=licence.pdf_sha256, field_name="Seal1",
                level=SignatureLevel.B_T, placement={"kind": "licence"},
            ), use_id=use_id)
        batches.append(self._audit.outbox_batch([AuditRecord(
            actor=party.actor, action=f"licence.{action.value}", object_type="licence",
            object_id=licence.identifier, at=at,
            details={"type": licence.type_code, "holder": licence.holder_code,
                     "version": licence.version, "pdf_sha256": licence.pdf_sha256},
        )]))
        insert_together(self._session, batches)
        make_transient_to_detached(licence)
        self._session.add(licence)

    # ------------------------------------------------------------------ new versions

    def reissue(self, previous: Licence, *, fields: dict[str, Any] | None,
                holder_name: str | None, valid_from: date | None, valid_until: date | None,
                action: TransitionAction, party: IssuingParty, at: datetime) -> Licence:
        """A change (变更) or renewal (延续): the next version, sealed now.

        The caller (the lifecycle service) has checked the transition and marks the
        previous version superseded.
        """
        licence_type = self._catalogue.current(previous.type_code)
        new_fields = dict(previous.fields if fields is None else fields)
        self.validate_fields(licence_type, new_fields)
        _require_printable(licence_type, HolderKind(previous.holder_kind),
                           holder_name or previous.holder_name, new_fields, None)
        today = self._sealer.today(at)
        if action is TransitionAction.RENEWED:
            start, end = ValidityRule.of(licence_type.validity).period(
                issued_on=today, valid_from=valid_from, valid_until=valid_until)
            _not_ended(end, today)
        else:
            start, end = previous.valid_from, previous.valid_until
        identifier = LicenceIdentifier.parse(previous.identifier).next_version()
        seal = find_issuer_seal(self._session, previous.issuer_code, licence_type.seal_types, at)
        licence = Licence(
            identifier=str(identifier), type_id=licence_type.id, type_code=previous.type_code,
            issuer_code=previous.issuer_code, issuer_name=previous.issuer_name,
            serial=previous.serial, version=identifier.version,
            printed_number=previous.printed_number, holder_kind=previous.holder_kind,
            holder_code=previous.holder_code,
            holder_name=(holder_name or previous.holder_name).strip(), fields=new_fields,
            issued_at=at, valid_from=start, valid_until=end, status=LicenceStatus.VALID,
            status_changed_at=at, seal_id=seal.id, previous_id=previous.id,
            created_by=party.actor,
        )
        # A new version gets its own entry: an index is never shared across versions.
        licence.status_list_id, licence.status_list_index = self.status_lists.allocate(at)[0]
        self._seal_and_store(licence, licence_type, seal, at=at)
        self._insert_issued(licence, party, at, action, previous)
        return licence

    def ensure_sealed(self, licence: Licence, *, at: datetime) -> Licence:
        """Seal a licence imported without its PDF, at its first download.

        Concurrent first downloads may both seal. The row is claimed with a conditional
        ``UPDATE ... WHERE pdf_sha256 IS NULL`` (on PostgreSQL the second waits for the
        first to commit, then matches nothing): exactly one wins and records the seal use;
        a loser discards its file and returns the winner's PDF.
        """
        if licence.pdf_sha256 is not None:
            return licence
        licence_type = self._session.get(LicenceType, licence.type_id)
        assert licence_type is not None
        seal = find_issuer_seal(self._session, licence.issuer_code, licence_type.seal_types, at)
        entry: dict[str, int] = {}
        if licence.status_list_id is None:
            # Imported before status lists: its entry now, as it gets its signed metadata.
            list_id, index = self.status_lists.allocate(at)[0]
            entry = {"status_list_id": list_id, "status_list_index": index}
            licence.status_list_id, licence.status_list_index = list_id, index
        view = self.view(licence, licence_type)
        sealed = self._sealer.seal(self._session, view, seal, at=at)
        digest = self._files.put(sealed.pdf)
        claimed = self._session.execute(
            update(Licence).where(Licence.id == licence.id).where(Licence.pdf_sha256.is_(None))
            .values(pdf_sha256=digest, signed_sha256=sealed.signed_sha256,
                    pdf_size=len(sealed.pdf), seal_id=seal.id, **entry)
            .execution_options(synchronize_session=False)
        )
        self._session.refresh(licence, ["pdf_sha256", "signed_sha256", "pdf_size", "seal_id",
                                        "status_list_id", "status_list_index"])
        if cast(CursorResult[Any], claimed).rowcount != 1:
            referenced = self._session.scalar(
                select(Licence.id).where(Licence.pdf_sha256 == digest).limit(1))
            if referenced is None:
                self._files.delete(digest)
            return licence
        self._seal_uses.record(
            seal_id=seal.id, client_id=None, actor="system:lazy-sealing", at=at,
            case_number=licence.identifier, purpose="电子证照签发 licence issuance (deferred)",
            document_name=f"{licence.identifier}.pdf", input_sha256=self.data_digest(licence),
            output_sha256=digest, field_name="Seal1",
            level=SignatureLevel.B_T, placement={"kind": "licence"},
        )
        return licence
