"""Bulk import plumbing for the CLI and the API: the import service and its sealing pool.

Sealing now (``--seal-now``) runs in worker processes, one per core: each builds its own
:class:`~zhengyin.api.runtime.Runtime` from the same settings (its own key store, TSA client,
database engine and warm sealer), so nothing that cannot cross a fork (PKCS#11 sessions,
database connections) is shared; the ``spawn`` start method makes sure of it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import AbstractContextManager
from types import TracebackType

from zhengyin.core.db import session_scope
from zhengyin.core.processes import process_context
from zhengyin.registry.imports.bulkseal import (
    InlineSealing,
    LicenceSealing,
    SealedFile,
    SealJob,
    seal_jobs,
)
from zhengyin.registry.imports.run import ImportService

from .runtime import Runtime
from .settings import Settings

__all__ = ["ProcessSealing", "import_service", "inline_sealing"]

_worker: Runtime | None = None


def _start_worker(settings: Settings) -> None:
    global _worker  # noqa: PLW0603 - one runtime per worker process
    _worker = Runtime(settings)


def _seal_in_worker(jobs: list[SealJob]) -> list[SealedFile]:
    assert _worker is not None
    with _worker.unit_of_work(readonly=True) as services:
        return seal_jobs(services.session, _worker.sealer, _worker.file_store, jobs)


class ProcessSealing(AbstractContextManager["ProcessSealing"]):
    """Seals jobs in a pool of worker processes (results in job order)."""

    def __init__(self, settings: Settings, *, workers: int) -> None:
        self._workers = max(1, workers)
        self._pool = ProcessPoolExecutor(
            max_workers=self._workers, mp_context=process_context("spawn"),
            initializer=_start_worker, initargs=(settings,))

    def seal_all(self, jobs: Sequence[SealJob]) -> list[SealedFile]:
        """Split the jobs into a few slices per worker (even load, little pickling)."""
        if not jobs:
            return []
        size = max(1, math.ceil(len(jobs) / (self._workers * 4)))
        futures = [self._pool.submit(_seal_in_worker, list(jobs[start:start + size]))
                   for start in range(0, len(jobs), size)]
        return [sealed for future in futures for sealed in future.result()]

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def inline_sealing(runtime: Runtime) -> InlineSealing:
    """Sealing in the calling process (the API: a request does not start a pool)."""
    return InlineSealing(lambda: session_scope(runtime.session_factory, readonly=True),
                         runtime.sealer, runtime.file_store)


def import_service(runtime: Runtime, *, sealing: LicenceSealing | None = None,
                   check_workers: int = 0) -> ImportService:
    """The import service over the runtime's units of work."""
    return ImportService(runtime.unit_of_work, base_url=runtime.settings.public_base_url,
                         sealing=sealing, check_workers=check_workers)
