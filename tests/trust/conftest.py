"""Fixtures for the PKI, CRL, OCSP and TSA tests: one PKI per module, openssl, a live server.

Issuing the PKI costs a few hundred milliseconds per database, so each module shares one
runtime (``pki_runtime``); tests that revoke or issue make their own certificates and
never touch another test's. Tests that change the CAs themselves use the per-test
``runtime`` fixture of tests/conftest.py instead.
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import pem
from sqlalchemy import select, text

from zhengyin.api.runtime import Runtime
from zhengyin.core.auditformat import GENESIS_HASH, entry_hash
from zhengyin.core.clock import utcnow
from zhengyin.core.models import AuditEntry, ClientRole
from zhengyin.keys import KeyAlgorithm
from zhengyin.trust.pki import IssuedCertificate

from ..conftest import open_runtime
from ..support import ORG_CODE, ORG_NAME, make_settings, require_tool

# Not the default 127.0.0.1:8000, and with a path and a trailing slash, so a test can
# tell that URLs in certificates come from settings.public_base_url and are joined well.
PUBLIC_BASE_URL = "https://zhengyin.example.gov.cn/trust/"
PUBLIC_ROOT = "https://zhengyin.example.gov.cn/trust"

CommandResult = subprocess.CompletedProcess[str]


@dataclass(frozen=True)
class OpenSSL:
    """Runs the openssl command in a working directory."""

    path: str
    cwd: Path

    def __call__(self, *args: str, check: bool = True) -> CommandResult:
        """Run ``openssl <args>``; with ``check`` a non-zero exit fails the test."""
        result = subprocess.run([self.path, *args], cwd=self.cwd, capture_output=True,
                                text=True, timeout=30, check=False)
        if check and result.returncode != 0:
            pytest.fail(f"openssl {' '.join(args)} exited {result.returncode}:\n"
                        f"{result.stdout}\n{result.stderr}")
        return result


@pytest.fixture
def openssl(tmp_path: Path) -> OpenSSL:
    """The openssl command, run in the test's temporary directory."""
    return OpenSSL(require_tool("openssl"), tmp_path)


OPENSSL_TIME = "%b %d %H:%M:%S %Y GMT"  # strptime reads the space-padded day too


def openssl_time(at: datetime) -> str:
    """A UTC time as OpenSSL's ASN1_TIME_print writes it: the day is space-padded."""
    return f"{at:%b} {at.day:2d} {at:%H:%M:%S %Y} GMT"


def write_pem(path: Path, der: bytes) -> Path:
    """Write a DER certificate as PEM."""
    path.write_bytes(pem.armor("CERTIFICATE", der))
    return path


@pytest.fixture(scope="module")
def pki_runtime(database_url: str, kek_text: str,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    """A runtime with an initialised PKI, shared by one module's tests."""
    settings = make_settings(tmp_path_factory.mktemp("pki") / "data", database_url, kek_text,
                             public_base_url=PUBLIC_BASE_URL)
    with open_runtime(settings) as current:
        yield current


def rewrite_audit_chain_from(runtime: Runtime, seq: int) -> None:
    """What an attacker with database access does: edit entry ``seq``, recompute every
    hash from there on and fix the head row (no checkpoint is signed again)."""
    with runtime.unit_of_work() as services:
        prev = GENESIS_HASH
        for entry in services.session.scalars(select(AuditEntry).order_by(AuditEntry.seq)):
            if entry.seq == seq:
                entry.actor = "mallory"
            entry.prev_hash = prev
            entry.hash = entry_hash(seq=entry.seq, at=entry.at, actor=entry.actor,
                                    action=entry.action, object_type=entry.object_type,
                                    object_id=entry.object_id, details=entry.details,
                                    prev_hash=prev)
            prev = entry.hash
        services.session.execute(text("UPDATE audit_head SET hash = :h"), {"h": prev})


@pytest.fixture
def ca_files(pki_runtime: Runtime, tmp_path: Path) -> dict[str, Path]:
    """root.pem, issuing.pem, ocsp.pem, tsa.pem and chain.pem (root + issuing) in tmp_path."""
    files = {}
    with pki_runtime.unit_of_work(readonly=True) as services:
        for purpose in ("root", "issuing", "ocsp", "tsa"):
            files[purpose] = write_pem(tmp_path / f"{purpose}.pem",
                                       services.pki.identity(purpose).der)
    files["chain"] = tmp_path / "chain.pem"
    files["chain"].write_bytes(files["root"].read_bytes() + files["issuing"].read_bytes())
    return files


IssueSeal = Callable[..., IssuedCertificate]


@pytest.fixture
def issue_seal(pki_runtime: Runtime, tmp_path: Path) -> IssueSeal:
    """Issue a fresh seal certificate (own key) and write it to tmp_path/<file name>."""

    def issue(file_name: str = "seal.pem", **overrides: Any) -> IssuedCertificate:
        at = utcnow()
        options: dict[str, Any] = {
            "org_name": ORG_NAME, "credit_code": ORG_CODE, "seal_name": "行政审批专用章",
            "seal_code": "1101050012345", "not_before": at, "not_after": None,
            "at": at, "actor": "test",
        }
        options.update(overrides)
        handle = pki_runtime.keystore.generate(KeyAlgorithm.EC_P256, options["seal_name"])
        with pki_runtime.unit_of_work() as services:
            issued = services.pki.issue_seal_certificate(handle=handle, **options)
        write_pem(tmp_path / file_name, issued.der)
        return issued

    return issue


@pytest.fixture(scope="module")
def live_server(pki_runtime: Runtime) -> Iterator[str]:
    """The real app under uvicorn on a free loopback port, in a background thread."""
    import uvicorn

    from zhengyin.api.app import create_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # log_config=None: leave the test process's logging configuration alone.
    config = uvicorn.Config(create_app(runtime=pki_runtime), log_config=None,
                            log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]},
                              name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            pytest.fail("the test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


@pytest.fixture(scope="module")
def client_credentials(pki_runtime: Runtime) -> dict[ClientRole, str]:
    """One credential per role in the module's database."""
    result = {}
    with pki_runtime.unit_of_work() as services:
        for role in ClientRole:
            result[role] = services.clients.add(
                name=f"trust-test-{role.value}", role=role,
                org_credit_code=ORG_CODE if role in (ClientRole.ISSUER, ClientRole.STAMPER)
                else None,
                at=utcnow(), actor="test",
            ).credential
    return result
