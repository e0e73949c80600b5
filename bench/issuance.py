"""End-to-end issuance on PostgreSQL: validate + render + seal (PAdES B-T) + store + commit.

    python -m bench.issuance [--quick] [--seconds S] [--workers N] [--profile]

Creates a fresh PostgreSQL database with the example types and the market regulator's
approval seal, then runs one worker process per core, each issuing food business
licences through ``IssuanceService.issue`` in its own unit of work (as ``POST /licences``
does, minus HTTP), against a file store in a temporary directory. Prints the throughput
against the target (150 licences/s on 2 cores: 1.2 M licences sealed in under 2.5
hours), single-issuance latency p50/p95 (one process, nothing else running), and where
one issuance spends its time (wall time per step, one process). ``--profile`` adds a
cProfile listing.
"""

from __future__ import annotations

import argparse
import base64
import collections
import cProfile
import functools
import multiprocessing
import os
import pstats
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .licencedata import FOOD_TYPE, MARKET, credit_code
from .pgtools import DEFAULT_ADMIN_URL, PostgresCPU, fresh_database

TARGET_RATE = 150.0


def _settings(workdir: Path, database_url: str, kek: str, *, chaining: str = "inline") -> Any:
    from zhengyin.api.settings import Settings

    return Settings(data_dir=workdir / "data", database_url=database_url, kek=kek,
                    public_base_url="http://127.0.0.1:8000", log_json=False, workers=1,
                    audit_chaining=chaining)


def prepare(workdir: Path, database_url: str, kek: str) -> None:
    """Migrate, create the PKI, the example types and the issuer's seal."""
    from zhengyin.api.database import upgrade
    from zhengyin.api.runtime import Runtime
    from zhengyin.core.clock import utcnow
    from zhengyin.core.db import make_engine
    from zhengyin.registry.catalogue import TypeDefinition, example_definitions
    from zhengyin.signing.appearance import RoundSealSpec, render_round_seal
    from zhengyin.signing.models import SealType
    from zhengyin.signing.seals import SealRequest

    engine = make_engine(database_url)
    upgrade(engine)
    engine.dispose()
    runtime = Runtime(_settings(workdir, database_url, kek))
    runtime.ensure_pki()
    image = render_round_seal(RoundSealSpec(org_name="北京市朝阳区市场监督管理局",
                                            purpose="审批专用章", seal_code="1101050000001",
                                            dpi=300))
    with runtime.unit_of_work() as services:
        for document in example_definitions():
            services.catalogue.define(TypeDefinition.from_json(document), at=utcnow(),
                                      actor="bench")
        services.seals.create(SealRequest(org_name="北京市朝阳区市场监督管理局",
                                          credit_code=MARKET, seal_type=SealType.APPROVAL,
                                          image_png=image), at=utcnow(), actor="bench")
    runtime.close()


class Issuer:
    """One process's warm runtime, issuing one licence per call."""

    def __init__(self, workdir: Path, database_url: str, kek: str, seed: int, *,
                 chaining: str = "inline") -> None:
        from zhengyin.api.runtime import Runtime
        from zhengyin.registry.issuance import IssuingParty

        self.runtime = Runtime(_settings(workdir, database_url, kek, chaining=chaining))
        self.party = IssuingParty(org_code=MARKET, client_id=None, actor="bench")
        self.count = seed * 10_000_000

    def issue(self) -> None:
        """Issue one licence to a new company and commit."""
        from zhengyin.core.clock import utcnow
        from zhengyin.registry.issuance import IssueRequest

        self.count += 1
        name = f"北京朝阳第{self.count}餐饮管理有限公司"
        request = IssueRequest(
            type_code=FOOD_TYPE, holder_kind="credit-code", holder_code=credit_code(self.count),
            holder_name=name,
            fields={"operator_name": name, "legal_representative": "张伟",
                    "address": "北京市朝阳区建国路88号", "premises": "北京市朝阳区建国路88号1层",
                    "business_format": "餐饮服务经营者",
                    "business_items": "热食类食品制售；冷食类食品制售"},
        )
        with self.runtime.unit_of_work() as services:
            services.issuance.issue(request, self.party, at=utcnow())


def _worker(args: tuple[Path, str, str, int, float, float]) -> int:
    workdir, database_url, kek, seed, start_at, seconds = args
    # As under `zhengyin serve --workers N`: the workers leave the audit chain to the
    # supervisor (here: the parent process, see throughput()).
    issuer = Issuer(workdir, database_url, kek, seed, chaining="external")
    for _ in range(5):  # warm: font, seal appearance, signer, TSA, connections
        issuer.issue()
    while time.time() < start_at:
        time.sleep(0.01)
    done, stop = 0, start_at + seconds
    while time.time() < stop:
        issuer.issue()
        done += 1
    return done


