"""PostgreSQL helpers for benchmarks: throw-away databases and the server's CPU time."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"


@contextmanager
def fresh_database(admin_url: str = DEFAULT_ADMIN_URL, *, keep: bool = False) -> Iterator[str]:
    """Create an empty database; drop it afterwards unless ``keep``."""
    import psycopg

    name = f"zy_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{admin_url.rsplit('/', 1)[0]}/{name}"
    finally:
        if not keep:
            with psycopg.connect(admin_url, autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _postgres_ticks() -> dict[int, int]:
    ticks = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
                stat = handle.read()
        except OSError:
            continue
        if "(postgres)" in stat:
            fields = stat.rsplit(")", 1)[1].split()
            ticks[int(pid)] = int(fields[11]) + int(fields[12])
    return ticks


class PostgresCPU:
    """CPU time the PostgreSQL server spends while it runs, backends that exit included.

    A backend's time disappears from /proc when its connection closes, so the server's
    processes are sampled every 100 ms and each one's last reading is kept.
    """

    def __init__(self) -> None:
        self._start = _postgres_ticks()
        self._last = dict(self._start)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.1):
            self._last.update(_postgres_ticks())

    def __enter__(self) -> PostgresCPU:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self._last.update(_postgres_ticks())

    @property
    def seconds(self) -> float:
        """CPU seconds used between enter and exit."""
        used = sum(ticks - self._start.get(pid, 0) for pid, ticks in self._last.items())
        return used / os.sysconf("SC_CLK_TCK")
