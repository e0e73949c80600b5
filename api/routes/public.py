"""Public endpoints anyone may call: licence status by identifier, status lists."""

from __future__ import annotations

from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from zhengyin.core.clock import utcnow

from ..deps import RuntimeDep
from ..runtime import Runtime
from ..schemas.registry import PublicStatusRead

router = APIRouter(prefix="/public", tags=["public"])
status_router = APIRouter(tags=["public"])


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


STATUS_LIST_MEDIA_TYPE = "application/statuslist+jwt"


@status_router.get(
    "/status-lists/{list_id}", operation_id="public_status_list",
    response_class=Response,
    responses={200: {"content": {STATUS_LIST_MEDIA_TYPE: {"schema": {"type": "string"}}},
                     "description": "the Status List Token (compact JWS)"},
               304: {"description": "the token named by If-None-Match is current"}})
def public_status_list(list_id: Annotated[int, Path(ge=1, le=2**31 - 1)], request: Request,
                       runtime: RuntimeDep) -> Response:
    """A status list of licences as an IETF Status List Token (draft-ietf-oauth-status-list-20
    §8.1-8.2), signed by the registry identity; anyone may fetch it (no credential).
    Cached by HTTP for its ``ttl``; a status change shows at the next request."""
    with runtime.unit_of_work(readonly=True) as services:
        published = services.published_status_list(list_id, at=utcnow())
    headers = {"ETag": published.etag,
               "Cache-Control": f"public, max-age={published.ttl_seconds}",
               # §8.1: browser-based relying parties may fetch it (CORS).
               "Access-Control-Allow-Origin": "*"}
    if request.headers.get("if-none-match") == published.etag:
        return Response(status_code=304, headers=headers)
    return Response(published.token, media_type=STATUS_LIST_MEDIA_TYPE, headers=headers)
