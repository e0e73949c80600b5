"""Public endpoints anyone may call: licence status by identifier."""

from __future__ import annotations

from fastapi import APIRouter

from trust.db import utcnow

from ..deps import ReadServicesDep
from ..schemas.registry import PublicStatusRead

router = APIRouter(prefix="/public", tags=["public"])


@router.get("/licences/{identifier}/status", operation_id="public_licence_status",
            response_model=PublicStatusRead)
def public_licence_status(identifier: str, services: ReadServicesDep) -> PublicStatusRead:
    """Type, status and validity of a licence identifier; no personal data."""
    return PublicStatusRead.of(services.licences.public_status(identifier, at=utcnow()))
