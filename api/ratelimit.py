"""Per-key token buckets (per process) for request rate limits.

Each uvicorn worker keeps its own buckets, so the effective limit is the configured rate
times the number of workers; a shared store (Redis) would be needed for a strict global
limit across hosts.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from .problems import TooManyRequestsError

__all__ = ["RateLimiter"]


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Allows ``per_minute`` requests per key, with bursts up to ``burst``."""

    def __init__(self, per_minute: int, *, burst: int | None = None,
                 max_keys: int = 100_000) -> None:
        self._rate = per_minute / 60.0
        self._burst = float(burst if burst is not None else max(1, per_minute // 6))
        self._buckets: dict[str, _Bucket] = {}
        self._max_keys = max_keys
        self._lock = threading.Lock()

    def check(self, key: str) -> None:
        """Take one token for ``key`` or raise a 429 problem."""
        now = time.monotonic()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= self._max_keys:
                    self._buckets.clear()  # bounded memory under a flood of keys
                bucket = self._buckets[key] = _Bucket(self._burst, now)
            bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.updated) * self._rate)
            bucket.updated = now
            if bucket.tokens < 1.0:
                wait = (1.0 - bucket.tokens) / self._rate
                error = TooManyRequestsError(
                    f"rate limit exceeded; retry in {wait:.1f} s",
                    hint="slow down, or ask an administrator for a higher limit",
                )
                error.retry_after = max(1, round(wait))  # type: ignore[attr-defined]
                raise error
            bucket.tokens -= 1.0
