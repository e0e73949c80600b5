"""Electronic licence identifiers, GB/T 36904-2018 (STANDARDS §1).

    1.2.156.3005.2 . <type code, 21> . <issuing body code, 18> . <serial> . <version, 3> . <check>

The check character is ISO/IEC 7064 MOD 37,36 (GB/T 17710) over every segment after the
root, dots removed, upper-cased; python-stdnum's ``mod_37_36`` computes exactly that.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from stdnum.iso7064 import mod_37_36

from zhengyin.core.codes import validate_credit_code
from zhengyin.core.errors import InvalidCreditCodeError

from .errors import InvalidIdentifierError

__all__ = ["ROOT", "LicenceIdentifier", "check_character"]

ROOT = "1.2.156.3005.2"
_TYPE_CODE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{18}\d{3}$")
_SERIAL = re.compile(r"^[0-9A-Z]{1,32}$")


_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_VALUE = {char: index for index, char in enumerate(_ALPHABET)}


def _mod_37_36(state: int, text: str) -> int:
    """ISO/IEC 7064 MOD 37,36 running state over ``text`` (python-stdnum's checksum loop)."""
    for char in text:
        state = (((state or 36) * 2) % 37 + _VALUE[char]) % 36
    return state


@lru_cache(maxsize=1024)
def _prefix_state(type_code: str, issuer_code: str) -> int:
    # The type and issuer segments repeat across a registry's identifiers: bulk import
    # computes their part of the check once, not a million times.
    return _mod_37_36(18, f"{type_code}{issuer_code}")


def check_character(type_code: str, issuer_code: str, serial: str, version: int) -> str:
    """The MOD 37,36 check character of an identifier's segments."""
    prefix, rest = (type_code + issuer_code).upper(), f"{serial}{version:03d}".upper()
    if not all(char in _VALUE for char in prefix + rest):
        return str(mod_37_36.calc_check_digit(prefix + rest))  # stdnum words the error
    state = _mod_37_36(_prefix_state(prefix[:len(type_code)], prefix[len(type_code):]), rest)
    return _ALPHABET[(1 - ((state or 36) * 2) % 37) % 36]


@dataclass(frozen=True, slots=True)
class LicenceIdentifier:
    """A parsed, checked licence identifier."""

    type_code: str
    issuer_code: str
    serial: str
    version: int

    def __post_init__(self) -> None:
        if not _TYPE_CODE.match(self.type_code):
            raise InvalidIdentifierError(
                f"licence type code {self.type_code!r} must be a credit code plus 3 digits"
            )
        if not _SERIAL.match(self.serial):
            raise InvalidIdentifierError(
                f"serial {self.serial!r} must be 1 to 32 characters of 0-9 and A-Z"
            )
        if not 1 <= self.version <= 999:
            raise InvalidIdentifierError(f"version {self.version} is outside 001-999")

    @property
    def check(self) -> str:
        """The check character."""
        return check_character(self.type_code, self.issuer_code, self.serial, self.version)

    def __str__(self) -> str:
        return (f"{ROOT}.{self.type_code}.{self.issuer_code}.{self.serial}."
                f"{self.version:03d}.{self.check}")

    @property
    def file_name(self) -> str:
        """Licence files are named ``<identifier>.pdf``."""
        return f"{self}.pdf"

    def next_version(self) -> LicenceIdentifier:
        """The identifier of the next version (change or renewal)."""
        return LicenceIdentifier(self.type_code, self.issuer_code, self.serial, self.version + 1)

    @classmethod
    def new(cls, type_code: str, issuer_code: str, serial: str) -> LicenceIdentifier:
        """Version 001 of a new licence; the issuing body code must be a valid credit code."""
        try:
            validate_credit_code(issuer_code)
        except InvalidCreditCodeError as exc:
            raise InvalidIdentifierError(f"issuing body code: {exc.message}") from None
        return cls(type_code.upper(), issuer_code.upper(), serial.upper(), 1)

    @classmethod
    def parse(cls, text: str) -> LicenceIdentifier:
        """Parse and check an identifier string; any defect is an InvalidIdentifierError."""
        text = text.strip()
        if not text.startswith(ROOT + "."):
            raise InvalidIdentifierError(f"a licence identifier starts with {ROOT}")
        parts = text[len(ROOT) + 1:].split(".")
        if len(parts) != 5:
            raise InvalidIdentifierError(
                "a licence identifier has five segments after the root: "
                "type code, issuing body code, serial, version, check"
            )
        type_code, issuer_code, serial, version_text, check = (p.upper() for p in parts)
        if not re.fullmatch(r"\d{3}", version_text):
            raise InvalidIdentifierError("the version segment must be three digits")
        if len(issuer_code) != 18:
            raise InvalidIdentifierError("the issuing body code must be 18 characters")
        identifier = cls(type_code, issuer_code, serial, int(version_text))
        if identifier.check != check:
            raise InvalidIdentifierError(
                f"check character mismatch: expected {identifier.check}, found {check}"
            )
        return identifier
