"""Conflicting status changes from real processes at once: one winner per conflict.

Each change is decided on the licence's current row under a lock, so the changes that
succeed are exactly the ones a serial order allows, the others are 409, and the history
replays, event by event, to the status that is stored.
"""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import select

from zhengyin.api.runtime import Runtime
from zhengyin.core.clock import utcnow
from zhengyin.core.errors import ConcurrentChangeError
from zhengyin.registry.errors import IllegalTransitionError
from zhengyin.registry.issuance import IssueRequest, IssuingParty
from zhengyin.registry.licences import Reader
from zhengyin.registry.lifecycle import RevocationKind
from zhengyin.registry.models import Licence, LicenceEvent, LicenceStatus, TransitionAction

from ..racing import licence_change, racing
from .conftest import FOOD_TYPE, MARKET, food_request

pytestmark = pytest.mark.slow

# A loser is told the licence is no longer in a state that allows its change, or that it
# changed while the request waited (its decision was made on what it saw at its time).
LOSER_CODES = {"licence.illegal_transition", "state.changed_meanwhile"}
ACTION_OF = {"suspend": TransitionAction.SUSPENDED, "report-lost": TransitionAction.REPORTED_LOST,
             "revoke": TransitionAction.REVOKED, "change": TransitionAction.CHANGED,
             "renew": TransitionAction.RENEWED,
             "lift-suspension": TransitionAction.SUSPENSION_LIFTED}


def _issue(runtime: Runtime, count: int) -> list[str]:
    body = food_request()
    request = IssueRequest(type_code=FOOD_TYPE, holder_kind=body["holder_kind"],
                           holder_code=body["holder_code"], holder_name=body["holder_name"],
                           fields=body["fields"])
    party = IssuingParty(org_code=MARKET, client_id=None, actor="test")
    identifiers = []
    for _ in range(count):
        with runtime.unit_of_work() as services:
            identifiers.append(services.issuance.issue(request, party, at=utcnow())
                               .licence.identifier)
    return identifiers


def _history(runtime: Runtime, identifier: str) -> tuple[LicenceStatus, list[LicenceEvent]]:
    with runtime.unit_of_work(readonly=True) as services:
        licence = services.licences.get(identifier, Reader(everything=True))
        return licence.status, services.licences.history(licence)


def _replays(events: list[LicenceEvent], stored: LicenceStatus) -> str | None:
    """Why the history does not replay to the stored status (None when it does)."""
    status = None
    for event in events:
        if event.from_status != status:
            return (f"{event.action.value} recorded from {event.from_status} but the "
                    f"licence was {status}")
        status = event.to_status
    return None if status == stored else f"history ends {status}, row says {stored.value}"


def _judge(runtime: Runtime, identifier: str, actions: list[str], outcomes: list[str]
           ) -> list[str]:
    """Every way this licence's race broke the rules (empty when it did not)."""
    problems = [f"{action}: {outcome}" for action, outcome in zip(actions, outcomes, strict=True)
                if outcome != "ok" and outcome not in LOSER_CODES]
    stored, events = _history(runtime, identifier)
    broken = _replays(events, stored)
    if broken:
        problems.append(broken)
    won = Counter(ACTION_OF[action] for action, outcome in zip(actions, outcomes, strict=True)
                  if outcome == "ok")
    recorded = Counter(event.action for event in events[1:])
    if won != recorded:
        problems.append(f"2xx for {dict(won)} but history records {dict(recorded)}")
    return problems


def test_conflicting_status_changes_have_one_serial_outcome(registry: Runtime) -> None:
    # The defect's scenario: revoke, suspend, report-lost and change at once, 12 times.
    actions = ["revoke", "suspend", "report-lost", "change"]
    identifiers = _issue(registry, 12)
    problems: dict[str, list[str]] = {}
    winners = []
    with racing(registry.settings, len(actions)) as race:
        for identifier in identifiers:
            outcomes = race.run(licence_change, [(identifier, action) for action in actions])
            winners.append(outcomes.count("ok"))
            found = _judge(registry, identifier, actions, outcomes)
            if found:
                problems[identifier[-12:]] = found
    assert problems == {}
    # Serial orders allow two of these (suspend or report-lost, then revoke; report-lost,
    # then change), never three.
    assert max(winners) <= 2
    assert min(winners) >= 1


