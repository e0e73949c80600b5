"""No 500 for any input: what the service cannot store or compute is refused at the edge.

Every case here answered 500 once (on PostgreSQL, which refuses U+0000, and on SQLite).
Each must be a 422 problem naming the field, on both databases. The document test checks
the class: every string a request can carry is constrained in the OpenAPI document.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import TypeAdapter, ValidationError

from zhengyin.api.problems import PROBLEM_RESPONSES
from zhengyin.api.runtime import Runtime
from zhengyin.api.schemas.inputs import Day, Instant, JsonObject, Line, Text
from zhengyin.core.clock import utcnow
from zhengyin.core.models import ClientRole
from zhengyin.registry.catalogue import TypeDefinition, example_definitions
from zhengyin.registry.holders import HolderKind

from ..support import bearer

NUL = "a\x00b"
BIG = str(2**64)
FOOD = "11100000000013338W032"


@pytest.fixture
def callers(runtime: Runtime, credentials: dict[ClientRole, str]) -> dict[str, dict[str, str]]:
    """Headers per role, and a holder's."""
    with runtime.unit_of_work() as services:
        holder = runtime.holder_tokens.mint(services, "110101199003074477",
                                            HolderKind.CITIZEN_ID, at=utcnow())
    headers = {role.value: bearer(credential) for role, credential in credentials.items()}
    headers["holder"] = bearer(holder)
    return headers


def _check(body: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"holder_kind": "credit-code", "holder_code": "91110000600037341L",
            "item_code": "11110105-FOOD-0001", "case_number": "CY-1", "purpose": "审查",
            "consent_id": "c" * 32, **fields}


def _licence(**fields: Any) -> dict[str, Any]:
    return {"type_code": FOOD, "holder_kind": "credit-code", "holder_code": "91110000600037341L",
            "holder_name": "某某公司", "fields": {"operator_name": "某某公司"}, **fields}


# (method, path, role, request keyword arguments, the field the problem names)
REFUSED: list[tuple[str, str, str, dict[str, Any], str]] = [
    ("POST", "/admin/clients", "admin", {"json": {"name": NUL, "role": "verifier"}}, "name"),
    ("POST", "/admin/keys", "admin", {"json": {"label": NUL}}, "label"),
    ("POST", "/licences", "issuer", {"json": _licence(holder_name=NUL)}, "holder_name"),
    ("POST", "/licences", "issuer", {"json": _licence(fields={"operator_name": NUL})},
     "fields"),
    ("POST", "/licences", "issuer", {"json": _licence(fields={NUL: "x"})}, "fields"),
    ("POST", "/licences/X/suspend", "issuer", {"json": {"reason": NUL}}, "reason"),
    ("POST", "/checks", "intake", {"json": _check({}, case_number=NUL)}, "case_number"),
    ("POST", "/checks", "intake", {"json": _check({}, purpose=NUL)}, "purpose"),
    ("POST", "/checks", "intake", {"json": _check({}, purpose="审\x1b[31m查")}, "purpose"),
    ("POST", "/holder/consents", "holder",
     {"json": {"item_code": "11110105-FOOD-0001", "case_number": NUL}}, "case_number"),
    ("POST", "/seals", "admin",
     {"json": {"org_name": NUL, "credit_code": "11100000000013338W", "seal_type": "approval"}},
     "org_name"),
    ("PUT", "/admin/service-items", "admin", {"json": [{"code": NUL}]}, "0"),
    ("POST", "/verifications/qr", "verifier", {"json": {"payload": NUL}}, "payload"),
    ("POST", "/seals/X/stamp", "stamper",
     {"data": {"case_number": NUL, "purpose": "p", "options": "{}"},
      "files": {"file": ("a.pdf", b"%PDF-1.7", "application/pdf")}}, "case_number"),
    ("GET", "/licences", "issuer", {"params": {"holder_code": NUL}}, "query.holder_code"),
    ("GET", "/uses", "issuer", {"params": {"identifier": NUL}}, "query.identifier"),
    ("GET", "/seals/X/uses", "admin", {"params": {"case_number": NUL}}, "query.case_number"),
    ("GET", "/admin/audit/entries", "admin", {"params": {"object_id": NUL}}, "query.object_id"),
    ("GET", "/licences/a%00b", "issuer", {}, "path"),
    ("GET", "/public/licences/a%01b/status", "none", {}, "path"),
    ("POST", "/licences", "issuer",
     {"json": _licence(), "headers": {"Idempotency-Key": "k\x01"}}, "header.idempotency-key"),
    # Integers beyond 64 bits.
    ("GET", "/licences", "issuer", {"params": {"after": BIG}}, "query.after"),
    ("GET", "/admin/audit/entries", "admin", {"params": {"after": BIG}}, "query.after"),
    ("GET", "/admin/certificates", "admin", {"params": {"after_id": BIG}}, "query.after_id"),
    ("GET", "/uses", "admin", {"params": {"after": BIG}}, "query.after"),
    ("GET", "/holder/uses", "holder", {"params": {"after": BIG}}, "query.after"),
    ("GET", "/seals/X/uses", "admin", {"params": {"after": BIG}}, "query.after"),
    # Moments outside years 1900–9998 (UTC), or without a zone.
    ("GET", "/licences/X/status", "issuer", {"params": {"at": "9999-12-31T23:59:59Z"}},
     "query.at"),
    ("GET", "/licences/X/status", "issuer", {"params": {"at": "0001-01-01T00:00:00+14:00"}},
     "query.at"),
    ("POST", "/holder/agents", "holder",
     {"json": {"agent_code": "11010519491231002X", "expires_at": "9999-12-31T23:00:00-12:00"}},
     "expires_at"),
    ("POST", "/holder/consents", "holder",
     {"json": {"item_code": "11110105-FOOD-0001", "expires_at": "2030-01-01T00:00:00"}},
     "expires_at"),
    ("POST", "/licences/X/suspend", "issuer",
     {"json": {"reason": "r", "effective_at": "1066-10-14T09:00:00Z"}}, "effective_at"),
    ("POST", "/licences", "issuer", {"json": _licence(valid_until="9999-12-31")}, "valid_until"),
    # Values no code handles.
    ("POST", "/checks", "intake", {"json": _check({}, holder_kind="martian")}, "holder_kind"),
    ("POST", "/licences", "issuer", {"json": _licence(holder_kind="")}, "holder_kind"),
]


