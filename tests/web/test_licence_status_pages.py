"""Displays never show a licence that is not valid as good (issue 13, item 5).

For each state a licence can leave "valid" by — revoked, suspended, lost, superseded,
expired — the holder's display code page (``/v/q``), the licence's public page
(``/v/{identifier}``), the wallet and ``zhengyin qr verify`` headline the status in Chinese,
red (amber for a suspension), with no green and no ✔; ``qr verify`` exits non-zero. Times
are Beijing time with the zone named; the licence's validity is labelled apart from the
display code's own expiry.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from zhengyin.api.app import create_app
from zhengyin.api.pages.statuses import validity_text
from zhengyin.core.clock import beijing_date, beijing_time, utcnow
from zhengyin.registry.holders import HolderKind
from zhengyin.registry.issuance import IssueRequest, IssuingParty
from zhengyin.registry.licences import Reader
from zhengyin.registry.lifecycle import ChangeRequest, RevocationKind
from zhengyin.registry.models import Licence
from zhengyin.registry.receipts import DISPLAY_TYP
from zhengyin.trust.validation import LicenceState

from ..registry.conftest import MARKET, food_request
from ..support import bearer
from ..verify.conftest import VerifyEnv, make_verify_env

HOLDER = food_request()["holder_code"]
STATES = ["revoked", "suspended", "lost", "superseded", "expired"]
HEADLINE = {"valid": "✔ 证照有效", "revoked": "✘ 证照已吊销/注销", "suspended": "⚠ 证照已被暂扣",
            "lost": "✘ 证照已挂失", "superseded": "✘ 证照已被新版本取代", "expired": "✘ 证照已过期"}
TONE = {"valid": "good", "suspended": "warn", "revoked": "bad", "lost": "bad",
        "superseded": "bad", "expired": "bad"}
GREEN_CLASSES = {"tone-good", "tone-good-card", "verdict-passed", "verdict-passed-card"}
EXPIRED_CODE = {"exp": 1}
"""A display code that expired long ago (signature and chain still verify at its ``iat``)."""
Signer = Callable[[dict[str, Any]], str]


@dataclass
class Shown:
    """A licence in one state, with display codes made before and after the change."""

    identifier: str
    valid_from: date
    valid_until: date | None
    successor: str | None
    code_before: str
    """Shown while the licence was still valid (expired: from the start)."""
    code_after: str
    """Shown in the state itself: what ``qr verify`` reads offline."""


@pytest.fixture(scope="module")
def env(database_url: str, kek_text: str,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[VerifyEnv]:
    """A live service with the example types and the market regulator's seal."""
    yield from make_verify_env(database_url, kek_text, tmp_path_factory)


@pytest.fixture(scope="module")
def http(env: VerifyEnv) -> Iterator[TestClient]:
    with TestClient(create_app(runtime=env.runtime)) as client:
        yield client


@pytest.fixture(scope="module")
def holder_token(env: VerifyEnv) -> str:
    with env.runtime.unit_of_work() as services:
        return env.runtime.holder_tokens.mint(services, HOLDER, HolderKind.CREDIT_CODE,
                                              at=utcnow())


def _issue(env: VerifyEnv) -> str:
    body = food_request()
    request = IssueRequest(type_code=body["type_code"], holder_kind=body["holder_kind"],
                           holder_code=body["holder_code"], holder_name=body["holder_name"],
                           fields=body["fields"])
    with env.runtime.unit_of_work() as services:
        return services.issuance.issue(
            request, IssuingParty(org_code=MARKET, client_id=None, actor="test"),
            at=utcnow()).licence.identifier


def _let_validity_end(env: VerifyEnv, identifier: str) -> None:
    """Time passes: the five-year validity now started six years ago and ended a year ago.
    (Issuance refuses a licence born expired, and a seal cannot sign in the past.)"""
    today = beijing_date(utcnow())
    start = today.replace(year=today.year - 6)
    with env.runtime.unit_of_work() as services:
        services.session.execute(
            update(Licence).where(Licence.identifier == identifier)
            .values(valid_from=start, valid_until=start.replace(year=start.year + 5)
                    - timedelta(days=1)))


