"""Certificate-free check latency under load, with 1.2 M licences in PostgreSQL.

    python -m bench.checks [--quick] [--rate 300] [--seconds 30] [--licences 1200000]
                           [--workers N] [--check-threads N]

1. a fresh PostgreSQL database, migrated; ``zhengyin serve`` with one worker per core
   (``--workers``) and the server's check threads (``--check-threads``);
2. the example types and items, seals, and a few hundred real holders with licences and
   consents, issued through the service;
3. filler licences generated inside PostgreSQL up to ``--licences`` rows (same indexes,
   so the holder lookups run against a 1.2 M-row table), then VACUUM and CHECKPOINT so
   the load meets the steady state;
4. an open-loop load at ``--rate`` checks/s on loopback (requests are sent on schedule
   whether or not earlier ones finished; latency counts from the scheduled time, so
   queueing is not hidden) over 32 raw keep-alive connections (bench/openloop.py), printing
   p50/p95/p99 against the target p99 ≤ 25 ms, and the CPU each party spent per check
   (server workers, the supervisor with its audit chainer, PostgreSQL, this load
   generator), which says where the two cores went.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
from stdnum.cn import uscc

from .openloop import http_request, open_loop
from .server import running_server

ADMIN_URL = os.environ.get("ZHENGYIN_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
ITEM = "11110105-FOOD-0002"
FOOD_TYPE = "11100000000013338W032"
MARKET = "11110105MB00000009"


def _credit_code(n: int) -> str:
    body = f"9111010{n:010d}"
    return body + uscc.calc_check_digit(body)


def _create_database() -> tuple[str, str]:
    name = f"zy_bench_checks_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return name, ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def _drop_database(name: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _seed(server: object, holders: int) -> tuple[str, list[tuple[str, str]]]:
    """Types, items, a seal, and ``holders`` holders each with a licence and a consent."""
    from zhengyin.api.runtime import Runtime
    from zhengyin.api.settings import Settings
    from zhengyin.core.clock import utcnow
    from zhengyin.core.models import ClientRole
    from zhengyin.registry.catalogue import (
        TypeDefinition,
        example_definitions,
        example_service_items,
    )
    from zhengyin.registry.holders import Holder, HolderKind
    from zhengyin.registry.issuance import IssueRequest, IssuingParty
    from zhengyin.signing.models import SealType
    from zhengyin.signing.seals import SealRequest

    env = server.env  # type: ignore[attr-defined]
    settings = Settings(data_dir=Path(env["ZHENGYIN_DATA_DIR"]),
                        database_url=env["ZHENGYIN_DATABASE_URL"],
                        public_base_url=env["ZHENGYIN_PUBLIC_BASE_URL"],
                        kek=env["ZHENGYIN_KEK"])
    runtime = Runtime(settings)
    with runtime.unit_of_work() as services:
        for document in example_definitions():
            services.catalogue.define(TypeDefinition.from_json(document), at=utcnow(),
                                      actor="bench")
        for item in example_service_items():
            services.service_items.define(item, at=utcnow(), actor="bench")
        services.seals.create(SealRequest(org_name="北京市朝阳区市场监督管理局",
                                          credit_code=MARKET, seal_type=SealType.APPROVAL),
                              at=utcnow(), actor="bench")
        credential = services.clients.add(name="bench-intake", role=ClientRole.INTAKE,
                                          org_credit_code=None, at=utcnow(),
                                          actor="bench").credential
    pairs = []
    fields = {"operator_name": "北京某某餐饮管理有限公司", "legal_representative": "张三",
              "address": "北京市朝阳区建国路88号", "premises": "北京市朝阳区建国路88号1层101",
              "business_format": "餐饮服务经营者", "business_items": "热食类食品制售"}
    for n in range(holders):
        code = _credit_code(n)
        with runtime.unit_of_work() as services:
            services.issuance.issue(
                IssueRequest(type_code=FOOD_TYPE, holder_kind="credit-code", holder_code=code,
                             holder_name=f"北京某某餐饮管理有限公司{n}", fields=fields),
                IssuingParty(org_code=MARKET, client_id=None, actor="bench"), at=utcnow())
            consent = services.consents.grant(
                Holder(HolderKind.CREDIT_CODE, code), item_code=ITEM, client_id=None,
                case_number=None, expires_at=None, at=utcnow(), actor="bench")
            pairs.append((code, consent.id))
    runtime.close()
    return credential, pairs


def _fill(database_url: str, total: int) -> float:
    """Filler licences generated by PostgreSQL itself; returns seconds taken."""
    started = time.perf_counter()
    with psycopg.connect(database_url, autocommit=True) as connection:
        type_id, issued_at = connection.execute(
            "SELECT type_id, issued_at FROM licences LIMIT 1").fetchone()  # type: ignore[misc]
        existing = connection.execute("SELECT count(*) FROM licences").fetchone()[0]  # type: ignore[index]
        connection.execute(
            """
            INSERT INTO licences (identifier, type_id, type_code, issuer_code, issuer_name,
                serial, version, printed_number, holder_kind, holder_code, holder_name, fields,
                issued_at, valid_from, valid_until, status, status_changed_at, pdf_sha256,
                pdf_size, created_by)
            SELECT '1.2.156.3005.2.' || %(type)s || '.' || %(issuer)s || '.F' || n || '.001.X',
                   %(type_id)s, %(type)s, %(issuer)s, '北京市朝阳区市场监督管理局',
                   'F' || n, 1, 'JYF' || n, 'credit-code',
                   '92' || lpad(n::text, 16, '0'), '个体户' || n,
                   '{"operator_name": "filler"}'::jsonb, %(issued_at)s, DATE '2026-01-01',
                   DATE '2031-01-01', 'valid', %(issued_at)s, NULL, NULL, 'bench'
            FROM generate_series(1, %(count)s) AS n
            """,
            {"type": FOOD_TYPE, "issuer": MARKET, "type_id": type_id, "issued_at": issued_at,
             "count": max(0, total - existing)},
        )
        # Measure the steady state, not the aftermath of the bulk insert: vacuum (or
        # autovacuum would run during the load) and write the dirty pages out now.
        connection.execute("VACUUM (ANALYZE) licences")
        connection.execute("CHECKPOINT")
    return time.perf_counter() - started


def _check_requests(base_url: str, credential: str, pairs: list[tuple[str, str]]
                    ) -> Callable[[int], bytes]:
    """Request ``index``: a consented check for a random holder, its own case number."""
    headers = {"Authorization": f"Bearer {credential}", "Content-Type": "application/json"}

    def make(index: int) -> bytes:
        holder, consent = random.choice(pairs)
        body = json.dumps({
            "holder_kind": "credit-code", "holder_code": holder, "item_code": ITEM,
            "case_number": f"BENCH-{index}", "purpose": "性能测试", "consent_id": consent,
        }, ensure_ascii=False).encode("utf-8")
        return http_request("POST", f"{base_url}/checks", body=body, headers=headers)

    return make


def _cpu_seconds(server_pid: int) -> dict[str, float]:
    """CPU seconds used so far by the server's workers, its supervisor, PostgreSQL and us."""
    import psutil

    def used(process: psutil.Process) -> float:
        try:
            times = process.cpu_times()
        except psutil.Error:
            return 0.0
        return float(times.user + times.system)

    supervisor = psutil.Process(server_pid)
    workers = supervisor.children()
    postgres = [process for process in psutil.process_iter(["name"])
                if (process.info["name"] or "").startswith("postgres")]
    return {"server workers": sum(used(worker) for worker in workers),
            "supervisor (audit chainer)": used(supervisor),
            "PostgreSQL": sum(used(process) for process in postgres),
            "load generator": used(psutil.Process())}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def main() -> None:
    """Run the benchmark and print latency percentiles."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="120 k licences, 10 s of load (the full run: 1.2 M, 30 s)")
    parser.add_argument("--rate", type=float, default=300.0)
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--licences", type=int, default=None)
    parser.add_argument("--holders", type=int, default=200)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="server worker processes (default: one per core)")
    parser.add_argument("--check-threads", type=int, default=None,
                        help="ZHENGYIN_CHECK_THREADS for the server (default: its own)")
    args = parser.parse_args()
    total = args.licences or (120_000 if args.quick else 1_200_000)
    seconds = args.seconds or (10.0 if args.quick else 30.0)
    workers = args.workers
    threads = {} if args.check_threads is None else {
        "ZHENGYIN_CHECK_THREADS": str(args.check_threads)}
    name, database_url = _create_database()
    try:
        with tempfile.TemporaryDirectory() as tmp, running_server(
            Path(tmp), database_url=database_url, workers=workers,
            extra_env={"ZHENGYIN_KEK": "A" * 43 + "=",
                       "ZHENGYIN_CHECK_RATE_PER_MINUTE": str(int(args.rate * 120)), **threads},
        ) as server:
            credential, pairs = _seed(server, args.holders)
            filled = _fill(database_url.replace("postgresql+psycopg://", "postgresql://"),
                           total)
            print(f"# {total:,} licences in PostgreSQL (filled in {filled:.0f} s), "
                  f"{len(pairs)} consenting holders, {workers} server workers")
            make = _check_requests(server.base_url, credential, pairs)
            open_loop(server.base_url, make, rate=20, seconds=2)  # warm-up
            before = _cpu_seconds(server.pid)
            result = open_loop(server.base_url, make, rate=args.rate, seconds=seconds)
            spent = {party: used - before[party]
                     for party, used in _cpu_seconds(server.pid).items()}
            latencies, errors, sent = result.latencies_ms, result.errors, result.sent
            achieved = (sent - errors) / seconds
            p50, p95, p99 = (_percentile(latencies, q) for q in (50, 95, 99))
            print(f"open loop {args.rate:.0f} checks/s for {seconds:.0f} s: sent {sent}, "
                  f"errors {errors} {dict(result.statuses)}, achieved {achieved:.0f}/s")
            print(f"latency p50 {p50:.1f} ms  p95 {p95:.1f} ms  p99 {p99:.1f} ms  "
                  f"max {max(latencies):.1f} ms  mean {statistics.mean(latencies):.1f} ms")
            print(f"target p99 ≤ 25 ms at 300 checks/s: {'met' if p99 <= 25 else 'missed'} "
                  f"(p99/target = {p99 / 25:.2f})")
            answered = max(1, sent - errors)
            print("CPU per check: " + ", ".join(
                f"{party} {seconds_used * 1000 / answered:.2f} ms"
                for party, seconds_used in spent.items())
                + f"; the cores were {sum(spent.values()) / seconds / (os.cpu_count() or 1):.0%}"
                  " busy")
    finally:
        _drop_database(name)


if __name__ == "__main__":
    main()
