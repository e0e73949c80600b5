"""A stamping environment per test module: runtime, PKI, live OCSP server, NSS db, seals.

pdfsig asks the OCSP responder named in our certificates, so the module's PKI is created
with ``public_base_url`` pointing at a live server on a free loopback port, started before
any certificate is issued. Creating the PKI, the server and the NSS database costs about a
second, so one environment serves a whole module; tests create their own seals and never
change another test's.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from zhengyin.api.runtime import Runtime
from zhengyin.core.clock import utcnow
from zhengyin.keys import KeyAlgorithm
from zhengyin.signing.models import Seal, SealType
from zhengyin.signing.seals import SealRequest

from ..conftest import truncate_all
from ..support import ORG_CODE, ORG_NAME, make_settings
from .checks import nss_database

PERSON_ID = "11010519491231002X"


@dataclass
class StampingEnv:
    """Everything a stamping test needs."""

    runtime: Runtime
    base_url: str
    root_der: bytes
    issuing_der: bytes
    nss: Path
    tmp: Path

    def new_seal(self, seal_type: SealType = SealType.APPROVAL, **overrides: Any) -> Seal:
        """A fresh active seal of our test organisation."""
        values: dict[str, Any] = {"org_name": ORG_NAME, "credit_code": ORG_CODE,
                                  "seal_type": seal_type}
        if seal_type.is_personal:
            values.update(holder_name="张三丰", holder_id_number=PERSON_ID)
        values.update(overrides)
        with self.runtime.unit_of_work() as services:
            seal = services.seals.create(SealRequest(**values), at=utcnow(), actor="test")
            services.session.expunge(seal)
        return seal


def _serve(runtime: Runtime, sock: socket.socket) -> tuple[Any, threading.Thread]:
    import uvicorn

    from zhengyin.api.app import create_app

    # lifespan off: the module owns the runtime and closes it itself.
    config = uvicorn.Config(create_app(runtime=runtime), log_config=None, log_level="warning",
                            access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]},
                              name="uvicorn-ocsp", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            pytest.fail("the test OCSP server did not start")
        time.sleep(0.01)
    return server, thread


def make_stamping_env(database_url: str, kek_text: str,
                      tmp_path_factory: pytest.TempPathFactory,
                      **overrides: Any) -> Iterator[StampingEnv]:
    """Build the environment (a generator for module fixtures)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    tmp = tmp_path_factory.mktemp("stamping")
    settings = make_settings(tmp / "data", database_url, kek_text, public_base_url=base_url,
                             **overrides)
    runtime = Runtime(settings)
    runtime.ensure_pki()
    with runtime.unit_of_work(readonly=True) as services:
        root_der = services.pki.identity("root").der
        issuing_der = services.pki.identity("issuing").der
    server, thread = _serve(runtime, sock)
    try:
        yield StampingEnv(runtime, base_url, root_der, issuing_der,
                          nss_database(tmp / "nss", root_der), tmp)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
        truncate_all(runtime.engine)
        runtime.close()


@pytest.fixture(scope="module")
def stamping(database_url: str, kek_text: str,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[StampingEnv]:
    """The module's stamping environment (software keys)."""
    yield from make_stamping_env(database_url, kek_text, tmp_path_factory)


@pytest.fixture(scope="module")
def approval_seal(stamping: StampingEnv) -> Seal:
    """An approval seal (审批专用章), EC P-256, shared by the module."""
    return stamping.new_seal(SealType.APPROVAL, algorithm=KeyAlgorithm.EC_P256)