def _code(http: TestClient, holder_token: str, identifier: str) -> str:
    response = http.post(f"/holder/licences/{identifier}/display",
                         headers=bearer(holder_token))
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


def _change(env: VerifyEnv, identifier: str, state: str) -> str | None:
    """Move a valid licence into ``state``; the successor's identifier when superseded."""
    at = utcnow()
    with env.runtime.unit_of_work() as services:
        licence = services.licences.get(identifier, Reader(everything=True))
        lifecycle = services.lifecycle
        if state == "revoked":
            lifecycle.revoke(licence, kind=RevocationKind.REVOKED, reason_code="07",
                             reason="违法经营", legal_basis="《食品安全法》第一百三十五条",
                             effective_at=None, at=at, actor="test")
        elif state == "suspended":
            lifecycle.suspend(licence, reason="责令停业整顿", legal_basis=None,
                              effective_at=None, at=at, actor="test")
        elif state == "lost":
            lifecycle.report_lost(licence, reason="持证人声明遗失", effective_at=None,
                                  at=at, actor="test")
        elif state == "superseded":
            fields = dict(licence.fields, address="北京市朝阳区建国路99号")
            return lifecycle.change(
                licence, ChangeRequest(fields=fields), reason="住所变更",
                party=IssuingParty(org_code=MARKET, client_id=None, actor="test"),
                at=at).identifier
    return None


@pytest.fixture(scope="module")
def shown(env: VerifyEnv, http: TestClient, holder_token: str) -> dict[str, Shown]:
    """One licence per state (and one valid), each with its display codes."""
    result = {}
    for state in ["valid", *STATES]:
        identifier = _issue(env)
        if state == "expired":
            _let_validity_end(env, identifier)
        before = _code(http, holder_token, identifier)
        successor = _change(env, identifier, state)
        with env.runtime.unit_of_work(readonly=True) as services:
            licence = services.licences.get(identifier, Reader(everything=True))
            valid_from, valid_until = licence.valid_from, licence.valid_until
        result[state] = Shown(identifier, valid_from, valid_until, successor, before,
                              _code(http, holder_token, identifier))
    return result


def _green(html: str) -> list[str]:
    """Classes on the page that paint something green."""
    classes = {name for value in re.findall(r'class="([^"]*)"', html) for name in value.split()}
    return sorted(classes & GREEN_CLASSES)


def _text(html: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)</(?:p|td|section)>', html, re.S)
    assert match is not None, f"no #{element_id}"
    return re.sub(r"<[^>]+>", "", match.group(1)).strip()


def _payload(token: str) -> dict[str, Any]:
    body = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))))


# ---------------------------------------------------------------------- /v/q


@pytest.mark.parametrize("state", STATES)
def test_the_display_page_headlines_the_status_now_in_red_or_amber(
        state: str, http: TestClient, shown: dict[str, Shown]) -> None:
    licence = shown[state]
    page = http.get("/v/q", params={"t": licence.code_before})
    assert page.status_code == 200
    assert f'id="result" data-status="{state}"' in page.text
    assert f'class="verdict-banner tone-{TONE[state]}" id="verdict"' in page.text
    assert _text(page.text, "verdict") == HEADLINE[state]
    assert _text(page.text, "status-now") == LicenceState(state).zh
    assert "不能作为有效证明" in _text(page.text, "explanation")
    assert "亮证码本身是真实的" in _text(page.text, "code-note")
    assert _green(page.text) == [] and "✔" not in page.text
    if state == "superseded":
        assert f'href="/v/{licence.successor}"' in page.text


@pytest.mark.parametrize("state", STATES)
def test_the_display_check_says_the_code_is_genuine_but_the_licence_is_not_valid(
        state: str, http: TestClient, shown: dict[str, Shown]) -> None:
    checked = http.get("/public/display", params={"t": shown[state].code_before}).json()
    assert checked["valid"] is True and checked["licence_valid"] is False
    assert (checked["status_now"], checked["status_now_zh"]) == (state, LicenceState(state).zh)
    assert checked["superseded_by"] == shown[state].successor


