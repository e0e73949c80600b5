"""The seal registry: create seals, change their state, decide who may use them.

A seal is an organisation's (or a person's) signing identity: a key in the key store, a
certificate from our issuing CA, a seal image and a 13-digit seal code. Revoking a seal
revokes its certificate, so every relying party sees it through CRL and OCSP.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from zhengyin.core.audit import AuditLog
from zhengyin.core.clock import utcnow
from zhengyin.core.codes import validate_credit_code
from zhengyin.core.locks import hold_rows, lock_row, refuse_if_changed_after
from zhengyin.core.models import ApiClient, ClientStatus
from zhengyin.keys import KeyAlgorithm, KeyStore
from zhengyin.trust.models import CertificateRecord, CertificateStatus, RevocationReason
from zhengyin.trust.pki import PKI

from .appearance import (
    OrganisationLevel,
    RoundSealSpec,
    name_seal_text,
    render_name_seal,
    render_round_seal,
    validate_signature_image,
)
from .errors import (
    SealError,
    SealNotAuthorisedError,
    SealNotFoundError,
    SealOrganisationError,
    SealStateError,
    SealUnusableError,
)
from .models import Seal, SealAuthorisation, SealCodeCounter, SealStatus, SealType, SealUse

__all__ = ["SealRequest", "SealService"]

_SEAL_CODE = re.compile(r"^\d{13}$")
_NOT_FOUND_HINT = "check the id; a client sees only the seals it may use"
_REGION = re.compile(r"^\d{6}$")


@dataclass(frozen=True)
class SealRequest:
    """What an administrator asks for when creating a seal."""

    org_name: str
    credit_code: str
    seal_type: SealType
    name: str | None = None
    holder_name: str | None = None
    holder_id_number: str | None = None
    region_code: str | None = None
    seal_code: str | None = None
    level: OrganisationLevel = OrganisationLevel.ENTERPRISE
    diameter_mm: float | None = None
    image_png: bytes | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    algorithm: KeyAlgorithm = KeyAlgorithm.EC_P256


def _usable_seal_ids(client_id: str) -> Select[str]:
    """Ids of the seals ``client_id`` is granted, of its own organisation only."""
    return (
        select(SealAuthorisation.seal_id)
        .join(Seal, Seal.id == SealAuthorisation.seal_id)
        .join(ApiClient, ApiClient.id == SealAuthorisation.client_id)
        .where(SealAuthorisation.client_id == client_id)
        .where(ApiClient.org_credit_code == Seal.org_credit_code)
    )


class SealService:
    """Seal registry operations inside the caller's unit of work."""

    def __init__(self, session: Session, keystore: KeyStore, pki: PKI, audit: AuditLog, *,
                 clock: Callable[[], datetime] = utcnow) -> None:
        """``clock``: when a state change takes effect once it holds the seal's lock (see
        :meth:`_transition`)."""
        self._session = session
        self._keys = keystore
        self._pki = pki
        self._audit = audit
        self._clock = clock

    # ---------------------------------------------------------------- create

    def create(self, request: SealRequest, *, at: datetime, actor: str) -> Seal:
        """Create a seal: validate, allocate a code, draw or check the image, key + cert."""
        code = validate_credit_code(request.credit_code)
        org_name = request.org_name.strip()
        if not org_name:
            raise SealError("the organisation name is empty")
        region = request.region_code or code.division_code
        if not _REGION.match(region):
            raise SealError(f"region code {region!r} is not six digits")
        seal_type = SealType(request.seal_type)
        if seal_type.is_personal and not (request.holder_name and request.holder_id_number):
            raise SealError(
                f"a {seal_type.value} seal belongs to a person",
                hint="give holder_name and holder_id_number",
            )
        name = request.name or self._default_name(seal_type, org_name, request.holder_name)
        name = name.strip()
        seal_code = self._seal_code(request.seal_code, region)
        valid_from = request.valid_from or at
        valid_until = request.valid_until or (valid_from + timedelta(days=3 * 365))
        if valid_until <= valid_from:
            raise SealError("a seal's validity must end after it starts")

        image = self._image(request, seal_type, org_name, seal_code, name)
        handle = self._keys.generate(request.algorithm, f"seal {seal_code}")
        self._audit.append(actor=actor, action="key.created", object_type="key",
                           object_id=str(handle), at=at,
                           details={"label": f"seal {seal_code}",
                                    "algorithm": request.algorithm.value})
        if seal_type.is_personal:
            assert request.holder_name and request.holder_id_number
            certificate = self._pki.issue_person_certificate(
                handle=handle, name=request.holder_name, id_number=request.holder_id_number,
                not_before=valid_from, not_after=valid_until, at=at, actor=actor,
            )
        else:
            certificate = self._pki.issue_seal_certificate(
                handle=handle, org_name=org_name, credit_code=code.value, seal_name=name,
                seal_code=seal_code, not_before=valid_from, not_after=valid_until,
                at=at, actor=actor,
            )
        seal = Seal(
            id=uuid.uuid4().hex, seal_code=seal_code, seal_type=seal_type, name=name,
            org_name=org_name, org_credit_code=code.value, region_code=region,
            holder_name=request.holder_name, image_png=image,
            image_sha256=hashlib.sha256(image).hexdigest(), key_handle=str(handle),
            certificate_id=certificate.record_id, valid_from=valid_from,
            # The certificate may be cut short by the issuing CA's own validity.
            valid_until=min(valid_until, certificate.certificate.not_valid_after),
            status=SealStatus.ACTIVE, created_at=at,
        )
        try:
            with self._session.begin_nested():
                self._session.add(seal)
        except IntegrityError:
            raise SealError(f"seal code {seal_code} is already registered") from None
        self._audit.append(actor=actor, action="seal.created", object_type="seal",
                           object_id=seal.id, at=at,
                           details={"seal_code": seal_code, "type": seal_type.value,
                                    "name": name, "org": code.value,
                                    "certificate": certificate.serial_hex})
        return seal

    @staticmethod
    def _default_name(seal_type: SealType, org_name: str, holder: str | None) -> str:
        if seal_type is SealType.PERSONAL:
            return f"{holder}签名"
        if seal_type is SealType.LEGAL_REPRESENTATIVE:
            return f"{holder}印"
        if seal_type is SealType.OFFICIAL:
            return org_name
        return f"{org_name}{seal_type.purpose_text}"

    def _seal_code(self, requested: str | None, region: str) -> str:
        if requested is not None:
            if not _SEAL_CODE.match(requested):
                raise SealError(f"seal code {requested!r} is not 13 digits")
            return requested
        statement = (
            update(SealCodeCounter)
            .where(SealCodeCounter.region_code == region)
            .values(next_value=SealCodeCounter.next_value + 1)
            .returning(SealCodeCounter.next_value)
        )
        row = self._session.execute(statement).one_or_none()
        if row is None:
            try:
                with self._session.begin_nested():
                    self._session.execute(
                        insert(SealCodeCounter).values(region_code=region, next_value=1)
                    )
            except IntegrityError:
                pass  # another transaction created it first
            row = self._session.execute(statement).one()
        sequence = int(row[0]) - 1
        if sequence >= 10_000_000:
            raise SealError(f"region {region} has used all seven-digit seal sequence numbers")
        return f"{region}{sequence:07d}"

    @staticmethod
    def _image(request: SealRequest, seal_type: SealType, org_name: str, seal_code: str,
               name: str) -> bytes:
        if request.image_png is not None:
            return validate_signature_image(request.image_png)
        if seal_type is SealType.LEGAL_REPRESENTATIVE:
            # The seal's own name, 李建国印, not the bare holder name (issue 14: the 印 was
            # missing and 李 filled a column alone).
            return render_name_seal(name_seal_text(name, request.holder_name))
        if seal_type.is_personal:
            assert request.holder_name
            return render_name_seal(request.holder_name)
        return render_round_seal(RoundSealSpec(
            org_name=org_name,
            purpose=seal_type.purpose_text,
            seal_code=seal_code,
            diameter_mm=request.diameter_mm or request.level.diameter_mm,
        ))

    # ---------------------------------------------------------------- reads

    def get(self, seal_id: str) -> Seal:
        """One seal by id."""
        seal = self._session.get(Seal, seal_id)
        if seal is None:
            raise SealNotFoundError(f"no seal {seal_id!r}", hint=_NOT_FOUND_HINT)
        return seal

    def find(self, id_or_code: str) -> Seal:
        """One seal by id or by its 13-digit seal code (what people read off the seal)."""
        seal = self._session.get(Seal, id_or_code) or self._session.scalars(
            select(Seal).where(Seal.seal_code == id_or_code)).first()
        if seal is None:
            raise SealNotFoundError(f"no seal with id or code {id_or_code!r}",
                                    hint=_NOT_FOUND_HINT)
        return seal

    def get_for(self, seal_id: str, *, client_id: str | None, used: bool = False) -> Seal:
        """The seal, if ``client_id`` may see it (None: an operator, who sees every seal).

        A client sees the seals it may use; with ``used``, also those it has used (its
        own seal-use history stays readable after a grant is withdrawn). Any other seal
        is "not found", worded as for an id that does not exist.
        """
        # The same queries whether or not the seal exists: no timing difference either.
        visible = client_id is None or self.is_authorised(seal_id, client_id) or (
            used and self._has_used(seal_id, client_id))
        seal = self._session.get(Seal, seal_id)
        if seal is not None and visible:
            return seal
        raise SealNotAuthorisedError(f"no seal {seal_id!r}", hint=_NOT_FOUND_HINT)

    def _has_used(self, seal_id: str, client_id: str) -> bool:
        return self._session.scalar(
            select(SealUse.id).where(SealUse.seal_id == seal_id)
            .where(SealUse.client_id == client_id).limit(1)) is not None

    def search(self, *, org_credit_code: str | None = None, client_id: str | None = None,
             status: SealStatus | None = None) -> list[Seal]:
        """Seals, optionally of one organisation, usable by one client, or in one state."""
        query = select(Seal)
        if org_credit_code:
            query = query.where(Seal.org_credit_code == org_credit_code)
        if status is not None:
            query = query.where(Seal.status == status)
        if client_id is not None:
            query = query.where(Seal.id.in_(_usable_seal_ids(client_id)))
        return list(self._session.scalars(query.order_by(Seal.created_at, Seal.id)))

    def certificate_of(self, seal: Seal) -> CertificateRecord:
        """The seal's current certificate row (after a rekey in this unit of work too)."""
        record = self._session.get(CertificateRecord, seal.certificate_id)
        assert record is not None  # a foreign key
        return record

    def authorised_clients(self, seal_id: str) -> list[str]:
        """Ids of the clients that may stamp with this seal."""
        return list(self._session.scalars(
            select(SealAuthorisation.client_id).where(SealAuthorisation.seal_id == seal_id)
            .order_by(SealAuthorisation.id)
        ))

    def is_authorised(self, seal_id: str, client_id: str) -> bool:
        """Whether this client may stamp with this seal: granted, and its organisation's.

        The organisation is compared here too, not only when granting: a grant made
        before the rule existed (or a client moved to another organisation) is void.
        """
        return self._session.scalar(
            _usable_seal_ids(client_id).where(SealAuthorisation.seal_id == seal_id)
        ) is not None

    # ---------------------------------------------------------------- lifecycle

    def _locked(self, seal_id: str) -> Seal:
        """The seal as it is now, its row locked until the unit of work ends."""
        seal = lock_row(self._session, Seal, seal_id)
        if seal is None:
            raise SealNotFoundError(f"no seal {seal_id!r}")
        return seal

    def _transition(self, seal: Seal, allowed_from: set[SealStatus], to: SealStatus, *,
                    reason: str, at: datetime, actor: str, action: str,
                    details: dict[str, object] | None = None) -> Seal:
        """Move a locked seal to ``to`` at ``at`` (from :meth:`_decided_at`); its state
        history (the audit log) is what verification replays, so a change is never
        recorded before the last one."""
        if seal.status not in allowed_from:
            raise SealStateError(
                f"seal {seal.seal_code} is {seal.status.value}; cannot {action.split('.')[1]} it"
            )
        refuse_if_changed_after(seal.status_changed_at, at, f"seal {seal.seal_code}")
        previous = seal.status
        seal.status = to
        seal.status_reason = reason
        seal.status_changed_at = at
        self._session.flush()
        self._audit.append(actor=actor, action=action, object_type="seal", object_id=seal.id,
                           at=at, details={"from": previous.value, "to": to.value,
                                           "reason": reason, **(details or {})})
        return seal

    def _decided_at(self, at: datetime) -> datetime:
        """When a change of a locked seal takes effect: when it is decided, no earlier than
        ``at``. A suspension or revocation waits for the uses in flight
        (:meth:`hold_for_use`), whose time-stamps then come before it; recorded at the
        request's own earlier time, it would make documents stamped while it waited verify
        as "sealed while suspended" after the service had released them."""
        return max(at, self._clock())

    def _serial(self, seal: Seal) -> str:
        record = self._session.get(CertificateRecord, seal.certificate_id)
        assert record is not None
        return record.serial_hex

    def suspend(self, seal_id: str, *, reason: str, at: datetime, actor: str) -> Seal:
        """Stop a seal from stamping for now; its certificate goes on hold (RFC 5280
        certificateHold), so CRL and OCSP clients see the suspension too."""
        locked = self._locked(seal_id)
        at = self._decided_at(at)
        seal = self._transition(locked, {SealStatus.ACTIVE},
                                SealStatus.SUSPENDED, reason=reason, at=at, actor=actor,
                                action="seal.suspended")
        self._pki.hold(self._serial(seal), at=at, actor=actor)
        return seal

    def resume(self, seal_id: str, *, reason: str, at: datetime, actor: str) -> Seal:
        """Let a suspended seal stamp again; its certificate comes off hold."""
        locked = self._locked(seal_id)
        at = self._decided_at(at)
        seal = self._transition(locked, {SealStatus.SUSPENDED},
                                SealStatus.ACTIVE, reason=reason, at=at, actor=actor,
                                action="seal.resumed")
        self._pki.release_hold(self._serial(seal), at=at, actor=actor)
        return seal

    def revoke(self, seal_id: str, *, reason: str, at: datetime, actor: str,
               key_compromised: bool = False) -> Seal:
        """Retire a seal for good and revoke its certificate.

        Idempotent: a seal already revoked (also by revoking its certificate) is
        returned as it is and nothing is recorded twice; only a key compromise claimed
        for a certificate revoked for another reason is refused (409).
        """
        seal = self._locked(seal_id)
        at = self._decided_at(at)
        if seal.status is SealStatus.REVOKED and not key_compromised:
            return seal
        # A certificate revoked already (before seals and certificates shared one state
        # machine, an administrator could revoke it alone) keeps its reason, unless a key
        # compromise is claimed.
        return self._revoke(
            seal, reason=reason, at=at, actor=actor,
            certificate_reason=RevocationReason.KEY_COMPROMISE if key_compromised
            else RevocationReason.CESSATION_OF_OPERATION, stated=key_compromised)

    def _revoke(self, seal: Seal, *, reason: str, at: datetime, actor: str,
                certificate_reason: RevocationReason, stated: bool) -> Seal:
        """Revoke a locked seal and its certificate. ``stated``: the caller named the
        certificate's reason, which must then match one it was revoked with already."""
        record = lock_row(self._session, CertificateRecord, seal.certificate_id)
        assert record is not None
        revoked_for_good = record.status is CertificateStatus.REVOKED \
            and record.revocation_reason is not RevocationReason.CERTIFICATE_HOLD
        keeps = revoked_for_good and not stated
        if seal.status is not SealStatus.REVOKED:
            final = (record.revocation_reason if keeps else None) or certificate_reason
            self._transition(seal, {SealStatus.ACTIVE, SealStatus.SUSPENDED},
                             SealStatus.REVOKED, reason=reason, at=at, actor=actor,
                             action="seal.revoked",
                             details={"certificate_reason": final.value})
        if not keeps:
            # Idempotent for the reason it was revoked with; another reason is refused.
            self._pki.revoke(record.serial_hex, reason=certificate_reason, at=at, actor=actor)
        return seal

    def revoke_certificate(self, serial_hex: str, *, reason: RevocationReason, at: datetime,
                           actor: str) -> CertificateRecord:
        """Revoke a certificate; a seal's certificate revokes its seal with it.

        One state machine for seals and their certificates: whichever is revoked first,
        both end revoked with the certificate's reason, each recorded once.
        """
        record = self._pki.record(serial_hex)
        seal_id = self._session.scalar(select(Seal.id).where(Seal.certificate_id == record.id))
        if seal_id is None:
            return self._pki.revoke(serial_hex, reason=reason, at=at, actor=actor)
        # The seal's row first, then the certificate's: the order every seal change takes.
        seal = self._locked(seal_id)
        at = self._decided_at(at)
        self._revoke(seal, reason=f"certificate revoked: {RevocationReason(reason).value}",
                     at=at, actor=actor, certificate_reason=RevocationReason(reason),
                     stated=True)
        return self._pki.record(serial_hex)

    def authorise(self, seal_id: str, client_id: str, *, at: datetime, actor: str) -> None:
        """Allow a client to stamp with a seal (idempotent: recorded once)."""
        seal = self._locked(seal_id)
        client = self._session.get(ApiClient, client_id)
        if client is None or client.status is not ClientStatus.ACTIVE:
            raise SealError(f"no active client {client_id!r}")
        if client.org_credit_code != seal.org_credit_code:
            # A stamper acts for its own organisation only; using another organisation's
            # seal would need an explicit, audited delegation, which does not exist yet.
            raise SealOrganisationError(
                f"client {client.name!r} acts for {client.org_credit_code or 'no organisation'}"
                f"; seal {seal.seal_code} belongs to {seal.org_credit_code}",
                hint="authorise a client of the seal's own organisation")
        if self.is_authorised(seal.id, client_id):
            return
        self._session.add(SealAuthorisation(seal_id=seal.id, client_id=client_id,
                                            granted_at=at, granted_by=actor))
        self._session.flush()
        self._audit.append(actor=actor, action="seal.client_authorised", object_type="seal",
                           object_id=seal.id, at=at,
                           details={"client": client_id, "client_name": client.name})

    def deauthorise(self, seal_id: str, client_id: str, *, at: datetime, actor: str) -> None:
        """Withdraw a client's right to use a seal (idempotent: recorded once)."""
        seal = self._locked(seal_id)
        row = self._session.scalar(
            select(SealAuthorisation).where(SealAuthorisation.seal_id == seal.id)
            .where(SealAuthorisation.client_id == client_id)
        )
        if row is None:
            return
        self._session.delete(row)
        self._session.flush()
        self._audit.append(actor=actor, action="seal.client_deauthorised", object_type="seal",
                           object_id=seal.id, at=at, details={"client": client_id})

    # ---------------------------------------------------------------- use

    def hold_for_use(self, seal_id: str) -> None:
        """The seal, still active, held until the unit of work ends (trust.locks.hold_rows).

        Called before a use is recorded (a stamp, a job's documents): a suspension or
        revocation then waits for the use to commit and takes effect after it, and a use
        that comes after the change sees it here and is refused — its document is never
        released.
        """
        rows = hold_rows(self._session, select(Seal.status, Seal.seal_code)
                         .where(Seal.id == seal_id))  # not the row: its image is large
        if not rows:
            raise SealNotFoundError(f"no seal {seal_id!r}")
        status, seal_code = rows[0]
        if SealStatus(status) is not SealStatus.ACTIVE:
            raise SealUnusableError(
                f"seal {seal_code} was {SealStatus(status).value} while the document was being "
                "stamped; the stamped document was discarded",
                hint="ask the seal's administrator; stamp again once it is active")

    def require_usable(self, seal_id: str, *, client_id: str | None, at: datetime) -> Seal:
        """The seal, if ``client_id`` may stamp with it at ``at``; raises otherwise.

        ``client_id`` None means the registry itself (issuance), which needs no grant.
        An unauthorised client learns nothing about the seal, not even that it exists.
        """
        seal = self.get_for(seal_id, client_id=client_id)
        if seal.status is not SealStatus.ACTIVE:
            raise SealUnusableError(f"seal {seal.seal_code} is {seal.status.value}")
        if not seal.valid_from <= at <= seal.valid_until:
            raise SealUnusableError(
                f"seal {seal.seal_code} is valid from {seal.valid_from:%Y-%m-%d} to "
                f"{seal.valid_until:%Y-%m-%d}"
            )
        return seal