@pytest.mark.parametrize(("method", "path", "role", "request_args", "field"), REFUSED,
                         ids=[f"{m} {p} {f}" for m, p, _r, _a, f in REFUSED])
def test_an_input_the_service_cannot_take_is_a_422_naming_the_field(
        http: Any, callers: dict[str, dict[str, str]], method: str, path: str, role: str,
        request_args: dict[str, Any], field: str) -> None:
    args = dict(request_args)
    headers = {**callers.get(role, {}), **args.pop("headers", {})}
    response = http.request(method, path, headers=headers, **args)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "request.invalid"
    assert field in {error["field"] for error in problem["errors"]}, problem


def test_a_number_pattern_that_formats_a_huge_width_is_refused_when_defined(
        http: Any, callers: dict[str, dict[str, str]]) -> None:
    definition = next(d for d in example_definitions() if d["code"] == FOOD)
    for pattern in ("{serial:>999999999}", "{serial:d}", "{}", "{serial:{year}}",
                    "{holder_code}{issuer}{serial}{serial}{serial}"):
        response = http.put("/admin/licence-types", headers=callers["admin"],
                            json=[{**definition, "number_pattern": pattern}])
        assert response.status_code == 422, (pattern, response.text)
        assert response.json()["code"] == "licence_type.invalid"


def test_an_example_number_pattern_is_still_accepted() -> None:
    for definition in example_definitions():
        assert TypeDefinition.from_json(definition).number_pattern == \
            definition.get("number_pattern")


@pytest.mark.parametrize(("value", "accepted"), [
    ("1900-01-01T00:00:00Z", True), ("9998-12-31T23:59:59Z", True),
    ("1900-01-01T07:00:00+08:00", False), ("1899-12-31T23:59:59Z", False),
    ("9999-01-01T00:00:00Z", False), ("9998-12-31T11:00:00-12:00", True),
    ("9998-12-31T13:00:00-12:00", False),
    ("9999-12-31T23:00:00-12:00", False), ("0001-01-01T00:00:00+14:00", False),
    ("2026-05-01T00:00:00", False),
])
def test_an_instant_is_aware_and_within_years_1900_to_9998_in_utc(value: str,
                                                                 accepted: bool) -> None:
    adapter: TypeAdapter[datetime] = TypeAdapter(Instant)
    if accepted:
        assert adapter.validate_python(value).tzinfo is not None
    else:
        with pytest.raises(ValidationError):
            adapter.validate_python(value)


