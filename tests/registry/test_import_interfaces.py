"""Bulk import through its two interfaces: ``POST /licence-imports`` (an issuer imports for
its own organisation) and ``zhengyin licence import`` (progress bar, error report next to
the file, sealing now in a process pool); and the surface-field fast path agreeing with
jsonschema."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from zhengyin.api.runtime import Runtime
from zhengyin.registry.catalogue import TypeDefinition, example_definitions, fields_validator
from zhengyin.registry.fieldcheck import fields_conform
from zhengyin.registry.models import Licence, LicenceType

from .conftest import FOOD_TYPE, HOSPITAL, MARKET, issuer_headers
from .test_import import food_row

ZHENGYIN = str(Path(sys.executable).with_name("zhengyin"))


def _jsonl(rows: list[Any]) -> bytes:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()


def _upload(http: Any, headers: dict[str, str], body: bytes, **params: Any) -> Any:
    return http.post("/licence-imports", params={"type_code": FOOD_TYPE, **params},
                     content=body, headers={**headers, "Content-Type": "application/x-ndjson"})


def test_an_issuer_imports_for_its_own_organisation(http: Any, registry: Runtime,
                                                    market: dict[str, str]) -> None:
    body = _jsonl([food_row(), food_row(holder_code="91110000600037341M"), food_row()])
    response = _upload(http, market, body)
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["issuer_code"], result["imported"], result["failed"], result["finished"]) \
        == (MARKET, 2, 1, True)
    assert result["errors"] == [{"row": 2, "field": "holder_code", "message":
                                 "the unified social credit code fails its GB 32100 "
                                 "check character"}]
    batch = result["batch_id"]

    again = _upload(http, market, body).json()  # the same upload resumes: nothing twice
    assert (again["batch_id"], again["imported"], again["resumed_after"]) == (batch, 2, 3)
    assert http.get(f"/licence-imports/{batch}", headers=market).json()["imported"] == 2

    lines = http.get(result["errors_url"], headers=market)
    assert lines.headers["content-type"].startswith("application/x-ndjson")
    assert [json.loads(line)["row"] for line in lines.text.splitlines()] == [2]
    table = http.get(result["errors_url"], params={"format": "csv"}, headers=market)
    assert table.text.splitlines()[0] == "row,field,message"

    hospital = issuer_headers(registry, HOSPITAL)
    assert http.get(f"/licence-imports/{batch}", headers=hospital).status_code == 404
    assert http.get(f"/licence-imports/{batch}/errors", headers=hospital).status_code == 404
    refused = _upload(http, hospital, body)
    assert (refused.status_code, refused.json()["code"]) == (403, "licence.issuer_not_allowed")


def test_an_upload_can_seal_now(http: Any, registry: Runtime, market: dict[str, str]) -> None:
    result = _upload(http, market, _jsonl([food_row()]), seal_now="true").json()
    assert (result["imported"], result["seal_now"]) == (1, True)
    with registry.unit_of_work(readonly=True) as services:
        digest = services.session.scalar(
            select(Licence.pdf_sha256).where(Licence.import_batch_id == result["batch_id"]))
    assert digest is not None and registry.file_store.exists(digest)


def test_conflicting_uploads_are_409(http: Any, market: dict[str, str]) -> None:
    first = _upload(http, market, _jsonl([food_row()])).json()
    response = _upload(http, market, _jsonl([food_row()]), batch_id="another")
    assert (response.status_code, response.json()["code"]) == (409, "import.conflict")
    assert first["batch_id"] in response.json()["detail"]


def _env(runtime: Runtime) -> dict[str, str]:
    settings = runtime.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHENGYIN_")}
    assert settings.kek is not None and settings.database_url is not None
    env.update({"ZHENGYIN_DATA_DIR": str(settings.data_dir),
                "ZHENGYIN_DATABASE_URL": settings.database_url,
                "ZHENGYIN_KEK": settings.kek.get_secret_value(),
                "ZHENGYIN_PUBLIC_BASE_URL": settings.public_base_url,
                "ZHENGYIN_WORKERS": "2", "ZHENGYIN_LOG_JSON": "false"})
    return env


def test_the_command_seals_now_in_a_pool_and_writes_the_report(registry: Runtime,
                                                                tmp_path: Path) -> None:
    source = tmp_path / "food.jsonl"
    source.write_bytes(_jsonl([food_row(), {"holder_kind": "credit-code"}, food_row()]))
    command = [ZHENGYIN, "licence", "import", str(source), "--type", FOOD_TYPE,
               "--issuer", MARKET, "--seal-now"]
    result = subprocess.run(command, env=_env(registry), capture_output=True, text=True,
                            timeout=180, check=False)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "2 imported, 1 refused" in result.stdout
    report = tmp_path / "food.errors.jsonl"
    assert [json.loads(line)["field"] for line in report.read_text().splitlines()] == \
        ["holder_code", "holder_name", "fields"]
    with registry.unit_of_work(readonly=True) as services:
        digests = list(services.session.scalars(
            select(Licence.pdf_sha256).where(Licence.import_batch_id.is_not(None))))
    assert len(digests) == 2 and all(registry.file_store.exists(d) for d in digests if d)

    rerun = subprocess.run(command, env=_env(registry), capture_output=True, text=True,
                           timeout=180, check=False)
    assert rerun.returncode == 3 and "resumed after line 3" in rerun.stdout


# --------------------------------------------------------------------------- fast path

_VARIANTS: list[tuple[str, Any]] = [
    ("empty_string", ""), ("long_string", "长" * 600), ("integer", 7), ("float", 7.5),
    ("bool", True), ("none", None), ("list", ["a"]), ("date", "2024-02-29"),
    ("impossible_date", "2024-02-30"), ("phone", "010-12345678"), ("letters", "abc"),
]


@pytest.mark.parametrize("document", example_definitions(), ids=lambda d: d["code"])
def test_the_fast_path_never_accepts_what_jsonschema_refuses(document: dict[str, Any]) -> None:
    definition = TypeDefinition.from_json(document)
    licence_type = LicenceType(code=definition.code, fields_schema=definition.fields_schema)
    validator = fields_validator(licence_type)
    properties = definition.fields_schema["properties"]
    base = {name: _example(schema) for name, schema in properties.items()}
    assert fields_conform(licence_type, base) == validator.is_valid(base)
    for name in properties:
        for _label, value in _VARIANTS:
            candidate = {**base, name: value}
            if fields_conform(licence_type, candidate):
                assert validator.is_valid(candidate), (name, value)
        missing = {key: value for key, value in base.items() if key != name}
        if fields_conform(licence_type, missing):
            assert validator.is_valid(missing), name
    assert not fields_conform(licence_type, {**base, "unknown": "x"}) or \
        validator.is_valid({**base, "unknown": "x"})


def _example(schema: dict[str, Any]) -> Any:
    if "enum" in schema:
        return schema["enum"][0]
    if schema.get("type") in ("integer", "number"):
        return schema.get("minimum", 1)
    if schema.get("format") == "date":
        return "2020-01-01"
    if "pattern" in schema:
        return "010-12345678"
    return "某" * max(2, schema.get("minLength", 2))
