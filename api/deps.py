"""Typed dependencies: the runtime, a unit of work, the caller and scope checks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, SecurityScopes

from zhengyin.core.clients import Principal, Scope
from zhengyin.core.errors import AuthenticationError

from .holders import HolderIdentity
from .problems import ForbiddenError
from .runtime import Runtime, Services

__all__ = [
    "HolderDep",
    "OptionalPrincipalDep",
    "PrincipalDep",
    "RawBody",
    "ReadServicesDep",
    "RuntimeDep",
    "ServicesDep",
    "require",
]


async def get_runtime(request: Request) -> Runtime:
    """The process runtime the app was built with."""
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


@asynccontextmanager
async def _unit_of_work(runtime: Runtime, *, readonly: bool) -> AsyncIterator[Services]:
    # Opening a unit of work does no I/O (the connection is taken at the first query), so
    # it opens on the event loop; only the commit or rollback needs a worker thread. That
    # spares a thread hop per request over a sync generator dependency.
    unit = runtime.unit_of_work(readonly=readonly)
    services = unit.__enter__()
    try:
        yield services
    except BaseException as exc:
        await run_in_threadpool(unit.__exit__, type(exc), exc, exc.__traceback__)
        raise
    await run_in_threadpool(unit.__exit__, None, None, None)


async def get_services(runtime: RuntimeDep) -> AsyncIterator[Services]:
    """One unit of work per request; it commits when the route returns normally."""
    # ``async with``, not ``async for``: the route's exception must reach the unit of work
    # now (rollback, connection back to the pool), not when the generator is collected.
    async with _unit_of_work(runtime, readonly=False) as services:
        yield services


# scope="function": commit before the response is sent, so a failed commit is a 500
# the client sees, never a 200 for work that was lost.
ServicesDep = Annotated[Services, Depends(get_services, scope="function")]


async def get_read_services(runtime: RuntimeDep) -> AsyncIterator[Services]:
    """A read-only unit of work (on SQLite it does not take the write lock)."""
    async with _unit_of_work(runtime, readonly=True) as services:
        yield services


ReadServicesDep = Annotated[Services, Depends(get_read_services, scope="function")]

_bearer = HTTPBearer(auto_error=False, description="zy.<client id>.<secret>")


def _authenticate(runtime: Runtime, credential: str) -> Principal:
    with runtime.unit_of_work(readonly=True) as services:
        principal = services.clients.authenticate(credential)
    runtime.principals.put(credential, principal)
    return principal


async def get_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The authenticated client; 401 for a missing or bad credential.

    A credential this process authenticated moments ago is taken from the runtime's
    :class:`~zhengyin.core.clients.PrincipalCache`; otherwise the lookup runs in its own short
    read-only unit of work (in a worker thread), so read-only routes never take a write
    transaction just to authenticate.
    """
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthenticationError(
            "this endpoint needs a client credential",
            hint="send 'Authorization: Bearer zy.<client id>.<secret>'",
        )
    runtime: Runtime = request.app.state.runtime  # not a dependency: one less to solve
    principal = runtime.principals.get(credentials.credentials)
    if principal is None:
        principal = await run_in_threadpool(_authenticate, runtime, credentials.credentials)
    request.state.client_name = principal.name
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def get_optional_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal | None:
    """The caller if it sent a credential (a bad one is still a 401), else None."""
    if credentials is None:
        return None
    return await get_principal(request, credentials)


OptionalPrincipalDep = Annotated[Principal | None, Depends(get_optional_principal)]


async def _check_scopes(
    security_scopes: SecurityScopes,
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    # The credential is resolved here, not through PrincipalDep: every scoped request
    # solves one dependency fewer (a check's request layers are its largest cost).
    principal = await get_principal(request, credentials)
    missing = sorted(set(security_scopes.scopes) - {scope.value for scope in principal.scopes})
    if missing:
        raise ForbiddenError(
            f"client {principal.name!r} (role {principal.role.value}) lacks "
            f"scope {', '.join(missing)}"
        )
    return principal


def require(*scopes: Scope) -> Any:
    """Grant access only to clients holding every one of ``scopes``.

    The scopes appear in the OpenAPI document as the operation's security requirement.
    """
    return Security(_check_scopes, scopes=[scope.value for scope in scopes])


_holder_bearer = HTTPBearer(auto_error=False, scheme_name="HolderToken",
                            description="a holder's OIDC token (development: zhengyin holder "
                            "token <holder-code>)")


def get_holder(
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_holder_bearer)],
) -> HolderIdentity:
    """The authenticated holder; 401 for a missing or bad holder token."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthenticationError("this endpoint needs a holder token",
                                  hint="send 'Authorization: Bearer <holder token>'")
    with runtime.unit_of_work(readonly=True) as services:
        return runtime.holder_tokens.verify(services, credentials.credentials)


HolderDep = Annotated[HolderIdentity, Depends(get_holder)]


async def _raw_body(request: Request) -> bytes:
    return await request.body()


RawBody = Annotated[bytes, Depends(_raw_body)]

ScopeCheck = Callable[..., Principal]
