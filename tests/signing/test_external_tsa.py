"""Stamping with an external RFC 3161 TSA (``ZHENGYIN_TSA_URL``) instead of our own.

The external TSA is a live Zhengyin server's public ``/tsa`` on loopback. The signing
runtime is a second runtime over the same database and keys whose settings name that
URL; it must never build its in-process TSA, and every token must come over HTTP and
verify with ``openssl ts -verify``.
"""

from __future__ import annotations

import socket
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from zhengyin.api.runtime import Runtime
from zhengyin.core.clock import utcnow
from zhengyin.signing.jobs import StampJobService, run_stamp_job
from zhengyin.signing.models import Seal, SignatureLevel, StampJobStatus
from zhengyin.signing.stamper import StampOptions
from zhengyin.signing.stamping import StampedDocument, StampRequest
from zhengyin.signing.timestamps import TimeStampUnavailableError
from zhengyin.signing.uselog import SealUseFilter

from ..support import make_settings
from .checks import assert_pyhanko_passes, openssl_ts_verify, pdfsig_check, signature_tokens
from .documents import approval_pdf
from .fixtures import StampingEnv, make_stamping_env
from .test_stamping import ANCHORED


@pytest.fixture(scope="module")
def stamping(database_url: str, kek_text: str,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[StampingEnv]:
    """The module's environment; its live server answers anonymous ``/tsa`` requests."""
    yield from make_stamping_env(database_url, kek_text, tmp_path_factory, tsa_public=True)


class CountingTSA:
    """Counts the requests the live server's TSA answers."""

    def __init__(self, env: StampingEnv, monkeypatch: pytest.MonkeyPatch) -> None:
        self.requests = 0
        authority = env.runtime.tsa()
        respond = authority.respond

        def counted(request_der: bytes) -> bytes:
            self.requests += 1
            return respond(request_der)

        monkeypatch.setattr(authority, "respond", counted)


@pytest.fixture
def served_tsa(stamping: StampingEnv, monkeypatch: pytest.MonkeyPatch) -> CountingTSA:
    return CountingTSA(stamping, monkeypatch)


def _signing_runtime(env: StampingEnv, kek_text: str, tsa_url: str,
                     monkeypatch: pytest.MonkeyPatch) -> Runtime:
    """A runtime over the environment's database and keys, told the TSA by the variable."""
    monkeypatch.setenv("ZHENGYIN_TSA_URL", tsa_url)
    settings = make_settings(env.runtime.settings.data_dir,
                             env.runtime.settings.effective_database_url, kek_text,
                             public_base_url=env.base_url)
    assert settings.tsa_url == tsa_url
    return Runtime(settings)


@pytest.fixture
def external(stamping: StampingEnv, kek_text: str,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    """The signing runtime, pointing at the live server's /tsa."""
    runtime = _signing_runtime(stamping, kek_text, f"{stamping.base_url}/tsa", monkeypatch)
    try:
        yield runtime
    finally:
        runtime.close()


def _stamp(runtime: Runtime, seal: Seal, **request: Any) -> StampedDocument:
    options = StampOptions(ANCHORED, level=SignatureLevel.B_T)
    with runtime.unit_of_work() as services:
        return services.stamping.stamp(
            StampRequest(seal.id, options, request.get("case_number", "外部〔2025〕1号"),
                         "准予行政许可"),
            approval_pdf(), client_id=None, actor="test", at=utcnow())


def test_a_b_t_stamp_takes_its_token_from_the_external_tsa(
        stamping: StampingEnv, approval_seal: Seal, external: Runtime,
        served_tsa: CountingTSA) -> None:
    _stamp(external, approval_seal)  # the first stamp also calibrates the signature size
    served_tsa.requests = 0

    done = _stamp(external, approval_seal)

    assert served_tsa.requests == len(signature_tokens(done.result.pdf)) == 1
    assert external._tsa is None  # the in-process TSA was never built


def test_a_token_from_the_external_tsa_verifies_with_openssl(
        stamping: StampingEnv, approval_seal: Seal, external: Runtime) -> None:
    done = _stamp(external, approval_seal)

    assert openssl_ts_verify(done.result.pdf, stamping.root_der, stamping.issuing_der,
                             stamping.tmp) == 1


def test_a_pdf_stamped_with_the_external_tsa_validates(
        stamping: StampingEnv, approval_seal: Seal, external: Runtime) -> None:
    done = _stamp(external, approval_seal)

    assert_pyhanko_passes(done.result.pdf, stamping.root_der, timestamped=True)
    pdfsig_check(done.result.pdf, stamping.nss, stamping.tmp)


def test_a_batch_in_the_worker_pool_uses_the_external_tsa(
        stamping: StampingEnv, approval_seal: Seal, external: Runtime,
        served_tsa: CountingTSA) -> None:
    documents = [(f"doc-{n}.pdf", approval_pdf()) for n in range(2)]
    options = StampOptions(ANCHORED, level=SignatureLevel.B_T)
    request = StampRequest(approval_seal.id, options, "外部批量-1", "批量审批")
    with external.unit_of_work() as services:
        job_id = services.stamp_jobs.create(request, len(documents), client_id=None,
                                            at=utcnow()).id

    @contextmanager
    def open_jobs() -> Iterator[StampJobService]:
        with external.unit_of_work() as services:
            yield services.stamp_jobs

    finished = run_stamp_job(job_id, documents, options, pool=external.stamp_pool(),
                             jobs=open_jobs, actor="test", clock=utcnow)

    assert (finished.status, finished.succeeded) == (StampJobStatus.DONE, 2)
    # The workers asked the live server (once more each to calibrate), not a TSA of their own.
    assert served_tsa.requests >= len(documents)
    assert finished.output_path is not None
    with zipfile.ZipFile(finished.output_path) as archive:
        for name in archive.namelist():
            openssl_ts_verify(archive.read(name), stamping.root_der, stamping.issuing_der,
                              stamping.tmp)


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_external_tsa_is_a_clear_error_and_nothing_is_recorded(
        stamping: StampingEnv, approval_seal: Seal, kek_text: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/tsa"
    runtime = _signing_runtime(stamping, kek_text, url, monkeypatch)
    try:
        with pytest.raises(TimeStampUnavailableError, match=f"the TSA at {url} cannot be reached"):
            _stamp(runtime, approval_seal, case_number="外部〔2025〕不可达")
    finally:
        runtime.close()
    with stamping.runtime.unit_of_work(readonly=True) as services:
        uses = services.seal_uses.page(SealUseFilter(seal_id=approval_seal.id,
                                                     case_number="外部〔2025〕不可达"))
    assert uses == []
