"""A holder's say over checks: consents, one-time use codes (用证码), agents.

* A consent lets one intake client (or any) check the holder's licences for one service
  item, optionally for one case, until it expires (capped) or is withdrawn.
* A use code is short and typeable, valid for minutes, once, for one item; only its
  hash is stored.
* An agent (a company's staff member) may be granted the right to read the holder's
  licences and uses and to create consents and codes for it, for at most
  ``max_agent_days``; every access an agent makes in the holder's name is audited.

Authorisation of a check fails with one error and one message whatever went wrong, so a
caller cannot learn whether a holder, a consent or a licence exists.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime, timedelta

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from zhengyin.core.audit import AuditLog
from zhengyin.core.locks import lock_row
from zhengyin.core.models import ApiClient, ClientRole, ClientStatus

from .errors import AgentGrantError, ConsentError, NotAnAgentError, RegistryError
from .holders import Holder, HolderKind
from .items import ITEM_BY_CODE, ItemView, ServiceItems
from .models import AgentGrant, Consent, UseCode

__all__ = ["ITEM_AND_CONSENT", "ConsentService", "format_use_code", "normalise_use_code"]

# No I, O, 0, 1: a clerk types what the holder reads out.
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_CODE_LENGTH = 8


# Built once (checks run it hundreds of times a second): is this consent in force for
# this holder, item, client and case?
_CONSENT_COVERS = (
    select(Consent.id)
    .where(Consent.id == bindparam("consent_id"))
    .where(Consent.holder_code == bindparam("holder_code"))
    .where(Consent.item_code == bindparam("item_code"))
    .where(Consent.withdrawn_at.is_(None))
    .where(Consent.expires_at > bindparam("at"))
    .where(or_(Consent.client_id.is_(None), Consent.client_id == bindparam("client_id")))
    .where(or_(Consent.case_number.is_(None), Consent.case_number == bindparam("case_number")))
)


# The item a check names with the consent that covers it (column ``consent``, NULL when
# none does): no consent is found without its item.
ITEM_AND_CONSENT = ITEM_BY_CODE.add_columns(_CONSENT_COVERS.scalar_subquery().label("consent"))


def no_consent_error() -> ConsentError:
    return ConsentError(
        "no valid consent or use code covers this request",
        hint="ask the holder to grant consent for this service item, or for a use code",
    )


def normalise_use_code(text: str) -> str:
    """Upper-case, without spaces or hyphens."""
    return "".join(char for char in text.upper() if char not in " -")


def format_use_code(code: str) -> str:
    """``ABCD-EFGH``: easier to read out."""
    return f"{code[:4]}-{code[4:]}"


def _digest(code: str) -> str:
    return hashlib.sha256(normalise_use_code(code).encode("ascii")).hexdigest()


class ConsentService:
    """Consents, use codes and agent grants, inside the caller's unit of work."""

    def __init__(self, session: Session, audit: AuditLog, items: ServiceItems, *,
                 max_consent_days: int = 90, use_code_minutes: int = 10,
                 max_agent_days: int = 365) -> None:
        self._session = session
        self._audit = audit
        self._items = items
        self._max_days = max_consent_days
        self._code_minutes = use_code_minutes
        self._max_agent_days = max_agent_days

    # ------------------------------------------------------------------ consents

    def grant(self, holder: Holder, *, item_code: str, client_id: str | None,
              case_number: str | None, expires_at: datetime | None, at: datetime,
              actor: str) -> Consent:
        """Record a consent; its expiry is capped at the configured maximum."""
        self._items.get(item_code)
        if client_id is not None:
            client = self._session.get(ApiClient, client_id)
            if client is None or client.role is not ClientRole.INTAKE \
                    or client.status is not ClientStatus.ACTIVE:
                raise RegistryError(f"no active intake client {client_id!r}",
                                    hint="leave client_id empty to allow any intake system")
        cap = at + timedelta(days=self._max_days)
        if expires_at is not None and expires_at <= at:
            raise RegistryError("a consent must expire in the future")
        consent = Consent(
            id=uuid.uuid4().hex, holder_code=holder.code, holder_kind=holder.kind.value,
            item_code=item_code, client_id=client_id, case_number=case_number or None,
            granted_at=at, expires_at=min(expires_at or cap, cap), withdrawn_at=None,
            granted_by=actor,
        )
        self._session.add(consent)
        self._session.flush()
        self._audit.append(actor=actor, action="consent.granted", object_type="consent",
                           object_id=consent.id, at=at,
                           details={"holder": holder.code, "item": item_code,
                                    "client": client_id, "case": case_number,
                                    "expires_at": consent.expires_at.isoformat()})
        return consent

    def withdraw(self, consent_id: str, holder_code: str, *, at: datetime, actor: str
                 ) -> Consent:
        """Withdraw one of the holder's consents (another holder's is 'not found')."""
        consent = lock_row(self._session, Consent, consent_id)
        if consent is None or consent.holder_code != holder_code:
            raise RegistryError(f"no consent {consent_id!r}")
        if consent.withdrawn_at is None:  # withdrawn once, recorded once
            consent.withdrawn_at = at
            self._session.flush()
            self._audit.append(actor=actor, action="consent.withdrawn", object_type="consent",
                               object_id=consent.id, at=at, details={"holder": holder_code})
        return consent

    def consents_of(self, holder_code: str) -> list[Consent]:
        """The holder's consents, newest first."""
        return list(self._session.scalars(
            select(Consent).where(Consent.holder_code == holder_code)
            .order_by(Consent.granted_at.desc())
        ))

    # ------------------------------------------------------------------ use codes

    def create_use_code(self, holder: Holder, *, item_code: str, at: datetime, actor: str
                        ) -> tuple[UseCode, str]:
        """A new one-time code; the plain code is returned once and never stored."""
        self._items.get(item_code)
        for _ in range(5):
            code = "".join(secrets.choice(_ALPHABET) for _ in range(_CODE_LENGTH))
            row = UseCode(
                id=uuid.uuid4().hex, code_sha256=_digest(code), holder_code=holder.code,
                holder_kind=holder.kind.value, item_code=item_code, created_at=at,
                expires_at=at + timedelta(minutes=self._code_minutes), used_at=None,
                used_by_client=None, created_by=actor,
            )
            try:
                with self._session.begin_nested():
                    self._session.add(row)
            except IntegrityError:
                continue  # a collision with a live code: draw again
            self._audit.append(actor=actor, action="use_code.created", object_type="use_code",
                               object_id=row.id, at=at,
                               details={"holder": holder.code, "item": item_code,
                                        "expires_at": row.expires_at.isoformat()})
            return row, format_use_code(code)
        raise RegistryError("could not draw a unique use code; try again")

    # ------------------------------------------------------------------ agents

    def grant_agent(self, principal: Holder, *, agent_code: str, expires_at: datetime,
                    at: datetime, actor: str) -> AgentGrant:
        """Let ``agent_code`` act for ``principal`` until ``expires_at``: another person,
        for at most the configured number of days."""
        if agent_code == principal.code:
            raise AgentGrantError("a holder cannot make itself its own agent",
                                  hint="name another person's ID number as agent_code")
        if expires_at <= at:
            raise AgentGrantError("an agent grant must expire in the future")
        if expires_at - at > timedelta(days=self._max_agent_days):
            raise AgentGrantError(
                f"an agent grant lasts at most {self._max_agent_days} days",
                hint="grant it again when it ends (ZHENGYIN_AGENT_GRANT_MAX_DAYS)")
        grant = AgentGrant(id=uuid.uuid4().hex, principal_code=principal.code,
                           principal_kind=principal.kind.value, agent_code=agent_code,
                           granted_at=at, expires_at=expires_at, revoked_at=None,
                           granted_by=actor)
        self._session.add(grant)
        self._session.flush()
        self._audit.append(actor=actor, action="agent.granted", object_type="agent_grant",
                           object_id=grant.id, at=at,
                           details={"principal": principal.code, "agent": agent_code,
                                    "expires_at": expires_at.isoformat()})
        return grant

    def revoke_agent(self, grant_id: str, principal_code: str, *, at: datetime, actor: str
                     ) -> None:
        """End an agent grant."""
        grant = lock_row(self._session, AgentGrant, grant_id)
        if grant is None or grant.principal_code != principal_code:
            raise RegistryError(f"no agent grant {grant_id!r}")
        if grant.revoked_at is None:  # ended once, recorded once
            grant.revoked_at = at
            self._session.flush()
            self._audit.append(actor=actor, action="agent.revoked", object_type="agent_grant",
                               object_id=grant.id, at=at, details={"agent": grant.agent_code})

    def agents_of(self, principal_code: str) -> list[AgentGrant]:
        """Grants the principal made."""
        return list(self._session.scalars(
            select(AgentGrant).where(AgentGrant.principal_code == principal_code)
            .order_by(AgentGrant.granted_at.desc())
        ))

    def principals_of(self, agent_code: str, *, at: datetime) -> list[AgentGrant]:
        """Active grants that let ``agent_code`` act for someone."""
        return list(self._session.scalars(
            select(AgentGrant).where(AgentGrant.agent_code == agent_code)
            .where(AgentGrant.revoked_at.is_(None)).where(AgentGrant.expires_at > at)
        ))

    def may_act_for(self, agent_code: str, principal_code: str, *, at: datetime) -> bool:
        """Whether ``agent_code`` holds an active grant from ``principal_code``."""
        return any(grant.principal_code == principal_code
                   for grant in self.principals_of(agent_code, at=at))

    def act_for(self, agent_code: str, principal_code: str, *, access: str, at: datetime,
                actor: str) -> Holder:
        """The principal ``agent_code`` acts for under a valid, unexpired grant, the
        access (``access``: what it does, e.g. ``licences.list``) audited in the caller's
        unit of work; NotAnAgentError (the same for every reason) otherwise."""
        wanted = principal_code.strip().upper()
        for grant in self.principals_of(agent_code, at=at):
            if grant.principal_code == wanted:
                self._audit.append(actor=actor, action="agent.acted", object_type="agent_grant",
                                   object_id=grant.id, at=at,
                                   details={"principal": grant.principal_code,
                                            "agent": agent_code, "access": access})
                return Holder(HolderKind(grant.principal_kind), grant.principal_code)
        raise NotAnAgentError("you are not an agent of that holder",
                              hint="the holder grants agency with POST /holder/agents")

    # ------------------------------------------------------------------ authorisation

    def claim_use_code(self, *, holder_code: str, item_code: str, client_id: str,
                       use_code: str, at: datetime) -> tuple[ItemView, str]:
        """The item and the id of the use code that covers this check on it, now used.

        ConsentError otherwise, an unknown item included. The code is consumed by an
        atomic conditional update, so two checks racing with one code cannot both pass;
        a check that fails later rolls the use back. (A check under a consent reads the
        consent with the item and the holder's licences: ``ITEM_AND_CONSENT``,
        registry/checks.py.)
        """
        try:
            item = self._items.view(item_code)
        except RegistryError:
            raise no_consent_error() from None
        claimed = self._session.execute(
            update(UseCode)
            .where(UseCode.code_sha256 == _digest(use_code))
            .where(UseCode.holder_code == holder_code)
            .where(UseCode.item_code == item_code)
            .where(UseCode.used_at.is_(None))
            .where(UseCode.expires_at > at)
            .values(used_at=at, used_by_client=client_id)
            .returning(UseCode.id)
        ).one_or_none()
        if claimed is None:
            raise no_consent_error()
        return item, str(claimed[0])
