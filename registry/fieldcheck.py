"""A fast yes for surface fields that certainly match their type's JSON Schema.

``jsonschema`` spends about 100 µs on a six-field licence (a validator object per
property, a function call per keyword): most of a bulk import's checking time. Type
schemas mostly use a small subset (object with properties, required, no additional
properties; string, integer and number properties with lengths, bounds, enum, pattern,
format). For such a schema this module checks the subset directly, with jsonschema's own
type and format checkers, and answers True only when every keyword passes; any other
keyword, and any failing row, goes to ``jsonschema``, which finds and words the errors.
So the answer never differs from jsonschema's; only valid rows get it faster.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

from jsonschema import Draft202012Validator, FormatChecker

from .models import LicenceType

__all__ = ["fields_conform"]

_TOP = frozenset({"type", "properties", "required", "additionalProperties", "title",
                  "description", "$schema", "$comment"})
_PROPERTY = frozenset({"type", "maxLength", "minLength", "enum", "pattern", "format",
                       "minimum", "maximum", "title", "description", "examples",
                       "$comment"})
_TYPES = frozenset({"string", "integer", "number"})
_CHECKER = Draft202012Validator.TYPE_CHECKER
_FORMATS = FormatChecker()


@dataclass(frozen=True, slots=True)
class _Property:
    kind: str
    max_length: int | None
    min_length: int | None
    enum: frozenset[str] | None
    pattern: re.Pattern[str] | None
    format: str | None
    minimum: float | None
    maximum: float | None

    def passes(self, value: Any) -> bool:
        if not _CHECKER.is_type(value, self.kind):
            return False
        if isinstance(value, str):
            if self.max_length is not None and len(value) > self.max_length:
                return False
            if self.min_length is not None and len(value) < self.min_length:
                return False
            if self.pattern is not None and not self.pattern.search(value):
                return False
            if self.enum is not None and value not in self.enum:
                return False
        elif self.enum is not None:
            return False  # enums of strings only: let jsonschema decide
        if not isinstance(value, str) and not isinstance(value, bool):
            if self.minimum is not None and value < self.minimum:
                return False
            if self.maximum is not None and value > self.maximum:
                return False
        return self.format is None or _FORMATS.conforms(value, self.format)


@dataclass(frozen=True, slots=True)
class _Plan:
    properties: dict[str, _Property]
    required: tuple[str, ...]
    closed: bool


def _number(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("not a number")
    return value


def _plan(schema: dict[str, Any]) -> _Plan | None:
    """The subset plan of a schema, or None when it uses anything else."""
    try:
        if set(schema) - _TOP or schema.get("type") != "object":
            return None
        closed = schema.get("additionalProperties", True)
        if not isinstance(closed, bool):
            return None
        properties = {}
        for name, sub in schema.get("properties", {}).items():
            if not isinstance(sub, dict) or set(sub) - _PROPERTY or sub.get("type") not in _TYPES:
                return None
            enum = sub.get("enum")
            if enum is not None and not all(isinstance(item, str) for item in enum):
                return None
            lengths = (sub.get("maxLength"), sub.get("minLength"))
            if any(length is not None and (isinstance(length, bool)
                                           or not isinstance(length, int))
                   for length in lengths):
                return None
            properties[str(name)] = _Property(
                kind=sub["type"], max_length=lengths[0], min_length=lengths[1],
                enum=frozenset(enum) if enum is not None else None,
                pattern=re.compile(sub["pattern"]) if "pattern" in sub else None,
                format=sub.get("format"), minimum=_number(sub.get("minimum")),
                maximum=_number(sub.get("maximum")))
        required = tuple(str(name) for name in schema.get("required", []))
        return _Plan(properties, required, not closed)
    except (TypeError, ValueError, re.error, AttributeError):
        return None


_PLANS: WeakKeyDictionary[LicenceType, _Plan | None] = WeakKeyDictionary()


def fields_conform(licence_type: LicenceType, fields: Any) -> bool:
    """True when ``fields`` certainly matches the type's schema; False means "ask
    jsonschema" (the fields may still be valid under keywords this module does not
    check)."""
    if licence_type in _PLANS:
        plan = _PLANS[licence_type]
    else:
        plan = _PLANS[licence_type] = _plan(licence_type.fields_schema)
    if plan is None or not isinstance(fields, dict):
        return False
    properties = plan.properties
    if plan.closed and not properties.keys() >= fields.keys():
        return False
    if not all(name in fields for name in plan.required):
        return False
    for name, value in fields.items():
        rule = properties.get(name)
        if rule is not None and not rule.passes(value):
            return False
    return True