def throughput(workdir: Path, database_url: str, kek: str, workers: int,
               seconds: float) -> tuple[float, float, float]:
    """Licences per second over all workers, and PostgreSQL's and the chainer's CPU per licence.

    This process plays the supervisor: it runs the one audit chainer, sweeping the
    outbox four times a second, as ``zhengyin serve --workers N`` does.
    """
    from zhengyin.api.runtime import Runtime
    from zhengyin.core.auditchain import BackgroundChainer

    supervisor = Runtime(_settings(workdir, database_url, kek))
    chainer = BackgroundChainer(supervisor.audit_sequencer, interval=0.25)
    start_at = time.time() + 8.0  # every worker warm before the clock starts
    context = multiprocessing.get_context("spawn")
    chainer.start()
    cpu_before = time.process_time()
    with context.Pool(workers) as pool, PostgresCPU() as postgres:
        counts = pool.map(_worker, [(workdir, database_url, kek, seed + 1, start_at, seconds)
                                    for seed in range(workers)])
    chainer.stop()  # a last drain: every record of the run is chained
    chainer_seconds = time.process_time() - cpu_before
    supervisor.close()
    total = max(1, sum(counts))
    return sum(counts) / seconds, postgres.seconds / total, chainer_seconds / total


_STEPS = [
    ("zhengyin.registry.issuance", "IssuanceService", "prepare", "checks (type, issuer, holder, fields)"),  # noqa: E501 - module path grew in the house move
    ("zhengyin.registry.issuance", None, "find_issuer_seal", "find the issuer's seal"),
    ("zhengyin.registry.serials", "SerialAllocator", "allocate", "serial (one upsert, autocommit)"),
    ("zhengyin.registry.render", "LicenceRenderer", "page", "render the page"),
    ("zhengyin.signing.pdf.cms", "CMSSigner", "sign", "CMS signature + time-stamp"),
    ("zhengyin.signing.pdf.certified", "BornSealedPage", "write", "write the certified PDF (incl. CMS)"),  # noqa: E501 - module path grew in the house move
    ("zhengyin.registry.filestore", "LocalFileStore", "put", "store the file (fsync file + dir)"),
    ("zhengyin.registry.issuance", "IssuanceService", "_insert_issued",
     "rows: licence, event, seal use, audit (ids + one insert)"),
    ("sqlalchemy.orm", "Session", "commit", "commit"),
]


def steps(issuer: Issuer, count: int) -> dict[str, float]:
    """Wall milliseconds per issuance spent in each step (one process)."""
    import importlib

    spent: dict[str, float] = collections.defaultdict(float)
    restore: list[tuple[Any, str, Any]] = []
    for module_name, class_name, name, label in _STEPS:
        module = importlib.import_module(module_name)
        owner = getattr(module, class_name) if class_name else module
        original = getattr(owner, name)

        def timed(*args: Any, _f: Callable[..., Any] = original, _l: str = label,
                  **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return _f(*args, **kwargs)
            finally:
                spent[_l] += time.perf_counter() - began

        setattr(owner, name, functools.wraps(original)(timed))
        restore.append((owner, name, original))
    try:
        began = time.perf_counter()
        for _ in range(count):
            issuer.issue()
        spent["total"] = time.perf_counter() - began
    finally:
        for owner, name, original in restore:
            setattr(owner, name, original)
    return {label: seconds / count * 1000 for label, seconds in spent.items()}


def main() -> None:
    """Run the benchmark and print the figures against the target."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10 s instead of 30 s")
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--postgres-url", default=DEFAULT_ADMIN_URL)
    parser.add_argument("--profile", action="store_true", help="print a cProfile listing")
    args = parser.parse_args()
    seconds = args.seconds or (10.0 if args.quick else 30.0)
    kek = base64.b64encode(os.urandom(32)).decode("ascii")

    with tempfile.TemporaryDirectory() as tmp, fresh_database(args.postgres_url) as url:
        workdir = Path(tmp)
        prepare(workdir, url, kek)
        print(f"# {args.workers} worker processes, {seconds:.0f} s, {os.cpu_count()} cores, "
              "PostgreSQL, file store on local disk (fsync)")
        rate, postgres_ms, chainer_ms = throughput(workdir, url, kek, args.workers, seconds)
        print(f"issuance throughput             {rate:9.1f} licences/s   target "
              f"{TARGET_RATE:.0f}   ratio {rate / TARGET_RATE:.2f}   "
              f"(1.2 M in {1.2e6 / rate / 3600:.1f} h)")
        print(f"PostgreSQL CPU per licence      {postgres_ms * 1000:9.2f} ms")
        print(f"audit chainer CPU per licence   {chainer_ms * 1000:9.2f} ms   (the supervisor's)")

        # Chained off the request path, as by a server's background chainer.
        issuer = Issuer(workdir, url, kek, seed=99, chaining="external")
        for _ in range(10):
            issuer.issue()
        latencies = []
        for _ in range(100 if args.quick else 300):
            began = time.perf_counter()
            issuer.issue()
            latencies.append((time.perf_counter() - began) * 1000)
        ordered = sorted(latencies)
        print(f"single issuance latency         p50 {statistics.median(ordered):6.1f} ms   "
              f"p95 {ordered[int(0.95 * len(ordered))]:6.1f} ms   (one process, idle)")
        print("# where one issuance spends its wall time (ms):")
        for label, ms in sorted(steps(issuer, 100).items(), key=lambda item: -item[1]):
            print(f"  {ms:7.2f}  {label}")
        if args.profile:
            def issue_100() -> None:
                for _ in range(100):
                    issuer.issue()

            profile = cProfile.Profile()
            profile.runcall(issue_100)
            pstats.Stats(profile).sort_stats("tottime").print_stats(25)
        issuer.runtime.close()


if __name__ == "__main__":
    main()
