"""The seal registry: create seals, change their state, decide who may use them.

A seal is an organisation's (or a person's) signing identity: a key in the key store, a
certificate from our issuing CA, a seal image and a 13-digit seal code. Revoking a seal
revokes its certificate, so every relying party sees it through CRL and OCSP.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from keys import KeyAlgorithm, KeyStore
from trust.audit import AuditLog
from trust.codes import validate_credit_code
from trust.models import ApiClient, CertificateRecord, ClientStatus, RevocationReason
from trust.pki import PKI

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

    def __init__(self, session: Session, keystore: KeyStore, pki: PKI, audit: AuditLog) -> None:
        self._session = session
        self._keys = keystore
        self._pki = pki
        self._audit = audit

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

    def _transition(self, seal_id: str, allowed_from: set[SealStatus], to: SealStatus, *,
                    reason: str, at: datetime, actor: str, action: str) -> Seal:
        seal = self.get(seal_id)
        if seal.status not in allowed_from:
            raise SealStateError(
                f"seal {seal.seal_code} is {seal.status.value}; cannot {action.split('.')[1]} it"
            )
        previous = seal.status
        seal.status = to
        seal.status_reason = reason
        seal.status_changed_at = at
        self._session.flush()
        self._audit.append(actor=actor, action=action, object_type="seal", object_id=seal.id,
                           at=at, details={"from": previous.value, "to": to.value,
                                           "reason": reason})
        return seal

    def suspend(self, seal_id: str, *, reason: str, at: datetime, actor: str) -> Seal:
        """Stop a seal from stamping for now."""
        return self._transition(seal_id, {SealStatus.ACTIVE}, SealStatus.SUSPENDED,
                                reason=reason, at=at, actor=actor, action="seal.suspended")

    def resume(self, seal_id: str, *, reason: str, at: datetime, actor: str) -> Seal:
        """Let a suspended seal stamp again."""
        return self._transition(seal_id, {SealStatus.SUSPENDED}, SealStatus.ACTIVE,
                                reason=reason, at=at, actor=actor, action="seal.resumed")

    def revoke(self, seal_id: str, *, reason: str, at: datetime, actor: str,
               key_compromised: bool = False) -> Seal:
        """Retire a seal for good and revoke its certificate."""
        seal = self._transition(seal_id, {SealStatus.ACTIVE, SealStatus.SUSPENDED},
                                SealStatus.REVOKED, reason=reason, at=at, actor=actor,
                                action="seal.revoked")
        record = self._session.get(CertificateRecord, seal.certificate_id)
        assert record is not None
        self._pki.revoke(
            record.serial_hex,
            reason=RevocationReason.KEY_COMPROMISE if key_compromised
            else RevocationReason.CESSATION_OF_OPERATION,
            at=at, actor=actor,
        )
        return seal

    def authorise(self, seal_id: str, client_id: str, *, at: datetime, actor: str) -> None:
        """Allow a client to stamp with a seal (idempotent)."""
        seal = self.get(seal_id)
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
        """Withdraw a client's right to use a seal."""
        seal = self.get(seal_id)
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
