"""Conflicting seal changes from real processes at once: one winner per conflict.

A seal's state history is what verification replays (the audit log), and its
certificate's revocation state is what CRL and OCSP clients see; after any race both
must tell the one serial story the successes make.
"""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import select

from zhengyin.api.runtime import Runtime
from zhengyin.core.clock import utcnow
from zhengyin.core.models import AuditEntry
from zhengyin.signing.models import Seal, SealStatus
from zhengyin.trust.models import CertificateRecord, CertificateStatus, RevocationReason

from ..racing import REASON, racing, service_call
from .fixtures import StampingEnv

pytestmark = pytest.mark.slow

LOSER_CODES = {"seal.illegal_transition", "state.changed_meanwhile"}
_STATE = {"seal.suspended": SealStatus.SUSPENDED, "seal.resumed": SealStatus.ACTIVE,
          "seal.revoked": SealStatus.REVOKED}
_ACTION = {"suspend": "seal.suspended", "resume": "seal.resumed", "revoke": "seal.revoked"}


def certificate_state(status: SealStatus) -> tuple[CertificateStatus, RevocationReason | None]:
    """What CRL and OCSP must say about the certificate of a seal in ``status``."""
    return {
        SealStatus.ACTIVE: (CertificateStatus.VALID, None),
        SealStatus.SUSPENDED: (CertificateStatus.REVOKED, RevocationReason.CERTIFICATE_HOLD),
        SealStatus.REVOKED: (CertificateStatus.REVOKED, RevocationReason.CESSATION_OF_OPERATION),
    }[status]


def judge_seal(runtime: Runtime, seal_id: str, actions: list[str], outcomes: list[str]
               ) -> list[str]:
    """Every way this seal's race broke the rules (empty when it did not)."""
    problems = [f"{action}: {outcome}" for action, outcome in zip(actions, outcomes, strict=True)
                if outcome != "ok" and outcome not in LOSER_CODES]
    runtime.audit_sequencer.drain()
    with runtime.unit_of_work(readonly=True) as services:
        seal = services.session.get_one(Seal, seal_id)
        certificate = services.session.get_one(CertificateRecord, seal.certificate_id)
        entries = services.session.execute(
            select(AuditEntry.action, AuditEntry.at, AuditEntry.details)
            .where(AuditEntry.object_type == "seal").where(AuditEntry.object_id == seal_id)
            .where(AuditEntry.action.in_(list(_STATE))).order_by(AuditEntry.seq)).all()
    state, last = SealStatus.ACTIVE, None
    for action, at, details in entries:
        if details["from"] != state.value:
            problems.append(f"{action} recorded from {details['from']}, the seal was {state}")
        if last is not None and at < last:
            problems.append(f"{action} recorded at {at}, before the change it follows ({last})")
        state, last = _STATE[action], at
    if state is not seal.status:
        problems.append(f"history ends {state.value}, row says {seal.status.value}")
    if (certificate.status, certificate.revocation_reason) != certificate_state(seal.status):
        problems.append(f"a {seal.status.value} seal's certificate is "
                        f"{certificate.status.value} ({certificate.revocation_reason})")
    won = Counter(_ACTION[action] for action, outcome in zip(actions, outcomes, strict=True)
                  if outcome == "ok")
    if won != Counter(action for action, _at, _details in entries):
        problems.append(f"2xx for {dict(won)} but history records "
                        f"{dict(Counter(action for action, _at, _details in entries))}")
    return problems


def test_conflicting_seal_changes_have_one_serial_outcome(stamping: StampingEnv) -> None:
    actions = ["suspend", "revoke", "suspend", "resume"]
    seals = [stamping.new_seal().id for _ in range(8)]
    problems = {}
    with racing(stamping.runtime.settings, len(actions)) as race:
        for seal_id in seals:
            outcomes = race.run(service_call, [("seals", action, seal_id) for action in actions],
                                reason=REASON)
            found = judge_seal(stamping.runtime, seal_id, actions, outcomes)
            if found:
                problems[seal_id] = (outcomes, found)
    assert problems == {}


def test_concurrent_suspensions_have_exactly_one_winner(stamping: StampingEnv) -> None:
    actions = ["suspend"] * 4
    seals = [stamping.new_seal().id for _ in range(4)]
    results = []
    with racing(stamping.runtime.settings, len(actions)) as race:
        for seal_id in seals:
            outcomes = race.run(service_call, [("seals", action, seal_id) for action in actions],
                                reason=REASON)
            results.append((sorted(outcomes),
                            judge_seal(stamping.runtime, seal_id, actions, outcomes)))
    assert results == [(["ok", *["seal.illegal_transition"] * 3], [])] * len(seals)


def test_a_change_asked_for_before_the_seals_last_change_is_recorded_after_it(
        stamping: StampingEnv) -> None:
    # The seal's state history is what verification replays: a change takes effect when
    # it is decided under the seal's lock, never before the change it waited for.
    seal = stamping.new_seal()
    before = utcnow()
    with stamping.runtime.unit_of_work() as services:
        suspended_at = services.seals.suspend(seal.id, reason="核查", at=utcnow(),
                                              actor="test").status_changed_at
    with stamping.runtime.unit_of_work() as services:
        services.seals.revoke(seal.id, reason="撤销", at=before, actor="test")
    with stamping.runtime.unit_of_work(readonly=True) as services:
        revoked = services.seals.get(seal.id)
        assert revoked.status is SealStatus.REVOKED
        assert suspended_at is not None and revoked.status_changed_at is not None
        assert revoked.status_changed_at > suspended_at
