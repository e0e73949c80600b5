"""Running a certificate-free check where it is cheapest: a worker thread or the event loop.

The hot path of intake systems (hundreds a second). Under a consent on PostgreSQL a check
runs on the event loop, no thread (core/asyncdb.py): it reads, then writes once. Anything
else (SQLite, a use code, which is claimed by an update first) takes one worker-thread hop
that runs the check, commits and serialises. The answer is JSON bytes, not re-validated.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread

from zhengyin.core.clock import utcnow
from zhengyin.registry.checks import Caller, CheckRequest, check_under_consent
from zhengyin.registry.receipts import ServiceSigner

from .schemas.checks import CheckRead

if TYPE_CHECKING:
    from .runtime import Runtime

__all__ = ["CheckRunner"]


@cache
def _check_threads(threads: int) -> anyio.CapacityLimiter:
    # Checks beyond this many wait on the event loop, not in threads: more threads than
    # a few only contend for the GIL and the cores (measured: 8 in flight per process
    # gave 208 checks/s on 2 cores where 4 gave 323/s).
    return anyio.CapacityLimiter(threads)


class CheckRunner:
    """Runs checks for the API; one per process."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    async def run(self, request: CheckRequest, caller: Caller) -> bytes:
        """The check's answer (``CheckRead`` as JSON), committed and audited."""
        runtime = self._runtime
        statements = runtime.async_statements
        if statements is None or request.use_code is not None or request.consent_id is None:
            return await anyio.to_thread.run_sync(
                self.check_and_commit, request, caller,
                limiter=_check_threads(runtime.settings.check_threads))
        signer = runtime.registry_signers.loaded
        if signer is None:
            signer = await anyio.to_thread.run_sync(self._load_registry_signer)
        outcome = await check_under_consent(statements, runtime.engine.dialect, signer,
                                            request, caller, at=utcnow())
        if runtime.chains_elsewhere:
            runtime.audit_committed()
        else:
            await anyio.to_thread.run_sync(runtime.audit_committed)
        return CheckRead.of(outcome).model_dump_json().encode("utf-8")

    def _load_registry_signer(self) -> ServiceSigner:
        """Before a one-write unit opens: it must not make the identity itself."""
        runtime = self._runtime
        return runtime.registry_signers.load(runtime.unit_of_work, at=utcnow())

    def check_and_commit(self, request: CheckRequest, caller: Caller) -> bytes:
        """The thread path: the check in a unit of work of its own, committed, serialised."""
        # A check under a consent reads, then writes once (registry/checks.py): no
        # transaction of its own on PostgreSQL. A use code is claimed by an update first:
        # a transaction.
        runtime = self._runtime
        self._load_registry_signer()  # its first use creates the registry's identity
        with runtime.unit_of_work(one_write=request.use_code is None) as services:
            outcome = services.checks.check(request, caller, at=utcnow())
            answer = CheckRead.of(outcome).model_dump_json().encode("utf-8")
        return answer
