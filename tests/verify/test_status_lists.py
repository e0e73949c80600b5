"""Status lists (draft-ietf-oauth-status-list-20): allocation, publication, offline use.

The token is decoded here with plain base64url + zlib and entries read by hand (bits from
the least significant up, draft §4.1), never with the service's own decoder.
"""

from __future__ import annotations

import base64
import itertools
import json
import multiprocessing
import os
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from zhengyin.core.clock import utcnow
from zhengyin.registry.licences import Reader
from zhengyin.registry.lifecycle import RevocationKind
from zhengyin.registry.statuslists import LIST_SIZE

from .conftest import VerifyEnv

VALUE = {"valid": 0x00, "revoked": 0x01, "suspended": 0x02, "lost": 0x03}


@pytest.fixture(scope="module")
def http(verify_env: VerifyEnv) -> Iterator[TestClient]:
    from zhengyin.api.app import create_app

    with TestClient(create_app(runtime=verify_env.runtime)) as client:
        yield client


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _decode(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header, payload, _ = token.split(".")
    return json.loads(_b64(header)), json.loads(_b64(payload))


def _entry_by_hand(payload: dict[str, Any], index: int) -> int:
    array = zlib.decompress(_b64(payload["status_list"]["lst"]))
    assert payload["status_list"]["bits"] == 4
    return (array[index // 2] >> (4 * (index % 2))) & 0x0F


def _entry_of(env: VerifyEnv, identifier: str) -> tuple[int, int]:
    with env.runtime.unit_of_work(readonly=True) as services:
        licence = services.licences.get(identifier, Reader(everything=True))
        assert licence.status_list_id is not None and licence.status_list_index is not None
        return licence.status_list_id, licence.status_list_index


def _change(env: VerifyEnv, identifier: str, state: str) -> None:
    with env.runtime.unit_of_work() as services:
        licence = services.licences.get(identifier, Reader(everything=True))
        at, life = utcnow(), services.lifecycle
        if state == "revoked":
            life.revoke(licence, kind=RevocationKind.REVOKED, reason_code="07", reason="违法",
                        legal_basis="《食品安全法》", effective_at=None, at=at, actor="test")
        elif state == "suspended":
            life.suspend(licence, reason="整顿", legal_basis=None, effective_at=None, at=at,
                         actor="test")
        elif state == "lost":
            life.report_lost(licence, reason="遗失", effective_at=None, at=at, actor="test")


@pytest.fixture(scope="module")
def changed(verify_env: VerifyEnv) -> dict[str, tuple[str, bytes]]:
    """One licence per state, with its sealed PDF (issued valid, then changed)."""
    found = {}
    for state in VALUE:
        identifier, pdf = verify_env.issue()
        _change(verify_env, identifier, state)
        found[state] = (identifier, pdf)
    return found


def test_the_status_list_token_follows_the_draft_bit_for_bit(
        verify_env: VerifyEnv, http: TestClient, changed: dict[str, tuple[str, bytes]]
        ) -> None:
    list_id, _ = _entry_of(verify_env, changed["valid"][0])
    response = http.get(f"/status-lists/{list_id}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/statuslist+jwt"
    header, payload = _decode(response.text)
    assert header["typ"] == "statuslist+jwt"
    assert payload["sub"] == f"{verify_env.runtime.settings.public_base_url}/status-lists/" \
        f"{list_id}"
    assert payload["exp"] > payload["iat"] and payload["ttl"] > 0
    assert response.headers["cache-control"] == f"public, max-age={payload['ttl']}"
    assert len(zlib.decompress(_b64(payload["status_list"]["lst"]))) == LIST_SIZE // 2
    for state, (identifier, _) in changed.items():
        assert _entry_of(verify_env, identifier)[0] == list_id
        assert _entry_by_hand(payload, _entry_of(verify_env, identifier)[1]) == VALUE[state]


def test_the_route_answers_304_to_the_current_etag_and_404_for_no_list(
        verify_env: VerifyEnv, http: TestClient, changed: dict[str, tuple[str, bytes]]
        ) -> None:
    list_id, _ = _entry_of(verify_env, changed["valid"][0])
    first = http.get(f"/status-lists/{list_id}")
    again = http.get(f"/status-lists/{list_id}", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert http.get("/status-lists/999999").status_code == 404


def test_the_list_lives_a_day_and_any_web_page_may_fetch_it(
        verify_env: VerifyEnv, http: TestClient, changed: dict[str, tuple[str, bytes]]
        ) -> None:
    list_id, _ = _entry_of(verify_env, changed["valid"][0])
    response = http.get(f"/status-lists/{list_id}", headers={"Origin": "https://rp.example"})
    _, payload = _decode(response.text)
    assert payload["exp"] - payload["iat"] == 24 * 3600
    assert payload["ttl"] == 300
    assert response.headers["access-control-allow-origin"] == "*"


def test_a_status_change_shows_at_the_route_within_seconds(
        verify_env: VerifyEnv, http: TestClient) -> None:
    identifier, _ = verify_env.issue()
    list_id, index = _entry_of(verify_env, identifier)
    _, before = _decode(http.get(f"/status-lists/{list_id}").text)
    assert _entry_by_hand(before, index) == 0
    started = time.perf_counter()
    _change(verify_env, identifier, "suspended")
    _, after = _decode(http.get(f"/status-lists/{list_id}").text)
    assert _entry_by_hand(after, index) == 0x02
    assert time.perf_counter() - started < 5


def _allocate_in_a_process(url: str, count: int) -> list[tuple[int, int]]:
    from sqlalchemy.orm import Session

    from zhengyin.core.db import make_engine
    from zhengyin.registry.statuslists import StatusLists

    engine = make_engine(url, pool_size=1)
    found: list[tuple[int, int]] = []
    for _ in range(count):  # one transaction per entry, as issuance does
        with Session(engine) as session, session.begin():
            found += StatusLists(session, base_url="https://x").allocate(utcnow())
    engine.dispose()
    return found


def test_entries_are_unique_and_random_under_concurrent_issuance_from_processes(
        verify_env: VerifyEnv) -> None:
    url = verify_env.runtime.settings.effective_database_url
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        results = pool.starmap(_allocate_in_a_process, [(url, 40)] * 4)
    entries = [entry for result in results for entry in result]
    assert len(entries) == 160 and len(set(entries)) == 160
    indices = [index for _, index in entries]
    # Random, not sequential: spread over the list, in no order, no neighbours in a row.
    assert max(indices) - min(indices) > LIST_SIZE // 2
    assert indices != sorted(indices)
    assert sum(1 for a, b in itertools.pairwise(indices) if abs(a - b) == 1) < 3


# ---------------------------------------------------------------------- offline


@pytest.fixture(scope="module")
def offline_files(verify_env: VerifyEnv, http: TestClient, changed: dict[str, tuple[str, bytes]],
                  tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from asn1crypto import pem

    folder = tmp_path_factory.mktemp("offline")
    with verify_env.runtime.unit_of_work(readonly=True) as services:
        root = bytes(services.pki.identity("root").der)
        trust_list = verify_env.runtime.verification.trust_list(services)
    files = {"root": folder / "root.pem", "trust": folder / "trust-list.jws",
             "list": folder / "status-list.jwt"}
    files["root"].write_bytes(pem.armor("CERTIFICATE", root))
    files["trust"].write_text(trust_list, encoding="ascii")
    list_id, _ = _entry_of(verify_env, changed["valid"][0])
    files["list"].write_text(http.get(f"/status-lists/{list_id}").text, encoding="ascii")
    for state, (_, pdf) in changed.items():
        (folder / f"{state}.pdf").write_bytes(pdf)
        files[state] = folder / f"{state}.pdf"
    return files


def _offline(cli: Any, files: dict[str, Path], document: Path, listed: Path) -> Any:
    return cli("verify", str(document), "--trust-list", str(files["trust"]), "--root",
               str(files["root"]), "--status-list", str(listed), "--json")


def test_offline_verify_of_a_revoked_licence_fails_with_the_list_time(
        cli: Any, offline_files: dict[str, Path]) -> None:
    from zhengyin.trust.statuslist import VerifiedStatusList

    result = _offline(cli, offline_files, offline_files["revoked"], offline_files["list"])
    assert result.exit_code == 1, result.output
    check = {c["check"]: c for c in json.loads(result.output)["signatures"][0]["checks"]}
    reason = check["licence"]["reason"]
    assert reason["code"] == "licence.revoked"
    payload = _decode(offline_files["list"].read_text())[1]
    from datetime import UTC, datetime

    issued = VerifiedStatusList("", datetime.fromtimestamp(payload["iat"], UTC),
                                datetime.fromtimestamp(payload["exp"], UTC), None, 4, b"")
    assert issued.issued_text in reason["en"] and issued.issued_text in reason["zh"]


@pytest.mark.parametrize("state", ["suspended", "lost"])
def test_offline_verify_fails_a_suspended_or_lost_licence(
        state: str, cli: Any, offline_files: dict[str, Path]) -> None:
    result = _offline(cli, offline_files, offline_files[state], offline_files["list"])
    assert result.exit_code == 1, result.output
    check = {c["check"]: c for c in json.loads(result.output)["signatures"][0]["checks"]}
    assert check["licence"]["reason"]["code"] == f"licence.{state}"


def test_offline_verify_of_a_valid_licence_passes_by_the_list(
        cli: Any, offline_files: dict[str, Path]) -> None:
    result = _offline(cli, offline_files, offline_files["valid"], offline_files["list"])
    assert result.exit_code == 0, result.output
    check = {c["check"]: c for c in json.loads(result.output)["signatures"][0]["checks"]}
    assert check["licence"]["reason"]["code"] == "licence.listed_valid"


def _signed_list(env: VerifyEnv, identity: str, claims: dict[str, Any]) -> str:
    from zhengyin.registry.receipts import ServiceSigner

    with env.runtime.unit_of_work() as services:
        key = services.identities.ensure_chain(identity, at=utcnow(), actor="system",
                                               label=identity)
    return ServiceSigner(env.runtime.keystore, key.key_handle, key.serial_hex,
                         key.chain_der).sign(claims, typ="statuslist+jwt")


def test_a_forged_expired_or_foreign_signed_list_is_refused(
        cli: Any, verify_env: VerifyEnv, offline_files: dict[str, Path], tmp_path: Path) -> None:
    token = offline_files["list"].read_text()
    head, body, signature = token.split(".")
    claims = json.loads(_b64(body))
    flipped = claims | {"status_list": {"bits": 4, "lst": base64.urlsafe_b64encode(
        zlib.compress(bytes(LIST_SIZE // 2))).rstrip(b"=").decode()}}
    forged = ".".join([head, base64.urlsafe_b64encode(json.dumps(flipped).encode())
                       .rstrip(b"=").decode(), signature])
    expired = _signed_list(verify_env, "registry", claims | {"exp": claims["iat"] + 1})
    time.sleep(max(0.0, claims["iat"] + 2 - time.time()))
    foreign = _signed_list(verify_env, "trustlist", claims)
    for name, text, message in (("forged", forged, "does not verify"),
                                ("expired", expired, "expired"),
                                ("foreign", foreign, "not the service identity")):
        listed = tmp_path / f"{name}.jwt"
        listed.write_text(text)
        result = _offline(cli, offline_files, offline_files["revoked"], listed)
        assert result.exit_code == 3, (name, result.output)
        assert message in result.output, (name, result.output)


# ---------------------------------------------------------------------- zhengyin qr verify


def _qr_verify(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHENGYIN_")}
    zhengyin = str(Path(sys.executable).with_name("zhengyin"))
    return subprocess.run([zhengyin, "qr", "verify", *args], env=env, capture_output=True,
                          text=True, check=False, timeout=120)


@pytest.mark.parametrize("state", ["revoked", "suspended"])
def test_qr_verify_with_the_status_list_fails_a_code_shown_before_the_change(
        state: str, verify_env: VerifyEnv, http: TestClient, offline_files: dict[str, Path],
        tmp_path: Path) -> None:
    identifier, _ = verify_env.issue()
    with verify_env.runtime.unit_of_work() as services:
        from zhengyin.api.routes.holder import display_token

        licence = services.licences.get(identifier, Reader(everything=True))
        code, _ = display_token(services, licence, utcnow())
    assert _decode(code)[1]["status"]["status_list"]["idx"] == _entry_of(verify_env,
                                                                         identifier)[1]
    trust = ["--trust-list", str(offline_files["trust"]), "--root", str(offline_files["root"])]
    assert _qr_verify(code, *trust).returncode == 0  # the code alone says valid
    _change(verify_env, identifier, state)
    listed = tmp_path / "list.jwt"
    listed.write_text(http.get(f"/status-lists/{_entry_of(verify_env, identifier)[0]}").text)
    result = _qr_verify(code, *trust, "--status-list", str(listed))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "据状态列表，签发于 " in result.stdout and "✔" not in result.stdout
