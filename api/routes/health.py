"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from ..deps import RuntimeDep

router = APIRouter(tags=["health"])


@router.get("/healthz", operation_id="healthz", summary="The process is alive")
def healthz() -> dict[str, str]:
    """Liveness: answers as long as the process serves requests."""
    return {"status": "ok"}


@router.get("/readyz", operation_id="readyz", summary="Dependencies are usable")
def readyz(runtime: RuntimeDep) -> JSONResponse:
    """Readiness: database reachable and at the schema head, key store open, PKI present."""
    checks: dict[str, Any] = {}
    try:
        runtime.ping_database()
        runtime.check_schema()
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"failed: {getattr(exc, 'message', type(exc).__name__)}"
    try:
        runtime.keystore  # noqa: B018 - opening it is the check
        checks["keystore"] = "ok"
    except Exception as exc:
        checks["keystore"] = f"failed: {getattr(exc, 'message', type(exc).__name__)}"
    if checks["database"] == "ok":
        with runtime.unit_of_work(readonly=True) as services:
            checks["pki"] = "ok" if services.pki.is_initialised() else "failed: not initialised"
    ready = all(value == "ok" for value in checks.values())
    return JSONResponse({"status": "ready" if ready else "not ready", "checks": checks},
                        status_code=200 if ready else 503)
