"""A client disabled by another process stops working within ``client_cache_seconds``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from zhengyin.api.runtime import Runtime
from zhengyin.api.settings import Settings
from zhengyin.core.clients import ClientService
from zhengyin.core.clock import utcnow
from zhengyin.core.models import ClientRole

from ..support import bearer

TTL = 0.5


@pytest.fixture
def short_cache_http(settings: Settings) -> Iterator[tuple[Any, Runtime]]:
    from fastapi.testclient import TestClient

    from tests.conftest import truncate_all
    from zhengyin.api.app import create_app

    runtime = Runtime(settings.model_copy(update={"client_cache_seconds": TTL}))
    runtime.ensure_pki()
    try:
        with TestClient(create_app(runtime=runtime), raise_server_exceptions=False) as client:
            yield client, runtime
    finally:
        truncate_all(runtime.engine)
        runtime.close()


def _verifier(runtime: Runtime) -> tuple[str, str]:
    with runtime.unit_of_work() as services:
        issued = services.clients.add(name="cached-verifier", role=ClientRole.VERIFIER,
                                      org_credit_code=None, at=utcnow(), actor="test")
        return issued.client.id, issued.credential


def _disable_elsewhere(runtime: Runtime, client_id: str) -> None:
    """As another process would: the same database, not this process's cache."""
    with runtime.unit_of_work() as services:
        ClientService(services.session, services.audit).disable(client_id, at=utcnow(),
                                                                actor="test")


def test_a_client_disabled_elsewhere_is_refused_once_the_cache_entry_expires(
        short_cache_http: tuple[Any, Runtime]) -> None:
    http, runtime = short_cache_http
    client_id, credential = _verifier(runtime)
    assert http.post("/tsa", content=b"", headers=bearer(credential)).status_code != 401

    _disable_elsewhere(runtime, client_id)
    time.sleep(TTL + 0.1)

    assert http.post("/tsa", content=b"", headers=bearer(credential)).status_code == 401


def test_a_failed_authentication_is_not_cached(short_cache_http: tuple[Any, Runtime]) -> None:
    http, runtime = short_cache_http
    _client_id, credential = _verifier(runtime)
    wrong = credential[:-1] + ("A" if credential[-1] != "A" else "B")

    assert http.post("/tsa", content=b"", headers=bearer(wrong)).status_code == 401
    assert http.post("/tsa", content=b"", headers=bearer(credential)).status_code != 401
