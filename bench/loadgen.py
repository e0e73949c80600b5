"""A small closed-loop HTTP load generator with latency percentiles."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class LoadResult:
    """Throughput and latency of one run."""

    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rate(self) -> float:
        """Successful requests per second."""
        return (self.requests - self.errors) / self.seconds

    def percentile(self, q: float) -> float:
        """Latency percentile in milliseconds."""
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]

    def line(self, label: str) -> str:
        """One printable summary line."""
        return (f"{label:<32} {self.rate:9.1f} req/s   p50 {self.percentile(50):6.2f} ms   "
                f"p99 {self.percentile(99):7.2f} ms   errors {self.errors}/{self.requests}")


async def _run(make_request: Callable[[httpx.AsyncClient], object], *, concurrency: int,
               seconds: float, ok: Callable[[httpx.Response], bool]) -> LoadResult:
    latencies: list[float] = []
    errors = 0
    count = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        stop = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal errors, count
            while time.perf_counter() < stop:
                started = time.perf_counter()
                response = await make_request(client)  # type: ignore[misc]
                latencies.append((time.perf_counter() - started) * 1000)
                count += 1
                if not ok(response):
                    errors += 1

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    return LoadResult(count, errors, elapsed, latencies)


def closed_loop(make_request: Callable[[httpx.AsyncClient], object], *, concurrency: int = 8,
                seconds: float = 10.0,
                ok: Callable[[httpx.Response], bool] = lambda r: r.status_code == 200,
                ) -> LoadResult:
    """Run ``concurrency`` clients back to back for ``seconds``."""
    return asyncio.run(_run(make_request, concurrency=concurrency, seconds=seconds, ok=ok))


def median(values: list[float]) -> float:
    """Median helper for callers."""
    return statistics.median(values)
