"""Start a real ``zhengyin serve`` on a free loopback port for benchmarks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import httpx

ZHENGYIN = str(Path(sys.executable).with_name("zhengyin"))


@dataclass(frozen=True)
class Server:
    """A running service and an admin credential for it."""

    base_url: str
    env: dict[str, str]
    cwd: Path
    pid: int = 0  # of ``zhengyin serve`` (the supervisor, when there are workers)

    def cli(self, *args: str) -> str:
        """Run a CLI command against the same settings; returns stdout."""
        result = subprocess.run([ZHENGYIN, *args], env=self.env, cwd=self.cwd,
                                capture_output=True, text=True, check=True)
        return result.stdout


def free_port() -> int:
    """An unused TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_server(workdir: Path, *, database_url: str | None = None, workers: int = 2,
                   extra_env: dict[str, str] | None = None) -> Iterator[Server]:
    """Migrate, initialise and serve; stops the server on exit."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHENGYIN_")}
    port = free_port()
    env.update({
        "ZHENGYIN_DATA_DIR": str(workdir / "data"),
        "ZHENGYIN_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "ZHENGYIN_LOG_LEVEL": "WARNING",
    })
    if database_url:
        env["ZHENGYIN_DATABASE_URL"] = database_url
    env.update(extra_env or {})
    server = Server(f"http://127.0.0.1:{port}", env, workdir)
    server.cli("db", "upgrade")
    server.cli("pki", "init")
    # The log goes to a file: a pipe nobody reads would block the server once it filled.
    log = (workdir / "server.log").open("wb")
    process = subprocess.Popen(
        [ZHENGYIN, "serve", "--port", str(port), "--workers", str(workers)],
        env=env, cwd=workdir, stdout=subprocess.DEVNULL, stderr=log,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{server.base_url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                tail = (workdir / "server.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"server failed to start:\n{tail}")
            time.sleep(0.2)
        yield replace(server, pid=process.pid)
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