def test_the_display_page_of_a_valid_licence_is_green_with_its_own_validity(
        http: TestClient, shown: dict[str, Shown]) -> None:
    licence = shown["valid"]
    page = http.get("/v/q", params={"t": licence.code_before})
    assert _text(page.text, "verdict") == "✔ 证照有效"
    assert _green(page.text) == ["tone-good", "tone-good-card"]
    assert http.get("/public/display",
                    params={"t": licence.code_before}).json()["licence_valid"] is True


def test_the_licence_validity_and_the_display_code_expiry_are_labelled_apart(
        http: TestClient, shown: dict[str, Shown]) -> None:
    licence = shown["expired"]
    page = http.get("/v/q", params={"t": licence.code_before}).text
    payload = _payload(licence.code_before)
    assert _text(page, "validity") == validity_text(licence.valid_from, licence.valid_until)
    assert licence.valid_until is not None
    assert f"{licence.valid_from} 起 — {licence.valid_until} 止" in page
    expires = datetime.fromtimestamp(payload["exp"], UTC)
    assert _text(page, "code-expires").startswith(beijing_time(expires))
    assert "<th scope=\"row\">亮证码有效至</th>" in page
    assert "<th scope=\"row\">有效至</th>" not in page


def test_the_display_page_shows_beijing_time(http: TestClient,
                                             shown: dict[str, Shown]) -> None:
    token = shown["revoked"].code_before
    page = http.get("/v/q", params={"t": token}).text
    issued = datetime.fromtimestamp(_payload(token)["iat"], UTC)
    assert f"截至 {beijing_time(issued)}" in _text(page, "status-as-of-issue")
    assert re.search(r"\bUTC\b(?!\+8)", page) is None


def test_an_expired_display_code_is_refused_in_chinese(http: TestClient,
                                                       signed: Signer) -> None:
    stale = signed(EXPIRED_CODE)
    page = http.get("/v/q", params={"t": stale})
    assert page.status_code == 400
    assert _text(page.text, "verdict") == "✘ 亮证码无法核验"
    assert "亮证码已过期" in _text(page.text, "explanation")
    assert http.get("/public/display", params={"t": stale}).json()["reason_zh"].startswith(
        "亮证码已过期")


# ---------------------------------------------------------------------- /v/{identifier}


@pytest.mark.parametrize("state", STATES)
def test_the_licence_page_headlines_the_status_never_green(
        state: str, http: TestClient, shown: dict[str, Shown]) -> None:
    page = http.get(f"/v/{shown[state].identifier}")
    assert page.status_code == 200
    colour = "indeterminate" if state == "suspended" else "failed"
    assert f'<p class="verdict-{colour} verdict-banner" id="verdict"' in page.text
    assert _text(page.text, "verdict") == HEADLINE[state]
    assert _text(page.text, "licence-status") == LicenceState(state).zh
    assert _text(page.text, "verdict-note").startswith("文件核验结论：")
    assert _green(page.text) == [] and "✔" not in page.text
    assert _text(page.text, "licence-validity") == validity_text(shown[state].valid_from,
                                                                 shown[state].valid_until)
    if state == "superseded":
        assert f'href="/v/{shown[state].successor}"' in page.text


def test_the_licence_page_of_a_valid_licence_stays_green(http: TestClient,
                                                         shown: dict[str, Shown]) -> None:
    page = http.get(f"/v/{shown['valid'].identifier}")
    assert _text(page.text, "verdict") == "✔ 核验通过"
    assert "verdict-passed" in _green(page.text)
    assert 'id="verdict-note"' not in page.text


def test_every_time_on_the_licence_page_is_beijing_time(http: TestClient,
                                                       shown: dict[str, Shown]) -> None:
    page = http.get(f"/v/{shown['revoked'].identifier}").text
    assert re.search(r"签章时间</th><td>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d 北京时间 \(UTC\+8\)",
                     page)
    assert re.search(r"时间戳证明签名时间为 \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\+8", page)
    assert re.search(r"\bUTC\b(?!\+8)", page) is None  # no time left in UTC


