"""API clients: systems that call Zhengyin with a bearer credential.

A credential is ``zy.<client id>.<secret>`` with a 256-bit random secret. It is shown
once; the database keeps only SHA-256 of the secret, which is enough because the secret
is random (a slow password hash protects guessable secrets, not 256-bit ones).
Each role grants a fixed set of scopes; routes declare the scopes they need.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .audit import AuditLog
from .codes import validate_credit_code
from .errors import AuthenticationError, ClientNotFoundError, ClientStateError, PlatformError
from .locks import lock_row, lock_rows
from .models import ApiClient, ClientRole, ClientStatus

__all__ = [
    "ROLE_SCOPES",
    "ClientService",
    "IssuedCredential",
    "Principal",
    "PrincipalCache",
    "Scope",
]

_CREDENTIAL = re.compile(r"^zy\.([0-9a-f]{16})\.([A-Za-z0-9_-]{43})$")


class Scope(enum.StrEnum):
    """Permissions a route may require."""

    CLIENTS_MANAGE = "clients:manage"
    KEYS_MANAGE = "keys:manage"
    PKI_MANAGE = "pki:manage"
    AUDIT_READ = "audit:read"
    SEALS_MANAGE = "seals:manage"
    SEALS_READ = "seals:read"
    SEALS_USE = "seals:use"
    TYPES_MANAGE = "types:manage"
    ITEMS_MANAGE = "items:manage"
    LICENCES_ISSUE = "licences:issue"
    LICENCES_MANAGE = "licences:manage"
    LICENCES_READ = "licences:read"
    USES_READ = "uses:read"
    CHECKS_RUN = "checks:run"
    VERIFY_RUN = "verify:run"
    TSA_USE = "tsa:use"


# Separation of duties: administrators configure, they do not issue or stamp.
ROLE_SCOPES: dict[ClientRole, frozenset[Scope]] = {
    ClientRole.ADMIN: frozenset({
        Scope.CLIENTS_MANAGE, Scope.KEYS_MANAGE, Scope.PKI_MANAGE, Scope.AUDIT_READ,
        Scope.SEALS_MANAGE, Scope.SEALS_READ, Scope.TYPES_MANAGE, Scope.ITEMS_MANAGE,
        Scope.LICENCES_READ, Scope.USES_READ, Scope.VERIFY_RUN, Scope.TSA_USE,
    }),
    ClientRole.ISSUER: frozenset({
        Scope.LICENCES_ISSUE, Scope.LICENCES_MANAGE, Scope.LICENCES_READ, Scope.USES_READ,
        Scope.SEALS_READ, Scope.SEALS_USE, Scope.VERIFY_RUN, Scope.TSA_USE,
    }),
    ClientRole.STAMPER: frozenset({
        Scope.SEALS_READ, Scope.SEALS_USE, Scope.VERIFY_RUN, Scope.TSA_USE,
    }),
    ClientRole.INTAKE: frozenset({Scope.CHECKS_RUN, Scope.VERIFY_RUN, Scope.TSA_USE}),
    ClientRole.VERIFIER: frozenset({Scope.VERIFY_RUN}),
}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: an authenticated client and what it may do."""

    client_id: str
    name: str
    role: ClientRole
    org_credit_code: str | None
    scopes: frozenset[Scope]

    @property
    def actor(self) -> str:
        """How the audit log names this caller."""
        return f"client:{self.name}"


@dataclass(frozen=True)
class IssuedCredential:
    """A new client's credential, shown to the operator exactly once."""

    client: ApiClient
    credential: str

    def __repr__(self) -> str:
        return f"IssuedCredential(client={self.client.id!r}, credential='***')"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def _new_secret() -> str:
    return secrets.token_urlsafe(32)