def test_a_day_lies_within_years_1900_to_9998() -> None:
    adapter: TypeAdapter[Any] = TypeAdapter(Day)
    assert str(adapter.validate_python("9998-12-31")) == "9998-12-31"
    for value in ("9999-12-31", "1899-12-31"):
        with pytest.raises(ValidationError):
            adapter.validate_python(value)


@pytest.mark.parametrize(("text", "line", "multiline"), [
    ("某某局审批专用章 No.1", True, True), ("第一行\n第二行\t(附)", False, True),
    ("a\r\nb", False, True), ("a\x00b", False, False), ("a\x7fb", False, False),
    ("a\x85b", False, False), ("\x1b[2J", False, False),
])
def test_text_takes_no_control_characters_but_tab_and_newline_where_lines_mean_something(
        text: str, line: bool, multiline: bool) -> None:
    for kind, accepted in ((Line, line), (Text, multiline)):
        adapter: TypeAdapter[str] = TypeAdapter(kind)
        if accepted:
            assert adapter.validate_python(text) == text
        else:
            with pytest.raises(ValidationError, match="pattern"):
                adapter.validate_python(text)


def _nested(depth: int) -> Any:
    value: Any = "deep"
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("value", [
    {"a": "\ud800"}, {"a": [{"b": "x\x00"}]}, {"a\nb": 1}, {"a": float("nan")},
    {"a": _nested(40)},
], ids=["surrogate", "nul-deep-inside", "key-with-newline", "nan", "nested-too-deep"])
def test_free_json_is_refused_when_it_cannot_be_stored_or_read_back(value: Any) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(JsonObject).validate_python(value)


def _request_strings(document: dict[str, Any]) -> list[str]:
    """Every string a request may carry that no pattern, enum or format constrains."""
    schemas = document["components"]["schemas"]
    loose: list[str] = []

    def walk(schema: dict[str, Any], where: str, seen: frozenset[str]) -> None:
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            if name not in seen:
                walk(schemas[name], f"{where}<{name}>", seen | {name})
            return
        for key in ("anyOf", "oneOf", "allOf"):
            for index, option in enumerate(schema.get(key, [])):
                walk(option, f"{where}|{index}", seen)
        if schema.get("type") == "string" and not ({"pattern", "enum", "const", "format",
                                                     "contentMediaType"}
                                                    & set(schema)):
            loose.append(where)
        for name, option in schema.get("properties", {}).items():
            walk(option, f"{where}.{name}", seen)
        if isinstance(schema.get("items"), dict):
            walk(schema["items"], f"{where}[]", seen)
        for option in schema.get("prefixItems", []):
            walk(option, f"{where}[]", seen)

    for path, item in document["paths"].items():
        for method, operation in item.items():
            label = f"{method.upper()} {path}"
            for parameter in operation.get("parameters", []):
                walk(parameter["schema"], f"{label} {parameter['in']}.{parameter['name']}",
                     frozenset())
            for media, content in operation.get("requestBody", {}).get("content", {}).items():
                walk(content.get("schema", {}), f"{label} {media}", frozenset())
    return loose


def test_every_string_a_request_carries_is_constrained_in_the_document(http: Any) -> None:
    document = http.get("/openapi.json").json()
    assert _request_strings(document) == []


def test_every_operation_documents_the_problems_it_may_answer_with(http: Any) -> None:
    document = http.get("/openapi.json").json()
    assert "Problem" in document["components"]["schemas"]
    assert {"401", "403", "404", "409", "413", "422"} <= set(map(str, PROBLEM_RESPONSES))
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status in map(str, PROBLEM_RESPONSES):
                content = operation["responses"][status]["content"]
                assert content["application/problem+json"]["schema"] == {
                    "$ref": "#/components/schemas/Problem"}, (method, path, status)


def test_an_unexpected_error_is_a_problem_and_never_reaches_the_server(
        app: FastAPI, caplog: pytest.LogCaptureFixture) -> None:
    @app.get("/__boom", include_in_schema=False)
    def boom() -> None:
        raise ZeroDivisionError("not for the client")

    # raise_server_exceptions: an exception that escaped the app would be raised here, as
    # uvicorn would see it (and then drop the keep-alive connection).
    with TestClient(app, raise_server_exceptions=True) as client:
        response = client.get("/__boom")
        assert client.get("/healthz").status_code == 200
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "internal"
    assert "not for the client" not in response.text
    assert any(record.exc_info and "not for the client" in str(record.exc_info[1])
               for record in caplog.records if record.name == "zhengyin.api")
