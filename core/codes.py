"""Check characters of Chinese organisation and person identifiers (STANDARDS §3).

* Unified social credit code, GB 32100-2015: python-stdnum's ``cn.uscc`` is right.
* Citizen ID, GB 11643-1999, and the Hong Kong / Macau / Taiwan residence permits that
  share its layout (address codes 810000, 820000, 830000): checked here, because
  ``stdnum.cn.ric`` rejects the permits and birth years before 1900.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from stdnum.cn import uscc

from .errors import InvalidCreditCodeError, InvalidIDNumberError

__all__ = [
    "CreditCode",
    "IDNumber",
    "citizen_id_check_char",
    "validate_citizen_id",
    "validate_credit_code",
]

# ASCII classes only: ``\d`` would also match Arabic-Indic or full-width digits, which
# int() accepts, so a non-ASCII code could pass the check and be stored as it was typed.
_USCC_FORMAT = re.compile(r"[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}")
_ID_FORMAT = re.compile(r"[0-9]{17}[0-9X]")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
RESIDENCE_PERMIT_PREFIXES = {"810000": "HK", "820000": "MO", "830000": "TW"}


def _normalise(text: str) -> str:
    # NFKC folds full-width input (what a Chinese IME types: "９１１１…", "Ｘ") to ASCII.
    return unicodedata.normalize("NFKC", text).strip().upper()


@dataclass(frozen=True, slots=True)
class CreditCode:
    """A unified social credit code that passed its checks."""

    value: str
    legacy_check_failure: bool = False

    @property
    def division_code(self) -> str:
        """The six-digit administrative division code (positions 3-8)."""
        return self.value[2:8]


def validate_credit_code(code: str, *, allow_legacy: bool = False) -> CreditCode:
    """Validate a credit code; ``allow_legacy`` accepts a bad check character, flagged.

    Some early pilot codes are legal but fail the check (e.g. ``91350100M0001TGQXM``):
    an operator may accept them explicitly; they are never accepted silently.
    """
    # The messages never repeat the input: an ID number typed into the wrong field has
    # the same shape as a credit code, and errors reach logs and API responses.
    value = _normalise(code)
    if not _USCC_FORMAT.fullmatch(value):
        raise InvalidCreditCodeError(
            "not a unified social credit code: 18 characters of "
            "0-9 and A-Y without I, O, S, V, Z expected, positions 3-8 digits",
        )
    if uscc.is_valid(value):
        return CreditCode(value)
    if allow_legacy:
        return CreditCode(value, legacy_check_failure=True)
    raise InvalidCreditCodeError(
        "the unified social credit code fails its GB 32100 check character",
        hint="re-check the code; legacy pilot codes need an explicit legacy flag",
    )


def citizen_id_check_char(first17: str) -> str:
    """GB 11643 check character over the first 17 digits."""
    total = sum(int(digit) * weight for digit, weight in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


@dataclass(frozen=True, slots=True)
class IDNumber:
    """A citizen ID or HK/Macau/Taiwan residence permit number that passed its checks."""

    value: str
    birth_date: date
    residence_permit_of: str | None

    @property
    def male(self) -> bool:
        """Odd sequence digit: male."""
        return int(self.value[16]) % 2 == 1


def validate_citizen_id(number: str, *, today: date | None = None) -> IDNumber:
    """Validate format, birth date and check character of an 18-character ID number."""
    value = _normalise(number)
    if not _ID_FORMAT.fullmatch(value):
        raise InvalidIDNumberError(
            "not a citizen ID number: 17 digits and a check digit or X expected"
        )
    try:
        birth = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        raise InvalidIDNumberError("the birth date inside the ID number does not exist") from None
    if birth.year < 1850 or (today is not None and birth > today):
        raise InvalidIDNumberError("the birth date inside the ID number is out of range")
    expected = citizen_id_check_char(value[:17])
    if value[17] != expected:
        # The message never repeats the number: it is personal data.
        raise InvalidIDNumberError("the ID number fails its GB 11643 check character")
    return IDNumber(value, birth, RESIDENCE_PERMIT_PREFIXES.get(value[:6]))
