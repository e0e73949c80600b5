"""A request's unit of work: committed on success, rolled back at once on failure."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from zhengyin.api.deps import ServicesDep
from zhengyin.api.runtime import Runtime, Services
from zhengyin.core.clock import utcnow
from zhengyin.core.models import AuditEntry, AuditOutboxRecord


def _route_that_writes(app: Any, *, fail: bool) -> None:
    def handler(services: ServicesDep) -> dict[str, str]:
        services.session.execute(text("SELECT 1"))  # holds a pooled connection
        services.audit.append(actor="test", action="thing.done", object_type="thing",
                              object_id="1", at=utcnow())
        if fail:
            raise RuntimeError("the route failed after writing")
        return {"ok": "yes"}

    app.add_api_route("/_test/write", handler, methods=["POST"])


def _records(runtime: Runtime) -> int:
    with runtime.unit_of_work(readonly=True) as services:
        return sum(int(_count(services, model)) for model in (AuditEntry, AuditOutboxRecord))


def _count(services: Services, model: type[AuditEntry] | type[AuditOutboxRecord]) -> int:
    return int(services.session.scalar(
        select(func.count()).select_from(model).where(model.action == "thing.done")) or 0)


def test_a_failed_route_rolls_back_and_returns_its_connection_before_the_response(
        app: Any, runtime: Runtime) -> None:
    _route_that_writes(app, fail=True)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post("/_test/write")
        checked_out = runtime.engine.pool.checkedout()  # type: ignore[attr-defined]

    assert response.status_code == 500
    assert checked_out == 0
    assert _records(runtime) == 0


def test_a_successful_route_commits_before_the_response(app: Any, runtime: Runtime) -> None:
    _route_that_writes(app, fail=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post("/_test/write")
        recorded = _records(runtime)

    assert response.status_code == 200
    assert recorded == 1
