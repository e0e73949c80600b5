"""GB/T 36904 identifiers: the check character and the segment rules.

Vectors: the four real identifiers of STANDARDS §1, confirmed against production systems
with re-computed check characters.
"""

from __future__ import annotations

import pytest

from zhengyin.registry.errors import InvalidIdentifierError
from zhengyin.registry.identifiers import LicenceIdentifier, check_character

REAL_IDENTIFIERS = [
    "1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.F",
    "1.2.156.3005.2.11100000000013338W011.11110000000021135M.20230329701.003.Y",
    "1.2.156.3005.2.11100000000013338W009.11330105002500287C.2025052201.002.0",
    "1.2.156.3005.2.11100000000013338W087.11370800MB28559184.37080001202411010001.001.3",
]


@pytest.mark.parametrize("text", REAL_IDENTIFIERS)
def test_real_identifiers_parse_and_print_back_identically(text: str) -> None:
    assert str(LicenceIdentifier.parse(text)) == text


@pytest.mark.parametrize("text", REAL_IDENTIFIERS)
def test_real_identifiers_check_character_is_mod_37_36(text: str) -> None:
    parts = text.split(".")
    type_code, issuer, serial, version, check = parts[5:10]
    assert check_character(type_code, issuer, serial, int(version)) == check


@pytest.mark.parametrize("text", REAL_IDENTIFIERS)
def test_a_changed_check_character_is_refused(text: str) -> None:
    wrong = "Z" if text[-1] != "Z" else "Y"
    with pytest.raises(InvalidIdentifierError, match="check character mismatch"):
        LicenceIdentifier.parse(text[:-1] + wrong)


@pytest.mark.parametrize(("text", "message"), [
    ("1.2.156.3005.3.11100000000013338W032.11220000013544541J.2430599.001.F", "starts with"),
    ("1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.F", "five segments"),
    ("1.2.156.3005.2.11100000000013338W32.11220000013544541J.2430599.001.F", "type code"),
    ("1.2.156.3005.2.11100000000013338W032.1122000001354454.2430599.001.F", "18 characters"),
    ("1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430-599.001.F", "serial"),
    ("1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.1.F", "three digits"),
], ids=["root", "segments", "type-code", "issuer", "serial", "version"])
def test_malformed_identifiers_name_their_defect(text: str, message: str) -> None:
    with pytest.raises(InvalidIdentifierError, match=message):
        LicenceIdentifier.parse(text)


def test_the_next_version_changes_the_check_character() -> None:
    first = LicenceIdentifier.new("11100000000013338W032", "11110105MB00000009", "202600000001")
    second = first.next_version()
    assert (first.version, second.version) == (1, 2)
    assert str(second).endswith(f".002.{second.check}")
    assert first.check != second.check


def test_file_name_is_the_identifier_with_pdf() -> None:
    identifier = LicenceIdentifier.parse(REAL_IDENTIFIERS[0])
    assert identifier.file_name == REAL_IDENTIFIERS[0] + ".pdf"
