"""Who reads what: issuers their own, administrators all, holders theirs, the public little."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from zhengyin.api.runtime import Runtime
from zhengyin.core.clock import utcnow
from zhengyin.core.models import ClientRole
from zhengyin.registry.holders import HolderKind

from ..support import bearer
from .conftest import (
    BUSINESS_TYPE,
    ESTATE_TYPE,
    FOOD_TYPE,
    REAL_ESTATE,
    food_request,
    issuer_headers,
)

PERSON = "11010519491231002X"


def _estate(holder_code: str = PERSON, name: str = "王五") -> dict[str, Any]:
    return {
        "type_code": ESTATE_TYPE, "holder_kind": "citizen-id", "holder_code": holder_code,
        "holder_name": name,
        "fields": {"right_holder": name, "co_ownership": "单独所有", "location": "朝阳区某处",
                   "unit_number": "110105008001GB00012F00030058", "right_type": "房屋所有权",
                   "right_nature": "市场化商品房", "usage": "住宅", "area": "89.56㎡"},
    }


@pytest.fixture
def estate(registry: Runtime) -> dict[str, str]:
    """Headers of the real-estate registration centre."""
    return issuer_headers(registry, REAL_ESTATE)


def _holder_token(runtime: Runtime, code: str, kind: HolderKind = HolderKind.CITIZEN_ID) -> str:
    with runtime.unit_of_work() as services:
        return runtime.holder_tokens.mint(services, code, kind, at=utcnow())


def test_an_issuer_reads_its_own_licences_but_not_others(http: Any, registry: Runtime,
                                                         market: dict[str, str],
                                                         estate: dict[str, str]) -> None:
    mine = http.post("/licences", json=food_request(), headers=market).json()["identifier"]
    theirs = http.post("/licences", json=_estate(), headers=estate).json()["identifier"]
    assert http.get(f"/licences/{mine}", headers=market).status_code == 200
    hidden = http.get(f"/licences/{theirs}", headers=market)
    assert hidden.status_code == 404
    assert hidden.json()["code"] == "licence.not_found"
    listed = http.get("/licences", headers=market).json()["licences"]
    assert [item["identifier"] for item in listed] == [mine]


def test_an_administrator_reads_every_licence(http: Any, registry: Runtime,
                                              market: dict[str, str], estate: dict[str, str],
                                              credentials: dict[ClientRole, str]) -> None:
    http.post("/licences", json=food_request(), headers=market)
    http.post("/licences", json=_estate(), headers=estate)
    listed = http.get("/licences", headers=bearer(credentials[ClientRole.ADMIN])).json()
    assert len(listed["licences"]) == 2


def _business(holder_code: str = "91110000600037341L") -> dict[str, Any]:
    return {
        "type_code": BUSINESS_TYPE, "holder_kind": "credit-code", "holder_code": holder_code,
        "holder_name": "北京某某科技有限公司",
        "fields": {"name": "北京某某科技有限公司", "entity_type": "有限责任公司",
                   "legal_representative": "李四", "registered_capital": "壹仟万元整",
                   "established": "2015-06-01", "operating_period": "长期",
                   "address": "北京市朝阳区望京街10号", "business_scope": "技术开发；技术服务"},
    }


def _issue(http: Any, headers: dict[str, str], body: dict[str, Any]) -> str:
    response = http.post("/licences", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["identifier"])


def _listed(http: Any, headers: dict[str, str], **params: Any) -> list[str]:
    response = http.get("/licences", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return [item["identifier"] for item in response.json()["licences"]]


def test_listing_filters_by_holder(http: Any, registry: Runtime, market: dict[str, str]) -> None:
    theirs = [_issue(http, market, food_request(holder_code="91110000600037341L"))
              for _ in range(2)]
    _issue(http, market, food_request(holder_code="11100000000013338W"))
    assert _listed(http, market, holder_code="91110000600037341L") == theirs


def test_listing_filters_by_type(http: Any, registry: Runtime, market: dict[str, str]) -> None:
    food = [_issue(http, market, food_request()) for _ in range(2)]
    business = _issue(http, market, _business())
    assert _listed(http, market, type_code=FOOD_TYPE) == food
    assert _listed(http, market, type_code=BUSINESS_TYPE) == [business]
    assert _listed(http, market, type_code=ESTATE_TYPE) == []


def test_listing_combines_the_holder_and_type_filters(http: Any, registry: Runtime,
                                                      market: dict[str, str]) -> None:
    _issue(http, market, food_request(holder_code="91110000600037341L"))
    _issue(http, market, _business("11100000000013338W"))
    wanted = _issue(http, market, _business("91110000600037341L"))
    assert _listed(http, market, type_code=BUSINESS_TYPE,
                   holder_code="91110000600037341L") == [wanted]


def test_listing_pages_by_keyset(http: Any, registry: Runtime, market: dict[str, str]) -> None:
    issued = [_issue(http, market, food_request()) for _ in range(3)]
    first = http.get("/licences", params={"limit": 2}, headers=market).json()
    assert len(first["licences"]) == 2 and first["next_after"] is not None
    rest = http.get("/licences", params={"limit": 2, "after": first["next_after"]},
                    headers=market).json()
    assert len(rest["licences"]) == 1 and rest["next_after"] is None
    assert [item["identifier"] for item in first["licences"] + rest["licences"]] == issued


def test_public_status_shows_no_personal_data(http: Any, registry: Runtime,
                                              estate: dict[str, str]) -> None:
    identifier = http.post("/licences", json=_estate(), headers=estate).json()["identifier"]
    response = http.get(f"/public/licences/{identifier}/status")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"identifier", "type_name", "status", "valid_from", "valid_until",
                         "superseded_by"}
    assert PERSON not in response.text and "王五" not in response.text
    assert body["valid_until"] is None  # 长期有效


def test_public_status_of_an_unknown_or_malformed_identifier_is_404(http: Any,
                                                                    registry: Runtime) -> None:
    unknown = "1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.F"
    assert http.get(f"/public/licences/{unknown}/status").status_code == 404
    assert http.get("/public/licences/not-an-identifier/status").status_code == 404


def test_a_holder_lists_and_downloads_only_their_own_licences(
    http: Any, registry: Runtime, estate: dict[str, str]
) -> None:
    mine = http.post("/licences", json=_estate(), headers=estate).json()["identifier"]
    other = http.post("/licences", json=_estate("440524188001010014", "孙九"),
                      headers=estate).json()["identifier"]
    holder = bearer(_holder_token(registry, PERSON))
    listed = http.get("/holder/licences", headers=holder).json()
    assert [item["identifier"] for item in listed] == [mine]
    pdf = http.get(f"/holder/licences/{mine}/pdf", headers=holder)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    assert http.get(f"/holder/licences/{other}", headers=holder).status_code == 404
    assert http.get(f"/holder/licences/{other}/pdf", headers=holder).status_code == 404


def test_a_tampered_or_foreign_holder_token_is_refused(http: Any, registry: Runtime) -> None:
    token = _holder_token(registry, PERSON)
    header, payload, signature = token.split(".")
    forged = f"{header}.{payload}.{signature[:-4]}AAAA"
    assert http.get("/holder/licences", headers=bearer(forged)).status_code == 401
    import jwt

    self_made = jwt.encode({"iss": registry.holder_tokens.dev_issuer, "aud": "zhengyin",
                            "sub": "x", "holder_code": PERSON, "iat": 0, "exp": 2**31},
                           "s" * 32, algorithm="HS256")
    assert http.get("/holder/licences", headers=bearer(self_made)).status_code == 401


def test_development_tokens_are_refused_when_disabled(runtime: Runtime) -> None:
    from fastapi.testclient import TestClient

    from zhengyin.api.app import create_app

    token = _holder_token(runtime, PERSON)
    runtime.settings = runtime.settings.model_copy(update={"holder_dev_tokens": False})
    runtime.__dict__.pop("holder_tokens", None)
    with TestClient(create_app(runtime=runtime)) as client:
        assert client.get("/holder/licences", headers=bearer(token)).status_code == 401


def test_holder_downloads_are_audited_with_a_masked_id(http: Any, registry: Runtime,
                                                       estate: dict[str, str]) -> None:
    from sqlalchemy import select

    from zhengyin.core.models import AuditEntry

    identifier = http.post("/licences", json=_estate(), headers=estate).json()["identifier"]
    http.get(f"/holder/licences/{identifier}/pdf",
             headers=bearer(_holder_token(registry, PERSON)))
    with registry.unit_of_work(readonly=True) as services:
        entry = services.session.scalar(select(AuditEntry).where(
            AuditEntry.action == "licence.downloaded"))
    assert entry is not None
    assert entry.actor == "holder:110105********002X"


def test_the_cli_mints_a_development_holder_token(tmp_path: Path) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHENGYIN_")}
    env["ZHENGYIN_DATA_DIR"] = str(tmp_path / "data")
    zhengyin = str(Path(sys.executable).with_name("zhengyin"))
    subprocess.run([zhengyin, "db", "upgrade"], env=env, cwd=tmp_path, check=True,
                   capture_output=True)
    minted = subprocess.run([zhengyin, "holder", "token", PERSON], env=env, cwd=tmp_path,
                            capture_output=True, text=True, check=False)
    assert minted.returncode == 0, minted.stderr
    assert minted.stdout.count(".") == 2
    refused = subprocess.run([zhengyin, "holder", "token", "110105194912310021"], env=env,
                             cwd=tmp_path, capture_output=True, text=True, check=False)
    assert refused.returncode == 1
    assert "110105194912310021" not in refused.stderr


def test_a_last_page_that_is_exactly_full_says_there_is_no_next(
    http: Any, registry: Runtime, market: dict[str, str]
) -> None:
    for _ in range(2):
        _issue(http, market, food_request())
    page = http.get("/licences", params={"limit": 2}, headers=market).json()
    assert len(page["licences"]) == 2 and page["next_after"] is None
