"""Examining documents in worker processes, one per core, under time and memory limits.

Verification reads hostile input: a PDF can be crafted to make a parser loop, recurse or
allocate without bound. Each document is therefore examined in a worker process that

* has an address-space limit (``RLIMIT_AS``), so an allocation bomb ends in MemoryError;
* is given :attr:`~.policy.ExaminationLimits.timeout_seconds` per document, after which
  the parent kills it (SIGKILL, by its own handle) and starts a replacement;
* keeps an :class:`~.examine.Examiner` warm (parsed trust material, pyHanko imported),
  rebuilt only when the trust material's fingerprint changes.

Workers start with the ``forkserver`` method (no inherited locks, sockets or key-store
sessions from a threaded server). The pool is thread-safe: each request thread takes an
idle worker, and waits a bounded time for one.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any

from zhengyin.core.processes import process_context

from .errors import DocumentTooComplexError, VerificationError, VerifierBusyError
from .evidence import DocumentEvidence
from .material import TrustMaterial
from .policy import ExaminationLimits

__all__ = ["ExaminationPool", "PoolExaminer"]

log = logging.getLogger("zhengyin.verify")

_START_TIMEOUT = 60.0


@dataclass(frozen=True)
class _Task:
    data: bytes
    at: datetime
    fingerprint: str
    material: TrustMaterial | None


def _limit_memory(limit: int) -> None:
    import resource

    try:
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        ceiling = limit if hard == resource.RLIM_INFINITY else min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (ceiling, hard))
    except (ValueError, OSError):  # pragma: no cover - platforms without RLIMIT_AS
        log.warning("cannot limit verification worker memory")


def _worker_main(connection: Connection, limits: ExaminationLimits) -> None:
    """A worker: limit memory, import, say ready, then examine until told to stop."""
    _limit_memory(limits.memory_bytes)
    from .examine import Examiner

    examiner: Examiner | None = None
    connection.send(("ready", os.getpid()))
    while True:
        try:
            task = connection.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        try:
            if task.material is not None:
                examiner = Examiner(task.material, limits)
            if examiner is None or examiner.fingerprint != task.fingerprint:
                raise VerificationError("the worker has no trust material")
            connection.send(("ok", examiner.examine(task.data, at=task.at)))
        except VerificationError as exc:
            connection.send(("error", type(exc).__name__, exc.message, exc.hint))
        except MemoryError:
            connection.send(("too-complex", "memory"))
            return  # the heap may be fragmented beyond use: start afresh
        except RecursionError:
            connection.send(("too-complex", "recursion"))
        except Exception as exc:  # anything else is reported, never left hanging
            connection.send(("crash", f"{type(exc).__name__}: {str(exc)[:200]}"))


class _Worker:
    def __init__(self, context: Any, limits: ExaminationLimits) -> None:
        parent, child = context.Pipe(duplex=True)
        self.connection: Connection = parent
        self.process = context.Process(target=_worker_main, args=(child, limits),
                                       name="zhengyin-verify", daemon=True)
        self.process.start()
        child.close()
        self.ready = False
        self.fingerprint: str | None = None

    def wait_ready(self) -> None:
        if self.ready:
            return
        if not self.connection.poll(_START_TIMEOUT):
            raise VerifierBusyError("a verification worker did not start in time",
                                    hint="try again shortly")
        message = self.connection.recv()
        if message[0] != "ready":  # pragma: no cover - protocol error
            raise VerifierBusyError("a verification worker failed to start")
        self.ready = True

    def stop(self, *, kill: bool = False) -> None:
        if kill:
            self.process.kill()
        else:
            try:
                self.connection.send(None)
            except (OSError, BrokenPipeError):
                self.process.kill()
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=5)
        self.connection.close()


class ExaminationPool:
    """Worker processes that examine documents; one per core by default."""

    def __init__(self, limits: ExaminationLimits, *, workers: int,
                 wait_seconds: float = 30.0) -> None:
        self.limits = limits
        self.size = max(1, workers)
        self.wait_seconds = wait_seconds
        self._context = process_context("forkserver")
        self._context.set_forkserver_preload(["zhengyin.trust.validation.examine"])
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._all: set[_Worker] = set()
        self._lock = threading.Lock()
        self._closed = False
        for _ in range(self.size):
            self._add()

    def _add(self) -> _Worker:
        worker = _Worker(self._context, self.limits)
        with self._lock:
            self._all.add(worker)
        self._idle.put(worker)
        return worker

    def warm(self) -> None:
        """Wait until every worker has started (imports done)."""
        taken = [self._idle.get(timeout=_START_TIMEOUT) for _ in range(self.size)]
        try:
            for worker in taken:
                worker.wait_ready()
        finally:
            for worker in taken:
                self._idle.put(worker)

    @property
    def pids(self) -> list[int]:
        """Process ids of the current workers."""
        with self._lock:
            return sorted(worker.process.pid or 0 for worker in self._all)

    def examine(self, data: bytes, *, at: datetime, material: TrustMaterial
                ) -> DocumentEvidence:
        """Examine one document in a worker, within the time limit."""
        if self._closed:
            raise VerifierBusyError("the verification pool is closed")
        try:
            worker = self._idle.get(timeout=self.wait_seconds)
        except queue.Empty:
            raise VerifierBusyError(
                "every verification worker is busy", hint="try again in a few seconds"
            ) from None
        healthy = False
        try:
            worker.wait_ready()
            fingerprint = material.fingerprint
            worker.connection.send(_Task(data, at, fingerprint,
                                         material if worker.fingerprint != fingerprint
                                         else None))
            worker.fingerprint = fingerprint
            started = time.monotonic()
            if not worker.connection.poll(self.limits.timeout_seconds):
                log.warning("verification exceeded %.0f s; worker %s replaced",
                            self.limits.timeout_seconds, worker.process.pid)
                raise DocumentTooComplexError(
                    f"the document could not be verified within "
                    f"{self.limits.timeout_seconds:g} seconds",
                    hint="the file is unusually complex; it is not accepted as verified")
            try:
                reply = worker.connection.recv()
            except (EOFError, OSError):
                raise DocumentTooComplexError(
                    "the document exhausted the verifier's resources",
                    hint="the file is unusually complex; it is not accepted as verified",
                ) from None
            log.debug("examined in %.1f ms", (time.monotonic() - started) * 1000)
            healthy = self._healthy(reply)
            return self._result(reply)
        finally:
            if healthy:
                self._idle.put(worker)
            else:
                self._replace(worker)

    @staticmethod
    def _healthy(reply: tuple[Any, ...]) -> bool:
        return reply[0] in ("ok", "error") or reply[:2] == ("too-complex", "recursion")

    @staticmethod
    def _result(reply: tuple[Any, ...]) -> DocumentEvidence:
        from . import errors

        kind = reply[0]
        if kind == "ok":
            evidence: DocumentEvidence = reply[1]
            return evidence
        if kind == "error":
            error_class = getattr(errors, reply[1], VerificationError)
            raise error_class(reply[2], hint=reply[3])
        if kind == "too-complex":
            raise DocumentTooComplexError(
                f"the document exhausted the verifier's {reply[1]} limit",
                hint="the file is unusually complex; it is not accepted as verified")
        log.error("verification worker failed: %s", reply[1])
        raise DocumentTooComplexError("the document could not be examined",
                                      hint="the file is damaged in an unusual way")

    def _replace(self, worker: _Worker) -> None:
        with self._lock:
            self._all.discard(worker)
        worker.stop(kill=True)
        if not self._closed:
            self._add()

    def close(self) -> None:
        """Stop every worker."""
        self._closed = True
        with self._lock:
            workers = list(self._all)
            self._all.clear()
        for worker in workers:
            worker.stop()


class PoolExaminer:
    """A :class:`~.verifier.DocumentExaminer` over a pool and one set of trust material."""

    def __init__(self, pool: ExaminationPool, material: TrustMaterial) -> None:
        self.pool = pool
        self.material = material

    def examine(self, data: bytes, *, at: datetime) -> DocumentEvidence:
        """Examine in a worker."""
        return self.pool.examine(data, at=at, material=self.material)
