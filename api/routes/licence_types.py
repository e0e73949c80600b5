"""Licence types: read by issuers and administrators, defined by administrators."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body

from zhengyin.core.clients import Principal, Scope
from zhengyin.core.clock import utcnow
from zhengyin.registry.catalogue import TypeDefinition

from ..deps import ReadServicesDep, ServicesDep, require
from ..schemas.inputs import JsonObject
from ..schemas.registry import LicenceTypeRead

router = APIRouter(tags=["licence types"])

TypeReader = Annotated[Principal, require(Scope.LICENCES_READ)]
TypeAdmin = Annotated[Principal, require(Scope.TYPES_MANAGE)]


@router.get("/licence-types", operation_id="list_licence_types",
            response_model=list[LicenceTypeRead])
def list_licence_types(services: ReadServicesDep, _caller: TypeReader) -> list[LicenceTypeRead]:
    """The current version of every licence type."""
    return [LicenceTypeRead.of(row) for row in services.catalogue.all_current()]


@router.get("/licence-types/{code}", operation_id="get_licence_type",
            response_model=list[LicenceTypeRead])
def get_licence_type(code: str, services: ReadServicesDep, _caller: TypeReader
                     ) -> list[LicenceTypeRead]:
    """Every version of a type, oldest first."""
    versions = services.catalogue.versions(code)
    if not versions:
        services.catalogue.current(code)  # raises not found
    return [LicenceTypeRead.of(row) for row in versions]


@router.put("/admin/licence-types", operation_id="define_licence_types",
            response_model=list[LicenceTypeRead])
def define_licence_types(
    services: ServicesDep,
    caller: TypeAdmin,
    definitions: Annotated[list[JsonObject], Body(
        description="type definitions as exported (see registry/examples/)")],
) -> list[LicenceTypeRead]:
    """Create types, or add a version to each whose content changed (import)."""
    at = utcnow()
    parsed = [TypeDefinition.from_json(document) for document in definitions]
    return [LicenceTypeRead.of(services.catalogue.define(definition, at=at, actor=caller.actor))
            for definition in parsed]


@router.get("/admin/licence-types/{code}/export", operation_id="export_licence_type")
def export_licence_type(code: str, services: ReadServicesDep, _caller: TypeAdmin
                        ) -> dict[str, Any]:
    """The current definition, with its issuers, as importable JSON."""
    return services.catalogue.export(code)
