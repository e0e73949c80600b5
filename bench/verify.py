"""Verification throughput with the full checks, next to pdfsig on the same files.

    python -m bench.verify [--quick] [--documents N] [--ocsp]

In one run, on the same files (licences issued by the registry and approvals stamped at
B-T, half each, every file distinct so nothing is served from a cache):

1. **Zhengyin, service path**: ``Verifier.verify_pdf`` as the API route runs it, every
   check: structure, integrity, difference analysis of later revisions, chain to our
   root at the time-stamp's time, revocation (our CRLs, in-process), time-stamp, seal
   registry (state at signing time, from the audit log), licence status now and at
   signing time and the issued file's hash. Examination in the warm worker pool (one
   process per core); several request threads keep it busy, as the server would.
2. **pdfsig** (poppler 22.12, NSS database trusting our root), one subprocess per file,
   as many at a time as there are cores. By default with ``-no-ocsp`` (pdfsig then does
   less: no revocation at all); ``--ocsp`` lets it ask our OCSP responder, served by
   this process (which then also spends CPU on the answers).

Prints files per second for both, the ratio (target: ≥ 1.0× pdfsig), single-process
figures, and where the time goes per document (worker CPU, parent CPU: IPC and lookups).
"""

from __future__ import annotations

import argparse
import base64
import logging
import os
import resource
import statistics
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

from .stamping import ANCHOR, approval_pdf

ORG_NAME = "国家市场监督管理总局"
ORG_CODE = "11100000000013338W"
MARKET = "11110105MB00000009"


def _loadavg() -> str:
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:  # pragma: no cover
        return "?"


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _nss(directory: Path, root_der: bytes) -> Path:
    from asn1crypto import pem

    directory.mkdir(parents=True, exist_ok=True)
    (directory / "root.pem").write_bytes(pem.armor("CERTIFICATE", root_der))
    subprocess.run(["certutil", "-N", "--empty-password", "-d", f"sql:{directory}"],
                   check=True, capture_output=True)
    subprocess.run(["certutil", "-A", "-n", "zhengyin-root", "-t", ",C,", "-i",
                    str(directory / "root.pem"), "-d", f"sql:{directory}"], check=True,
                   capture_output=True)
    return directory


def _documents(runtime: Any, count: int, workdir: Path) -> list[Path]:
    """``count`` distinct sealed PDFs: licences and stamped approvals, alternating."""
    from zhengyin.core.clock import utcnow
    from zhengyin.registry.catalogue import TypeDefinition, example_definitions
    from zhengyin.registry.issuance import IssueRequest, IssuingParty
    from zhengyin.signing.models import SealType, SignatureLevel
    from zhengyin.signing.placement import AnchorPlacement, Placement
    from zhengyin.signing.seals import SealRequest
    from zhengyin.signing.stamper import StampOptions
    from zhengyin.signing.stamping import StampRequest

    with runtime.unit_of_work() as services:
        for document in example_definitions():
            services.catalogue.define(TypeDefinition.from_json(document), at=utcnow(),
                                      actor="bench")
        services.seals.create(SealRequest(org_name="北京市朝阳区市场监督管理局",
                                          credit_code=MARKET, seal_type=SealType.APPROVAL),
                              at=utcnow(), actor="bench")
        seal_id = services.seals.create(SealRequest(
            org_name=ORG_NAME, credit_code=ORG_CODE, seal_type=SealType.APPROVAL),
            at=utcnow(), actor="bench").id
    options = StampOptions(Placement(AnchorPlacement(ANCHOR)), level=SignatureLevel.B_T)
    base = approval_pdf(2)
    paths = []
    for number in range(count):
        with runtime.unit_of_work() as services:
            if number % 2 == 0:
                licence = services.issuance.issue(IssueRequest(
                    type_code="11100000000013338W032", holder_kind="credit-code",
                    holder_code="91110000600037341L",
                    holder_name=f"北京某某餐饮管理有限公司{number}",
                    fields={"operator_name": f"北京某某餐饮管理有限公司{number}",
                            "legal_representative": "张三", "address": "北京市朝阳区建国路88号",
                            "premises": "北京市朝阳区建国路88号1层101",
                            "business_format": "餐饮服务经营者",
                            "business_items": "热食类食品制售；冷食类食品制售"}),
                    IssuingParty(org_code=MARKET, client_id=None, actor="bench"),
                    at=utcnow()).licence
                assert licence.pdf_sha256 is not None
                data = runtime.file_store.get(licence.pdf_sha256)
            else:
                data = services.stamping.stamp(
                    StampRequest(seal_id, options, f"BENCH-{number}", "benchmark"), base,
                    client_id=None, actor="bench", at=utcnow()).result.pdf
        path = workdir / f"doc-{number:04d}.pdf"
        path.write_bytes(data)
        paths.append(path)
    return paths


