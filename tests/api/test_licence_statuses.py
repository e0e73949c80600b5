"""How licence statuses are shown (api/pages/statuses.py): only a valid licence is green
with a ✔; revoked, lost, superseded and expired are red; suspended and unknown amber;
names are the registry's own Chinese names."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from zhengyin.api.cli.checks import asserted_status
from zhengyin.api.pages.statuses import Tone, status_view, validity_text
from zhengyin.trust.validation import LicenceState

EXPECTED = {
    LicenceState.VALID: (Tone.GOOD, "✔ 证照有效"),
    LicenceState.REVOKED: (Tone.BAD, "✘ 证照已吊销/注销"),
    LicenceState.SUSPENDED: (Tone.WARN, "⚠ 证照已被暂扣"),
    LicenceState.LOST: (Tone.BAD, "✘ 证照已挂失"),
    LicenceState.SUPERSEDED: (Tone.BAD, "✘ 证照已被新版本取代"),
    LicenceState.EXPIRED: (Tone.BAD, "✘ 证照已过期"),
}


@pytest.mark.parametrize("state", list(LicenceState), ids=lambda s: s.value)
def test_each_status_has_its_tone_headline_and_the_registry_name(state: LicenceState) -> None:
    view = status_view(state)
    assert (view.tone, view.headline) == EXPECTED[state]
    assert view.name == state.zh
    assert view.valid is (state is LicenceState.VALID)
    assert view.explanation


@pytest.mark.parametrize("state", [s for s in LicenceState if s is not LicenceState.VALID],
                         ids=lambda s: s.value)
def test_no_status_but_valid_is_green_or_ticked(state: LicenceState) -> None:
    view = status_view(state.value)
    assert view.tone is not Tone.GOOD
    assert "✔" not in view.headline + view.explanation
    assert "不能作为有效证明" in view.explanation or "请勿" in view.explanation


@pytest.mark.parametrize("value", [None, "", "cancelled", "VALID"])
def test_a_status_we_cannot_read_is_unknown_and_amber(value: str | None) -> None:
    view = status_view(value)
    assert (view.value, view.name, view.tone) == ("unknown", "未知", Tone.WARN)
    assert view.headline.startswith("⚠") and not view.valid


def test_an_expired_licence_says_when_its_validity_ended() -> None:
    view = status_view(LicenceState.EXPIRED, valid_until=date(2025, 4, 30))
    assert "2025-04-30" in view.explanation


def test_only_a_superseded_licence_names_its_successor() -> None:
    successor = "1.2.156.3005.2.11100000000013338W011.11110000000021135M.20230329701.003.Y"
    assert status_view("superseded", superseded_by=successor).successor == successor
    assert status_view("revoked", superseded_by=successor).successor is None


def test_the_validity_period_is_written_with_start_and_end_or_long_term() -> None:
    assert validity_text(date(2026, 5, 1), date(2031, 4, 30)) == "2026-05-01 起 — 2031-04-30 止"
    assert validity_text(date(2026, 5, 1), None) == "2026-05-01 起，长期有效"
    assert validity_text(None, date(2031, 4, 30)) == "至 2031-04-30 止"


def _payload(status: str, until: str | None) -> dict[str, object]:
    return {"s": status, "u": until}


def test_offline_a_code_for_a_licence_whose_last_day_passed_in_beijing_reads_expired() -> None:
    # 16:30 UTC on 5 December is 00:30 on 6 December in Beijing: the 5th was the last day.
    after_midnight = datetime(2026, 12, 5, 16, 30, tzinfo=UTC)
    before_midnight = datetime(2026, 12, 5, 15, 30, tzinfo=UTC)
    assert asserted_status(_payload("valid", "2026-12-05"), after_midnight).value == "expired"
    assert asserted_status(_payload("valid", "2026-12-05"), before_midnight).value == "valid"
    assert asserted_status(_payload("valid", None), after_midnight).value == "valid"


def test_offline_a_revoked_status_stays_revoked_past_the_end_date() -> None:
    moment = datetime(2030, 1, 1, tzinfo=UTC)
    assert asserted_status(_payload("revoked", "2026-12-05"), moment).value == "revoked"
    assert asserted_status(_payload("nonsense", None), moment).value == "unknown"
