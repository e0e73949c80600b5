"""Stamp jobs survive ``kill -9``: real processes (the CLI batch, the service's job runner,
the whole service) killed at random points.

After every kill: each sealed PDF on disk (published zips, the entries of a half-written
``.part`` zip, the CLI's output, the bodies of single stamps that came back) has its seal
use recorded; every job ends done or failed once its lease runs out (the next batch or a
live server ends it), a done job's zip is complete, and no process of the killed one is
left running (issue 14: 57 sealed PDFs in a half-written zip, one use recorded, the job
"running" for ever).
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest
from sqlalchemy import select, text

from zhengyin.api.runtime import Runtime
from zhengyin.core.clock import utcnow
from zhengyin.core.models import ClientRole
from zhengyin.signing.models import SealType, SealUse, StampJob, StampJobStatus
from zhengyin.signing.seals import SealRequest

from ..conftest import truncate_all
from ..support import ORG_CODE, ORG_NAME, make_settings
from .documents import ANCHOR, approval_pdf

pytestmark = pytest.mark.slow

ZHENGYIN = str(Path(sys.executable).with_name("zhengyin"))
LEASE_SECONDS = 2.0
DOCUMENTS = 60


@dataclass
class Installation:
    """A data directory and database the CLI and the service share with the test."""

    runtime: Runtime
    env: dict[str, str]
    cwd: Path
    seal_id: str
    credential: str

    @property
    def jobs_dir(self) -> Path:
        return self.runtime.settings.data_dir / "jobs"

    def jobs(self) -> list[StampJob]:
        with self.runtime.unit_of_work(readonly=True) as services:
            jobs = list(services.session.scalars(select(StampJob)))
            services.session.expunge_all()
        return jobs

    def uses(self) -> list[SealUse]:
        with self.runtime.unit_of_work(readonly=True) as services:
            uses = list(services.session.scalars(select(SealUse)))
            services.session.expunge_all()
        return uses

    def job(self, case_number: str) -> StampJob | None:
        return next((job for job in self.jobs() if job.options["case_number"] == case_number),
                    None)


@pytest.fixture
def installation(database_url: str, kek_text: str, tmp_path: Path) -> Iterator[Installation]:
    settings = make_settings(tmp_path / "data", database_url, kek_text, workers=2,
                             stamp_job_lease_seconds=LEASE_SECONDS)
    runtime = Runtime(settings)
    runtime.ensure_pki()
    with runtime.unit_of_work() as services:
        seal = services.seals.create(SealRequest(org_name=ORG_NAME, credit_code=ORG_CODE,
                                                 seal_type=SealType.APPROVAL),
                                     at=utcnow(), actor="test")
        issued = services.clients.add(name="batch-stamper", role=ClientRole.STAMPER,
                                      org_credit_code=ORG_CODE, at=utcnow(), actor="test")
        services.seals.authorise(seal.id, issued.client.id, at=utcnow(), actor="test")
        seal_id, credential = seal.id, issued.credential
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHENGYIN_")}
    env.update(ZHENGYIN_DATA_DIR=str(settings.data_dir), ZHENGYIN_DATABASE_URL=database_url,
               ZHENGYIN_KEK=kek_text, ZHENGYIN_WORKERS="2", ZHENGYIN_LOG_JSON="false",
               ZHENGYIN_STAMP_JOB_LEASE_SECONDS=str(LEASE_SECONDS))
    documents = tmp_path / "documents"
    documents.mkdir()
    for number in range(DOCUMENTS):
        (documents / f"approval-{number:03d}.pdf").write_bytes(approval_pdf(1 + number % 3))
    try:
        yield Installation(runtime, env, tmp_path, seal_id, credential)
    finally:
        truncate_all(runtime.engine)
        runtime.close()


# ----------------------------------------------------------------------------- what is on disk


def _stored_entries(data: bytes) -> Iterator[bytes]:
    """The complete entries of a (possibly half-written) zip of stored files, read from
    their local headers (a zip cut short has no central directory)."""
    position = 0
    while (start := data.find(b"PK\x03\x04", position)) >= 0 and start + 30 <= len(data):
        (_sig, _version, flags, method, _time, _date, _crc, size, _size, name_length,
         extra_length) = struct.unpack("<IHHHHHIIIHH", data[start:start + 30])
        assert method == zipfile.ZIP_STORED and not flags & 0x08
        body = start + 30 + name_length + extra_length
        if size == 0 or body + size > len(data):
            return  # the entry being written when the process died
        yield data[body:body + size]
        position = body + size


def _sealed_outputs(paths: list[Path], bodies: list[bytes]) -> set[str]:
    """SHA-256 of every sealed PDF found in ``paths`` (zips, whole or cut short) and
    ``bodies`` (single stamps returned)."""
    found = {hashlib.sha256(body).hexdigest() for body in bodies}
    for path in paths:
        data = path.read_bytes()
        for pdf in _stored_entries(data):
            assert pdf.startswith(b"%PDF")
            found.add(hashlib.sha256(pdf).hexdigest())
    return found


def _assert_every_output_recorded(site: Installation, bodies: Sequence[bytes] = ()) -> None:
    files = sorted([*site.jobs_dir.glob("*.zip*"), *site.cwd.glob("out-*.zip*")])
    outputs = _sealed_outputs(files, list(bodies))
    recorded = {use.output_sha256 for use in site.uses()}
    assert outputs <= recorded, f"{len(outputs - recorded)} sealed outputs without a use"


def _assert_jobs_settled(site: Installation) -> None:
    uses = site.uses()
    for job in site.jobs():
        assert job.status in (StampJobStatus.DONE, StampJobStatus.FAILED), job.id
        mine = {use.output_sha256 for use in uses if use.job_id == job.id}
        assert len(mine) == job.succeeded
        assert not (site.jobs_dir / f"{job.id}.zip.part").exists()
        if job.status is StampJobStatus.DONE:
            assert job.output_path is not None
            with zipfile.ZipFile(job.output_path) as archive:
                assert archive.testzip() is None
                names = archive.namelist()
                assert len(names) == job.succeeded
                assert {hashlib.sha256(archive.read(n)).hexdigest() for n in names} == mine
        else:
            assert not (site.jobs_dir / f"{job.id}.zip").exists()
            assert job.results[-1]["error"]["code"] in ("stamp_job.interrupted",
                                                        "signing.error")


def _random() -> random.Random:
    """Random kill points, with the seed printed (pytest shows it when a test fails)."""
    seed = random.randrange(1 << 30)
    print(f"kill points from random seed {seed}")
    return random.Random(seed)


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _reach(phase: str, job: Callable[[], StampJob | None], finished: Callable[[], bool],
           rng: random.Random) -> None:
    """Wait for a random point of ``phase`` of a job's run: starting (the pool starts),
    stamping (documents being recorded and written) or finishing (the last documents,
    publishing, the CLI's copy)."""
    def progressed(at_least: int) -> bool:
        current = job()
        return finished() or (current is not None and current.status is not
                              StampJobStatus.QUEUED and current.succeeded + current.failed
                              >= at_least)

    threshold, spread = {"starting": (0, 1.5), "stamping": (1, 0.8),
                         "finishing": (DOCUMENTS - 8, 0.3)}[phase]
    _wait(lambda: progressed(threshold), 120, f"the job to reach {phase}")
    time.sleep(rng.uniform(0.0, spread))


def _kill_tree(root: psutil.Process) -> None:
    """SIGKILL ``root`` alone; its descendants must then exit by themselves."""
    family = root.children(recursive=True)
    root.send_signal(signal.SIGKILL)
    root.wait(10)
    _gone, alive = psutil.wait_procs(family, timeout=15)
    assert not alive, f"left running after the kill: {[p.pid for p in alive]}"


# ----------------------------------------------------------------------------- the CLI


def _batch(site: Installation, case_number: str, out: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [ZHENGYIN, "stamp", "batch", site.seal_id, "documents", "--case-number", case_number,
         "--purpose", "批量用印", "--anchor", ANCHOR, "--out", out],
        env=site.env, cwd=site.cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _reach_in_cli(phase: str, batch: subprocess.Popen[bytes], site: Installation,
                  case_number: str, rng: random.Random) -> None:
    """A random point of a CLI batch: starting (the pool starts), signing (the first
    documents), writing (documents recorded and written) or finishing (publishing, the
    copy to --out)."""
    def ready() -> bool:
        if batch.poll() is not None:
            return True
        job = site.job(case_number)
        if phase == "starting":
            return job is not None and job.status is StampJobStatus.RUNNING
        if job is None:
            return False
        part = site.jobs_dir / f"{job.id}.zip.part"
        if phase == "signing":  # the pool is up, the first documents are being signed
            return part.exists()
        if phase == "writing":  # the first documents are recorded and written
            return part.exists() and part.stat().st_size > 0
        return (site.jobs_dir / f"{job.id}.zip").exists()

    _wait(ready, 120, f"the batch to reach {phase}")
    time.sleep(rng.uniform(0.0, {"starting": 1.5, "signing": 1.0, "writing": 0.5,
                                 "finishing": 0.1}[phase]))


def test_a_killed_cli_batch_leaves_no_sealed_file_without_its_use(
        installation: Installation) -> None:
    site = installation
    rng = _random()
    phases = ["starting", "signing", "writing", "finishing"]
    rng.shuffle(phases)
    for round_number, phase in enumerate(phases):
        case_number = f"批-{round_number}"
        batch = _batch(site, case_number, f"out-{round_number}.zip")
        _reach_in_cli(phase, batch, site, case_number, rng)
        if batch.poll() is None:
            _kill_tree(psutil.Process(batch.pid))
        batch.wait()
        _assert_every_output_recorded(site)
        out = site.cwd / f"out-{round_number}.zip"
        if out.exists():  # never half-written
            with zipfile.ZipFile(out) as archive:
                assert archive.testzip() is None

    # The next batch ends the killed ones (their leases ran out) and runs to the end.
    time.sleep(LEASE_SECONDS + 0.5)
    final = _batch(site, "批-final", "out-final.zip")
    assert final.wait(180) == 0
    _assert_jobs_settled(site)
    _assert_every_output_recorded(site)
    last = site.job("批-final")
    assert last is not None and last.status is StampJobStatus.DONE
    assert last.succeeded == DOCUMENTS


def test_a_killed_cli_stamp_writes_a_recorded_file_or_none(installation: Installation) -> None:
    site = installation
    rng = _random()
    (site.cwd / "in.pdf").write_bytes(approval_pdf(2))
    durations: list[float] = []
    for round_number in range(4):
        out = site.cwd / f"out-{round_number}.pdf"
        started = time.monotonic()
        command = subprocess.Popen(
            [ZHENGYIN, "stamp", "file", site.seal_id, "in.pdf", "--case-number", "单-2",
             "--purpose", "单件用印", "--anchor", ANCHOR, "--out", out.name],
            env=site.env, cwd=site.cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if durations:  # a random point of a run as long as the first one
            time.sleep(rng.uniform(0.5, durations[0]))
            if command.poll() is None:
                _kill_tree(psutil.Process(command.pid))
        command.wait(120)
        durations.append(time.monotonic() - started)
        recorded = {use.output_sha256 for use in site.uses()}
        if out.exists():  # whole (renamed from a temporary file) and recorded first
            assert hashlib.sha256(out.read_bytes()).hexdigest() in recorded
    assert (site.cwd / "out-0.pdf").exists()


@contextmanager
def _uses_refused_at_commit(site: Installation) -> Iterator[None]:
    """A deferred PostgreSQL constraint trigger that fails every commit adding a seal use:
    the insert succeeds, the commit does not (as a full disk or a lost server would)."""
    statements = [
        "CREATE FUNCTION zy_test_refuse_use() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'commit refused by the test'; END $$",
        "CREATE CONSTRAINT TRIGGER zy_test_refuse_use AFTER INSERT ON seal_uses "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION zy_test_refuse_use()",
    ]
    with site.runtime.engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))
    try:
        yield
    finally:
        with site.runtime.engine.begin() as connection:
            connection.execute(text("DROP TRIGGER zy_test_refuse_use ON seal_uses"))
            connection.execute(text("DROP FUNCTION zy_test_refuse_use()"))


def test_a_stamp_whose_use_is_not_committed_is_never_returned_or_written(
        installation: Installation) -> None:
    from fastapi.testclient import TestClient

    from zhengyin.api.app import create_app

    site = installation
    if site.runtime.engine.dialect.name != "postgresql":
        pytest.skip("a commit-time failure needs a deferred constraint (PostgreSQL)")
    (site.cwd / "in.pdf").write_bytes(approval_pdf(1))
    api = TestClient(create_app(runtime=site.runtime), raise_server_exceptions=False)
    with _uses_refused_at_commit(site):
        response = api.post(
            f"/seals/{site.seal_id}/stamp",
            headers={"Authorization": f"Bearer {site.credential}"},
            data={"case_number": "单-3", "purpose": "单件用印",
                  "options": '{"placement": {"kind": "anchor", "text": "盖章处"}}'},
            files={"file": ("a.pdf", approval_pdf(1), "application/pdf")})
        command = subprocess.run(
            [ZHENGYIN, "stamp", "file", site.seal_id, "in.pdf", "--case-number", "单-3",
             "--purpose", "单件用印", "--anchor", ANCHOR, "--out", "out.pdf"],
            env=site.env, cwd=site.cwd, capture_output=True, text=True, timeout=180,
            check=False)
        batch = _batch(site, "批-3", "out.zip")
        assert batch.wait(180) == 0

    assert response.status_code == 500
    assert not response.content.startswith(b"%PDF")
    assert command.returncode != 0, command.stderr
    assert not (site.cwd / "out.pdf").exists()
    assert not list(site.cwd.glob(".out.pdf.*"))
    assert site.uses() == []
    [job] = site.jobs()  # the batch failed as a whole, nothing written
    assert job.status is StampJobStatus.FAILED
    assert list(site.jobs_dir.iterdir()) == [] and not (site.cwd / "out.zip").exists()


# ----------------------------------------------------------------------------- the service


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(site: Installation, port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [ZHENGYIN, "serve", "--port", str(port), "--workers", "2"],
        env={**site.env, "ZHENGYIN_WORKERS": "1"}, cwd=site.cwd,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def ready() -> bool:
        assert server.poll() is None, "the service exited"
        try:
            return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    _wait(ready, 120, "the service")
    return server


def _job_runner(server: psutil.Process) -> psutil.Process | None:
    """The server worker that owns a stamping pool (it runs the job)."""
    for worker in server.children():
        try:
            if any("forkserver" in " ".join(child.cmdline()) for child in worker.children()):
                return worker
        except psutil.Error:
            continue
    return None


class _SingleStamps:
    """Single-document stamps sent in a loop; keeps every sealed PDF that came back."""

    def __init__(self, base: str, site: Installation) -> None:
        self.bodies: list[bytes] = []
        self._base, self._site = base, site
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        pdf = approval_pdf(1)
        headers = {"Authorization": f"Bearer {self._site.credential}"}
        while not self._stop.is_set():
            try:
                response = httpx.post(
                    f"{self._base}/seals/{self._site.seal_id}/stamp", headers=headers,
                    data={"case_number": "单-1", "purpose": "单件用印",
                          "options": '{"placement": {"kind": "anchor", "text": "盖章处"}}'},
                    files={"file": ("a.pdf", pdf, "application/pdf")}, timeout=30)
            except httpx.TransportError:
                time.sleep(0.1)
                continue
            if response.status_code == 200:
                self.bodies.append(response.content)

    def stop(self) -> list[bytes]:
        self._stop.set()
        self._thread.join(60)
        return self.bodies


def _submit(base: str, site: Installation, case_number: str) -> str:
    files = [("files", (path.name, path.read_bytes(), "application/pdf"))
             for path in sorted((site.cwd / "documents").glob("*.pdf"))]
    response = httpx.post(
        f"{base}/seals/{site.seal_id}/stamp-jobs",
        headers={"Authorization": f"Bearer {site.credential}"},
        data={"case_number": case_number, "purpose": "批量用印",
              "options": '{"placement": {"kind": "anchor", "text": "盖章处"}}'},
        files=files, timeout=120)
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def test_a_killed_job_runner_or_service_leaves_no_sealed_file_without_its_use(
        installation: Installation) -> None:
    site = installation
    rng = _random()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = _serve(site, port)
    singles = _SingleStamps(base, site)
    try:
        rounds = [("job-runner", "stamping"), ("service", "stamping"),
                  ("job-runner", rng.choice(["starting", "finishing"]))]
        for round_number, (victim, phase) in enumerate(rounds):
            job_id = _submit(base, site, f"批-{round_number}")

            def current(ident: str = job_id) -> StampJob:
                return next(job for job in site.jobs() if job.id == ident)

            def state() -> StampJobStatus:
                return current().status

            _reach(phase, current, lambda: state() in (StampJobStatus.DONE,
                                                       StampJobStatus.FAILED), rng)
            parent = psutil.Process(server.pid)
            if victim == "job-runner":
                runner = _job_runner(parent)
                if runner is not None:  # else the job had finished and the pool idles
                    _kill_tree(runner)
            else:
                workers = parent.children()
                parent.send_signal(signal.SIGKILL)
                for worker in workers:
                    _kill_tree(worker)
                server.wait(10)
                server = _serve(site, port)
            # A live worker's sweeper ends the job once its lease runs out.
            _wait(lambda: state() in (StampJobStatus.DONE, StampJobStatus.FAILED),
                  LEASE_SECONDS * 4 + 30, f"job {job_id} to end")
            _assert_every_output_recorded(site, singles.bodies)
            _assert_jobs_settled(site)
    finally:
        bodies = singles.stop()
        server.terminate()
        server.wait(60)
    assert bodies, "no single stamp came back"
    _assert_every_output_recorded(site, bodies)
    _assert_jobs_settled(site)
    output = next((job for job in site.jobs() if job.status is StampJobStatus.DONE), None)
    if output is not None:  # a done job's zip is what the route serves
        assert output.output_path is not None
        with zipfile.ZipFile(io.BytesIO(Path(output.output_path).read_bytes())) as archive:
            assert archive.testzip() is None
