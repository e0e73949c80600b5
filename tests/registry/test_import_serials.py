"""Bulk import never hands a kept legacy serial to another holder.

A row without an identifier is given a serial from the counter of its issue year; a row
that keeps its identifier keeps its serial. The serials the file keeps are reserved (the
counters raised past them) before any is allocated, so a kept identifier is never refused
as a duplicate of one allocated to an earlier row, in whatever chunks the rows fall, after
a crash and resume, and against another import running meanwhile. SQLite and PostgreSQL.
"""

from __future__ import annotations

import itertools
import json
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from zhengyin.api.imports import import_service
from zhengyin.api.runtime import Runtime
from zhengyin.core.clock import CHINA_TZ, utcnow
from zhengyin.registry.identifiers import LicenceIdentifier
from zhengyin.registry.imports.run import ImportSummary
from zhengyin.registry.models import Licence, SerialCounter

from .conftest import FOOD_TYPE, MARKET
from .test_import import HOLDERS, food_row, licences_of, run_import, write_rows


def _kept(year: int, value: int) -> str:
    return str(LicenceIdentifier(FOOD_TYPE, MARKET, f"{year}{value:08d}", 1))


def _rows(year: int, plan: list[int]) -> list[dict[str, Any]]:
    """A row per entry of ``plan``: 0 a new licence, n > 0 one keeping serial n of ``year``."""
    rows = []
    for index, value in enumerate(plan):
        row = food_row(holder_code=HOLDERS[index % len(HOLDERS)],
                       holder_name=f"公司{index}", issued_at=f"{year}-06-01")
        if value:
            row["identifier"] = _kept(year, value)
        rows.append(row)
    return rows


def _assert_every_row_kept_or_allocated_once(runtime: Runtime, summary: ImportSummary,
                                             rows: list[dict[str, Any]]) -> None:
    assert (summary.imported, summary.failed) == (len(rows), 0)
    licences = licences_of(runtime, summary.batch_id)
    for licence, row in zip(licences, rows, strict=True):
        if "identifier" in row:
            assert licence.identifier == row["identifier"]
        assert licence.holder_name == row["holder_name"]
    with runtime.unit_of_work(readonly=True) as services:
        shared = services.session.execute(
            select(Licence.serial, func.count()).where(Licence.type_code == FOOD_TYPE)
            .where(Licence.issuer_code == MARKET).group_by(Licence.serial)
            .having(func.count() > 1)).all()
    assert shared == []  # no two licences share a serial


def test_the_minimal_repro_six_rows_two_per_chunk_imports_every_kept_identifier(
        registry: Runtime, tmp_path: Path) -> None:
    year = utcnow().astimezone(CHINA_TZ).year  # rows without issued_at are issued now
    rows = [food_row(holder_name=f"公司{n}") for n in range(6)]
    for index, value in ((2, 1), (3, 2), (5, 3)):  # the first chunk allocates 1 and 2
        rows[index]["identifier"] = _kept(year, value)

    summary = run_import(registry, write_rows(tmp_path / "six.jsonl", rows), chunk_rows=2)

    _assert_every_row_kept_or_allocated_once(registry, summary, rows)
    allocated = [licence.serial for licence in licences_of(registry, summary.batch_id)
                 if licence.import_row in (1, 2, 5)]
    assert all(serial > f"{year}{3:08d}" for serial in allocated)


def test_a_kept_identifier_spelt_with_json_escapes_is_reserved_too(
        registry: Runtime, tmp_path: Path) -> None:
    rows = _rows(2018, [0, 0, 1])
    lines: list[Any] = [*rows[:2], json.dumps(rows[2], ensure_ascii=False).replace(
        '"identifier"', '"\\u0069dentifier"')]
    assert "identifier" not in lines[2]

    summary = run_import(registry, write_rows(tmp_path / "escaped.jsonl", lines),
                         chunk_rows=1)

    _assert_every_row_kept_or_allocated_once(registry, summary, rows)


def test_kept_serials_are_reserved_with_rows_checked_in_worker_processes(
        registry: Runtime, tmp_path: Path) -> None:
    rows = _rows(2017, [0, 0, 1, 2, 0, 3, 0, 4])
    service = import_service(registry, check_workers=2)
    from zhengyin.registry.imports.run import ImportOptions

    summary = service.run(write_rows(tmp_path / "eight.jsonl", rows),
                          ImportOptions(type_code=FOOD_TYPE, issuer_code=MARKET,
                                        actor="test:import", chunk_rows=2), clock=utcnow)

    _assert_every_row_kept_or_allocated_once(registry, summary, rows)


_YEARS = itertools.count(1950)  # a year of its own per example: counters are per year


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=st.lists(st.integers(min_value=0, max_value=12), min_size=1, max_size=14),
       chunk_rows=st.integers(min_value=1, max_value=5))
def test_no_kept_identifier_is_ever_refused_as_a_duplicate_of_an_allocated_one(
        registry: Runtime, plan: list[int], chunk_rows: int) -> None:
    seen: set[int] = set()
    unique = []
    for value in plan:  # a serial kept twice in one file is a real duplicate: keep once
        unique.append(value if value and value not in seen else 0)
        seen.add(value)
    rows = _rows(next(_YEARS), unique)
    with tempfile.TemporaryDirectory() as directory:
        summary = run_import(registry, write_rows(Path(directory) / "rows.jsonl", rows),
                             chunk_rows=chunk_rows)

    _assert_every_row_kept_or_allocated_once(registry, summary, rows)


KILLED_AFTER_RESERVING = """
import os, pickle, signal, sys
from zhengyin.api.imports import import_service
from zhengyin.api.runtime import Runtime
from zhengyin.registry.imports.run import ImportOptions, ImportService
from zhengyin.core.clock import utcnow

settings, source = pickle.load(open(sys.argv[1], "rb"))

def killed(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)  # kill -9 before the first chunk is written

ImportService._chunk = killed
import_service(Runtime(settings)).run(
    source, ImportOptions(type_code=sys.argv[2], issuer_code=sys.argv[3], actor="test:import",
                          chunk_rows=2), clock=utcnow)
"""


def test_reservations_survive_kill_9_and_hold_against_another_import(
        registry: Runtime, tmp_path: Path) -> None:
    year = 2016
    kept = _rows(year, [0, 0, 1, 2, 0, 3])
    source = write_rows(tmp_path / "kept.jsonl", kept)
    (tmp_path / "args.pickle").write_bytes(pickle.dumps((registry.settings, source)))
    killed = subprocess.run([sys.executable, "-c", KILLED_AFTER_RESERVING,
                             str(tmp_path / "args.pickle"), FOOD_TYPE, MARKET],
                            capture_output=True, text=True, timeout=120, check=False)
    assert killed.returncode == -9, killed.stderr
    with registry.unit_of_work(readonly=True) as services:
        counter = services.session.scalar(
            select(SerialCounter.next_value).where(SerialCounter.year == year))
    assert counter is not None and counter > 3  # reserved, committed, survived

    # Another import allocates in the same year while the first one is down.
    other_rows = _rows(year, [0, 0, 0])
    other = run_import(registry, write_rows(tmp_path / "other.jsonl", other_rows),
                       chunk_rows=1)
    resumed = run_import(registry, source, chunk_rows=2)

    assert resumed.resumed_after == 0
    _assert_every_row_kept_or_allocated_once(registry, resumed, kept)
    _assert_every_row_kept_or_allocated_once(registry, other, other_rows)
