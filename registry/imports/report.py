"""The per-row error report of a bulk import: read from the database, written as JSONL or CSV.

Row errors are committed with the chunk that met them, so the report is complete and has
no duplicates however often the import was interrupted and resumed; it is rebuilt from
the database each time rather than appended to as rows fail.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from ..models import ImportRowError
from .rows import RowProblem

__all__ = ["ImportReport", "report_path"]


class _HasSession(Protocol):
    @property
    def session(self) -> Session:
        """The unit's session."""
        ...


def report_path(source: Path) -> Path:
    """Where the CLI writes the report: next to the input, ``<name>.errors.jsonl``."""
    return source.with_name(f"{source.stem}.errors.jsonl")


class ImportReport:
    """Reads a batch's row errors in pages (keyset on row and position)."""

    def __init__(self, units: Callable[[], AbstractContextManager[_HasSession]], batch_id: str,
                 *, page: int = 5000) -> None:
        self._units = units
        self._batch_id = batch_id
        self._page = page

    def problems(self) -> Iterator[RowProblem]:
        """Every problem, in row order."""
        after = (0, -1)
        while True:
            with self._units() as unit:
                rows = unit.session.execute(
                    select(ImportRowError.row, ImportRowError.position, ImportRowError.field,
                           ImportRowError.message)
                    .where(ImportRowError.batch_id == self._batch_id)
                    .where(tuple_(ImportRowError.row, ImportRowError.position) > tuple_(*after))
                    .order_by(ImportRowError.row, ImportRowError.position)
                    .limit(self._page)
                ).all()
            if not rows:
                return
            for row, _position, field, message in rows:
                yield RowProblem(row, field, message)
            after = (rows[-1][0], rows[-1][1])

    def write(self, path: Path) -> int:
        """Write the report (CSV when ``path`` ends in .csv, else JSON Lines); the count.

        Written to a temporary file and renamed, so a reader never sees half a report.
        """
        tmp = path.with_name(f".{path.name}.tmp")
        count = 0
        with tmp.open("w", encoding="utf-8", newline="") as handle:
            writer: Any = None
            if path.suffix.lower() == ".csv":
                writer = csv.writer(handle)
                writer.writerow(["row", "field", "message"])
            for problem in self.problems():
                if writer is not None:
                    writer.writerow([problem.row, problem.field, problem.message])
                else:
                    handle.write(json.dumps(problem.as_json(), ensure_ascii=False) + "\n")
                count += 1
        os.replace(tmp, path)
        return count