def test_the_sealed_report_shows_beijing_time(http: TestClient, shown: dict[str, Shown]) -> None:
    import pypdfium2

    page = http.get(f"/v/{shown['revoked'].identifier}").text
    token = re.search(r"/verify/reports/([A-Za-z0-9_-]+)\.pdf", page)
    assert token is not None
    report = pypdfium2.PdfDocument(http.get(f"/verify/reports/{token.group(1)}.pdf").content)
    text = "".join(report[0].get_textpage().get_text_range().split())
    assert re.search(r"核验时间\d{4}-\d\d-\d\d\d\d:\d\d:\d\d北京时间\(UTC\+8\)", text), text
    assert "已注销/吊销/撤销" in text


# ---------------------------------------------------------------------- wallet


@pytest.fixture(scope="module")
def wallet(env: VerifyEnv, holder_token: str) -> Iterator[TestClient]:
    """A browser-like client signed in to the holder's wallet."""
    with TestClient(create_app(runtime=env.runtime)) as client:
        signed_in = client.post("/wallet/login", data={"token": holder_token},
                                follow_redirects=False)
        assert signed_in.status_code == 303
        yield client


@pytest.mark.parametrize("state", STATES)
def test_the_wallet_shows_the_status_first_never_green(
        state: str, wallet: TestClient, shown: dict[str, Shown]) -> None:
    licence = shown[state]
    page = wallet.get(f"/wallet/licences/{licence.identifier}")
    assert page.status_code == 200
    assert _text(page.text, "verdict") == HEADLINE[state]
    assert f'class="verdict-banner tone-{TONE[state]}"' in page.text
    assert _text(page.text, "licence-status") == LicenceState(state).zh
    assert _text(page.text, "validity") == validity_text(licence.valid_from,
                                                         licence.valid_until)
    assert _green(page.text) == [] and "✔" not in page.text
    if state == "superseded":
        assert f'href="/wallet/licences/{licence.successor}"' in page.text
    listing = wallet.get("/wallet").text
    row = re.search(rf'data-identifier="{re.escape(licence.identifier)}">(.*?)</tr>',
                    listing, re.S)
    assert row is not None
    assert (f'class="tone-{TONE[state]} licence-status" data-status="{state}">'
            f"{LicenceState(state).zh}<") in row.group(1)


@pytest.mark.parametrize("state", ["revoked", "suspended"])
def test_the_wallet_display_page_headlines_the_status_and_the_code_expiry_apart(
        state: str, wallet: TestClient, shown: dict[str, Shown]) -> None:
    page = wallet.get(f"/wallet/licences/{shown[state].identifier}/qr")
    assert _text(page.text, "verdict") == HEADLINE[state]
    assert _green(page.text) == [] and "✔" not in page.text
    assert _text(page.text, "code-expires").startswith("亮证码有效至 ")
    assert "北京时间 (UTC+8)" in _text(page.text, "code-expires")


def test_the_wallet_history_names_the_change_in_chinese_with_beijing_time(
        env: VerifyEnv, wallet: TestClient, shown: dict[str, Shown]) -> None:
    identifier = shown["revoked"].identifier
    page = wallet.get(f"/wallet/licences/{identifier}").text
    with env.runtime.unit_of_work(readonly=True) as services:
        licence = services.licences.get(identifier, Reader(everything=True))
        revoked_at = services.licences.history(licence)[-1].effective_at
    events = re.search(r'<table id="events">(.*?)</table>', page, re.S)
    assert events is not None
    assert f"<td>{beijing_time(revoked_at)}</td><td>吊销/注销</td><td>已注销/吊销/撤销</td>" \
        in events.group(1)
    assert "《食品安全法》第一百三十五条" in events.group(1)


# ---------------------------------------------------------------------- zhengyin qr verify


