"""Shared fixtures: real databases (SQLite and PostgreSQL), a runtime, an app, clients.

Backends are real. Outside CI a missing PostgreSQL, SoftHSM2, pdfsig or openssl skips the
tests that need it; with ``ZHENGYIN_REQUIRE_BACKENDS=1`` (set by ``make test`` and CI) it
fails them instead.
"""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from zhengyin.api.database import metadata, upgrade
from zhengyin.api.runtime import Runtime
from zhengyin.api.settings import Settings
from zhengyin.core.db import make_engine
from zhengyin.core.models import ClientRole

from .support import ORG_CODE, make_settings, missing_backend, require_tool

POSTGRES_ADMIN_URL = os.environ.get(
    "ZHENGYIN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
_DB_BACKENDS = [b for b in os.environ.get("ZHENGYIN_TEST_DATABASES", "sqlite,postgresql").split(",")
                if b]


# --------------------------------------------------------------------------- databases


def _postgres_database() -> Iterator[str]:
    import psycopg

    admin_url = POSTGRES_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    name = f"zy_test_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        missing_backend(f"PostgreSQL at {admin_url} ({exc.__class__.__name__})")
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session", params=_DB_BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[str]:
    """A migrated database per backend for the whole session."""
    if request.param == "postgresql":
        generator = _postgres_database()
        url = next(generator)
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'zhengyin.db'}"
        generator = None
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    if generator is not None:
        for _ in generator:
            pass


def truncate_all(engine: Engine) -> None:
    """Empty every table and re-seed the audit head, between tests."""
    tables = [t.name for t in reversed(metadata().sorted_tables)]
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text(
                "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"
            ))
        else:
            for table in tables:
                connection.execute(text(f'DELETE FROM "{table}"'))
        connection.execute(text("INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, :h)"),
                           {"h": "0" * 64})


@pytest.fixture(scope="session")
def kek_text() -> str:
    """A test key-encryption key."""
    return base64.b64encode(os.urandom(32)).decode("ascii")


@pytest.fixture
def settings(tmp_path: Path, database_url: str, kek_text: str) -> Settings:
    """Settings over a fresh data directory and the session database."""
    return make_settings(tmp_path / "data", database_url, kek_text)


@contextmanager
def open_runtime(settings: Settings) -> Iterator[Runtime]:
    """A runtime with the PKI initialised; its tables are emptied when it closes."""
    current = Runtime(settings)
    current.ensure_pki()
    try:
        yield current
    finally:
        truncate_all(current.engine)
        current.close()


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    """A runtime with the PKI initialised; tables are emptied afterwards."""
    with open_runtime(settings) as current:
        yield current


@pytest.fixture
def app(runtime: Runtime) -> Any:
    """The FastAPI app over the test runtime."""
    from zhengyin.api.app import create_app

    return create_app(runtime=runtime)


@pytest.fixture
def http(app: Any) -> Iterator[Any]:
    """An in-process HTTP client (runs the app's lifespan)."""
    from fastapi.testclient import TestClient

    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def credentials(runtime: Runtime) -> dict[ClientRole, str]:
    """One credential per role."""
    from zhengyin.core.clock import utcnow

    result = {}
    with runtime.unit_of_work() as services:
        for role in ClientRole:
            issued = services.clients.add(
                name=f"test-{role.value}", role=role,
                org_credit_code=ORG_CODE if role in (ClientRole.ISSUER, ClientRole.STAMPER)
                else None,
                at=utcnow(), actor="test",
            )
            result[role] = issued.credential
    return result


# --------------------------------------------------------------------------- SoftHSM2
# python-pkcs11 loads a PKCS#11 module once per process, and SoftHSM2 reads SOFTHSM2_CONF
# at that moment: one token serves the whole session (key-store and signing tests alike).

SOFTHSM_MODULE = os.environ.get("ZHENGYIN_TEST_SOFTHSM_MODULE",
                                "/usr/lib/softhsm/libsofthsm2.so")


@dataclass(frozen=True)
class SoftHSMToken:
    """A freshly initialised SoftHSM2 token; the PINs stay out of ``repr``."""

    module: str
    label: str
    pin: str = field(repr=False)
    so_pin: str = field(repr=False)
    conf: Path

@pytest.fixture(scope="session")
def softhsm_token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftHSMToken]:
    """A SoftHSM2 token in its own token directory, for the whole session."""
    util = require_tool("softhsm2-util")
    if not Path(SOFTHSM_MODULE).exists():
        missing_backend(f"the SoftHSM2 PKCS#11 module {SOFTHSM_MODULE}")
    base = tmp_path_factory.mktemp("softhsm")
    (base / "tokens").mkdir()
    conf = base / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {base / 'tokens'}\n"
        "objectstore.backend = file\n"
        "log.level = ERROR\n"
        "slots.removable = false\n",
        encoding="utf-8",
    )
    token = SoftHSMToken(module=SOFTHSM_MODULE, label="zhengyin-test",
                         pin=f"user-{secrets.token_hex(6)}", so_pin=f"so-{secrets.token_hex(6)}",
                         conf=conf)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOFTHSM2_CONF", str(conf))
        subprocess.run(
            [util, "--init-token", "--free", "--label", token.label,
             "--pin", token.pin, "--so-pin", token.so_pin],
            check=True, capture_output=True,
        )
        _require_token_visible(token)
        yield token


def _require_token_visible(token: SoftHSMToken) -> None:
    import pkcs11

    try:
        pkcs11.lib(token.module).get_token(token_label=token.label)
    except pkcs11.NoSuchToken:
        pytest.fail(
            f"SoftHSM2 token {token.label!r} is not visible: the module was loaded in this "
            "process before SOFTHSM2_CONF pointed at the test token directory. Create the "
            "token in a session fixture that runs before any other PKCS#11 use."
        )
