"""Health, OpenAPI, problem+json errors and request limits."""

from __future__ import annotations

from typing import Any

from zhengyin.api.app import create_app
from zhengyin.api.runtime import Runtime
from zhengyin.core.models import ClientRole

from ..support import bearer


def test_healthz_answers_ok(http: Any) -> None:
    assert http.get("/healthz").json() == {"status": "ok"}


def test_readyz_reports_each_dependency(http: Any) -> None:
    response = http.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "keystore": "ok", "pki": "ok"}


def test_openapi_document_is_served_with_stable_operation_ids(http: Any) -> None:
    document = http.get("/openapi.json").json()
    operation_ids = {op["operationId"] for ops in document["paths"].values() for op in ops.values()}
    assert {"healthz", "timestamp", "ocsp_post", "add_client", "verify_audit"} <= operation_ids


def test_unknown_route_is_a_problem_document(http: Any) -> None:
    response = http.get("/no/such/thing")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == "urn:zhengyin:problem:not_found"
    assert body["status"] == 404
    assert body["instance"] == "/no/such/thing"


def test_invalid_body_names_the_field(http: Any, credentials: dict[ClientRole, str]) -> None:
    response = http.post("/admin/clients", json={"name": "x", "role": "emperor"},
                         headers=bearer(credentials[ClientRole.ADMIN]))
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "request.invalid"
    assert [error["field"] for error in body["errors"]] == ["role"]


def test_domain_error_carries_code_and_hint(http: Any, credentials: dict[ClientRole, str]) -> None:
    response = http.post("/admin/clients", json={"name": "dept", "role": "issuer"},
                         headers=bearer(credentials[ClientRole.ADMIN]))
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "trust.error"
    assert "organisation" in body["detail"]
    assert "--org" in body["hint"]


def test_invalid_credit_code_is_unprocessable(
    http: Any, credentials: dict[ClientRole, str]
) -> None:
    body = {"name": "dept", "role": "issuer", "org_credit_code": "91110000600037341K"}
    response = http.post("/admin/clients", json=body,
                         headers=bearer(credentials[ClientRole.ADMIN]))
    assert response.status_code == 422
    assert response.json()["code"] == "codes.invalid_credit_code"


def test_body_over_the_limit_is_refused_before_the_route(runtime: Runtime) -> None:
    from fastapi.testclient import TestClient

    runtime.settings = runtime.settings.model_copy(update={"max_request_bytes": 2048})
    with TestClient(create_app(runtime=runtime)) as client:
        response = client.post("/ocsp", content=b"x" * 4096)
    assert response.status_code == 413
    assert response.json()["code"] == "request.too_large"


def test_streamed_body_over_the_limit_is_refused(runtime: Runtime) -> None:
    from fastapi.testclient import TestClient

    runtime.settings = runtime.settings.model_copy(update={"max_request_bytes": 2048})

    def chunks() -> Any:
        for _ in range(8):
            yield b"y" * 1024

    with TestClient(create_app(runtime=runtime)) as client:
        response = client.post("/ocsp", content=chunks())
    assert response.status_code == 413


def test_responses_carry_a_request_id(http: Any) -> None:
    assert len(http.get("/healthz").headers["x-request-id"]) == 16


def test_a_credential_never_appears_in_list_responses(http: Any,
                                                      credentials: dict[ClientRole, str]) -> None:
    listing = http.get("/admin/clients", headers=bearer(credentials[ClientRole.ADMIN])).text
    for credential in credentials.values():
        assert credential.split(".")[2] not in listing
    assert "secret" not in listing


def test_a_serving_app_keeps_its_start_up_heap_out_of_the_collector(runtime: Runtime) -> None:
    import gc

    from fastapi.testclient import TestClient

    with TestClient(create_app(runtime=runtime)) as client:
        assert client.get("/healthz").status_code == 200
        assert gc.get_freeze_count() > 0  # full collections skip it: no long pauses
    assert gc.get_freeze_count() == 0  # handed back at shutdown, collectable again