def _ours(runtime: Any, paths: list[Path], *, threads: int) -> tuple[float, list[str]]:
    """Files per second through the service path, ``threads`` requests at a time."""
    from zhengyin.core.clock import utcnow

    data = [path.read_bytes() for path in paths]
    verdicts: list[str] = [""] * len(data)

    def one(index: int) -> None:
        with runtime.unit_of_work(readonly=True) as services:
            report = services.verifier.verify_pdf(data[index], at=utcnow())
        verdicts[index] = report.verdict.indication.value

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as executor:
        list(executor.map(one, range(len(data))))
    return len(data) / (time.perf_counter() - started), verdicts


def _pdfsig(paths: list[Path], nss: Path, *, parallel: int, ocsp: bool
            ) -> tuple[float, float, list[str]]:
    """(files per second, CPU ms per file, verdicts) of pdfsig, ``parallel`` at a time."""
    flags = [] if ocsp else ["-no-ocsp"]

    def one(path: Path) -> str:
        result = subprocess.run(["pdfsig", "-nssdir", f"sql:{nss}", *flags, str(path)],
                                capture_output=True, text=True, check=False, timeout=60)
        valid = "Signature is Valid." in result.stdout
        trusted = "Certificate is Trusted." in result.stdout
        return "valid+trusted" if valid and trusted else ("valid" if valid else "invalid")

    cpu = _children_cpu()
    started = time.perf_counter()
    with ThreadPoolExecutor(parallel) as executor:
        verdicts = list(executor.map(one, paths))
    elapsed = time.perf_counter() - started
    return len(paths) / elapsed, (_children_cpu() - cpu) / len(paths) * 1000, verdicts


def _in_process(runtime: Any, paths: list[Path]) -> tuple[float, float]:
    """(files per second, CPU ms per file) in one process, no pool: one core's worth."""
    from zhengyin.api.runtime import Runtime
    from zhengyin.api.settings import Settings
    from zhengyin.core.clock import utcnow

    single = Runtime(Settings(**{**runtime.settings.model_dump(), "verify_in_process": True}))
    data = [path.read_bytes() for path in paths]
    try:
        with single.unit_of_work(readonly=True) as services:  # warm: examiner, caches
            services.verifier.verify_pdf(data[0], at=utcnow())
        cpu = time.process_time()
        started = time.perf_counter()
        for item in data:
            with single.unit_of_work(readonly=True) as services:
                services.verifier.verify_pdf(item, at=utcnow())
        elapsed = time.perf_counter() - started
        return len(data) / elapsed, (time.process_time() - cpu) / len(data) * 1000
    finally:
        single.close()


