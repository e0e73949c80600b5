"""Check characters of credit codes and citizen IDs, against vectors from the standards.

Provenance of the vectors (STANDARDS.md §3):

* Unified social credit codes, GB 32100-2015: the four valid codes and the legacy pilot
  code ``91350100M0001TGQXM`` are quoted in STANDARDS §3. Invalid codes are those valid
  codes with one character changed, named for the defect.
* Citizen IDs, GB 11643-1999: ``11010519491231002X`` and ``440524188001010014`` are the
  standard's own examples, quoted in STANDARDS §3, as are the Hong Kong and Taiwan
  residence permits ``810000199408230021`` and ``830000199201300022``. Vectors marked
  "constructed" were made for these tests: the stated defect, with the check character
  recomputed by hand from the GB 11643 weights so that only that defect is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest

from zhengyin.core.codes import citizen_id_check_char, validate_citizen_id, validate_credit_code
from zhengyin.core.errors import InvalidCreditCodeError, InvalidIDNumberError

# --------------------------------------------------------------------------- credit codes

VALID_CREDIT_CODES = [
    # (id, code, division code), STANDARDS §3.
    pytest.param("91110000600037341L", "110000", id="91110000600037341L"),
    pytest.param("11100000000013338W", "100000", id="11100000000013338W"),
    pytest.param("11110000000021135M", "110000", id="11110000000021135M"),
    pytest.param("11220000013544541J", "220000", id="11220000013544541J"),
]

LEGACY_PILOT_CODE = "91350100M0001TGQXM"  # STANDARDS §3: legal, fails the check.

FORMAT_MESSAGE = (
    "not a unified social credit code: 18 characters of 0-9 and A-Y without I, O, S, V, Z "
    "expected, positions 3-8 digits"
)
CHECK_MESSAGE = "the unified social credit code fails its GB 32100 check character"

INVALID_CREDIT_CODES = [
    pytest.param("91110000600037341K", CHECK_MESSAGE, id="wrong-check-character"),
    pytest.param("11100000000013338X", CHECK_MESSAGE, id="wrong-check-character-2"),
    pytest.param("91110000600037341", FORMAT_MESSAGE, id="17-characters"),
    pytest.param("91110000600037341LL", FORMAT_MESSAGE, id="19-characters"),
    pytest.param("9111000060003734IL", FORMAT_MESSAGE, id="forbidden-letter-I"),
    pytest.param("9111000060003734OL", FORMAT_MESSAGE, id="forbidden-letter-O"),
    pytest.param("9111000060003734SL", FORMAT_MESSAGE, id="forbidden-letter-S"),
    pytest.param("9111000060003734VL", FORMAT_MESSAGE, id="forbidden-letter-V"),
    pytest.param("9111000060003734ZL", FORMAT_MESSAGE, id="forbidden-letter-Z"),
    pytest.param("91A10000600037341L", FORMAT_MESSAGE, id="letter-in-division-code"),
    pytest.param("91\u0661\u06610000600037341L", FORMAT_MESSAGE, id="arabic-indic-digits"),
    pytest.param("", FORMAT_MESSAGE, id="empty"),
]


@pytest.mark.parametrize(("code", "division"), VALID_CREDIT_CODES)
def test_valid_credit_code_is_accepted_unflagged(code: str, division: str) -> None:
    checked = validate_credit_code(code)
    assert checked.value == code
    assert checked.legacy_check_failure is False
    assert checked.division_code == division


@pytest.mark.parametrize(("code", "message"), INVALID_CREDIT_CODES)
def test_invalid_credit_code_is_rejected(code: str, message: str) -> None:
    with pytest.raises(InvalidCreditCodeError) as caught:
        validate_credit_code(code)
    assert caught.value.message == message
    assert caught.value.code == "codes.invalid_credit_code"


def test_legacy_pilot_code_is_rejected_without_the_legacy_flag() -> None:
    with pytest.raises(InvalidCreditCodeError) as caught:
        validate_credit_code(LEGACY_PILOT_CODE)
    assert caught.value.message == CHECK_MESSAGE
    assert caught.value.hint == ("re-check the code; legacy pilot codes need an explicit "
                                 "legacy flag")


def test_legacy_pilot_code_is_accepted_flagged_with_allow_legacy() -> None:
    checked = validate_credit_code(LEGACY_PILOT_CODE, allow_legacy=True)
    assert checked.value == LEGACY_PILOT_CODE
    assert checked.legacy_check_failure is True


def test_allow_legacy_leaves_a_valid_code_unflagged() -> None:
    assert validate_credit_code("91110000600037341L", allow_legacy=True).legacy_check_failure \
        is False


@pytest.mark.parametrize("code", ["9111000060003734IL", "91110000600037341"])
def test_allow_legacy_does_not_relax_the_format(code: str) -> None:
    with pytest.raises(InvalidCreditCodeError, match=r"^not a unified social credit code"):
        validate_credit_code(code, allow_legacy=True)


@pytest.mark.parametrize("typed", [
    pytest.param(" 91110000600037341l ", id="lower-case-and-spaces"),
    pytest.param("９１１１００００６０００３７３４１Ｌ", id="full-width"),
])
def test_credit_code_input_is_normalised_to_ascii_upper_case(typed: str) -> None:
    assert validate_credit_code(typed).value == "91110000600037341L"


def test_credit_code_error_does_not_repeat_an_id_number_typed_into_the_field() -> None:
    # A citizen ID has the shape of a credit code (X is in the code alphabet).
    with pytest.raises(InvalidCreditCodeError) as caught:
        validate_credit_code("11010519491231002X")
    assert "11010519491231002X" not in str(caught.value)
    assert "11010519491231002X" not in (caught.value.hint or "")


# --------------------------------------------------------------------------- citizen IDs


@dataclass(frozen=True)
class ValidID:
    number: str
    birth_date: date
    male: bool
    residence_permit_of: str | None


VALID_IDS = [
    pytest.param(ValidID("11010519491231002X", date(1949, 12, 31), False, None),
                 id="GB11643-example-check-X"),
    pytest.param(ValidID("440524188001010014", date(1880, 1, 1), True, None),
                 id="GB11643-example-born-1880"),
    pytest.param(ValidID("810000199408230021", date(1994, 8, 23), False, "HK"),
                 id="hong-kong-residence-permit"),
    pytest.param(ValidID("830000199201300022", date(1992, 1, 30), False, "TW"),
                 id="taiwan-residence-permit"),
    # Constructed: a Macau permit, address code 820000, check character by hand.
    pytest.param(ValidID("820000200001010024", date(2000, 1, 1), False, "MO"),
                 id="macau-residence-permit-constructed"),
]

FORMAT_ID_MESSAGE = "not a citizen ID number: 17 digits and a check digit or X expected"
CHECK_ID_MESSAGE = "the ID number fails its GB 11643 check character"
NO_DATE_MESSAGE = "the birth date inside the ID number does not exist"
DATE_RANGE_MESSAGE = "the birth date inside the ID number is out of range"

INVALID_IDS = [
    pytest.param("110105194912310021", CHECK_ID_MESSAGE, id="wrong-check-digit"),
    pytest.param("440524188001010015", CHECK_ID_MESSAGE, id="wrong-check-digit-2"),
    pytest.param("81000019940823002X", CHECK_ID_MESSAGE, id="permit-wrong-check-X"),
    # Constructed: 30 February 1949 and month 13, with correct check characters.
    pytest.param("110105194902300020", NO_DATE_MESSAGE, id="impossible-date-feb-30"),
    pytest.param("110105194913320019", NO_DATE_MESSAGE, id="impossible-date-month-13"),
    # Constructed: born 2100-01-01, after "today"; born 1849, before any living holder.
    pytest.param("110105210001010015", DATE_RANGE_MESSAGE, id="birth-date-in-future"),
    pytest.param("110105184901010014", DATE_RANGE_MESSAGE, id="birth-date-before-1850"),
    pytest.param("11010519491231002", FORMAT_ID_MESSAGE, id="17-characters"),
    pytest.param("11010519491231002XX", FORMAT_ID_MESSAGE, id="19-characters"),
    pytest.param("11010519491231002Y", FORMAT_ID_MESSAGE, id="check-character-Y"),
    pytest.param("1101051949123100X2", FORMAT_ID_MESSAGE, id="X-not-last"),
    pytest.param("\u0661" * 17 + "X", FORMAT_ID_MESSAGE, id="arabic-indic-digits"),
]

TODAY = date(2026, 1, 1)


@pytest.mark.parametrize("vector", VALID_IDS)
def test_valid_id_number_is_accepted_with_its_facts(vector: ValidID) -> None:
    checked = validate_citizen_id(vector.number, today=TODAY)
    assert checked.value == vector.number
    assert checked.birth_date == vector.birth_date
    assert checked.male is vector.male
    assert checked.residence_permit_of == vector.residence_permit_of


@pytest.mark.parametrize(("number", "message"), INVALID_IDS)
def test_invalid_id_number_is_rejected(number: str, message: str) -> None:
    with pytest.raises(InvalidIDNumberError) as caught:
        validate_citizen_id(number, today=TODAY)
    assert caught.value.message == message
    assert caught.value.code == "codes.invalid_id_number"


@pytest.mark.parametrize(("number", "message"), INVALID_IDS)
def test_id_number_error_never_repeats_the_number(number: str, message: str) -> None:
    with pytest.raises(InvalidIDNumberError) as caught:
        validate_citizen_id(number, today=TODAY)
    shown = " ".join([str(caught.value), repr(caught.value), caught.value.hint or ""])
    assert number not in shown
    # Nor a tell-tale run of its digits (address code + birth date).
    assert number[:14] not in shown


def test_lower_case_x_check_character_is_accepted_as_upper_case() -> None:
    assert validate_citizen_id("11010519491231002x").value == "11010519491231002X"


def test_full_width_id_number_is_normalised_to_ascii() -> None:
    assert validate_citizen_id("１１０１０５１９４９１２３１００２Ｘ").value == "11010519491231002X"


@pytest.mark.parametrize(("first17", "check"), [
    ("11010519491231002", "X"),
    ("44052418800101001", "4"),
    ("81000019940823002", "1"),
    ("83000019920130002", "2"),
])
def test_check_character_matches_the_standard_examples(first17: str, check: str) -> None:
    assert citizen_id_check_char(first17) == check
