"""Service items (事项): what an item needs and which licence fields it may receive.

An item lists its required materials; each material names the licence types that satisfy
it and, per type, the surface fields the item may receive. Data minimisation is decided
here, once, by administrators, not by each caller.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from zhengyin.core.audit import AuditLog
from zhengyin.core.locks import lock_name

from .catalogue import Catalogue
from .errors import RegistryError
from .models import ServiceItem

__all__ = ["ITEM_BY_CODE", "ItemView", "Material", "ServiceItemError", "ServiceItems",
           "parse_materials"]

_CODE = re.compile(r"^[0-9A-Za-z_-]{4,64}$")


class ServiceItemError(RegistryError):
    """A service item definition is not acceptable, or the item does not exist."""

    code = "service_item.invalid"


class ServiceItemNotFoundError(ServiceItemError):
    """No service item with this code."""

    code = "service_item.not_found"


@dataclass(frozen=True)
class Material:
    """One required material: accepted licence types and, per type, receivable fields."""

    id: str
    name: str
    fields_by_type: dict[str, tuple[str, ...]]


@dataclass(frozen=True)
class ItemView:
    """What a check needs of an item: its code, name and parsed materials."""

    code: str
    name: str
    materials: tuple[Material, ...]

    @classmethod
    def of(cls, code: str, name: str, materials: Any) -> ItemView:
        """From an item's stored columns."""
        return cls(code, name, tuple(parse_materials(materials)))


# Built once: the check path runs it hundreds of times a second.
ITEM_BY_CODE = select(ServiceItem.name, ServiceItem.materials).where(
    ServiceItem.code == bindparam("item_code"))


def parse_materials(document: Any) -> list[Material]:
    """Parse and check an item's materials."""
    if not isinstance(document, list) or not document:
        raise ServiceItemError("materials must be a non-empty list")
    materials, seen = [], set()
    for entry in document:
        try:
            material_id, name = str(entry["id"]), str(entry["name"])
            types = {str(t["type_code"]).upper(): tuple(str(f) for f in t.get("fields", []))
                     for t in entry["types"]}
        except (KeyError, TypeError):
            raise ServiceItemError(
                "each material needs 'id', 'name' and 'types' [{'type_code', 'fields'}]"
            ) from None
        if material_id in seen or not types:
            raise ServiceItemError(f"material {material_id!r} is repeated or accepts no type")
        seen.add(material_id)
        materials.append(Material(material_id, name, types))
    return materials


class ServiceItems:
    """Service item definitions, inside the caller's unit of work."""

    def __init__(self, session: Session, catalogue: Catalogue, audit: AuditLog) -> None:
        self._session = session
        self._catalogue = catalogue
        self._audit = audit

    def define(self, document: dict[str, Any], *, at: datetime, actor: str) -> ServiceItem:
        """Create or replace an item; every type and field it names must exist.

        ``use_copy_original`` (default false): its use-copies attach the original sealed
        licence, which shows every surface field, not only the item's.
        """
        try:
            code, name = str(document["code"]), str(document["name"]).strip()
        except KeyError as exc:
            raise ServiceItemError(f"a service item needs {exc.args[0]!r}") from None
        if not _CODE.match(code) or not name:
            raise ServiceItemError(f"item code {code!r} must be 4-64 of 0-9 A-Z a-z _ -")
        lock_name(self._session, f"service-item:{code}")  # definitions take turns
        materials = parse_materials(document.get("materials"))
        attach_original = document.get("use_copy_original", False)
        if not isinstance(attach_original, bool):
            raise ServiceItemError("use_copy_original must be true or false (default false)")
        for material in materials:
            for type_code, fields in material.fields_by_type.items():
                licence_type = self._catalogue.current(type_code)
                unknown = set(fields) - set(licence_type.fields_schema.get("properties", {}))
                if unknown:
                    raise ServiceItemError(
                        f"material {material.id}: {licence_type.name} has no fields "
                        f"{sorted(unknown)}"
                    )
        row = self._session.get(ServiceItem, code)
        stored = [{"id": m.id, "name": m.name,
                   "types": [{"type_code": t, "fields": list(f)}
                             for t, f in m.fields_by_type.items()]} for m in materials]
        if row is None:
            row = ServiceItem(code=code, name=name, materials=stored, updated_at=at,
                              updated_by=actor, use_copy_original=attach_original)
            self._session.add(row)
        else:
            row.name, row.materials, row.updated_at, row.updated_by = name, stored, at, actor
            row.use_copy_original = attach_original
        self._session.flush()
        self._audit.append(actor=actor, action="service_item.defined",
                           object_type="service_item", object_id=code, at=at,
                           details={"name": name, "materials": [m.id for m in materials],
                                    "use_copy_original": attach_original})
        return row

    def get(self, code: str) -> ServiceItem:
        """One item."""
        row = self._session.get(ServiceItem, code)
        if row is None:
            raise ServiceItemNotFoundError(f"no service item {code!r}")
        return row

    def view(self, code: str) -> ItemView:
        """One item as a check reads it (a Core query, no ORM object)."""
        row = self._session.connection().execute(ITEM_BY_CODE, {"item_code": code}
                                                 ).one_or_none()
        if row is None:
            raise ServiceItemNotFoundError(f"no service item {code!r}")
        return ItemView.of(code, row.name, row.materials)

    def all(self) -> list[ServiceItem]:
        """Every item, by code."""
        return list(self._session.scalars(select(ServiceItem).order_by(ServiceItem.code)))

    @staticmethod
    def materials(item: ServiceItem) -> list[Material]:
        """An item's parsed materials."""
        return parse_materials(item.materials)
