"""Conflicting changes through the HTTP API of ``zhengyin serve --workers 2``.

Four requests per licence or seal, released together from four client threads, each on
its own connection, land on the service's two worker processes: exactly the changes a
serial order allows succeed (2xx), the others are 409 with a conflict code, and the
history each subject keeps replays to its stored state.
"""

from __future__ import annotations

import base64
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from zhengyin.api.runtime import Runtime
from zhengyin.core.clock import utcnow
from zhengyin.core.models import ClientRole

from ..conftest import truncate_all
from ..registry.conftest import MARKET, food_request, install_examples, seal_png
from ..registry.test_lifecycle_races import ACTION_OF, LOSER_CODES
from ..signing.test_seal_races import judge_seal
from ..support import ORG_CODE, ORG_NAME, make_settings, serving

pytestmark = pytest.mark.slow

BODIES: dict[str, dict[str, Any]] = {
    "suspend": {"reason": "并发测试"}, "report-lost": {"reason": "并发测试"},
    "revoke": {"kind": "revoked", "reason_code": "R-1", "reason": "并发测试",
               "legal_basis": "《食品安全法》第一百二十六条"},
    "change": {"reason": "并发测试"}, "renew": {"reason": "并发测试"},
}


@dataclass
class Service:
    """The served installation and its clients' headers."""

    runtime: Runtime
    base: str
    issuer: dict[str, str]
    admin: dict[str, str]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _credential(runtime: Runtime, name: str, role: ClientRole, org: str | None
                ) -> dict[str, str]:
    with runtime.unit_of_work() as services:
        issued = services.clients.add(name=name, role=role, org_credit_code=org, at=utcnow(),
                                      actor="test")
    return {"Authorization": f"Bearer {issued.credential}"}


@pytest.fixture(scope="module")
def service(database_url: str, kek_text: str, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[Service]:
    """The example types, the market regulator's seal and clients, served by two workers."""
    data = tmp_path_factory.mktemp("served") / "data"
    runtime = Runtime(make_settings(data, database_url, kek_text))
    runtime.ensure_pki()
    install_examples(runtime)
    issuer = _credential(runtime, "race-issuer", ClientRole.ISSUER, MARKET)
    admin = _credential(runtime, "race-admin", ClientRole.ADMIN, None)
    port = _free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("ZHENGYIN_")}
    env.update(ZHENGYIN_DATA_DIR=str(data), ZHENGYIN_DATABASE_URL=database_url,
               ZHENGYIN_KEK=kek_text, ZHENGYIN_LOG_JSON="false", ZHENGYIN_WORKERS="1")
    try:
        with serving(env, port, data, "--workers", "2"):
            yield Service(runtime, f"http://127.0.0.1:{port}", issuer, admin)
    finally:
        truncate_all(runtime.engine)
        runtime.close()


def _race(service: Service, requests: list[tuple[str, dict[str, str], dict[str, Any]]]
          ) -> list[tuple[int, str | None]]:
    """POST each (path, headers, body) at once; (status, problem code) of each."""
    barrier = threading.Barrier(len(requests))
    results: list[tuple[int, str | None]] = [(0, None)] * len(requests)

    def send(index: int, path: str, headers: dict[str, str], body: dict[str, Any]) -> None:
        with httpx.Client(base_url=service.base, timeout=120) as client:
            client.get("/healthz")  # connected before the race
            barrier.wait()
            response = client.post(path, json=body, headers=headers)
        code = response.json().get("code") if response.status_code >= 400 else None
        results[index] = (response.status_code, code)

    threads = [threading.Thread(target=send, args=(index, *request))
               for index, request in enumerate(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    return results


def _issue(service: Service) -> str:
    with httpx.Client(base_url=service.base, timeout=120) as client:
        response = client.post("/licences", json=food_request(), headers=service.issuer)
    assert response.status_code == 201, response.text
    return str(response.json()["identifier"])


def _licence_problems(service: Service, identifier: str, actions: list[str],
                      results: list[tuple[int, str | None]]) -> list[str]:
    problems = [f"{action}: {status} {code}" for action, (status, code)
                in zip(actions, results, strict=True)
                if status >= 300 and (status, code) not in {(409, c) for c in LOSER_CODES}]
    with httpx.Client(base_url=service.base, timeout=60) as client:
        history = client.get(f"/licences/{identifier}/history", headers=service.issuer).json()
        stored = client.get(f"/licences/{identifier}", headers=service.issuer).json()["status"]
    status = None
    for event in history:
        if event["from_status"] != status:
            problems.append(f"{event['action']} from {event['from_status']}, was {status}")
        status = event["to_status"]
    if status != stored:
        problems.append(f"history ends {status}, the licence is {stored}")
    won = sorted(ACTION_OF[action].value for action, (code, _) in zip(actions, results,
                                                                      strict=True)
                 if code < 300)
    if won != sorted(event["action"] for event in history[1:]):
        problems.append(f"2xx for {won}, history {[e['action'] for e in history[1:]]}")
    return problems


def test_conflicting_licence_changes_over_http_have_one_serial_outcome(
        service: Service) -> None:
    actions = ["revoke", "suspend", "report-lost", "change"]
    found = {}
    for _ in range(6):
        identifier = _issue(service)
        results = _race(service, [(f"/licences/{identifier}/{action}", service.issuer,
                                   BODIES[action]) for action in actions])
        problems = _licence_problems(service, identifier, actions, results)
        if problems:
            found[identifier] = problems
    assert found == {}


def test_concurrent_renewals_and_changes_over_http_are_one_201_and_three_409(
        service: Service) -> None:
    actions = ["renew", "change", "renew", "change"]
    statuses = []
    for _ in range(4):
        identifier = _issue(service)
        results = _race(service, [(f"/licences/{identifier}/{action}", service.issuer,
                                   BODIES[action]) for action in actions])
        statuses.append(sorted(results, key=lambda result: result[0]))
        assert _licence_problems(service, identifier, actions, results) == []
    assert statuses == [[(201, None), *[(409, "licence.illegal_transition")] * 3]] * 4


def test_conflicting_seal_changes_over_http_have_one_serial_outcome(service: Service) -> None:
    actions = ["suspend", "revoke", "suspend", "resume"]
    found = {}
    for _ in range(6):
        with httpx.Client(base_url=service.base, timeout=120) as client:
            seal = client.post("/seals", headers=service.admin, json={
                "org_name": ORG_NAME, "credit_code": ORG_CODE, "seal_type": "contract",
                "image_png_base64": base64.b64encode(seal_png()).decode("ascii")}).json()
        results = _race(service, [(f"/seals/{seal['id']}/{action}", service.admin,
                                   {"reason": "并发测试"}) for action in actions])
        outcomes = ["ok" if status == 200 else f"{code}" for status, code in results]
        problems = judge_seal(service.runtime, seal["id"], actions, outcomes)
        if problems:
            found[seal["id"]] = (results, problems)
    assert found == {}
