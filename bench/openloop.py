"""Open- and closed-loop HTTP load on loopback with a lean client (raw HTTP/1.1 keep-alive).

Requests are scheduled at a fixed rate whether or not earlier ones have finished, and a
request's latency counts from its scheduled time, so queueing (in the client, the socket
or the server) is never hidden. The client writes prepared request bytes and reads each
response by its Content-Length: the generator shares the machine's cores with the
service, and httpx's connection pool spends CPU per request that grows with the number
of requests waiting for a connection, which under open-loop load made the generator,
not the service, the bottleneck.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class OpenLoopResult:
    """What one run saw; latencies in milliseconds from each request's scheduled time."""

    sent: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: int = 0  # connection errors (no status)

    @property
    def errors(self) -> int:
        """Requests without a 200 answer."""
        return self.failures + sum(n for status, n in self.statuses.items() if status != 200)

    def percentile(self, q: float) -> float:
        """Latency percentile (nearest rank)."""
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]

    def line(self, label: str) -> str:
        """One printable summary line (the layout of bench.loadgen's)."""
        rate = (self.sent - self.errors) / self.seconds
        return (f"{label:<32} {rate:9.1f} req/s   p50 {self.percentile(50):6.2f} ms   "
                f"p99 {self.percentile(99):7.2f} ms   errors {self.errors}/{self.sent}")


def http_request(method: str, url: str, *, body: bytes = b"",
                 headers: dict[str, str] | None = None) -> bytes:
    """The bytes of one HTTP/1.1 request (keep-alive)."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc}",
             f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    length = 0
    for line in header_lines:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return int(status_line.split(" ", 2)[1])


async def _run(base_url: str, make_request: Callable[[int], bytes], *, rate: float,
               seconds: float, connections: int) -> OpenLoopResult:
    parts = urlsplit(base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    total = int(rate * seconds)
    queue: asyncio.Queue[tuple[float, int] | None] = asyncio.Queue()
    result = OpenLoopResult(sent=total, seconds=seconds)

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while (item := await queue.get()) is not None:
                scheduled, index = item
                try:
                    writer.write(make_request(index))
                    status = await _read_response(reader)
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    result.failures += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
                    continue
                result.latencies_ms.append((time.perf_counter() - scheduled) * 1000)
                result.statuses[status] += 1
        finally:
            writer.close()

    workers = [asyncio.create_task(connection()) for _ in range(connections)]
    start = time.perf_counter() + 0.05
    for index in range(total):
        scheduled = start + index / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((scheduled, index))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    return result


def open_loop(base_url: str, make_request: Callable[[int], bytes], *, rate: float,
              seconds: float, connections: int = 32) -> OpenLoopResult:
    """Send ``rate`` requests per second for ``seconds`` over ``connections`` connections."""
    return asyncio.run(_run(base_url, make_request, rate=rate, seconds=seconds,
                            connections=connections))


async def _closed(base_url: str, make_request: Callable[[int], bytes], *, concurrency: int,
                  seconds: float) -> OpenLoopResult:
    parts = urlsplit(base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    result = OpenLoopResult(sent=0, seconds=seconds)
    stop = time.perf_counter() + seconds

    async def client() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while time.perf_counter() < stop:
                request = make_request(result.sent)
                result.sent += 1
                began = time.perf_counter()
                writer.write(request)
                status = await _read_response(reader)
                result.latencies_ms.append((time.perf_counter() - began) * 1000)
                result.statuses[status] += 1
        finally:
            writer.close()

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return result


def closed_loop(base_url: str, make_request: Callable[[int], bytes], *, concurrency: int,
                seconds: float) -> OpenLoopResult:
    """``concurrency`` clients, each sending its next request when the last one answered."""
    return asyncio.run(_closed(base_url, make_request, concurrency=concurrency,
                               seconds=seconds))
