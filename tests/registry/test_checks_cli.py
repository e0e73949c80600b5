"""The check commands: ``zhengyin receipt verify`` (offline) and ``zhengyin item import | list``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import pem

from zhengyin.api.runtime import Runtime
from zhengyin.core.models import ClientRole
from zhengyin.registry.catalogue import example_service_items
from zhengyin.registry.errors import RegistryError

from .test_checks import ITEM, World, _business

ZHENGYIN = str(Path(sys.executable).with_name("zhengyin"))


@pytest.fixture
def world(http: Any, registry: Runtime, credentials: dict[ClientRole, str]) -> World:
    """A populated registry for checks."""
    return World(http, registry, credentials)


def _offline(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``zhengyin ARGS`` with no settings at all: no database, no data directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHENGYIN_")}
    return subprocess.run([ZHENGYIN, *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=120, check=False)


def _receipt_files(world: World, tmp_path: Path) -> tuple[dict[str, Any], Path, Path]:
    """A check's answer, its receipt in a file and our root in PEM."""
    business = world.issue(world.market, _business())
    body = world.check(consent_id=world.consent()).json()
    assert body["materials"][0]["identifier"] == business
    receipt = tmp_path / "receipt.jws"
    receipt.write_text(body["receipt"] + "\n", encoding="ascii")
    root = tmp_path / "root.pem"
    with world.runtime.unit_of_work(readonly=True) as services:
        root.write_bytes(pem.armor("CERTIFICATE", services.pki.identity("root").der))
    return body, receipt, root


def test_receipt_verify_prints_what_a_good_receipt_states(world: World, tmp_path: Path) -> None:
    body, receipt, root = _receipt_files(world, tmp_path)
    result = _offline("receipt", "verify", str(receipt), "--root", str(root), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert f"receipt verified: check {body['check_id']}" in text
    assert f"for test-intake, item {ITEM}, case CY-2026-000123" in text
    assert f"business-licence 营业执照: satisfied {body['materials'][0]['identifier']}" in text
    assert "premises 经营场所使用证明: not satisfied (none-held)" in text


def test_receipt_verify_refuses_a_tampered_receipt_in_one_line(world: World,
                                                               tmp_path: Path) -> None:
    _body, receipt, root = _receipt_files(world, tmp_path)
    header, claims, signature = receipt.read_text(encoding="ascii").strip().split(".")
    claims = claims[:-2] + ("A" if claims[-2] != "A" else "B") + claims[-1]
    receipt.write_text(f"{header}.{claims}.{signature}", encoding="ascii")
    result = _offline("receipt", "verify", str(receipt), "--root", str(root), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == ["error: the signed token does not verify"]
    assert "receipt verified" not in result.stdout


@pytest.fixture
def cli(registry: Runtime, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Any]]:
    """Runs ``zhengyin`` in-process against the test runtime's database."""
    from typer.testing import CliRunner

    from zhengyin.api.cli import app, common

    settings = registry.settings
    for name in [n for n in os.environ if n.startswith("ZHENGYIN_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("ZHENGYIN_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("ZHENGYIN_DATABASE_URL", settings.effective_database_url)
    monkeypatch.setenv("ZHENGYIN_KEK", settings.kek.get_secret_value())  # type: ignore[union-attr]
    monkeypatch.setenv("ZHENGYIN_LOG_JSON", "false")
    common.runtime.cache_clear()
    runner = CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(app, list(args))

    yield run
    if common.runtime.cache_info().currsize:
        common.runtime().close()
    common.runtime.cache_clear()


def _item_codes(runtime: Runtime) -> list[str]:
    with runtime.unit_of_work(readonly=True) as services:
        return sorted(item.code for item in services.service_items.all())


def test_receipt_verify_without_a_root_checks_against_this_installations_signers(
    world: World, cli: Callable[..., Any], tmp_path: Path
) -> None:
    body, receipt, _root = _receipt_files(world, tmp_path)
    result = cli("receipt", "verify", str(receipt))
    assert result.exit_code == 0, result.output
    assert f"receipt verified: check {body['check_id']}" in " ".join(result.output.split())


def test_item_import_defines_a_list_of_items_and_item_list_shows_them(
    cli: Callable[..., Any], registry: Runtime, tmp_path: Path
) -> None:
    items = tmp_path / "items.json"
    items.write_text(json.dumps(example_service_items(), ensure_ascii=False), encoding="utf-8")
    imported = cli("item", "import", str(items))
    assert imported.exit_code == 0, imported.output
    assert imported.output.splitlines() == ["11110105-FOOD-0001 食品经营许可（新办）: 2 materials",
                                            "11110105-FOOD-0002 食品经营许可（延续）: 1 materials"]
    assert _item_codes(registry) == ["11110105-FOOD-0001", "11110105-FOOD-0002"]
    listed = cli("item", "list")
    assert listed.exit_code == 0, listed.output
    text = "".join(listed.output.split())
    for code, name, materials in (("11110105-FOOD-0001", "食品经营许可（新办）",
                                   "营业执照,经营场所使用证明"),
                                  ("11110105-FOOD-0002", "食品经营许可（延续）", "食品经营许可证")):
        assert code in text and name in text and materials in text


def test_item_import_of_one_item_replaces_its_definition(cli: Callable[..., Any],
                                                         registry: Runtime,
                                                         tmp_path: Path) -> None:
    item = example_service_items()[0]
    first = tmp_path / "item.json"
    first.write_text(json.dumps(item, ensure_ascii=False), encoding="utf-8")
    assert cli("item", "import", str(first)).exit_code == 0
    item["materials"] = item["materials"][:1]
    first.write_text(json.dumps(item, ensure_ascii=False), encoding="utf-8")
    replaced = cli("item", "import", str(first))
    assert replaced.output.strip() == f"{ITEM} 食品经营许可（新办）: 1 materials"
    with registry.unit_of_work(readonly=True) as services:
        assert [m["id"] for m in services.service_items.get(ITEM).materials] == [
            "business-licence"]


def test_item_import_with_a_bad_item_stores_none_of_the_file(cli: Callable[..., Any],
                                                             registry: Runtime,
                                                             tmp_path: Path) -> None:
    good, bad = example_service_items()
    bad["materials"][0]["types"][0]["fields"].append("no_such_field")
    items = tmp_path / "items.json"
    items.write_text(json.dumps([good, bad], ensure_ascii=False), encoding="utf-8")
    result = cli("item", "import", str(items))
    assert result.exit_code == 1
    assert isinstance(result.exception, RegistryError)
    assert "no_such_field" in str(result.exception)
    assert _item_codes(registry) == []


def test_a_holder_is_checked_against_an_item_imported_by_the_cli(
    cli: Callable[..., Any], world: World, tmp_path: Path
) -> None:
    item = {**example_service_items()[0], "code": "CLI-ITEM-1", "name": "命令行导入的事项"}
    item["materials"] = item["materials"][:1]
    items = tmp_path / "item.json"
    items.write_text(json.dumps(item, ensure_ascii=False), encoding="utf-8")
    assert cli("item", "import", str(items)).exit_code == 0
    world.issue(world.market, _business())
    response = world.check(item_code="CLI-ITEM-1",
                           consent_id=world.consent(item_code="CLI-ITEM-1"))
    assert response.status_code == 200, response.text
    assert [(m["material"], m["satisfied"]) for m in response.json()["materials"]] == [
        ("business-licence", True)]
