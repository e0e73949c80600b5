"""State changes racing from real processes (spawned, each with its own runtime and
connections), released together by a barrier.

The worker functions run in the spawned processes: they build a :class:`Runtime` over the
test's data directory and database once per process, then apply one change per call in
a unit of work of their own and report ``"ok"`` or the error's stable ``code`` (an
unexpected exception as ``"unexpected:<class>"``: what the API would answer with a 500).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zhengyin.core.errors import ZhengyinError

if TYPE_CHECKING:
    from multiprocessing.synchronize import Barrier

    from zhengyin.api.runtime import Runtime, Services
    from zhengyin.api.settings import Settings

REASON = "并发测试"
LEGAL_BASIS = "《食品安全法》第一百二十六条"


@dataclass(frozen=True)
class Installation:
    """What a process needs to open the test's installation (picklable)."""

    data_dir: str
    database_url: str
    kek: str

    @classmethod
    def of(cls, settings: Settings) -> Installation:
        """The installation ``settings`` describe."""
        assert settings.kek is not None
        return cls(str(settings.data_dir), settings.effective_database_url,
                   settings.kek.get_secret_value())


_RUNTIMES: dict[Installation, Runtime] = {}


def _runtime(installation: Installation) -> Runtime:
    runtime = _RUNTIMES.get(installation)
    if runtime is None:
        from zhengyin.api.runtime import Runtime

        from .support import make_settings

        runtime = _RUNTIMES[installation] = Runtime(make_settings(
            Path(installation.data_dir), installation.database_url, installation.kek))
    return runtime


def _outcome(change: Callable[[Services], object], runtime: Runtime) -> str:
    try:
        with runtime.unit_of_work() as services:
            change(services)
    except ZhengyinError as exc:
        return str(exc.code)
    except Exception as exc:  # what the API would answer with a 500
        return f"unexpected:{type(exc).__name__}: {str(exc)[:200]}"
    return "ok"


def warm(barrier: Barrier, installation: Installation) -> int:
    """Open the runtime and its key store, so the race itself starts warm."""
    import os

    runtime = _runtime(installation)
    with runtime.unit_of_work(readonly=True) as services:
        services.pki.identity("issuing")
        runtime.keystore.list()
    barrier.wait()
    return os.getpid()


def licence_change(barrier: Barrier, installation: Installation, identifier: str,
                   action: str) -> str:
    """Apply one lifecycle action to a licence once every sibling is ready."""
    from zhengyin.core.clock import utcnow
    from zhengyin.registry.issuance import IssuingParty
    from zhengyin.registry.licences import Reader
    from zhengyin.registry.lifecycle import ChangeRequest, RevocationKind

    runtime = _runtime(installation)

    def change(services: Services) -> None:
        licence = services.licences.get(identifier, Reader(everything=True))
        at, lifecycle, actor = utcnow(), services.lifecycle, f"race:{action}"
        if action == "suspend":
            lifecycle.suspend(licence, reason=REASON, legal_basis=None, effective_at=None,
                              at=at, actor=actor)
        elif action == "lift-suspension":
            lifecycle.lift_suspension(licence, reason=REASON, effective_at=None, at=at,
                                      actor=actor)
        elif action == "report-lost":
            lifecycle.report_lost(licence, reason=REASON, effective_at=None, at=at,
                                  actor=actor)
        elif action == "revoke":
            lifecycle.revoke(licence, kind=RevocationKind.REVOKED, reason_code="R-1",
                             reason=REASON, legal_basis=LEGAL_BASIS, effective_at=None,
                             at=at, actor=actor)
        else:
            party = IssuingParty(org_code=licence.issuer_code, client_id=None, actor=actor)
            new_version = lifecycle.change if action == "change" else lifecycle.renew
            new_version(licence, ChangeRequest(), reason=REASON, party=party, at=at)

    barrier.wait()
    return _outcome(change, runtime)


def service_call(barrier: Barrier, installation: Installation, service: str, method: str,
                 *args: Any, **options: Any) -> str:
    """``services.<service>.<method>(*args, **options, at=now, actor=…)`` once every
    sibling is ready: a seal's suspend, a client's disable, a consent's withdraw, …"""
    from zhengyin.core.clock import utcnow

    runtime = _runtime(installation)
    barrier.wait()
    return _outcome(lambda services: getattr(getattr(services, service), method)(
        *args, **options, at=utcnow(), actor=f"race:{method}"), runtime)


def recorded(runtime: Runtime, action: str, object_id: str) -> int:
    """How many audit entries record ``action`` on ``object_id`` (the outbox chained first)."""
    from sqlalchemy import func, select

    from zhengyin.core.models import AuditEntry

    runtime.audit_sequencer.drain()
    with runtime.unit_of_work(readonly=True) as services:
        return int(services.session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == action)
            .where(AuditEntry.object_id == object_id)) or 0)


class Race:
    """A pool of warm spawned processes, one per racer."""

    def __init__(self, pool: ProcessPoolExecutor, manager: Any, racers: int,
                 installation: Installation) -> None:
        self._pool = pool
        self._manager = manager
        self.racers = racers
        self.installation = installation

    def _barrier(self) -> Barrier:
        barrier: Barrier = self._manager.Barrier(self.racers)
        return barrier

    def warm(self) -> None:
        """Start every process and open its runtime (each waits at the barrier, so every
        call runs in a process of its own)."""
        barrier = self._barrier()
        pids = list(self._pool.map(warm, [barrier] * self.racers,
                                   [self.installation] * self.racers))
        assert len(set(pids)) == self.racers

    def run(self, worker: Callable[..., str], calls: Sequence[tuple[Any, ...]],
            **options: Any) -> list[str]:
        """Run ``worker(barrier, installation, *call, **options)`` for every call at once."""
        assert len(calls) == self.racers
        barrier = self._barrier()
        futures = [self._pool.submit(worker, barrier, self.installation, *call, **options)
                   for call in calls]
        return [future.result(timeout=300) for future in futures]


@contextmanager
def racing(settings: Settings, racers: int) -> Iterator[Race]:
    """``racers`` warm processes over the installation of ``settings``."""
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, \
            ProcessPoolExecutor(racers, mp_context=context) as pool:
        race = Race(pool, manager, racers, Installation.of(settings))
        race.warm()
        yield race
