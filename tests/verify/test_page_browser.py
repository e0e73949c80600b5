"""The public verification page in headless Chromium, against a live service whose
verification runs in the real worker pool: upload a sealed PDF and see green, a tampered
one and see red, an undecided one and see amber, type an identifier and see the licence's
status; download the report. A revoked licence's page and its display code's page paint
nothing green, and show Beijing time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ..web.browser import chromium_page, green_elements
from .attacks import impostor_alone, incremental_saving_new_content
from .conftest import VerifyEnv, make_verify_env

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def verify_env(database_url: str, kek_text: str,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[VerifyEnv]:
    """A live service examining in its worker pool (one worker)."""
    yield from make_verify_env(database_url, kek_text, tmp_path_factory,
                               verify_in_process=False, verify_workers=1)


def test_upload_green_then_red_then_identifier(verify_env: VerifyEnv, tmp_path: Path) -> None:
    identifier, pdf = verify_env.issue()
    good = tmp_path / "营业执照.pdf"
    good.write_bytes(pdf)
    bad = tmp_path / "tampered.pdf"
    bad.write_bytes(incremental_saving_new_content(pdf))
    base = verify_env.stamping.base_url
    with chromium_page() as page:
        page.goto(f"{base}/verify")
        assert page.title().startswith("电子文件核验")
        page.set_input_files("#file", str(good))
        page.click("#verify-file")
        verdict = page.locator("#verdict")
        assert verdict.get_attribute("data-indication") == "TOTAL-PASSED"
        assert "核验通过" in verdict.inner_text()
        assert "rgb(26, 127, 55)" in verdict.evaluate("e => getComputedStyle(e).color")
        assert green_elements(page)  # the detector the revoked pages rely on sees green
        assert "北京市朝阳区市场监督管理局" in page.locator("#signature-1").inner_text()
        assert page.locator("#signature-1 img.seal").count() == 1
        assert page.locator("#licence-status").inner_text() == "有效"
        with page.expect_download() as download:
            page.click("#report-pdf")
        report = Path(download.value.path()).read_bytes()
        assert verify_env.verify(report).verdict.passed

        page.goto(f"{base}/verify")
        page.set_input_files("#file", str(bad))
        page.click("#verify-file")
        verdict = page.locator("#verdict")
        assert verdict.get_attribute("data-indication") == "TOTAL-FAILED"
        assert "核验不通过" in verdict.inner_text()
        assert "rgb(200, 16, 46)" in verdict.evaluate("e => getComputedStyle(e).color")
        assert "签名后文件被修改" in page.locator("#reasons").inner_text()

        page.fill("#identifier", identifier)
        page.click("#verify-identifier")
        page.wait_for_url(f"**/v/{identifier}")
        assert page.locator("#verdict").get_attribute("data-indication") == "TOTAL-PASSED"
        assert page.locator("#licence-status").inner_text() == "有效"


def test_an_undecided_upload_shows_amber_with_its_reason(verify_env: VerifyEnv,
                                                         tmp_path: Path) -> None:
    unsure = tmp_path / "unsure.pdf"
    unsure.write_bytes(impostor_alone(verify_env.stamp(certify=False)))
    with chromium_page() as page:
        page.goto(f"{verify_env.stamping.base_url}/verify")
        page.set_input_files("#file", str(unsure))
        page.click("#verify-file")
        verdict = page.locator("#verdict")
        assert verdict.get_attribute("data-indication") == "INDETERMINATE"
        assert "无法确认" in verdict.inner_text()
        assert "rgb(183, 121, 31)" in verdict.evaluate("e => getComputedStyle(e).color")
        assert "不是由受信任的证书机构签发的" in page.locator("#reasons").inner_text()


RED = "rgb(200, 16, 46)"


def _revoke(verify_env: VerifyEnv, identifier: str) -> None:
    from zhengyin.core.clock import utcnow
    from zhengyin.registry.licences import Reader
    from zhengyin.registry.lifecycle import RevocationKind

    with verify_env.runtime.unit_of_work() as services:
        licence = services.licences.get(identifier, Reader(everything=True))
        services.lifecycle.revoke(licence, kind=RevocationKind.REVOKED, reason_code="07",
                                  reason="违法经营", legal_basis="《食品安全法》第一百三十五条",
                                  effective_at=None, at=utcnow(), actor="test")


def test_a_revoked_licence_page_paints_nothing_green_and_shows_beijing_time(
        verify_env: VerifyEnv) -> None:
    from zhengyin.core.clock import beijing_time

    identifier, pdf = verify_env.issue()
    _revoke(verify_env, identifier)
    signed_at = verify_env.verify(pdf).signatures[0].signing_time
    assert signed_at is not None
    with chromium_page() as page:
        page.goto(f"{verify_env.stamping.base_url}/v/{identifier}")
        verdict = page.locator("#verdict")
        assert verdict.inner_text() == "✘ 证照已吊销/注销"
        assert verdict.evaluate("e => getComputedStyle(e).color") == RED
        assert green_elements(page) == []
        assert "✔" not in page.locator("body").inner_text()
        assert page.locator("#licence-status").inner_text() == "已注销/吊销/撤销"
        assert beijing_time(signed_at) in page.locator("#signature-1").inner_text()


def test_a_revoked_licence_display_code_page_paints_nothing_green(
        verify_env: VerifyEnv) -> None:
    """The code was shown while the licence was valid; it was revoked before the scan."""
    from datetime import datetime

    import httpx

    from zhengyin.core.clock import beijing_time, utcnow
    from zhengyin.registry.holders import HolderKind

    from ..registry.conftest import food_request

    identifier, _ = verify_env.issue()
    runtime = verify_env.runtime
    with runtime.unit_of_work() as services:
        token = runtime.holder_tokens.mint(services, food_request()["holder_code"],
                                           HolderKind.CREDIT_CODE, at=utcnow())
    shown = httpx.post(f"{verify_env.stamping.base_url}/holder/licences/{identifier}/display",
                       headers={"Authorization": f"Bearer {token}"}, timeout=30).json()
    _revoke(verify_env, identifier)
    with chromium_page() as page:
        page.goto(shown["url"])
        verdict = page.locator("#verdict")
        assert verdict.inner_text() == "✘ 证照已吊销/注销"
        assert verdict.evaluate("e => getComputedStyle(e).color") == RED
        assert green_elements(page) == []
        assert "✔" not in page.locator("body").inner_text()
        expires = datetime.fromisoformat(shown["expires_at"])
        assert page.locator("#code-expires").inner_text().startswith(beijing_time(expires))
