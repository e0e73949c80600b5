"""A licence's life: suspend and lift, report lost and withdraw, revoke, expire, change, renew.

Transitions are data (:data:`TRANSITIONS`): which states each action may start from and
where it leads. Every change records who, when, why and from when it takes effect, and
lands in the audit log. Expiry is part of the status at read time
(:func:`effective_status`), so a licence past its end date reads as expired before any
sweeper has run; ``expire_due`` then writes the expiry into the history.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhengyin.core.audit import AuditLog
from zhengyin.core.clock import CHINA_TZ
from zhengyin.core.locks import lock_row, lock_rows, refuse_if_changed_after

from .errors import IllegalTransitionError, LicenceNotFoundError, RegistryError
from .issuance import IssuanceService, IssuingParty
from .models import Licence, LicenceEvent, LicenceStatus, TransitionAction
from .sealing import LicenceSealer

__all__ = [
    "TRANSITIONS",
    "ChangeRequest",
    "LifecycleService",
    "RevocationKind",
    "Transition",
    "effective_status",
    "status_on",
]

_LIVE = frozenset({LicenceStatus.VALID, LicenceStatus.SUSPENDED, LicenceStatus.LOST})


class RevocationKind(enum.StrEnum):
    """注销 (cancelled at the holder's request or by law), 吊销 (revoked as a penalty),
    撤销 (withdrawn: the licence should never have been granted)."""

    CANCELLED = "cancelled"
    REVOKED = "revoked"
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True)
class Transition:
    """An action's allowed starting states and its resulting state."""

    action: TransitionAction
    allowed_from: frozenset[LicenceStatus]
    to: LicenceStatus


TRANSITIONS: dict[TransitionAction, Transition] = {
    t.action: t for t in (
        Transition(TransitionAction.SUSPENDED, frozenset({LicenceStatus.VALID}),
                   LicenceStatus.SUSPENDED),
        Transition(TransitionAction.SUSPENSION_LIFTED, frozenset({LicenceStatus.SUSPENDED}),
                   LicenceStatus.VALID),
        Transition(TransitionAction.REPORTED_LOST, frozenset({LicenceStatus.VALID}),
                   LicenceStatus.LOST),
        Transition(TransitionAction.LOSS_WITHDRAWN, frozenset({LicenceStatus.LOST}),
                   LicenceStatus.VALID),
        Transition(TransitionAction.REVOKED, frozenset(_LIVE | {LicenceStatus.EXPIRED}),
                   LicenceStatus.REVOKED),
        Transition(TransitionAction.EXPIRED, _LIVE, LicenceStatus.EXPIRED),
        # A change (变更) replaces a valid licence, or a lost one (补发 a new version).
        Transition(TransitionAction.CHANGED, frozenset({LicenceStatus.VALID, LicenceStatus.LOST}),
                   LicenceStatus.SUPERSEDED),
        # A renewal (延续) extends a valid licence or one that just expired.
        Transition(TransitionAction.RENEWED,
                   frozenset({LicenceStatus.VALID, LicenceStatus.EXPIRED}),
                   LicenceStatus.SUPERSEDED),
    )
}


class StatusBearing(Protocol):
    """Anything with a licence's stored status and last valid day (a row or a view)."""

    @property
    def status(self) -> LicenceStatus: ...

    @property
    def valid_until(self) -> date | None: ...


def effective_status(licence: StatusBearing, today: date) -> LicenceStatus:
    """The status now: a live licence past its last valid day reads as expired."""
    if licence.status in _LIVE and licence.valid_until is not None \
            and today > licence.valid_until:
        return LicenceStatus.EXPIRED
    return licence.status


def status_on(licence: Licence, events: list[LicenceEvent], moment: datetime,
              day: date) -> LicenceStatus | None:
    """The status at ``moment`` (Beijing calendar ``day``): None before issue."""
    if moment < licence.issued_at:
        return None
    status: LicenceStatus | None = None
    for event in sorted(events, key=lambda e: (e.effective_at, e.id)):
        if event.effective_at <= moment:
            status = event.to_status
    if status is None:
        status = LicenceStatus.VALID
    if status in _LIVE and licence.valid_until is not None and day > licence.valid_until:
        return LicenceStatus.EXPIRED
    return status


@dataclass(frozen=True)
class ChangeRequest:
    """New content for a change (变更) or renewal (延续)."""

    fields: dict[str, Any] | None = None
    holder_name: str | None = None
    valid_from: date | None = None
    valid_until: date | None = None


#: How far ahead of the server's clock a caller's effective_at may be ("now" on its clock).
EFFECTIVE_CLOCK_SKEW = timedelta(minutes=5)


class LifecycleService:
    """Status changes inside the caller's unit of work.

    Each change locks the licence's row and decides on the state it finds there
    (trust.locks), so of conflicting changes from any number of processes exactly one
    wins and the others are 409.
    """

    def __init__(self, session: Session, audit: AuditLog, issuance: IssuanceService) -> None:
        self._session = session
        self._audit = audit
        self._issuance = issuance

    @staticmethod
    def _current(licence: Licence, action: TransitionAction, at: datetime) -> LicenceStatus:
        # The sweeper writes down an expiry that reads already happened: it starts from
        # the stored state; every other action starts from the state a reader sees.
        if action is TransitionAction.EXPIRED:
            return licence.status
        return effective_status(licence, LicenceSealer.today(at))

    def _check(self, licence: Licence, action: TransitionAction, at: datetime) -> Transition:
        transition = TRANSITIONS[action]
        current = self._current(licence, action, at)
        if current not in transition.allowed_from:
            raise IllegalTransitionError(
                f"licence {licence.identifier} is {current.value}; it cannot be "
                f"{action.value.replace('-', ' ')}",
                hint=f"allowed from: {', '.join(sorted(s.value for s in transition.allowed_from))}",
            )
        return transition

    def _earliest_effective(self, licence: Licence) -> datetime:
        """The licence's issue or its last change, whichever is later."""
        last = self._session.scalar(
            select(LicenceEvent.effective_at).where(LicenceEvent.licence_id == licence.id)
            .order_by(LicenceEvent.effective_at.desc()).limit(1))
        return max(licence.issued_at, last) if last is not None else licence.issued_at

    def _check_effective(self, licence: Licence, effective: datetime, at: datetime) -> None:
        """A change takes effect now or earlier, after the licence's issue and last change.

        The status a reader sees is written when the change is recorded, so a change
        dated in the future would read as in force before its date, and one dated
        before an earlier change would reorder the history that "status on date D"
        replays; both are refused rather than half-supported.
        """
        if effective > at + EFFECTIVE_CLOCK_SKEW:
            raise RegistryError(
                f"effective_at {effective.isoformat()} is in the future",
                hint="record a status change when it takes effect; scheduled changes "
                     "are not supported",
            )
        floor = self._earliest_effective(licence)
        if effective < floor:
            raise RegistryError(
                f"effective_at {effective.isoformat()} is before licence "
                f"{licence.identifier}'s issue or its last change ({floor.isoformat()})",
                hint="a status change cannot take effect before the licence existed or "
                     "before the change it follows",
            )

    def _lock(self, licence: Licence, action: TransitionAction, at: datetime
              ) -> tuple[Licence, Transition]:
        """The licence's row, locked and current, and the transition checked on it
        (trust.locks: one winner per conflict). It is this session's object for the row,
        refreshed: the caller's own if it belongs to this session, never a stale copy
        loaded elsewhere."""
        current = lock_row(self._session, Licence, licence.id)
        if current is None:
            raise LicenceNotFoundError(f"no licence {licence.identifier}")
        transition = self._check(current, action, at)
        refuse_if_changed_after(current.status_changed_at, at,
                                f"licence {current.identifier}")
        return current, transition

    def _apply(self, licence: Licence, action: TransitionAction, *, reason_code: str | None,
               reason: str | None, legal_basis: str | None, effective_at: datetime | None,
               at: datetime, actor: str, details: dict[str, Any] | None = None,
               locked: tuple[Licence, Transition] | None = None) -> LicenceEvent:
        licence, transition = locked or self._lock(licence, action, at)
        previous = self._current(licence, action, at)
        effective = effective_at or at
        if effective.tzinfo is None:
            raise RegistryError("effective_at must carry a time zone")
        self._check_effective(licence, effective, at)
        licence.status = transition.to
        licence.status_changed_at = at
        # Its status list is rebuilt at the next request (registry/statuslists.py).
        self._issuance.status_lists.touch(licence.status_list_id, at)
        event = LicenceEvent(
            licence_id=licence.id, action=action, operation_code=action.operation_code,
            from_status=previous, to_status=transition.to, reason_code=reason_code,
            reason=reason, legal_basis=legal_basis, effective_at=effective, recorded_at=at,
            actor=actor, details=details or {},
        )
        self._session.add(event)
        self._session.flush()
        self._audit.append(
            actor=actor, action="licence.status_changed", object_type="licence",
            object_id=licence.identifier, at=at,
            details={"action": action.value, "from": previous.value, "to": transition.to.value,
                     "reason_code": reason_code, "reason": reason,
                     "effective_at": effective.isoformat(), **(details or {})},
        )
        return event

    def suspend(self, licence: Licence, *, reason: str, legal_basis: str | None,
                effective_at: datetime | None, at: datetime, actor: str) -> LicenceEvent:
        """暂扣: stop the licence being used for now."""
        return self._apply(licence, TransitionAction.SUSPENDED, reason_code=None, reason=reason,
                           legal_basis=legal_basis, effective_at=effective_at, at=at, actor=actor)

    def lift_suspension(self, licence: Licence, *, reason: str, effective_at: datetime | None,
                        at: datetime, actor: str) -> LicenceEvent:
        """解除暂扣."""
        return self._apply(licence, TransitionAction.SUSPENSION_LIFTED, reason_code=None,
                           reason=reason, legal_basis=None, effective_at=effective_at, at=at,
                           actor=actor)

    def report_lost(self, licence: Licence, *, reason: str, effective_at: datetime | None,
                    at: datetime, actor: str) -> LicenceEvent:
        """挂失."""
        return self._apply(licence, TransitionAction.REPORTED_LOST, reason_code=None,
                           reason=reason, legal_basis=None, effective_at=effective_at, at=at,
                           actor=actor)

    def withdraw_loss(self, licence: Licence, *, reason: str, effective_at: datetime | None,
                      at: datetime, actor: str) -> LicenceEvent:
        """解除挂失: the licence was found."""
        return self._apply(licence, TransitionAction.LOSS_WITHDRAWN, reason_code=None,
                           reason=reason, legal_basis=None, effective_at=effective_at, at=at,
                           actor=actor)

    def revoke(self, licence: Licence, *, kind: RevocationKind, reason_code: str, reason: str,
               legal_basis: str, effective_at: datetime | None, at: datetime,
               actor: str) -> LicenceEvent:
        """注销 / 吊销 / 撤销, with a reason code and the legal basis."""
        if not legal_basis.strip():
            raise RegistryError("revocation needs the legal basis (法律依据)")
        return self._apply(licence, TransitionAction.REVOKED, reason_code=reason_code,
                           reason=reason, legal_basis=legal_basis, effective_at=effective_at,
                           at=at, actor=actor, details={"kind": RevocationKind(kind).value})

    def change(self, licence: Licence, request: ChangeRequest, *, reason: str,
               party: IssuingParty, at: datetime) -> Licence:
        """变更: issue version + 1 with new content; this version is superseded."""
        return self._new_version(licence, request, TransitionAction.CHANGED, reason=reason,
                                 party=party, at=at)

    def renew(self, licence: Licence, request: ChangeRequest, *, reason: str,
              party: IssuingParty, at: datetime) -> Licence:
        """延续: issue version + 1 with a new validity period."""
        return self._new_version(licence, request, TransitionAction.RENEWED, reason=reason,
                                 party=party, at=at)

    def _new_version(self, licence: Licence, request: ChangeRequest, action: TransitionAction,
                     *, reason: str, party: IssuingParty, at: datetime) -> Licence:
        licence, transition = self._lock(licence, action, at)
        successor = self._issuance.reissue(
            licence, fields=request.fields, holder_name=request.holder_name,
            valid_from=request.valid_from, valid_until=request.valid_until, action=action,
            party=party, at=at,
        )
        licence.superseded_by_id = successor.id
        self._apply(licence, action, reason_code=None, reason=reason, legal_basis=None,
                    effective_at=at, at=at, actor=party.actor,
                    details={"successor": successor.identifier}, locked=(licence, transition))
        return successor

    def expire_due(self, *, at: datetime, actor: str = "system:expiry", limit: int = 1000
                   ) -> int:
        """Write the expiry of licences past their end date into their history."""
        today = LicenceSealer.today(at)
        # Locked as selected: a licence revoked meanwhile is no longer due.
        due = lock_rows(self._session,
                        select(Licence).where(Licence.valid_until < today)
                        .where(Licence.status.in_(list(_LIVE))).order_by(Licence.id)
                        .limit(limit))
        for licence in due:
            assert licence.valid_until is not None
            # Valid through its last day, Beijing time.
            end = datetime.combine(licence.valid_until, time(23, 59, 59), tzinfo=CHINA_TZ)
            self._apply(licence, TransitionAction.EXPIRED, reason_code=None,
                        reason="validity period ended", legal_basis=None,
                        effective_at=max(min(end, at), self._earliest_effective(licence)),
                        at=at, actor=actor,
                        locked=(licence, self._check(licence, TransitionAction.EXPIRED, at)))
        return len(due)

    def history(self, licence: Licence) -> list[LicenceEvent]:
        """Every event of this version, in effective order."""
        return list(self._session.scalars(
            select(LicenceEvent).where(LicenceEvent.licence_id == licence.id)
            .order_by(LicenceEvent.effective_at, LicenceEvent.id)
        ))
