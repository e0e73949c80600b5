"""Public status by identifier with 1.2 M licences in PostgreSQL: latency percentiles.

    python -m bench.status_lookup [--quick] [--rows N] [--seconds S]

Starts a real ``zhengyin serve`` (one worker per core) over a fresh PostgreSQL database,
loads N licences with the bulk importer (``zhengyin licence import``, as a migration
would), then times ``GET /public/licences/{identifier}/status`` for random identifiers
over HTTP on loopback, and the service call ``LicenceQuery.public_status`` directly in
this process. Target (issue 4): p99 at most 10 ms with 1.2 M licences (quick mode: 100 k).

The HTTP figures come from closed-loop clients that write raw HTTP/1.1 on keep-alive
connections (bench/openloop.py): the client shares the two cores with the service, and
httpx spends about 2 ms of CPU per request, which a scanning phone or an intake system on
its own machine does not add. One httpx line is printed for comparison with older runs.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from .bulk_import import run_import
from .licencedata import write_jsonl
from .loadgen import closed_loop as httpx_closed_loop
from .openloop import closed_loop, http_request
from .pgtools import DEFAULT_ADMIN_URL, fresh_database
from .server import running_server

TARGET_P99_MS = 10.0


def _sample(database_url: str, count: int) -> list[str]:
    """Random identifiers of stored licences."""
    url = database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = create_engine(url)
    with engine.connect() as connection:
        identifiers = list(connection.execute(text(
            "SELECT identifier FROM licences TABLESAMPLE SYSTEM (5) LIMIT :n"), {"n": count}
        ).scalars())
    engine.dispose()
    random.shuffle(identifiers)
    return identifiers


def _percentiles(values: list[float]) -> str:
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]

    return f"p50 {statistics.median(ordered):6.2f} ms   p95 {at(95):6.2f} ms   " \
           f"p99 {at(99):6.2f} ms"


def _direct(env: dict[str, str], identifiers: list[str]) -> list[float]:
    """Milliseconds per ``public_status`` call, each in its own read-only unit of work."""
    from zhengyin.api.runtime import Runtime
    from zhengyin.api.settings import Settings
    from zhengyin.core.clock import utcnow

    runtime = Runtime(Settings(data_dir=Path(env["ZHENGYIN_DATA_DIR"]),
                               database_url=env["ZHENGYIN_DATABASE_URL"], log_json=False))
    latencies = []
    for identifier in identifiers:
        began = time.perf_counter()
        with runtime.unit_of_work(readonly=True) as services:
            services.licences.public_status(identifier, at=utcnow())
        latencies.append((time.perf_counter() - began) * 1000)
    runtime.close()
    return latencies


def main() -> None:
    """Load, then measure, and print the figures against the target."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100 k licences, 5 s runs")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--postgres-url", default=DEFAULT_ADMIN_URL)
    args = parser.parse_args()
    rows = args.rows or (100_000 if args.quick else 1_200_000)
    seconds = args.seconds or (5.0 if args.quick else 20.0)
    workers = os.cpu_count() or 1

    with tempfile.TemporaryDirectory() as tmp, \
            fresh_database(args.postgres_url) as database_url, \
            running_server(Path(tmp), database_url=database_url, workers=workers) as server:
        server.cli("licence-type", "load-examples")
        source = Path(tmp) / "licences.jsonl"
        write_jsonl(source, rows)
        loaded = run_import({**server.env, "COLUMNS": "120"}, source, rows)
        source.unlink()
        print(f"# {rows:,} licences loaded in {loaded.seconds:.0f} s "
              f"({loaded.rate:,.0f} rows/s); {workers} server workers, {os.cpu_count()} cores")
        identifiers = _sample(database_url, 20_000)
        picks = iter(identifiers * 1000)
        ok = httpx.get(f"{server.base_url}/public/licences/{identifiers[0]}/status")
        assert ok.status_code == 200, ok.text

        def raw(_index: int) -> bytes:
            return http_request("GET", f"{server.base_url}/public/licences/{next(picks)}/status")

        closed_loop(server.base_url, raw, concurrency=args.concurrency, seconds=2.0)  # warm
        for concurrency in (1, args.concurrency):
            result = closed_loop(server.base_url, raw, concurrency=concurrency,
                                 seconds=seconds)
            p99 = result.percentile(99)
            print(f"{result.line(f'HTTP status, {concurrency} client(s)')}   target p99 "
                  f"{TARGET_P99_MS:.0f} ms   ratio {p99 / TARGET_P99_MS:.2f}")

        def request(client: httpx.AsyncClient) -> object:
            return client.get(f"{server.base_url}/public/licences/{next(picks)}/status")

        compared = httpx_closed_loop(request, concurrency=1, seconds=seconds / 2)
        print(compared.line("HTTP status, 1 httpx client"))
        direct = _direct(server.env, identifiers[:3000])
        print(f"service call public_status       {_percentiles(direct[200:])}   (in process)")


if __name__ == "__main__":
    main()
