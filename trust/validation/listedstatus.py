"""Offline licence status: the licence's entry in a verified status list.

The status-list counterpart of :func:`.checks.check_licence` for verification without the
registry (``zhengyin verify FILE --trust-list … --root … --status-list …``). The licence's
list URI and index are read from its signed revision (``/ZYSL``, ``/ZYSI``) and its
validity end from ``/ZZYXQJZRQ``; the list is a
:class:`zhengyin.trust.statuslist.VerifiedStatusList`
(draft-ietf-oauth-status-list-20), checked before it gets here. Steps (draft §8.3):

1. the licence's own expiry comes first (§7.1): past its validity end it is expired,
   whatever the list says;
2. the list's ``sub`` must be the licence's URI (§8.3 step 4a);
3. an index out of the list's bounds makes no statement: failed (§8.3 step 6);
4. the entry's value is the status; anything but VALID fails, naming the list's ``iat``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from zhengyin.core.clock import beijing_date

from .directories import LicenceState
from .errors import CheckFailedError, NotApplicable
from .evidence import SignatureEvidence
from .verdict import Reason, SubIndication

if TYPE_CHECKING:
    from ..statuslist import VerifiedStatusList

__all__ = ["check_listed_status", "listed_state"]

S = SubIndication
_SUB = {LicenceState.REVOKED: S.REVOKED, LicenceState.SUSPENDED: S.REVOKED,
        LicenceState.LOST: S.REVOKED, LicenceState.EXPIRED: S.EXPIRED,
        LicenceState.SUPERSEDED: S.EXPIRED}


def _fail(sub: SubIndication, code: str, zh: str, en: str) -> CheckFailedError:
    return CheckFailedError(sub, Reason(code, zh, en))


def listed_state(listed: VerifiedStatusList, uri: str, index: int) -> LicenceState:
    """The status ``listed`` gives entry ``index`` of list ``uri`` (steps 2 to 4)."""
    from ..statuslist import StatusValue

    when = listed.issued_text
    if listed.uri != uri:
        raise _fail(S.SIG_CONSTRAINTS_FAILURE, "licence.status_list_other",
                    f"所给状态列表是 {listed.uri}，该证照的状态在 {uri}",
                    f"the status list given is {listed.uri}; this licence's entry is in {uri}")
    value = listed.value(index)
    if value is None:
        raise _fail(S.SIG_CONSTRAINTS_FAILURE, "licence.status_list_index",
                    f"状态列表（签发于 {when}）没有第 {index} 项，无法判断证照状态",
                    f"the status list (issued {when}) has no entry {index}: no statement "
                    "about the licence can be made")
    try:
        return LicenceState(StatusValue(value).state)
    except ValueError:
        raise _fail(S.SIG_CONSTRAINTS_FAILURE, "licence.status_list_value",
                    f"状态列表（签发于 {when}）第 {index} 项的值 0x{value:02X} 无法识别",
                    f"the status list (issued {when}) gives entry {index} the unknown value "
                    f"0x{value:02X}") from None


def check_listed_status(evidence: SignatureEvidence, listed: VerifiedStatusList,
                        at: datetime) -> Reason:
    """The licence in the signed revision is valid by its dates and by the list."""
    found = dict(evidence.licence_metadata)
    identifier = evidence.licence_identifier or "?"
    uri, index_text = found.get("ZYSL"), found.get("ZYSI")
    end_text = found.get("ZZYXQJZRQ")
    when = listed.issued_text
    end = date.fromisoformat(end_text) if end_text and end_text[:1].isdigit() else None
    if end is not None and beijing_date(at) > end:
        raise _fail(S.EXPIRED, "licence.expired",
                    f"电子证照 {identifier} 的有效期已于 {end.isoformat()} 届满"
                    f"（状态列表签发于 {when}）",
                    f"licence {identifier}'s validity ended on {end.isoformat()} (status list "
                    f"issued {when})")
    if uri is None or index_text is None or not index_text.isdigit():
        raise NotApplicable(Reason(
            "licence.not_listed",
            f"电子证照 {identifier} 未载明状态列表位置（早于状态列表签发），离线无法核验其状态",
            f"licence {identifier} names no status-list entry (issued before status "
            "lists): its status cannot be checked offline"))
    state = listed_state(listed, uri, int(index_text))
    if state is not LicenceState.VALID:
        raise _fail(_SUB[state], f"licence.{state.value}",
                    f"电子证照 {identifier} 状态：{state.zh}（据状态列表，签发于 {when}）",
                    f"licence {identifier} is {state.value} according to the status list "
                    f"issued {when}")
    until = end.isoformat() if end is not None else "长期"
    return Reason("licence.listed_valid",
                  f"电子证照 {identifier} 有效（据状态列表，签发于 {when}；有效期至 {until}）",
                  f"licence {identifier} is valid according to the status list issued "
                  f"{when} (valid until {end.isoformat() if end else 'no end date'})")
