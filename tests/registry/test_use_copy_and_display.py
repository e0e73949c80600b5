"""Use-copies (加注件) validate with pdfsig and carry their marking; display QR codes check
online and offline. Against a live service: pdfsig asks our OCSP responder."""

from __future__ import annotations

import io
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pyhanko.pdf_utils.reader import PdfFileReader

from zhengyin.api.app import create_app
from zhengyin.core.clock import utcnow
from zhengyin.core.jose import JWSError
from zhengyin.core.models import ClientRole
from zhengyin.registry.catalogue import TypeDefinition, example_definitions, example_service_items
from zhengyin.registry.holders import HolderKind
from zhengyin.registry.receipts import verify_display
from zhengyin.signing.models import SealType
from zhengyin.signing.seals import SealRequest
from zhengyin.trust.jws import PinnedSigner, SignerTrust
from zhengyin.trust.purposes import DISPLAY_CODE

from ..signing.checks import pdfsig_check
from ..signing.fixtures import StampingEnv, make_stamping_env
from ..support import bearer
from .conftest import MARKET, seal_png
from .test_checks import COMPANY, ITEM, _business


@pytest.fixture(scope="module")
def live(database_url: str, kek_text: str,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[StampingEnv]:
    """A live service with types, items and the market regulator's seal."""
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


@pytest.fixture(scope="module")
def client(live: StampingEnv) -> Iterator[TestClient]:
    """An HTTP client of the live runtime's app."""
    with TestClient(create_app(runtime=live.runtime)) as http:
        yield http


def _headers(live: StampingEnv, role: ClientRole, org: str | None = None) -> dict[str, str]:
    with live.runtime.unit_of_work() as services:
        issued = services.clients.add(name=f"{role.value}-{datetime.now().timestamp()}",
                                      role=role, org_credit_code=org, at=utcnow(),
                                      actor="test")
    return bearer(issued.credential)


def _holder(live: StampingEnv, code: str, kind: HolderKind) -> dict[str, str]:
    with live.runtime.unit_of_work() as services:
        return bearer(live.runtime.holder_tokens.mint(services, code, kind, at=utcnow()))


def _checked(client: TestClient, live: StampingEnv) -> tuple[dict[str, Any], dict[str, str]]:
    market = _headers(live, ClientRole.ISSUER, MARKET)
    intake = _headers(live, ClientRole.INTAKE)
    assert client.post("/licences", json=_business(), headers=market).status_code == 201
    company = _holder(live, COMPANY, HolderKind.CREDIT_CODE)
    consent = client.post("/holder/consents", json={"item_code": ITEM},
                          headers=company).json()["id"]
    check = client.post("/checks", headers=intake, json={
        "holder_kind": "credit-code", "holder_code": COMPANY, "item_code": ITEM,
        "case_number": "CY-2026-77", "purpose": "食品经营许可新办审查", "consent_id": consent,
        "materials": ["business-licence"]}).json()
    return check, intake


def test_a_use_copy_is_marked_sealed_by_the_registry_and_validates(
    client: TestClient, live: StampingEnv, tmp_path: Path
) -> None:
    check, intake = _checked(client, live)
    identifier = check["materials"][0]["identifier"]
    response = client.post(f"/checks/{check['check_id']}/use-copies",
                           json={"identifier": identifier}, headers=intake)
    assert response.status_code == 200, response.text
    copy = response.content
    report = pdfsig_check(copy, live.nss, live.tmp)
    assert "Total document signed" in report
    (tmp_path / "copy.pdf").write_bytes(copy)
    text = subprocess.run(["pdftotext", str(tmp_path / "copy.pdf"), "-"], capture_output=True,
                          text=True, check=True).stdout
    assert "加注件" in text
    assert "CY-2026-77" in text
    assert "食品经营许可新办审查" in text
    reader = PdfFileReader(io.BytesIO(copy))
    assert reader.embedded_signatures[0].signer_cert.subject.native["organization_name"] \
        == live.runtime.settings.platform_name


def test_use_copies_only_for_licences_the_check_disclosed(client: TestClient,
                                                          live: StampingEnv) -> None:
    check, intake = _checked(client, live)
    other = "1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.F"
    response = client.post(f"/checks/{check['check_id']}/use-copies",
                           json={"identifier": other}, headers=intake)
    assert response.status_code == 404


def _display(client: TestClient, live: StampingEnv) -> dict[str, Any]:
    market = _headers(live, ClientRole.ISSUER, MARKET)
    identifier = client.post("/licences", json=_business(), headers=market).json()["identifier"]
    company = _holder(live, COMPANY, HolderKind.CREDIT_CODE)
    response = client.post(f"/holder/licences/{identifier}/display", headers=company)
    assert response.status_code == 200, response.text
    return {**response.json(), "identifier": identifier}


def test_a_display_code_checks_online_with_the_current_status(client: TestClient,
                                                              live: StampingEnv) -> None:
    shown = _display(client, live)
    assert shown["url"].startswith(f"{live.base_url}/v/q?t=")
    checked = client.get("/public/display", params={"t": shown["token"]}).json()
    assert checked["valid"] is True
    assert (checked["identifier"], checked["status_now"]) == (shown["identifier"], "valid")
    page = client.get("/v/q", params={"t": shown["token"]})
    assert page.status_code == 200
    assert "✔ 证照有效" in page.text and "亮证码本身是真实的" in page.text


def _registry_ders(live: StampingEnv) -> list[bytes]:
    with live.runtime.unit_of_work() as services:
        return list(services.registry_signer().chain_der)


def _registry_chain(live: StampingEnv, root: bytes | None = None) -> SignerTrust:
    """The registry's certificate pinned, under our root (or ``root``)."""
    leaf, *cas = _registry_ders(live)
    return SignerTrust(anchors=(root or live.root_der,), intermediates=tuple(cas),
                       pins={DISPLAY_CODE.name: (PinnedSigner(leaf),)})


def test_a_display_code_is_small_enough_for_a_phone_screen(client: TestClient,
                                                           live: StampingEnv) -> None:
    import segno

    shown = _display(client, live)
    assert len(shown["url"]) < 700
    version = segno.make(shown["url"], error="m").version
    assert isinstance(version, int)  # a QR code, not a Micro QR code ("M1" to "M4")
    assert version <= 20


def test_a_display_code_checks_offline_with_the_root_and_the_registry_certificate(
    client: TestClient, live: StampingEnv
) -> None:
    shown = _display(client, live)
    payload = verify_display(shown["token"], _registry_chain(live), now=datetime.now(UTC))
    assert payload["id"] == shown["identifier"]
    assert payload["s"] == "valid"
    assert payload["exp"] - payload["iat"] == 300


def _stranger_root() -> bytes:
    from cryptography import x509 as pyca
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = pyca.Name([pyca.NameAttribute(NameOID.COMMON_NAME,
                                         "Zhengyin Development PKI Root CA")])
    now = datetime.now(UTC)
    certificate = (pyca.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(key.public_key()).serial_number(1)
                   .not_valid_before(now - timedelta(days=1))
                   .not_valid_after(now + timedelta(days=1)).sign(key, hashes.SHA256()))
    return certificate.public_bytes(serialization.Encoding.DER)


def test_an_expired_or_forged_display_code_is_refused(client: TestClient,
                                                      live: StampingEnv) -> None:
    shown = _display(client, live)
    with pytest.raises(JWSError, match="expired"):
        verify_display(shown["token"], _registry_chain(live),
                       now=datetime.now(UTC) + timedelta(minutes=6))
    with pytest.raises(JWSError):  # another root does not vouch for our registry
        verify_display(shown["token"], _registry_chain(live, _stranger_root()),
                       now=datetime.now(UTC))
    header, payload, signature = shown["token"].split(".")
    forged = f"{header}.{payload[:-3]}AAA.{signature}"
    assert client.get("/public/display", params={"t": forged}).json()["valid"] is False
    page = client.get("/v/q", params={"t": forged})
    assert page.status_code == 400 and "无法核验" in page.text


def test_the_cli_verifies_a_display_code_offline(client: TestClient, live: StampingEnv,
                                                 tmp_path: Path) -> None:
    import os
    import sys

    from asn1crypto import pem

    shown = _display(client, live)
    root = tmp_path / "root.pem"
    root.write_bytes(pem.armor("CERTIFICATE", live.root_der))
    signer = tmp_path / "registry.pem"
    signer.write_bytes(b"".join(pem.armor("CERTIFICATE", der) for der in _registry_ders(live)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHENGYIN_")}
    zhengyin = str(Path(sys.executable).with_name("zhengyin"))
    result = subprocess.run([zhengyin, "qr", "verify", shown["url"], "--root", str(root),
                             "--signer", str(signer)],
                            env=env, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "✔ 证照有效"
    assert f"  证照标识：{shown['identifier']}" in result.stdout.splitlines()


def _offline_qr_verify(shown: dict[str, Any], trust_list: str, live: StampingEnv,
                       tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``zhengyin qr verify URL --trust-list FILE --root FILE`` with no settings at all."""
    import os
    import sys

    from asn1crypto import pem

    root = tmp_path / "root.pem"
    root.write_bytes(pem.armor("CERTIFICATE", live.root_der))
    listed = tmp_path / "trust-list.jws"
    listed.write_text(trust_list, encoding="ascii")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHENGYIN_")}
    zhengyin = str(Path(sys.executable).with_name("zhengyin"))
    return subprocess.run([zhengyin, "qr", "verify", shown["url"], "--trust-list", str(listed),
                           "--root", str(root)],
                          env=env, cwd=tmp_path, capture_output=True, text=True, check=False)


def test_the_cli_verifies_a_display_code_offline_with_the_published_trust_list(
    client: TestClient, live: StampingEnv, tmp_path: Path
) -> None:
    shown = _display(client, live)
    trust_list = client.get("/trust-list").text
    result = _offline_qr_verify(shown, trust_list, live, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "✔ 证照有效"
    assert "  证照状态：有效（valid），截至亮证时 " in result.stdout
    assert f"  证照标识：{shown['identifier']}" in result.stdout.splitlines()


def test_the_cli_refuses_a_display_code_with_a_tampered_trust_list(
    client: TestClient, live: StampingEnv, tmp_path: Path
) -> None:
    shown = _display(client, live)
    header, payload, signature = client.get("/trust-list").text.strip().split(".")
    payload = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]
    result = _offline_qr_verify(shown, f"{header}.{payload}.{signature}", live, tmp_path)
    assert result.returncode == 3  # nothing could be verified, as with 'zhengyin verify'
    assert result.stderr.strip().splitlines() == [
        "error: cannot read the trust material: the signed token does not verify"]
    assert result.stdout == ""
