"""How a licence's status is shown: one mapping for every page and the command line.

Issue 13 (item 5): a display never shows a licence that is not valid as good. Only a
valid licence is green with a ✔; a revoked, lost, superseded or expired one is red (✘);
a suspended one, or one whose status cannot be learnt, is amber (⚠). The headline says
the licence's status; that a display code or a file is genuine comes second. Status names
are the registry's own (:attr:`zhengyin.trust.validation.LicenceState.zh`, STANDARDS §2); this
module adds only the headline, the explanation and the tone.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date

from zhengyin.core.jose import JWSError
from zhengyin.registry.receipts import DisplayExpiredError
from zhengyin.trust.validation import LicenceState

__all__ = [
    "UNKNOWN",
    "StatusView",
    "Tone",
    "action_name",
    "display_code_problem",
    "status_view",
    "validity_text",
]

UNKNOWN = "unknown"
"""The value shown when the status cannot be learnt (not found, or a value we do not know)."""


class Tone(enum.StrEnum):
    """How a result looks: green, amber or red (the CSS classes ``tone-…``)."""

    GOOD = "good"
    WARN = "warn"
    BAD = "bad"

    @property
    def rank(self) -> int:
        """Higher is worse."""
        return (Tone.GOOD, Tone.WARN, Tone.BAD).index(self)

    @staticmethod
    def worst(*tones: Tone) -> Tone:
        """The worst of ``tones`` (a page is only as good as its worst part)."""
        return max(tones, key=lambda tone: tone.rank)


@dataclass(frozen=True)
class StatusView:
    """A licence status as people are shown it."""

    value: str
    """The registry's value (``revoked`` …) or ``unknown``: for tests and data attributes."""
    name: str
    """The status in Chinese (the registry's name)."""
    tone: Tone
    headline: str
    """The first thing shown: a symbol and the status, never a ✔ unless valid."""
    explanation: str
    """What the status means for whoever is relying on the licence."""
    successor: str | None = None
    """The identifier of the version that replaced a superseded licence."""

    @property
    def valid(self) -> bool:
        """Whether the licence may be relied on as valid."""
        return self.value == LicenceState.VALID.value


_HEADLINE: dict[LicenceState, tuple[Tone, str, str]] = {
    LicenceState.VALID: (Tone.GOOD, "✔ 证照有效", "该证照当前有效，可以作为有效证明使用。"),
    LicenceState.REVOKED: (Tone.BAD, "✘ 证照已吊销/注销",
                           "该证照已失效，不能作为有效证明使用。"),
    LicenceState.SUSPENDED: (Tone.WARN, "⚠ 证照已被暂扣",
                             "该证照暂扣期间不能作为有效证明使用；暂扣解除前请勿采信，"
                             "可向发证机关核实。"),
    LicenceState.LOST: (Tone.BAD, "✘ 证照已挂失",
                        "持证人已声明该证照遗失，不能作为有效证明使用；出示者可能不是持证人本人。"),
    LicenceState.SUPERSEDED: (Tone.BAD, "✘ 证照已被新版本取代",
                              "该版本已因变更或延续而失效，不能作为有效证明使用；请以新版本为准。"),
    LicenceState.EXPIRED: (Tone.BAD, "✘ 证照已过期",
                           "该证照的有效期已届满，不能作为有效证明使用。"),
}


def status_view(state: LicenceState | str | None, *, valid_until: date | None = None,
                superseded_by: str | None = None) -> StatusView:
    """How ``state`` is shown; None or a value we do not know is "unknown" (amber)."""
    known: LicenceState | None
    try:
        known = LicenceState(state) if state is not None else None
    except ValueError:
        known = None
    if known is None:
        return StatusView(UNKNOWN, "未知", Tone.WARN, "⚠ 无法确认证照状态",
                          "查不到该证照的当前状态；核实前请勿作为有效证明采信，可向发证机关核实。")
    tone, headline, explanation = _HEADLINE[known]
    if known is LicenceState.EXPIRED and valid_until is not None:
        explanation = f"该证照的有效期已于 {valid_until.isoformat()} 届满，不能作为有效证明使用。"
    successor = superseded_by if known is LicenceState.SUPERSEDED else None
    return StatusView(known.value, known.zh, tone, headline, explanation, successor)


def validity_text(valid_from: date | None, valid_until: date | None) -> str:
    """A licence's own validity period: ``2026-05-01 起 — 2031-04-30 止`` or ``… 起，长期有效``."""
    start = f"{valid_from.isoformat()} 起" if valid_from is not None else ""
    if valid_until is None:
        return f"{start}，长期有效" if start else "长期有效"
    end = f"{valid_until.isoformat()} 止"
    return f"{start} — {end}" if start else f"至 {end}"


_ACTIONS = {"issued": "签发", "renewed": "延续", "suspended": "暂扣", "expired": "有效期届满",
            "revoked": "吊销/注销", "suspension-lifted": "解除暂扣", "reported-lost": "挂失",
            "loss-withdrawn": "撤销挂失", "changed": "变更", "superseded": "被新版本取代"}


def action_name(action: str) -> str:
    """A status change (registry.models.TransitionAction, by value) in Chinese."""
    return _ACTIONS.get(action, action)


def display_code_problem(error: JWSError) -> str:
    """Why a display code (亮证码) does not verify, in Chinese: expired, or one answer for
    every other defect (detail would only help a forger, STYLE §2)."""
    if isinstance(error, DisplayExpiredError):
        return "亮证码已过期（亮证码只在出示后几分钟内有效），请持证人刷新后重新出示。"
    return "亮证码无法验证：不是本平台证照库签发的，或内容已被改动；请勿采信，请持证人重新出示。"
