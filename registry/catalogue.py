"""Licence types: what a licence of each type holds, who may issue it, how it looks.

A type is defined by JSON (see ``registry/examples/``): a 21-character type code, the
defining authority, holder kinds, surface fields as JSON Schema, a validity rule, a
printed-number pattern, the template and the seal types that may seal it. Defining a type
whose content changed adds a version; licences keep the version they were issued under.
"""

from __future__ import annotations

import copy
import json
import re
import string
import threading
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from importlib import resources
from typing import Any, cast
from weakref import WeakKeyDictionary

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError
from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session, make_transient_to_detached

from zhengyin.core.audit import AuditLog
from zhengyin.core.codes import validate_credit_code
from zhengyin.core.errors import InvalidCreditCodeError
from zhengyin.core.locks import lock_name

from .errors import InvalidSurfaceFieldsError, LicenceTypeNotFoundError, RegistryError
from .holders import HolderKind
from .models import LicenceType, LicenceTypeIssuer
from .templatefit import template_problems

__all__ = [
    "Catalogue",
    "TypeDefinition",
    "TypeVersions",
    "ValidityRule",
    "example_definitions",
    "example_service_items",
    "fields_validator",
    "format_printed_number",
]

_TYPE_CODE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{18}\d{3}$")
_PATTERN_FIELDS = {"year", "region", "serial", "issuer", "holder_code"}
_SEAL_TYPES = {"official", "approval", "contract", "finance"}


class TypeDefinitionError(RegistryError):
    """A licence type definition is not acceptable."""

    code = "licence_type.invalid"


@dataclass(frozen=True)
class ValidityRule:
    """How long a licence is valid: N years, explicit dates, or long-term (长期有效)."""

    kind: str
    years: int | None = None

    @classmethod
    def of(cls, document: dict[str, Any]) -> ValidityRule:
        """Parse and check ``{"kind": "years", "years": 5}`` and the other two forms."""
        kind = document.get("kind")
        if kind == "years":
            years = document.get("years")
            if not isinstance(years, int) or not 1 <= years <= 100:
                raise TypeDefinitionError("validity 'years' needs an integer 'years' of 1-100")
            return cls("years", years)
        if kind in ("explicit", "long-term"):
            return cls(kind)
        raise TypeDefinitionError("validity kind must be 'years', 'explicit' or 'long-term'")

    def period(self, *, issued_on: date, valid_from: date | None, valid_until: date | None,
               ) -> tuple[date, date | None]:
        """The validity period of a licence issued on ``issued_on``."""
        start = valid_from or issued_on
        if self.kind == "long-term":
            if valid_until is not None:
                raise InvalidSurfaceFieldsError(
                    "valid_until: this licence type is long-term (长期有效); give no end date",
                    errors=[{"field": "valid_until", "message": "not allowed for long-term"}],
                )
            return start, None
        if self.kind == "explicit":
            if valid_until is None:
                raise InvalidSurfaceFieldsError(
                    "valid_until: this licence type needs an explicit end date",
                    errors=[{"field": "valid_until", "message": "required"}],
                )
            end = valid_until
        else:
            assert self.years is not None
            if valid_until is not None:
                raise InvalidSurfaceFieldsError(
                    f"valid_until: this licence type is valid {self.years} years from its start",
                    errors=[{"field": "valid_until", "message": "set by the type's rule"}],
                )
            try:
                end = start.replace(year=start.year + self.years) - timedelta(days=1)
            except ValueError:  # 29 February
                end = start.replace(year=start.year + self.years, day=28)
        if end < start:
            raise InvalidSurfaceFieldsError(
                "valid_until: the validity ends before it starts",
                errors=[{"field": "valid_until", "message": "before valid_from"}],
            )
        return start, end

    def as_json(self) -> dict[str, Any]:
        """The JSON form."""
        return {"kind": self.kind, **({"years": self.years} if self.years else {})}


