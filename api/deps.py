"""Typed dependencies: the runtime, a unit of work, the caller and scope checks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, SecurityScopes

from trust.clients import Principal, Scope
from trust.errors import AuthenticationError

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


def get_runtime(request: Request) -> Runtime:
    """The process runtime the app was built with."""
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_services(runtime: RuntimeDep) -> Iterator[Services]:
    """One unit of work per request; it commits when the route returns normally."""
    with runtime.unit_of_work() as services:
        yield services


# scope="function": commit before the response is sent, so a failed commit is a 500
# the client sees, never a 200 for work that was lost.
ServicesDep = Annotated[Services, Depends(get_services, scope="function")]


def get_read_services(runtime: RuntimeDep) -> Iterator[Services]:
    """A read-only unit of work (on SQLite it does not take the write lock)."""
    with runtime.unit_of_work(readonly=True) as services:
        yield services


ReadServicesDep = Annotated[Services, Depends(get_read_services, scope="function")]

_bearer = HTTPBearer(auto_error=False, description="zy.<client id>.<secret>")


def get_principal(
    request: Request,
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The authenticated client; 401 for a missing or bad credential.

    The lookup runs in its own short read-only unit of work, so read-only routes never
    take a write transaction just to authenticate.
    """
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthenticationError(
            "this endpoint needs a client credential",
            hint="send 'Authorization: Bearer zy.<client id>.<secret>'",
        )
    with runtime.unit_of_work(readonly=True) as services:
        principal = services.clients.authenticate(credentials.credentials)
    request.state.client_name = principal.name
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def get_optional_principal(
    request: Request,
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal | None:
    """The caller if it sent a credential (a bad one is still a 401), else None."""
    if credentials is None:
        return None
    return get_principal(request, runtime, credentials)


OptionalPrincipalDep = Annotated[Principal | None, Depends(get_optional_principal)]


def _check_scopes(security_scopes: SecurityScopes, principal: PrincipalDep) -> Principal:
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
