"""People read Beijing time with the zone named (trust/clock.py): the day changes at
16:00 UTC, not at midnight UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from zhengyin.core.clock import beijing, beijing_date, beijing_time

LATE_EVENING_UTC = datetime(2026, 12, 5, 16, 30, 5, tzinfo=UTC)
"""2026-12-05 in UTC, already 00:30 on 2026-12-06 in Beijing."""


def test_a_time_late_in_the_utc_evening_is_the_next_day_in_beijing() -> None:
    assert beijing_time(LATE_EVENING_UTC) == "2026-12-06 00:30:05 北京时间 (UTC+8)"
    assert beijing_date(LATE_EVENING_UTC) == date(2026, 12, 6)


def test_just_before_beijing_midnight_is_still_the_same_day() -> None:
    moment = datetime(2026, 12, 5, 15, 59, 59, tzinfo=UTC)
    assert beijing_time(moment) == "2026-12-05 23:59:59 北京时间 (UTC+8)"
    assert beijing_date(moment) == date(2026, 12, 5)


def test_a_time_in_another_zone_is_converted_not_relabelled() -> None:
    new_york = datetime(2026, 12, 5, 11, 30, 5, tzinfo=timezone(timedelta(hours=-5)))
    assert beijing_time(new_york) == "2026-12-06 00:30:05 北京时间 (UTC+8)"
    assert beijing(new_york) == LATE_EVENING_UTC


def test_a_naive_time_is_refused_rather_than_guessed() -> None:
    with pytest.raises(ValueError, match="naive"):
        beijing_time(datetime(2026, 12, 5, 16, 30))


def test_text_read_in_both_languages_names_the_zone_without_chinese() -> None:
    assert beijing_time(LATE_EVENING_UTC, zone="UTC+8") == "2026-12-06 00:30:05 UTC+8"