@dataclass(frozen=True)
class TypeDefinition:
    """A licence type as administrators write it (and export it)."""

    code: str
    name: str
    authority_name: str
    holder_kinds: tuple[HolderKind, ...]
    fields_schema: dict[str, Any]
    validity: ValidityRule
    template: dict[str, Any]
    number_pattern: str | None = None
    seal_types: tuple[str, ...] = ("approval", "official")
    issuers: tuple[tuple[str, str], ...] = field(default=())

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> TypeDefinition:
        """Parse and check a definition; every problem names its field."""
        try:
            code = str(document["code"]).upper()
            name = str(document["name"]).strip()
            authority = str(document["authority_name"]).strip()
            kinds = tuple(HolderKind(kind) for kind in document["holder_kinds"])
            schema = dict(document["fields_schema"])
            validity = ValidityRule.of(dict(document["validity"]))
            template = dict(document["template"])
        except KeyError as exc:
            raise TypeDefinitionError(f"licence type definition lacks {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise TypeDefinitionError(f"licence type definition is malformed: {exc}") from None
        if not _TYPE_CODE.match(code):
            raise TypeDefinitionError(
                f"type code {code!r} must be the defining authority's credit code plus 3 digits"
            )
        try:
            validate_credit_code(code[:18])
        except InvalidCreditCodeError as exc:
            raise TypeDefinitionError(f"type code: {exc.message}") from None
        if not name or not authority or not kinds:
            raise TypeDefinitionError("a type needs a name, an authority and holder kinds")
        _check_schema(schema)
        _check_template(template, schema)
        pattern = document.get("number_pattern")
        if pattern is not None:
            _check_pattern(str(pattern))
        seal_types = tuple(document.get("seal_types") or ("approval", "official"))
        if not set(seal_types) <= _SEAL_TYPES:
            raise TypeDefinitionError(f"seal_types must be among {sorted(_SEAL_TYPES)}")
        issuers = []
        for issuer in document.get("issuers", []):
            try:
                issuers.append((validate_credit_code(issuer["code"]).value, str(issuer["name"])))
            except (KeyError, TypeError):
                raise TypeDefinitionError("each issuer needs a 'code' and a 'name'") from None
            except InvalidCreditCodeError as exc:
                raise TypeDefinitionError(f"issuer code: {exc.message}") from None
        problems = template_problems(
            title=str(template["title"]), template=template, schema=schema,
            person_held=any(kind is not HolderKind.CREDIT_CODE for kind in kinds),
            issuer_names=[name for _, name in issuers])
        if problems:
            raise TypeDefinitionError(
                "the template does not fit its own schema: " + "; ".join(problems),
                hint="bound every printed field (maxLength, enum, minimum and maximum) so that "
                     "each licence the schema accepts can be printed")
        return cls(code, name, authority, kinds, schema, validity, template,
                   str(pattern) if pattern is not None else None, seal_types, tuple(issuers))

    def content(self) -> dict[str, Any]:
        """What a version captures (issuers are not part of a version)."""
        return {
            "code": self.code, "name": self.name, "authority_name": self.authority_name,
            "holder_kinds": [kind.value for kind in self.holder_kinds],
            "fields_schema": self.fields_schema, "validity": self.validity.as_json(),
            "template": self.template, "number_pattern": self.number_pattern,
            "seal_types": list(self.seal_types),
        }

    def as_json(self) -> dict[str, Any]:
        """The full JSON form, issuers included."""
        return {**self.content(),
                "issuers": [{"code": code, "name": name} for code, name in self.issuers]}

    @classmethod
    def of_row(cls, row: LicenceType, issuers: list[LicenceTypeIssuer]) -> TypeDefinition:
        """The definition a stored version holds."""
        return cls(
            row.code, row.name, row.authority_name,
            tuple(HolderKind(kind) for kind in row.holder_kinds), row.fields_schema,
            ValidityRule.of(row.validity), row.template, row.number_pattern,
            tuple(row.seal_types), tuple((i.issuer_code, i.issuer_name) for i in issuers),
        )


def _check_schema(schema: dict[str, Any]) -> None:
    if schema.get("type") != "object" or not isinstance(schema.get("properties"), dict):
        raise TypeDefinitionError("fields_schema must be an object schema with properties")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise TypeDefinitionError(
            f"fields_schema is not valid JSON Schema: {exc.message}"
        ) from None


def _check_template(template: dict[str, Any], schema: dict[str, Any]) -> None:
    if not isinstance(template.get("title"), str) or not template["title"]:
        raise TypeDefinitionError("template.title is required")
    fields = template.get("fields")
    if not isinstance(fields, list) or not fields:
        raise TypeDefinitionError("template.fields must list the printed fields in order")
    properties = schema["properties"]
    for entry in fields:
        if not isinstance(entry, dict) or entry.get("key") not in properties \
                or not isinstance(entry.get("label"), str):
            raise TypeDefinitionError(
                f"template field {entry!r} must have a 'key' from fields_schema and a 'label'"
            )


# Licence.printed_number is String(64); a width or precision is bounded so that a format
# spec such as "{serial:>999999999}" is refused before it allocates a gigabyte.
_PRINTED_NUMBER_MAX = 64
_SPEC_NUMBER = re.compile(r"[0-9]+")
# The values a pattern is given: serials allocated here have 12 characters (year and 8
# digits, registry/serials.py); a longer kept legacy serial is checked when it is formatted.
_PATTERN_SAMPLE = {"year": 9998, "region": "110105", "serial": "Z" * 12,
                   "issuer": "9" * 18, "holder_code": "9" * 18}


def _check_pattern(pattern: str) -> None:
    try:
        parts = list(string.Formatter().parse(pattern))
    except ValueError as exc:
        raise TypeDefinitionError(f"number_pattern is malformed: {exc}") from None
    names = {name for _, name, _, _ in parts if name is not None}
    unknown = names - _PATTERN_FIELDS
    if unknown:
        raise TypeDefinitionError(
            f"number_pattern uses unknown fields {sorted(unknown)}; "
            f"available: {sorted(_PATTERN_FIELDS)}"
        )
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if conversion not in (None, "s"):
            raise TypeDefinitionError(f"number_pattern: conversion !{conversion} is not allowed")
        if spec and ("{" in spec or any(int(number) > _PRINTED_NUMBER_MAX
                                        for number in _SPEC_NUMBER.findall(spec))):
            raise TypeDefinitionError(
                f"number_pattern: the format of {{{name}}} is not allowed (nested fields, or "
                f"a width or precision above {_PRINTED_NUMBER_MAX})")
    try:
        sample = pattern.format(**_PATTERN_SAMPLE)
    except (ValueError, TypeError) as exc:  # e.g. "{serial:d}": the serial is text
        raise TypeDefinitionError(f"number_pattern does not format: {exc}") from None
    if len(sample) > _PRINTED_NUMBER_MAX:
        raise TypeDefinitionError(
            f"number_pattern can give {len(sample)} characters; at most "
            f"{_PRINTED_NUMBER_MAX} are printed (e.g. {sample[:20]}…)")


def format_printed_number(pattern: str, *, year: int, region: str, serial: str, issuer: str,
                          holder_code: str) -> str:
    """The printed number a type's pattern gives, the pattern checked as when the type was
    defined: a type stored before patterns were bounded is refused (TypeDefinitionError)
    rather than left to fail as a 500. With the serials allocated here the number fits the
    column; an import keeping a longer legacy serial checks the length itself.
    """
    _check_pattern(pattern)
    return pattern.format(year=year, region=region, serial=serial, issuer=issuer,
                          holder_code=holder_code)


@lru_cache(maxsize=512)
def _validator(schema_json: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads(schema_json), format_checker=FormatChecker())


_BY_ROW: WeakKeyDictionary[LicenceType, Draft202012Validator] = WeakKeyDictionary()


def fields_validator(licence_type: LicenceType) -> Draft202012Validator:
    """The compiled validator of a type version's surface fields (cached per process).

    Also remembered per loaded row: serialising the schema to find the cached validator
    costs more than checking a small licence (bulk import checks thousands a second). A
    type version never changes, so a row's validator stays right.
    """
    found = _BY_ROW.get(licence_type)
    if found is None:
        found = _BY_ROW[licence_type] = _validator(
            json.dumps(licence_type.fields_schema, sort_keys=True))
    return found


def example_definitions() -> list[dict[str, Any]]:
    """The licence types shipped as examples (registry/examples/*.json)."""
    return _examples("examples")


def example_service_items() -> list[dict[str, Any]]:
    """The service items shipped as examples (registry/examples/service-items/*.json)."""
    return _examples("examples/service-items")


def _examples(folder_name: str) -> list[dict[str, Any]]:
    folder = resources.files("zhengyin.registry").joinpath(folder_name)
    return [json.loads(entry.read_text(encoding="utf-8"))
            for entry in sorted(folder.iterdir(), key=lambda e: e.name)
            if entry.name.endswith(".json") and entry.is_file()]


class TypeVersions:
    """Type versions read before, by id: shared by a process's units of work over one database.

    A stored version never changes (a change adds a version; only which one is current
    moves), so one read stays right for the life of the process and spares every later
    issuance, licence read and status lookup a query and the decoding of its schema and
    template. The rows kept are detached copies, owned by no session; their ``current``
    flag is not kept (it is what moves; reading it raises): ask the catalogue instead.
    """

    def __init__(self) -> None:
        self._rows: dict[int, LicenceType] = {}
        self._lock = threading.Lock()

    def get(self, session: Session, type_id: int) -> LicenceType:
        """The version with this id (read through ``session`` the first time)."""
        row = self._rows.get(type_id)
        if row is None:
            loaded = session.get(LicenceType, type_id)
            if loaded is None:
                raise LicenceTypeNotFoundError(f"no licence type version {type_id}")
            with self._lock:
                row = self._rows.setdefault(type_id, _detached_copy(loaded))
        return row

    def name(self, session: Session, type_id: int) -> str:
        """The type's name in this version."""
        return self.get(session, type_id).name


def _detached_copy(row: LicenceType) -> LicenceType:
    values = {column.key: copy.deepcopy(getattr(row, column.key))
              for column in LicenceType.__table__.columns if column.key != "current"}
    kept = LicenceType(**values)
    make_transient_to_detached(kept)
    return kept


# The current version's id and, when the organisation may issue the type, its name (a
# Core statement on the tables: no ORM entity to load, no ORM execution path).
_TYPES = cast(Table, LicenceType.__table__)
_ISSUERS = cast(Table, LicenceTypeIssuer.__table__)
_CURRENT_FOR_ISSUER = (
    select(_TYPES.c.id, _ISSUERS.c.issuer_name)
    .outerjoin(_ISSUERS, (_ISSUERS.c.type_code == _TYPES.c.code)
               & (_ISSUERS.c.issuer_code == bindparam("issuer_code")))
    .where(_TYPES.c.code == bindparam("code")).where(_TYPES.c.current.is_(True))
)


class Catalogue:
    """Licence types and who may issue them, inside the caller's unit of work."""

    def __init__(self, session: Session, audit: AuditLog, *,
                 versions: TypeVersions | None = None) -> None:
        self._session = session
        self._audit = audit
        self._versions = versions if versions is not None else TypeVersions()

    def define(self, definition: TypeDefinition, *, at: datetime, actor: str) -> LicenceType:
        """Create the type, or add a version when its content changed; set its issuers.

        Definitions of one type take turns (trust.locks): two at once would both add the
        same version, and the second would fail on it.
        """
        lock_name(self._session, f"licence-type:{definition.code}")
        current = self._current_or_none(definition.code)
        if current is None or TypeDefinition.of_row(current, []).content() != definition.content():
            version = 1 if current is None else current.version + 1
            if current is not None:
                self._session.execute(
                    update(LicenceType).where(LicenceType.code == definition.code)
                    .values(current=False)
                )
            content = definition.content()
            current = LicenceType(
                code=definition.code, version=version, current=True, name=definition.name,
                authority_name=definition.authority_name, holder_kinds=content["holder_kinds"],
                fields_schema=definition.fields_schema, validity=content["validity"],
                number_pattern=definition.number_pattern, template=definition.template,
                seal_types=list(definition.seal_types), created_at=at, created_by=actor,
            )
            self._session.add(current)
            self._session.flush()
            self._audit.append(actor=actor, action="licence_type.defined",
                               object_type="licence_type", object_id=definition.code, at=at,
                               details={"version": version, "name": definition.name})
        for code, name in definition.issuers:
            self.allow_issuer(definition.code, code, name, at=at, actor=actor)
        # The definition's issuers are the whole set: one left out may no longer issue.
        listed = {code for code, _ in definition.issuers}
        for row in self.issuers(definition.code):
            if row.issuer_code not in listed:
                self._withdraw_issuer(row, at=at, actor=actor)
        return current

    def _withdraw_issuer(self, row: LicenceTypeIssuer, *, at: datetime, actor: str) -> None:
        """Stop an organisation issuing a type; what it issued stays valid."""
        self._session.delete(row)
        self._session.flush()
        self._audit.append(actor=actor, action="licence_type.issuer_withdrawn",
                           object_type="licence_type", object_id=row.type_code, at=at,
                           details={"issuer": row.issuer_code, "name": row.issuer_name})

    def _current_or_none(self, code: str) -> LicenceType | None:
        return self._session.scalar(
            select(LicenceType).where(LicenceType.code == code.upper())
            .where(LicenceType.current.is_(True))
        )

    def current(self, code: str) -> LicenceType:
        """The current version of a type."""
        row = self._current_or_none(code)
        if row is None:
            raise LicenceTypeNotFoundError(f"no licence type {code!r}")
        return row

    def current_for_issuer(self, code: str, issuer_code: str) -> tuple[LicenceType, str | None]:
        """The current version of a type, and the organisation's name if it may issue it.

        One query for both; the version's row comes from :class:`TypeVersions`.
        """
        row = self._session.execute(_CURRENT_FOR_ISSUER, {"code": code.upper(),
                                                          "issuer_code": issuer_code}).first()
        if row is None:
            raise LicenceTypeNotFoundError(f"no licence type {code!r}")
        return self._versions.get(self._session, row.id), row.issuer_name

    def version(self, code: str, version: int) -> LicenceType:
        """One version of a type."""
        row = self._session.scalar(
            select(LicenceType).where(LicenceType.code == code.upper())
            .where(LicenceType.version == version)
        )
        if row is None:
            raise LicenceTypeNotFoundError(f"no version {version} of licence type {code!r}")
        return row

    def versions(self, code: str) -> list[LicenceType]:
        """Every version of a type, oldest first."""
        return list(self._session.scalars(
            select(LicenceType).where(LicenceType.code == code.upper())
            .order_by(LicenceType.version)
        ))

    def all_current(self) -> list[LicenceType]:
        """The current version of every type."""
        return list(self._session.scalars(
            select(LicenceType).where(LicenceType.current.is_(True)).order_by(LicenceType.code)
        ))

    def issuers(self, code: str) -> list[LicenceTypeIssuer]:
        """Organisations allowed to issue a type."""
        return list(self._session.scalars(
            select(LicenceTypeIssuer).where(LicenceTypeIssuer.type_code == code.upper())
            .order_by(LicenceTypeIssuer.issuer_code)
        ))

    def allow_issuer(self, code: str, issuer_code: str, issuer_name: str, *, at: datetime,
                     actor: str) -> None:
        """Let an organisation issue a type (idempotent)."""
        issuer = validate_credit_code(issuer_code).value
        existing = self._session.get(LicenceTypeIssuer, (code.upper(), issuer))
        if existing is not None:
            existing.issuer_name = issuer_name
            return
        self._session.add(LicenceTypeIssuer(type_code=code.upper(), issuer_code=issuer,
                                            issuer_name=issuer_name))
        self._session.flush()
        self._audit.append(actor=actor, action="licence_type.issuer_allowed",
                           object_type="licence_type", object_id=code.upper(), at=at,
                           details={"issuer": issuer, "name": issuer_name})

    def issuer_name(self, code: str, issuer_code: str) -> str | None:
        """The issuing organisation's name if it may issue this type, else None."""
        row = self._session.get(LicenceTypeIssuer, (code.upper(), issuer_code))
        return row.issuer_name if row is not None else None

    def export(self, code: str) -> dict[str, Any]:
        """The current definition of a type as JSON."""
        return TypeDefinition.of_row(self.current(code), self.issuers(code)).as_json()