@pytest.fixture(scope="module")
def trust_files(env: VerifyEnv, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """``--root`` and ``--signer`` files, as a relying party would hold them."""
    from asn1crypto import pem

    folder = tmp_path_factory.mktemp("qr-trust")
    with env.runtime.unit_of_work(readonly=True) as services:
        chain = list(services.registry_signer().chain_der)
    root, signer = folder / "root.pem", folder / "registry.pem"
    root.write_bytes(pem.armor("CERTIFICATE", env.stamping.root_der))
    signer.write_bytes(b"".join(pem.armor("CERTIFICATE", der) for der in chain))
    return ["--root", str(root), "--signer", str(signer)]


def _qr_verify(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHENGYIN_")}
    zhengyin = str(Path(sys.executable).with_name("zhengyin"))
    return subprocess.run([zhengyin, "qr", "verify", *args], env=env, capture_output=True,
                          text=True, check=False, timeout=120)


@pytest.mark.parametrize("state", STATES)
def test_qr_verify_exits_1_with_the_status_and_reason_in_chinese(
        state: str, shown: dict[str, Shown], trust_files: list[str]) -> None:
    result = _qr_verify(shown[state].code_after, *trust_files)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == HEADLINE[state]
    assert "不能作为有效证明" in lines[1]
    assert f"  证照状态：{LicenceState(state).zh}（{state}），截至亮证时 " in result.stdout
    assert f"  证照标识：{shown[state].identifier}" in lines
    assert "✔" not in result.stdout


def test_qr_verify_exits_0_for_a_valid_licence_and_shows_beijing_time(
        shown: dict[str, Shown], trust_files: list[str]) -> None:
    token = shown["valid"].code_after
    result = _qr_verify(f"https://example.invalid/v/q?t={token}", *trust_files)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "✔ 证照有效"
    expires = datetime.fromtimestamp(_payload(token)["exp"], UTC)
    assert f"  亮证码有效至：{beijing_time(expires)}" in result.stdout.splitlines()
    assert "  有效期：至 " in result.stdout  # the licence's own end date, not the code's




@pytest.fixture(scope="module")
def signed(env: VerifyEnv, shown: dict[str, Shown]) -> Signer:
    """Display codes signed by the registry with payloads the service would not write."""
    from zhengyin.registry.receipts import display_payload

    def sign(changes: dict[str, Any]) -> str:
        payload = display_payload(identifier=shown["valid"].identifier,
                                  type_name="食品经营许可证", printed_number="JY1",
                                  holder_name="北京某某餐饮管理有限公司", status="valid",
                                  valid_until=None, at=utcnow(), lifetime=timedelta(minutes=5))
        payload.update(changes)
        with env.runtime.unit_of_work() as services:
            return services.registry_signer().sign(payload, typ=DISPLAY_TYP,
                                                              embed_chain=False)
    return sign


def test_qr_verify_exits_2_when_the_status_is_unknown(trust_files: list[str],
                                                     signed: Signer) -> None:
    result = _qr_verify(signed({"s": "cancelled"}), *trust_files)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout.splitlines()[0] == "⚠ 无法确认证照状态"


def test_qr_verify_exits_1_for_an_expired_or_forged_code(trust_files: list[str],
                                                         signed: Signer) -> None:
    stale = _qr_verify(signed(EXPIRED_CODE), *trust_files)
    assert stale.returncode == 1
    assert stale.stdout.splitlines() == [
        "✘ 亮证码无法核验",
        "亮证码已过期（亮证码只在出示后几分钟内有效），请持证人刷新后重新出示。"]
    header, body, signature = signed({}).split(".")
    forged = _qr_verify(f"{header}.{body[:-3]}AAA.{signature}", *trust_files)
    assert forged.returncode == 1
    assert forged.stdout.splitlines()[1].startswith("亮证码无法验证")


def test_qr_verify_exits_3_when_nothing_can_be_verified(trust_files: list[str],
                                                        signed: Signer, tmp_path: Path) -> None:
    garbage = _qr_verify("not-a-code", *trust_files)
    assert (garbage.returncode, garbage.stdout) == (3, "")
    assert garbage.stderr.startswith("error: not a display code")
    unreadable = _qr_verify(signed({}), "--root", str(tmp_path / "missing.pem"),
                            *trust_files[2:])
    assert unreadable.returncode == 3
    assert unreadable.stderr.startswith("error: cannot read the trust material")


def test_the_status_of_a_licence_not_in_the_registry_is_unknown_and_amber(
        http: TestClient, signed: Signer) -> None:
    token = signed({"id": "1.2.156.3005.2.11100000000013338W032.11220000013544541J."
                           "2430599.001.F"})
    page = http.get("/v/q", params={"t": token})
    assert _text(page.text, "verdict") == "⚠ 无法确认证照状态"
    assert 'class="verdict-banner tone-warn"' in page.text
    assert _text(page.text, "status-now") == "未知"
    assert _green(page.text) == []
