"""The clock as people read it: Beijing time (UTC+8), with the zone always named.

Everything stored and signed is aware UTC (:func:`zhengyin.core.clock.utcnow`); what a person reads
— the public pages, the wallet, the sealed report, the command line's human output — is
Beijing time, because licences print Beijing dates and a time without its zone is a
wrong time for half the readers. This is the one place that converts and formats; issue
15 moves it, with ``utcnow``, to the ground-floor package.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

__all__ = [
    "CHINA_TZ",
    "ZONE_LABEL",
    "beijing",
    "beijing_date",
    "beijing_time",
    "utcnow",
]

CHINA_TZ = timezone(timedelta(hours=8))
"""China Standard Time: UTC+8 all year, no daylight saving since 1991."""

ZONE_LABEL = "北京时间 (UTC+8)"
"""How every displayed time names its zone."""


def beijing(moment: datetime) -> datetime:
    """``moment`` in Beijing time; a naive datetime is refused, never guessed."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("a naive datetime has no zone to convert from; pass an aware one")
    return moment.astimezone(CHINA_TZ)


def beijing_date(moment: datetime) -> date:
    """The calendar date in China at ``moment`` (the day a licence's validity counts)."""
    return beijing(moment).date()


def beijing_time(moment: datetime, *, zone: str = ZONE_LABEL) -> str:
    """``2026-12-05 19:03:25 北京时间 (UTC+8)``: the one format people are shown.

    ``zone="UTC+8"`` names the zone without Chinese, for text that is read in either
    language (verification reasons carry one time in their Chinese and English forms).
    """
    return f"{beijing(moment):%Y-%m-%d %H:%M:%S} {zone}"


def utcnow() -> datetime:
    """The current time, aware, in UTC. Only entry points call it; services take ``at``."""
    return datetime.now(UTC)
