"""Public endpoints anyone may call: licence status by identifier."""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter
from fastapi.responses import Response

from trust.db import utcnow

from ..deps import RuntimeDep
from ..runtime import Runtime
from ..schemas.registry import PublicStatusRead

router = APIRouter(prefix="/public", tags=["public"])


@router.get("/licences/{identifier}/status", operation_id="public_licence_status",
            response_model=PublicStatusRead)
async def public_licence_status(identifier: str, runtime: RuntimeDep) -> Response:
    """Type, status and validity of a licence identifier; no personal data."""
    # Every QR scan lands here: one worker-thread hop reads and closes the unit of work,
    # and the answer is returned as bytes, not validated again on the way out.
    answer = await anyio.to_thread.run_sync(_public_status, runtime, identifier)
    return Response(answer, media_type="application/json")


def _public_status(runtime: Runtime, identifier: str) -> bytes:
    with runtime.unit_of_work(readonly=True) as services:
        status = services.licences.public_status(identifier, at=utcnow())
    return PublicStatusRead.of(status).model_dump_json().encode("utf-8")
