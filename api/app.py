"""The FastAPI application factory."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from .middleware import (
    AccessLogMiddleware,
    BodySizeLimitMiddleware,
    InputGuardMiddleware,
    LastResortMiddleware,
)
from .openapi import install_openapi
from .pages import STATIC_DIR
from .problems import PROBLEM_RESPONSES, install_problem_handlers
from .routes import (
    admin,
    checks,
    display,
    health,
    holder,
    imports,
    licence_types,
    licences,
    pki,
    public,
    seals,
    stamping,
    verify,
    verify_page,
    wallet,
)
from .runtime import Runtime
from .settings import Settings

__all__ = ["create_app"]


def _version() -> str:
    try:
        return version("zhengyin")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0.0.0"


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None) -> FastAPI:
    """Build the app. Start-up refuses an outdated schema; development creates the PKI."""
    if runtime is None:
        runtime = Runtime(settings or Settings.load())
    settings = runtime.settings

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        runtime.check_schema()
        runtime.keystore  # noqa: B018 - open and KEK-check the store before serving
        if settings.is_development:
            runtime.ensure_pki()  # re-issues outdated service identities too
        else:
            runtime.upgrade_service_identities()
        if settings.audit_chaining == "background":
            runtime.start_audit_chainer()
        runtime.start_job_sweeper()
        # Start-up leaves a large heap of objects that live as long as the process (models,
        # schemas, routes, fonts). Frozen, a full collection under load scans only what
        # requests made since: unfrozen, it paused a check worker for 133 ms. (No collection
        # first: it would cost as much at every start, and start-up leaves little garbage.)
        gc.freeze()
        yield
        gc.unfreeze()  # an app built again in this process (tests) must not pile them up
        if "async_statements" in runtime.__dict__ and runtime.async_statements is not None:
            await runtime.async_statements.close()  # on the loop that opened them
        runtime.close()

    app = FastAPI(
        title="Zhengyin 证印",
        summary="Trust service for electronic licences, seals and signatures",
        version=_version(),
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.runtime = runtime
    install_problem_handlers(app)
    install_openapi(app)
    # Outermost last: the log and request id, the size limit, the input guard, then the
    # last resort just outside the routes (so no exception reaches the server).
    app.add_middleware(LastResortMiddleware)
    app.add_middleware(InputGuardMiddleware)
    app.add_middleware(BodySizeLimitMiddleware, limit=settings.max_request_bytes)
    app.add_middleware(AccessLogMiddleware)
    # The hot paths first (routes are matched in order): intake checks and QR status
    # lookups. Display before any /v/{identifier} route: "/v/q" must not be taken for an
    # identifier.
    for module in (checks, public, health, pki, admin, licence_types, licences, imports,
                   display, holder, seals, stamping, wallet, verify, verify_page):
        # Every operation documents the problems any call may get (api/problems.py).
        app.include_router(module.router, responses=PROBLEM_RESPONSES)
    app.include_router(public.status_router, responses=PROBLEM_RESPONSES)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    return app
