"""Checking import rows in worker processes, ahead of the chunk being written.

Checking a row (JSON Schema, holder check characters) costs about as much CPU as writing
it; both are Python and the GIL runs one at a time, so a large import checks its next
chunks in a small process pool while this process writes the current one. Workers need
no database: they get the type version's columns and the issuer once, and rows as bytes.
Small imports (and the API) check inline, which costs no process start-up.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import AbstractContextManager
from datetime import datetime
from types import TracebackType
from typing import Any

from zhengyin.core.processes import process_context

from ..models import LicenceType
from .rows import CheckedRow, RowChecker, RowProblem

__all__ = ["CheckResult", "RowChecks"]

CheckResult = list[CheckedRow | list[RowProblem]]
_TYPE_COLUMNS = ("id", "code", "version", "current", "name", "authority_name", "holder_kinds",
                 "fields_schema", "validity", "number_pattern", "template", "seal_types",
                 "created_at", "created_by")

_checker: RowChecker | None = None


def _start_worker(columns: dict[str, Any], issuer_code: str, issuer_name: str) -> None:
    global _checker  # noqa: PLW0603 - one checker per worker process
    _checker = RowChecker(LicenceType(**columns), issuer_code, issuer_name)


def _check_in_worker(lines: Sequence[tuple[int, bytes]], at: datetime) -> CheckResult:
    assert _checker is not None
    return [_checker.check(row, data, at=at) for row, data in lines]


class RowChecks(AbstractContextManager["RowChecks"]):
    """Submits chunks of lines for checking; results come back in submission order."""

    def __init__(self, checker: RowChecker, *, workers: int = 0) -> None:
        self._checker = checker
        self._pool: Executor | None = None
        if workers > 0:
            columns = {name: getattr(checker.licence_type, name) for name in _TYPE_COLUMNS}
            # spawn: a worker must not inherit this process's database connections.
            self._pool = ProcessPoolExecutor(
                max_workers=workers, mp_context=process_context("spawn"),
                initializer=_start_worker,
                initargs=(columns, checker.issuer_code, checker.issuer_name))

    @property
    def parallel(self) -> bool:
        """Whether checks run in worker processes."""
        return self._pool is not None

    def submit(self, lines: Sequence[tuple[int, bytes]], at: datetime) -> Future[CheckResult]:
        """Check ``lines`` (row number, bytes) as of ``at``."""
        if self._pool is not None:
            return self._pool.submit(_check_in_worker, list(lines), at)
        done: Future[CheckResult] = Future()
        done.set_result([self._checker.check(row, data, at=at) for row, data in lines])
        return done

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
