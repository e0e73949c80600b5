"""Bulk import without sealing: rows/s and the importing process's peak RSS.

    python -m bench.bulk_import [--quick] [--rows N] [--keep]

``--seal-now`` measures the sealed migration instead (render + seal B-T + store in a
process pool, then the same bulk writes): licences/s, to compare with issuance.

Creates a fresh PostgreSQL database, migrates it and loads the example licence types,
generates N food business licence rows (valid credit codes; one row in 10,000 refused
for a bad check character) as JSON Lines, then runs ``zhengyin licence import`` as its own
process, exactly as an operator would. Targets (issue 4): at least 5,000 rows/s, peak
RSS at most 500 MB over 1.2 M rows (quick mode: 100 k rows). Besides the rate it prints
where the CPU went: the importing process (and its row-checking workers) and the
PostgreSQL server, per row.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .licencedata import FOOD_TYPE, MARKET, write_jsonl
from .pgtools import DEFAULT_ADMIN_URL, PostgresCPU, fresh_database
from .server import ZHENGYIN

TARGET_RATE = 5000.0
TARGET_RSS_MB = 500.0


@dataclass(frozen=True)
class ImportRun:
    """One measured import."""

    rows: int
    seconds: float
    peak_rss_mb: float
    importer_cpu: float
    postgres_cpu: float
    output: str

    @property
    def rate(self) -> float:
        """Rows per second (refused rows included: they are read and checked too)."""
        return self.rows / self.seconds


def environment(workdir: Path, database_url: str) -> dict[str, str]:
    """Settings for the ``zhengyin`` commands: a data dir and the benchmark database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHENGYIN_")}
    env.update({"ZHENGYIN_DATA_DIR": str(workdir / "data"),
                "ZHENGYIN_DATABASE_URL": database_url, "ZHENGYIN_LOG_LEVEL": "WARNING",
                "ZHENGYIN_LOG_JSON": "false", "COLUMNS": "120"})
    return env


def prepare(env: dict[str, str], *, seal: bool = False) -> None:
    """Migrate, create the PKI and define the example licence types (and the issuer's seal)."""
    commands = [["db", "upgrade"], ["pki", "init"], ["licence-type", "load-examples"]]
    if seal:
        commands.append(["seal", "create", "--org-name", "北京市朝阳区市场监督管理局",
                         "--credit-code", MARKET, "--type", "approval"])
    for command in commands:
        subprocess.run([ZHENGYIN, *command], env=env, check=True, capture_output=True)


def run_import(env: dict[str, str], source: Path, rows: int, *,
               seal_now: bool = False) -> ImportRun:
    """``zhengyin licence import`` in a child process, timed, with its peak RSS."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with PostgresCPU() as postgres:
        result = subprocess.run([ZHENGYIN, "licence", "import", str(source), "--type",
                                 FOOD_TYPE, "--issuer", MARKET,
                                 *(["--seal-now"] if seal_now else [])],
                                env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if result.returncode not in (0, 3):  # 3: some rows refused, as generated
        raise RuntimeError(f"import failed: {result.stderr or result.stdout}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return ImportRun(rows, seconds, after.ru_maxrss / 1024, cpu, postgres.seconds,
                     result.stdout.strip())


def main() -> None:
    """Run the benchmark and print the figures against the targets."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100 k rows instead of 1.2 M")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--postgres-url", default=DEFAULT_ADMIN_URL,
                        help="an administrative connection (a database is created)")
    parser.add_argument("--keep", action="store_true", help="keep the database and print it")
    parser.add_argument("--seal-now", action="store_true",
                        help="also seal every PDF (process pool); default 3,000 rows")
    args = parser.parse_args()
    rows = args.rows or (3_000 if args.seal_now else 100_000 if args.quick else 1_200_000)

    with tempfile.TemporaryDirectory() as tmp, \
            fresh_database(args.postgres_url, keep=args.keep) as database_url:
        workdir = Path(tmp)
        env = environment(workdir, database_url)
        prepare(env, seal=args.seal_now)
        source = workdir / "licences.jsonl"
        started = time.perf_counter()
        size = write_jsonl(source, rows)
        print(f"# {rows:,} rows, {size / 1e6:.0f} MB of JSON Lines generated in "
              f"{time.perf_counter() - started:.1f} s; {os.cpu_count()} cores; PostgreSQL")
        result = run_import(env, source, rows, seal_now=args.seal_now)
        print(result.output.splitlines()[-2] if "row errors" in result.output
              else result.output.splitlines()[-1])
        if args.seal_now:
            print(f"bulk import, sealed now         {result.rate:9.1f} licences/s   (compare "
                  f"the issuance target, 150/s: ratio {result.rate / 150:.2f})")
        else:
            print(f"bulk import (no sealing)        {result.rate:9.0f} rows/s   "
                  f"target {TARGET_RATE:,.0f}   ratio {result.rate / TARGET_RATE:.2f}")
        print(f"peak RSS of the importer        {result.peak_rss_mb:9.0f} MB       "
              f"target {TARGET_RSS_MB:,.0f}     ratio {result.peak_rss_mb / TARGET_RSS_MB:.2f}")
        print(f"CPU per row: importer and its checkers {result.importer_cpu / rows * 1e6:.0f} µs, "
              f"PostgreSQL {result.postgres_cpu / rows * 1e6:.0f} µs, "
              f"wall {result.seconds / rows * 1e6:.0f} µs")
        if args.keep:
            print(f"# kept: ZHENGYIN_DATABASE_URL={database_url} ZHENGYIN_DATA_DIR=<temporary>")


if __name__ == "__main__":
    main()
