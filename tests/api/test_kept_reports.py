"""The public page's report links (/verify/reports/{token}.pdf|.json) are answered by every
worker of ``zhengyin serve --workers 2`` for 15 minutes, then never again."""

from __future__ import annotations

import http.client
import os
import re
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from sqlalchemy import func, select, update

from zhengyin.api.models import KeptReport
from zhengyin.api.runtime import Runtime
from zhengyin.core.clock import utcnow
from zhengyin.core.db import make_engine

from ..conftest import truncate_all
from .test_serving import ZHENGYIN, _free_port, _workers

UNKNOWN = "1.2.156.3005.2.11100000000013338W032.11110105MB00000009.2026000999.001.X"


def _token(page: str) -> str:
    found = re.search(r"/verify/reports/([A-Za-z0-9_-]+)\.pdf", page)
    assert found is not None, page[:400]
    return found.group(1)


@pytest.fixture
def served(database_url: str, tmp_path: Path) -> Iterator[tuple[psutil.Process, int]]:
    """``zhengyin serve --workers 2`` on the session database, ready; emptied after."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHENGYIN_")}
    env.update(ZHENGYIN_DATA_DIR=str(tmp_path / "data"), ZHENGYIN_DATABASE_URL=database_url,
               ZHENGYIN_LOG_JSON="false", ZHENGYIN_VERIFY_IN_PROCESS="true")
    port = _free_port()
    server = subprocess.Popen([ZHENGYIN, "serve", "--port", str(port), "--workers", "2"],
                              env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        yield psutil.Process(server.pid), port
    finally:
        if server.poll() is None:
            server.terminate()
            server.wait(timeout=60)
        engine = make_engine(database_url)
        truncate_all(engine)
        engine.dispose()


def _fetch(port: int, path: str, workers: list[psutil.Process]) -> tuple[int, bytes, int]:
    """GET ``path`` on a new connection: (status, body, pid of the worker that answered)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.connect()
        assert connection.sock is not None
        local = connection.sock.getsockname()[1]
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        answered = [worker.pid for worker in workers
                    for held in worker.net_connections(kind="tcp")
                    if held.raddr and held.raddr.port == local]
        assert len(answered) == 1, answered
        return response.status, body, answered[0]
    finally:
        connection.close()


@pytest.mark.slow
def test_report_links_are_answered_by_every_worker(served: tuple[psutil.Process, int]) -> None:
    supervisor, port = served
    workers = _workers(supervisor, 2, time.monotonic() + 60)
    assert len(workers) == 2
    page = httpx.get(f"http://127.0.0.1:{port}/v/{UNKNOWN}", timeout=60)
    token = _token(page.text)
    for suffix, media in ((".json", b"{"), (".pdf", b"%PDF-")):
        answered: set[int] = set()
        for _ in range(60):
            status, body, pid = _fetch(port, f"/verify/reports/{token}{suffix}", workers)
            assert status == 200, body[:300]
            assert body.startswith(media)
            answered.add(pid)
            if len(answered) == 2:
                break
        assert answered == {worker.pid for worker in workers}


def _kept_rows(runtime: Runtime) -> int:
    with runtime.unit_of_work(readonly=True) as services:
        return int(services.session.scalar(select(func.count()).select_from(KeptReport)) or 0)


def test_a_report_link_expires_after_15_minutes_and_expired_reports_are_deleted(
    http: Any, runtime: Runtime
) -> None:
    token = _token(http.get(f"/v/{UNKNOWN}").text)
    kept = http.get(f"/verify/reports/{token}.json")
    assert kept.status_code == 200 and kept.json()["subject"]["identifier"] == UNKNOWN
    with runtime.unit_of_work() as services:
        row = services.session.scalars(select(KeptReport)).one()
        assert utcnow() + timedelta(minutes=14) < row.expires_at \
            <= utcnow() + timedelta(minutes=15)
        services.session.execute(update(KeptReport).values(expires_at=utcnow()))
    for suffix in (".json", ".pdf"):
        response = http.get(f"/verify/reports/{token}{suffix}")
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")
    assert _kept_rows(runtime) == 1
    http.get(f"/v/{UNKNOWN}")  # keeping another report deletes the expired one
    assert _kept_rows(runtime) == 1


def test_a_kept_report_is_stored_under_a_digest_of_its_token(http: Any,
                                                              runtime: Runtime) -> None:
    token = _token(http.get(f"/v/{UNKNOWN}").text)
    with runtime.unit_of_work(readonly=True) as services:
        stored = services.session.scalars(select(KeptReport.token_sha256)).one()
    assert token not in stored and len(stored) == 64