class ClientService:
    """Add, list, disable, rotate and authenticate API clients."""

    def __init__(self, session: Session, audit: AuditLog | None = None, *,
                 on_change: Callable[[str], None] | None = None) -> None:
        self._session = session
        self._audit = audit
        self._on_change = on_change

    def add(
        self,
        *,
        name: str,
        role: ClientRole,
        org_credit_code: str | None,
        at: datetime,
        actor: str,
    ) -> IssuedCredential:
        """Create a client; issuers and stampers must name their organisation."""
        role = ClientRole(role)
        name = name.strip()
        if not name or len(name) > 128:
            raise PlatformError("a client name must be 1 to 128 characters")
        code = validate_credit_code(org_credit_code).value if org_credit_code else None
        if role in (ClientRole.ISSUER, ClientRole.STAMPER) and code is None:
            raise PlatformError(
                f"a {role.value} client acts for an organisation",
                hint="pass --org with the organisation's unified social credit code",
            )
        secret = _new_secret()
        client = ApiClient(
            id=secrets.token_hex(8), name=name, role=role, org_credit_code=code,
            secret_sha256=_digest(secret), status=ClientStatus.ACTIVE, created_at=at,
        )
        duplicate = PlatformError(f"a client named {name!r} already exists")
        if self._session.scalar(select(ApiClient.id).where(ApiClient.name == name)):
            raise duplicate
        try:
            with self._session.begin_nested():
                self._session.add(client)
        except IntegrityError:
            raise duplicate from None
        self._record(actor, "client.added", client, at,
                     {"name": name, "role": role.value, "org": code})
        return IssuedCredential(client, f"zy.{client.id}.{secret}")

    def get(self, client_id: str) -> ApiClient:
        """One client by id."""
        client = self._session.get(ApiClient, client_id)
        if client is None:
            raise ClientNotFoundError(f"no client {client_id!r}")
        return client

    def find(self, id_or_name: str) -> ApiClient:
        """A client by id or by name (CLI convenience)."""
        client = self._session.get(ApiClient, id_or_name) or self._session.scalar(
            select(ApiClient).where(ApiClient.name == id_or_name)
        )
        if client is None:
            raise ClientNotFoundError(f"no client with id or name {id_or_name!r}")
        return client

    def list(self) -> list[ApiClient]:
        """All clients, oldest first."""
        return list(self._session.scalars(select(ApiClient).order_by(ApiClient.created_at)))

    def _locked(self, client_id: str) -> ApiClient:
        client = lock_row(self._session, ApiClient, client_id)
        if client is None:
            raise ClientNotFoundError(f"no client {client_id!r}")
        return client

    def disable(self, client_id: str, *, at: datetime, actor: str) -> ApiClient:
        """Stop a client from authenticating; its history stays. Idempotent.

        The last active administrator cannot be disabled: nobody could manage clients,
        keys or the PKI afterwards.
        """
        if self.get(client_id).role is ClientRole.ADMIN:
            # Every active administrator is locked, in one order (two administrators
            # disabling each other must not deadlock), before the count is taken.
            admins = lock_rows(self._session, select(ApiClient)
                               .where(ApiClient.role == ClientRole.ADMIN)
                               .where(ApiClient.status == ClientStatus.ACTIVE)
                               .order_by(ApiClient.id))
            if [admin.id for admin in admins] == [client_id]:
                raise ClientStateError(
                    "the last active administrator cannot be disabled",
                    hint="add another administrator first: zhengyin client add --role admin",
                )
        client = self._locked(client_id)
        if client.status is not ClientStatus.DISABLED:
            client.status = ClientStatus.DISABLED
            client.disabled_at = at
            self._session.flush()
            self._record(actor, "client.disabled", client, at, {"name": client.name})
        self._changed(client.id)
        return client

    def rotate(self, client_id: str, *, at: datetime, actor: str) -> IssuedCredential:
        """Replace a client's secret; the old one stops working at once."""
        client = self._locked(client_id)
        if client.status is ClientStatus.DISABLED:
            raise ClientStateError(f"client {client.name!r} is disabled",
                                   hint="add a new client instead")
        secret = _new_secret()
        client.secret_sha256 = _digest(secret)
        client.rotated_at = at
        self._session.flush()
        self._record(actor, "client.rotated", client, at, {"name": client.name})
        self._changed(client.id)
        return IssuedCredential(client, f"zy.{client.id}.{secret}")

    def authenticate(self, credential: str) -> Principal:
        """Resolve a bearer credential; every failure is the same error."""
        match = _CREDENTIAL.match(credential.strip())
        if match is None:
            raise AuthenticationError("invalid credential")
        client = self._session.get(ApiClient, match.group(1))
        expected = client.secret_sha256 if client is not None else "0" * 64
        valid = hmac.compare_digest(expected, _digest(match.group(2)))
        if client is None or not valid or client.status is not ClientStatus.ACTIVE:
            raise AuthenticationError("invalid credential")
        return Principal(
            client_id=client.id,
            name=client.name,
            role=client.role,
            org_credit_code=client.org_credit_code,
            scopes=ROLE_SCOPES[client.role],
        )

    def _changed(self, client_id: str) -> None:
        if self._on_change is not None:
            self._on_change(client_id)

    def _record(self, actor: str, action: str, client: ApiClient, at: datetime,
                details: dict[str, object]) -> None:
        if self._audit is not None:
            self._audit.append(actor=actor, action=action, object_type="client",
                               object_id=client.id, at=at, details=dict(details))


class PrincipalCache:
    """Credentials this process authenticated in the last ``ttl`` seconds.

    A client calling many times a second would otherwise cost a database round trip (and,
    on the API, a worker-thread hop) per request just to learn who it is. Entries are
    keyed by SHA-256 of the whole credential, so a rotated secret never matches an old
    entry; disabling or rotating a client through this process forgets it at once, and
    other processes stop accepting it within ``ttl`` seconds. Failed attempts are never
    cached. ``ttl`` 0 turns the cache off.
    """

    def __init__(self, ttl: float, *, max_entries: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[bytes, tuple[float, Principal]] = {}

    def get(self, credential: str) -> Principal | None:
        """The cached principal for ``credential``, if still fresh."""
        if self._ttl <= 0:
            return None
        key = hashlib.sha256(credential.encode()).digest()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if self._clock() >= entry[0]:
                del self._entries[key]
                return None
            return entry[1]

    def put(self, credential: str, principal: Principal) -> None:
        """Remember a successful authentication."""
        if self._ttl <= 0:
            return
        key = hashlib.sha256(credential.encode()).digest()
        with self._lock:
            if len(self._entries) >= self._max:
                self._entries.clear()  # rare; a full refill costs one lookup per client
            self._entries[key] = (self._clock() + self._ttl, principal)

    def forget(self, client_id: str) -> None:
        """Drop every entry of ``client_id`` (it was disabled or rotated)."""
        with self._lock:
            for key in [k for k, (_, p) in self._entries.items() if p.client_id == client_id]:
                del self._entries[key]
