"""Who holds a licence: the kinds of holder code and how each is checked (STANDARDS §2-3).

Persons: citizen ID (GB 11643), HK/Macau/Taiwan residence permits (same layout and check),
passports and travel permits (format only: their check rules are not public).
Organisations: the unified social credit code (GB 32100).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import date

from zhengyin.core.codes import RESIDENCE_PERMIT_PREFIXES, validate_citizen_id, validate_credit_code
from zhengyin.core.errors import InvalidCodeError
from zhengyin.core.privacy import mask_id_number

from .errors import InvalidHolderCodeError

__all__ = ["Holder", "HolderKind", "normalise_holder"]


class HolderKind(enum.StrEnum):
    """Kinds of holder code, with the GB/T 36903 code-type values systems use."""

    CITIZEN_ID = "citizen-id"
    RESIDENCE_PERMIT = "residence-permit"
    PASSPORT = "passport"
    HK_MACAU_TRAVEL_PERMIT = "hk-macau-travel-permit"
    TAIWAN_TRAVEL_PERMIT = "taiwan-travel-permit"
    CREDIT_CODE = "credit-code"

    @property
    def is_person(self) -> bool:
        """Whether the holder is a natural person."""
        return self is not HolderKind.CREDIT_CODE

    @property
    def code_type(self) -> str:
        """持证主体代码类型代码: 111 and 001 are certain; the others are common usage."""
        return {
            HolderKind.CITIZEN_ID: "111",
            HolderKind.RESIDENCE_PERMIT: "111",
            HolderKind.PASSPORT: "414",
            HolderKind.HK_MACAU_TRAVEL_PERMIT: "516",
            HolderKind.TAIWAN_TRAVEL_PERMIT: "511",
            HolderKind.CREDIT_CODE: "001",
        }[self]


_FORMATS = {
    HolderKind.PASSPORT: re.compile(r"^E[0-9A-Z]\d{7}$"),
    HolderKind.HK_MACAU_TRAVEL_PERMIT: re.compile(r"^[HM]\d{8}(\d{2})?$"),
    HolderKind.TAIWAN_TRAVEL_PERMIT: re.compile(r"^\d{8}$"),
}


@dataclass(frozen=True, slots=True)
class Holder:
    """A checked holder code of a known kind."""

    kind: HolderKind
    code: str

    @property
    def masked(self) -> str:
        """The code as logs may show it."""
        return self.code if self.kind is HolderKind.CREDIT_CODE else mask_id_number(self.code)


def normalise_holder(kind: HolderKind | str, code: str, *, today: date | None = None,
                     field: str = "holder_code") -> Holder:
    """Check a holder code; a bad one raises InvalidHolderCodeError naming ``field``.

    An unknown ``kind`` (from a request, not only from our enum) is refused the same way,
    naming ``holder_kind``.
    """
    try:
        kind = HolderKind(kind)
    except ValueError:
        raise InvalidHolderCodeError(
            f"holder_kind: {kind!r} is not a holder kind "
            f"({', '.join(member.value for member in HolderKind)})",
            errors=[{"field": "holder_kind", "message": "unknown holder kind"}],
        ) from None
    value = code.strip().upper()
    try:
        if kind is HolderKind.CREDIT_CODE:
            value = validate_credit_code(value).value
        elif kind in (HolderKind.CITIZEN_ID, HolderKind.RESIDENCE_PERMIT):
            checked = validate_citizen_id(value, today=today)
            is_permit = checked.residence_permit_of is not None
            if is_permit != (kind is HolderKind.RESIDENCE_PERMIT):
                expected = "residence-permit" if is_permit else "citizen-id"
                raise InvalidHolderCodeError(
                    f"{field}: the number is a {expected} number, not a {kind.value} number "
                    f"(residence permits start with {', '.join(RESIDENCE_PERMIT_PREFIXES)})",
                    errors=[{"field": field, "message": f"expected holder kind {expected}"}],
                )
            value = checked.value
        elif not _FORMATS[kind].match(value):
            raise InvalidHolderCodeError(
                f"{field}: not a well-formed {kind.value} number",
                errors=[{"field": field, "message": f"not a {kind.value} number"}],
            )
    except InvalidCodeError as exc:
        raise InvalidHolderCodeError(
            f"{field}: {exc.message}", errors=[{"field": field, "message": exc.message}]
        ) from None
    return Holder(kind, value)
