"""``zhengyin audit verify`` over a large log: entries/s and the verifier's peak RSS.

    python -m bench.audit_verify [--quick] [--entries N] [--keep]

Creates a fresh PostgreSQL database, migrates it and creates the PKI, links N audit
entries shaped like an import's ``licence.issued`` records (checkpoint every 1,000, as in
production), exports the checkpoints, then runs ``zhengyin audit verify`` and ``audit
verify --against`` as their own processes, exactly as an operator would. Verification
streams the log a page at a time, so its memory must not grow with the log: the peak RSS
at N entries is printed next to the one at N/4. Quick mode: 200 k entries (full: 1.2 M).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from .bulk_import import environment, prepare
from .pgtools import DEFAULT_ADMIN_URL, fresh_database
from .server import ZHENGYIN

_CHUNK = 5000


def fill(env: dict[str, str], entries: int) -> None:
    """Link ``entries`` records in chunks, as bulk import does (checkpoints signed)."""
    from zhengyin.api.runtime import Runtime
    from zhengyin.api.settings import Settings
    from zhengyin.core.audit import AuditRecord
    from zhengyin.core.clock import utcnow

    settings = Settings(data_dir=env["ZHENGYIN_DATA_DIR"],
                        database_url=env["ZHENGYIN_DATABASE_URL"], log_json=False)
    runtime = Runtime(settings)
    at = utcnow()
    try:
        done = 0
        while done < entries:
            size = min(_CHUNK, entries - done)
            records = [AuditRecord(
                actor="cli:operator", action="licence.issued", object_type="licence",
                object_id=f"1.2.156.3005.2.11100000000013338W032.11110105MB00000009."
                          f"2024{done + n:08d}.001.X",
                at=at + timedelta(microseconds=done + n),
                details={"type": "11100000000013338W032", "holder": "91110000600037341L",
                         "version": 1, "pdf_sha256": None,
                         "import": {"batch": "bench", "row": done + n}},
            ) for n in range(size)]
            with runtime.unit_of_work() as services:
                services.audit.append_chained(records)
            done += size
    finally:
        runtime.close()


def timed(env: dict[str, str], *args: str) -> tuple[float, float, str]:
    """Run ``zhengyin ARGS``; (seconds, the child's peak RSS in MB, its output)."""
    started = time.perf_counter()
    result = subprocess.run([ZHENGYIN, *args], env=env, capture_output=True, text=True,
                            check=False)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"zhengyin {' '.join(args)} failed: {result.stderr}")
    # RUSAGE_CHILDREN's maximum is over every child so far; the fill runs in process and
    # the commands grow, so each reading is this command's or an earlier, smaller one's.
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return seconds, peak, (result.stdout + result.stderr).strip()


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="200 k entries instead of 1.2 M")
    parser.add_argument("--entries", type=int, default=None)
    parser.add_argument("--postgres-url", default=DEFAULT_ADMIN_URL,
                        help="an administrative connection (a database is created)")
    parser.add_argument("--keep", action="store_true", help="keep the database")
    args = parser.parse_args()
    entries = args.entries or (200_000 if args.quick else 1_200_000)

    with tempfile.TemporaryDirectory() as tmp, \
            fresh_database(args.postgres_url, keep=args.keep) as database_url:
        workdir = Path(tmp)
        env = environment(workdir, database_url)
        prepare(env)
        print(f"# {os.cpu_count()} cores; PostgreSQL; checkpoint every 1,000 entries")
        quarter = entries // 4
        started = time.perf_counter()
        fill(env, quarter)
        small_seconds, small_peak, _ = timed(env, "audit", "verify")
        fill(env, entries - quarter)
        print(f"# {entries:,} entries linked in {time.perf_counter() - started:.0f} s")
        seconds, peak, output = timed(env, "audit", "verify")
        print(output.splitlines()[0])
        export = workdir / "checkpoints.jsonl"
        export_seconds, _, _ = timed(env, "audit", "checkpoint", "export", "--out", str(export))
        against_seconds, against_peak, _ = timed(env, "audit", "verify", "--against",
                                                 str(export))
        lines = sum(1 for _ in export.open(encoding="utf-8"))
        print(f"audit verify                   {entries / seconds:9.0f} entries/s  "
              f"({seconds:.1f} s; {quarter:,} entries: {small_seconds:.1f} s)")
        print(f"peak RSS of the verifier       {peak:9.0f} MB         "
              f"({quarter:,} entries: {small_peak:.0f} MB)")
        print(f"checkpoint export              {export_seconds:9.1f} s          "
              f"({lines:,} lines, {export.stat().st_size / 1e6:.1f} MB)")
        print(f"audit verify --against         {entries / against_seconds:9.0f} entries/s  "
              f"(peak RSS {against_peak:.0f} MB)")


if __name__ == "__main__":
    main()