def test_changes_that_all_need_a_valid_licence_have_exactly_one_winner(
        registry: Runtime) -> None:
    # After any of these the licence is suspended, lost or superseded: none of the
    # others is allowed any more. (A change would be: it replaces a lost licence.)
    actions = ["suspend", "report-lost", "renew", "renew"]
    identifiers = _issue(registry, 6)
    results = []
    with racing(registry.settings, len(actions)) as race:
        for identifier in identifiers:
            outcomes = race.run(licence_change, [(identifier, action) for action in actions])
            results.append((outcomes, _judge(registry, identifier, actions, outcomes)))
    assert [(outcomes.count("ok"), problems) for outcomes, problems in results] == \
        [(1, [])] * len(identifiers), results


def test_concurrent_renewals_and_changes_make_one_new_version(registry: Runtime) -> None:
    actions = ["renew", "change", "renew", "change"]
    identifiers = _issue(registry, 4)
    outcomes_by_licence = []
    with racing(registry.settings, len(actions)) as race:
        for identifier in identifiers:
            outcomes_by_licence.append(
                race.run(licence_change, [(identifier, action) for action in actions]))
    # 1 x 201 and 3 x 409 on the API: one "ok", three refusals that name the conflict.
    assert [sorted(outcomes) for outcomes in outcomes_by_licence] == \
        [sorted(["ok", *["licence.illegal_transition"] * 3])] * len(identifiers)
    with registry.unit_of_work(readonly=True) as services:
        for identifier in identifiers:
            first = services.session.scalars(
                select(Licence).where(Licence.identifier == identifier)).one()
            versions = list(services.session.scalars(
                select(Licence).where(Licence.previous_id == first.id)))
            assert len(versions) == 1
            assert first.superseded_by_id == versions[0].id
            assert first.status is LicenceStatus.SUPERSEDED


def test_a_change_older_than_the_licences_last_change_is_a_conflict(registry: Runtime) -> None:
    # What a request that waited for another one's lock finds: the licence changed after
    # the request's own time. Recording it would put the history out of order.
    [identifier] = _issue(registry, 1)
    before = utcnow()
    with registry.unit_of_work() as services:
        licence = services.licences.get(identifier, Reader(everything=True))
        services.lifecycle.report_lost(licence, reason="遗失", effective_at=None, at=utcnow(),
                                       actor="test")
    with registry.unit_of_work() as services, \
            pytest.raises(ConcurrentChangeError, match=r"after this request"):
        licence = services.licences.get(identifier, Reader(everything=True))
        services.lifecycle.revoke(licence, kind=RevocationKind.REVOKED, reason_code="R-1",
                                  reason="严重违法", legal_basis="《食品安全法》",
                                  effective_at=None, at=before, actor="test")
    assert _history(registry, identifier)[0] is LicenceStatus.LOST


def test_a_change_is_decided_on_the_current_row_not_a_stale_object(registry: Runtime) -> None:
    [identifier] = _issue(registry, 1)
    with registry.unit_of_work(readonly=True) as services:
        stale = services.licences.get(identifier, Reader(everything=True))  # valid, kept
    with registry.unit_of_work() as services:
        licence = services.licences.get(identifier, Reader(everything=True))
        services.lifecycle.suspend(licence, reason="暂扣", legal_basis=None, effective_at=None,
                                   at=utcnow(), actor="test")
    assert stale.status is LicenceStatus.VALID
    with registry.unit_of_work() as services, \
            pytest.raises(IllegalTransitionError, match=r"is suspended; it cannot be"):
        services.lifecycle.report_lost(stale, reason="遗失", effective_at=None, at=utcnow(),
                                       actor="test")
    status, events = _history(registry, identifier)
    assert (status, [event.action for event in events]) == \
        (LicenceStatus.SUSPENDED, [TransitionAction.ISSUED, TransitionAction.SUSPENDED])
