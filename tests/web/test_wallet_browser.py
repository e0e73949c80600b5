"""The holder's wallet in a real browser: sign in, see and download licences, grant
consent, and see an intake system's check appear among the uses. A revoked licence is
red everywhere in the wallet, never green, with its history in Beijing time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from zhengyin.core.clock import utcnow
from zhengyin.core.models import ClientRole
from zhengyin.registry.catalogue import TypeDefinition, example_definitions, example_service_items
from zhengyin.registry.holders import HolderKind
from zhengyin.signing.models import SealType
from zhengyin.signing.seals import SealRequest

from ..registry.conftest import MARKET, seal_png
from ..registry.test_checks import COMPANY, ITEM, _business
from ..signing.fixtures import StampingEnv, make_stamping_env
from .browser import chromium_page, green_elements

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def live(database_url: str, kek_text: str,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[StampingEnv]:
    """A live service on a loopback port with a company's business licence."""
    for env in make_stamping_env(database_url, kek_text, tmp_path_factory):
        with env.runtime.unit_of_work() as services:
            for document in example_definitions():
                services.catalogue.define(TypeDefinition.from_json(document), at=utcnow(),
                                          actor="test")
            for item in example_service_items():
                services.service_items.define(item, at=utcnow(), actor="test")
            services.seals.create(SealRequest(org_name="北京市朝阳区市场监督管理局",
                                              credit_code=MARKET, seal_type=SealType.APPROVAL,
                                              image_png=seal_png()), at=utcnow(), actor="test")
        yield env


def _credential(env: StampingEnv, role: ClientRole, org: str | None = None,
                name: str = "browser") -> str:
    with env.runtime.unit_of_work() as services:
        return services.clients.add(name=f"{name}-{role.value}", role=role,
                                    org_credit_code=org, at=utcnow(), actor="t").credential


def test_a_holder_signs_in_downloads_consents_and_sees_the_use(live: StampingEnv,
                                                               tmp_path: Path) -> None:
    base = live.base_url
    issuer = {"Authorization": f"Bearer {_credential(live, ClientRole.ISSUER, MARKET)}"}
    issued = httpx.post(f"{base}/licences", json=_business(), headers=issuer, timeout=30)
    assert issued.status_code == 201, issued.text
    identifier = issued.json()["identifier"]
    with live.runtime.unit_of_work() as services:
        token = live.runtime.holder_tokens.mint(services, COMPANY, HolderKind.CREDIT_CODE,
                                                at=utcnow())

    with chromium_page() as page:
        page.goto(f"{base}/wallet")
        assert page.url.endswith("/wallet/login")
        page.fill("#token", token)
        page.click("#sign-in")
        page.wait_for_url(f"{base}/wallet")
        row = page.locator(f"tr[data-identifier='{identifier}']")
        assert "营业执照" in row.inner_text()
        assert "有效" in row.inner_text()

        with page.expect_download() as download_info:
            row.get_by_text("下载").click()
        saved = tmp_path / "licence.pdf"
        download_info.value.save_as(saved)
        assert saved.read_bytes().startswith(b"%PDF-")

        row.get_by_text("亮证").click()
        assert page.locator("img[alt='亮证二维码']").is_visible()
        assert "/v/q?t=" in page.locator("#display-url").inner_text()

        page.goto(f"{base}/wallet/consents")
        page.select_option("#item_code", ITEM)
        page.click("#grant")
        page.wait_for_url(f"{base}/wallet/consents")
        consent_id = page.locator("code.consent-id").first.inner_text().strip()
        assert len(consent_id) == 32

        intake = {"Authorization": f"Bearer {_credential(live, ClientRole.INTAKE)}"}
        check = httpx.post(f"{base}/checks", headers=intake, timeout=30, json={
            "holder_kind": "credit-code", "holder_code": COMPANY, "item_code": ITEM,
            "case_number": "WEB-2026-1", "purpose": "浏览器端到端测试",
            "consent_id": consent_id, "materials": ["business-licence"]})
        assert check.status_code == 200, check.text
        assert check.json()["satisfied"] is True

        page.goto(f"{base}/wallet/uses")
        uses = page.locator("#uses").inner_text()
        assert "WEB-2026-1" in uses
        assert "浏览器端到端测试" in uses
        assert "browser-intake" in uses


def test_a_revoked_licence_is_red_in_the_wallet_with_beijing_times(live: StampingEnv) -> None:
    from zhengyin.core.clock import beijing_time
    from zhengyin.registry.licences import Reader
    from zhengyin.registry.lifecycle import RevocationKind

    base = live.base_url
    issuer = {"Authorization":
              f"Bearer {_credential(live, ClientRole.ISSUER, MARKET, 'revoking')}"}
    issued = httpx.post(f"{base}/licences", json=_business(), headers=issuer, timeout=30)
    assert issued.status_code == 201, issued.text
    identifier = issued.json()["identifier"]
    with live.runtime.unit_of_work() as services:
        licence = services.licences.get(identifier, Reader(everything=True))
        event = services.lifecycle.revoke(
            licence, kind=RevocationKind.CANCELLED, reason_code="01", reason="申请注销",
            legal_basis="《市场主体登记管理条例》第三十一条", effective_at=None, at=utcnow(),
            actor="test")
        revoked_at = event.effective_at
        token = live.runtime.holder_tokens.mint(services, COMPANY, HolderKind.CREDIT_CODE,
                                                at=utcnow())

    with chromium_page() as page:
        page.goto(f"{base}/wallet/login")
        page.fill("#token", token)
        page.click("#sign-in")
        page.wait_for_url(f"{base}/wallet")
        cell = page.locator(f"tr[data-identifier='{identifier}'] .licence-status")
        assert cell.inner_text() == "已注销/吊销/撤销"
        assert cell.evaluate("e => getComputedStyle(e).color") == "rgb(200, 16, 46)"

        page.goto(f"{base}/wallet/licences/{identifier}")
        assert page.locator("#verdict").inner_text() == "✘ 证照已吊销/注销"
        assert green_elements(page) == []
        assert "✔" not in page.locator("body").inner_text()
        assert beijing_time(revoked_at) in page.locator("#events").inner_text()

        page.goto(f"{base}/wallet/licences/{identifier}/qr")
        assert page.locator("img[alt='亮证二维码']").is_visible()
        assert page.locator("#verdict").inner_text() == "✘ 证照已吊销/注销"
        assert green_elements(page) == []
        assert "北京时间 (UTC+8)" in page.locator("#code-expires").inner_text()