def _serve(runtime: Any) -> tuple[Any, threading.Thread]:
    import uvicorn

    from zhengyin.api.app import create_app

    port = int(runtime.settings.public_base_url.rsplit(":", 1)[1])
    server = uvicorn.Server(uvicorn.Config(create_app(runtime=runtime), host="127.0.0.1",
                                           port=port, log_config=None, log_level="warning",
                                           access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    return server, thread


def main() -> None:
    """Generate the files, measure both verifiers, print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer documents")
    parser.add_argument("--documents", type=int, default=None,
                        help="files measured (default 200, quick 60)")
    parser.add_argument("--ocsp", action="store_true",
                        help="let pdfsig ask our OCSP responder (default: -no-ocsp)")
    args = parser.parse_args()
    count = args.documents or (60 if args.quick else 200)
    logging.disable(logging.WARNING)
    from zhengyin.api.database import upgrade
    from zhengyin.api.runtime import Runtime
    from zhengyin.api.settings import Settings
    from zhengyin.core.db import make_engine

    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        import socket

        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        settings = Settings(data_dir=workdir / "data",
                            kek=base64.b64encode(os.urandom(32)).decode(), log_json=False,
                            public_base_url=f"http://127.0.0.1:{port}")
        settings.data_dir.mkdir(parents=True)
        engine = make_engine(settings.effective_database_url)
        upgrade(engine)
        engine.dispose()
        runtime = Runtime(settings)
        runtime.ensure_pki()
        server = None
        if args.ocsp:
            server, _thread = _serve(runtime)
        print(f"generating {count + 8} distinct sealed files (licences and B-T approvals) ...")
        paths = _documents(runtime, count + 8, workdir)
        warm, measured = paths[:8], paths[8:]
        with runtime.unit_of_work(readonly=True) as services:
            nss = _nss(workdir / "nss", services.pki.identity("root").der)
        sizes = [path.stat().st_size for path in measured]
        print(f"{len(measured)} files, {statistics.fmean(sizes) / 1024:.0f} KB on average; "
              f"{cores} cores; load average {_loadavg()} before measuring")

        pool = runtime.verification_pool()
        pool.warm()
        threads = 2 * pool.size
        _ours(runtime, warm, threads=threads)  # warm every worker: examiner, material
        parent_cpu = time.process_time()
        ours_rate, verdicts = _ours(runtime, measured, threads=threads)
        parent_cpu = (time.process_time() - parent_cpu) / len(measured) * 1000
        passed = sum(verdict == "TOTAL-PASSED" for verdict in verdicts)

        _pdfsig(warm, nss, parallel=cores, ocsp=args.ocsp)
        pdfsig_rate, pdfsig_cpu, pdfsig_verdicts = _pdfsig(measured, nss, parallel=cores,
                                                           ocsp=args.ocsp)
        pdfsig_serial, _cpu, _ = _pdfsig(measured[: max(10, len(measured) // 4)], nss,
                                         parallel=1, ocsp=args.ocsp)
        single_rate, single_cpu = _in_process(runtime, measured[: max(10, len(measured) // 2)])
        load_after = _loadavg()
        if server is not None:
            server.should_exit = True
        runtime.close()

    mode = "with OCSP" if args.ocsp else "-no-ocsp"
    print()
    print(f"{'verifier':<62}{'files/s':>9}")
    print(f"{f'Zhengyin, full checks, {pool.size} warm workers, {threads} request threads':<62}"
          f"{ours_rate:>9.1f}")
    print(f"{f'pdfsig ({mode}), {cores} subprocesses at a time':<62}{pdfsig_rate:>9.1f}")
    print(f"{'Zhengyin, full checks, one process, no pool':<62}{single_rate:>9.1f}")
    print(f"{f'pdfsig ({mode}), one at a time':<62}{pdfsig_serial:>9.1f}")
    print()
    print(f"ratio Zhengyin / pdfsig (same files, same parallelism): "
          f"{ours_rate / pdfsig_rate:4.2f}x  (target >= 1.0x)")
    print(f"CPU per file: Zhengyin {single_cpu:5.1f} ms in one process (of which the "
          f"parent's share through the pool: {parent_cpu:4.1f} ms); pdfsig {pdfsig_cpu:5.1f} ms")
    print(f"verdicts: Zhengyin {passed}/{len(verdicts)} TOTAL-PASSED; pdfsig "
          f"{sum(v.startswith('valid') for v in pdfsig_verdicts)}/{len(pdfsig_verdicts)} "
          f"signature valid ({sum(v == 'valid+trusted' for v in pdfsig_verdicts)} also "
          f"'Trusted'; -no-ocsp makes poppler 22.12 say 'Unknown issue' instead)")
    print(f"load average after: {load_after}  ({datetime.now():%H:%M:%S})")
    print("target met" if ours_rate >= pdfsig_rate else "TARGET MISSED")


if __name__ == "__main__":
    main()
