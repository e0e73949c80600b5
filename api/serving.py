"""Run the HTTP service in several worker processes, each on its own listening socket.

uvicorn's multi-worker mode shares one listening socket among the workers, and a worker's
accept loop takes every connection of a burst: the keep-alive connections of an intake
system's pool can all land on one worker while the others idle (measured on 2 cores: 8
connections gave 197 checks/s with every one on a single worker, against 346/s spread
over both). Here each worker binds its own socket with ``SO_REUSEPORT`` and the kernel
spreads new connections across them by address hash, the way nginx's ``reuseport`` does.

The supervisor restarts a worker that dies, gives up when workers keep dying at start-up,
and on SIGTERM or SIGINT stops every worker gracefully before it exits itself, so no
worker outlives it. It also runs the one audit chainer of the service (workers only write
to the outbox): linking records costs CPU under the workers' GIL that their requests then
wait for (8 % of a check worker's GIL time), and one chainer never contends with another
for the chain's head.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import TYPE_CHECKING

from zhengyin.core.processes import process_context

if TYPE_CHECKING:
    from collections.abc import Callable

    from zhengyin.core.auditchain import BackgroundChainer

__all__ = ["ServeError", "ensure_can_listen", "serve_workers"]

APP = "zhengyin.api.asgi:app"
_log = logging.getLogger("zhengyin.serve")
_STOP_GRACE_SECONDS = 30.0
_QUICK_DEATH_SECONDS = 5.0
_QUICK_DEATHS_ALLOWED = 3


class ServeError(Exception):
    """The service cannot listen or its workers cannot start."""


def _listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


def ensure_can_listen(host: str, port: int) -> None:
    """Raise :class:`ServeError` now, with a clear message, if ``host:port`` is taken."""
    _listening_socket(host, port).close()


def _worker(host: str, port: int) -> None:
    """One worker: its own SO_REUSEPORT socket, one uvicorn server."""
    import uvicorn

    sock = _listening_socket(host, port)
    config = uvicorn.Config(APP, host=host, port=port, log_config=None, access_log=False,
                            proxy_headers=True)
    uvicorn.Server(config).run(sockets=[sock])


def serve_workers(host: str, port: int, workers: int,
                  chainer: Callable[[], BackgroundChainer] | None = None) -> None:
    """Serve ``zhengyin.api.asgi:app`` on ``host:port`` with ``workers`` processes until signalled.

    With several workers and a ``chainer`` factory, the supervisor links the audit records
    and tells the workers (``ZHENGYIN_AUDIT_CHAINING=external``) to leave them to it.
    """
    import uvicorn

    if workers <= 1 or not hasattr(socket, "SO_REUSEPORT"):
        uvicorn.run(APP, host=host, port=port, log_config=None, access_log=False,
                    proxy_headers=True)
        return
    ensure_can_listen(host, port)  # a clear error now, not a crash loop later
    if chainer is not None:
        os.environ["ZHENGYIN_AUDIT_CHAINING"] = "external"  # inherited by the workers
    Supervisor(host, port, workers, chainer() if chainer is not None else None).run()


class Supervisor:
    """Starts, watches and stops the worker processes."""

    def __init__(self, host: str, port: int, workers: int,
                 chainer: BackgroundChainer | None = None) -> None:
        self._host, self._port, self._count = host, port, workers
        self._chainer = chainer
        self._context = process_context("spawn")
        self._workers: list[tuple[BaseProcess, float]] = []
        self._stopping = False
        self._quick_deaths = 0

    def _start_one(self) -> tuple[BaseProcess, float]:
        process = self._context.Process(target=_worker, args=(self._host, self._port),
                                        name="zhengyin-worker", daemon=False)
        process.start()
        return process, time.monotonic()

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._stopping = True

    def run(self) -> None:
        """Supervise until SIGTERM/SIGINT, then stop every worker."""
        previous = {sig: signal.signal(sig, self._on_signal)
                    for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            self._workers = [self._start_one() for _ in range(self._count)]
            if self._chainer is not None:
                self._chainer.start()
            _log.info("serving on %s:%d with %d workers (SO_REUSEPORT)", self._host,
                      self._port, self._count)
            while not self._stopping:
                wait([process.sentinel for process, _ in self._workers], timeout=0.5)
                self._replace_dead()
        finally:
            self._stop_all()
            if self._chainer is not None:
                self._chainer.stop()  # after the workers: a last drain takes their records
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _replace_dead(self) -> None:
        for index, (process, started) in enumerate(self._workers):
            if process.is_alive() or self._stopping:
                continue
            lived = time.monotonic() - started
            _log.error("worker %s exited with code %s after %.1f s; starting another",
                       process.pid, process.exitcode, lived)
            if lived < _QUICK_DEATH_SECONDS:
                self._quick_deaths += 1
                if self._quick_deaths > _QUICK_DEATHS_ALLOWED:
                    self._stopping = True
                    raise ServeError("workers keep exiting at start-up; see the log above")
            self._workers[index] = self._start_one()

    def _stop_all(self) -> None:
        for process, _ in self._workers:
            if process.is_alive() and process.pid is not None:
                process.terminate()  # SIGTERM: uvicorn finishes requests in flight
        deadline = time.monotonic() + _STOP_GRACE_SECONDS
        for process, _ in self._workers:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
