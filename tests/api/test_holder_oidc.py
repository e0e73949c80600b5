"""Holder tokens in production: an external OIDC provider's JWTs, checked against its JWKS.

The provider here is a real HTTP server on a loopback port serving a JWKS with one ES256
key, fetched the way the service fetches it (PyJWT's ``PyJWKClient`` over urllib).
Development tokens are off, as in production; the holder code comes from a configured
claim (``id_number``), not the default one.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from zhengyin.api.runtime import Runtime
from zhengyin.api.settings import Settings
from zhengyin.core.clock import utcnow
from zhengyin.registry.catalogue import TypeDefinition, example_definitions
from zhengyin.signing.models import SealType
from zhengyin.signing.seals import SealRequest

from ..registry.conftest import ESTATE_TYPE, REAL_ESTATE, issuer_headers, seal_png
from ..support import bearer, make_settings

ISSUER = "https://idp.example.gov.cn/realms/citizens"
AUDIENCE = "zhengyin-registry"
CODE_CLAIM = "id_number"
PERSON = "11010519491231002X"
KID = "provider-key-1"


@dataclass(frozen=True)
class Provider:
    """The OIDC provider: its JWKS URL and the key it signs with."""

    jwks_url: str
    key: ec.EllipticCurvePrivateKey

    def token(self, *, key: ec.EllipticCurvePrivateKey | None = None, kid: str = KID,
              **overrides: Any) -> str:
        """A JWT as the provider issues it; ``overrides`` replace claims (None drops one)."""
        now = int(time.time())
        claims: dict[str, Any] = {"iss": ISSUER, "aud": AUDIENCE, "sub": "user-8842",
                                  "iat": now, "exp": now + 600, CODE_CLAIM: PERSON}
        claims.update(overrides)
        claims = {name: value for name, value in claims.items() if value is not None}
        return jwt.encode(claims, key or self.key, algorithm="ES256", headers={"kid": kid})


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    """A JWKS endpoint on 127.0.0.1 publishing one P-256 public key."""
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(ECAlgorithm.to_jwk(key.public_key()))
    body = json.dumps({"keys": [{**jwk, "kid": KID, "use": "sig", "alg": "ES256"}]}).encode()

    class JWKSHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/jwks.json":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), JWKSHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Provider(f"http://127.0.0.1:{server.server_address[1]}/jwks.json", key)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def settings(tmp_path: Path, database_url: str, kek_text: str, provider: Provider) -> Settings:
    """Production holder settings: JWKS, issuer, audience, code claim; no dev tokens."""
    return make_settings(tmp_path / "data", database_url, kek_text,
                         holder_jwks_url=provider.jwks_url, holder_issuer=ISSUER,
                         holder_audience=AUDIENCE, holder_code_claim=CODE_CLAIM,
                         holder_dev_tokens=False)


@pytest.fixture
def licence(http: Any, runtime: Runtime) -> str:
    """A real-estate certificate held by PERSON; its identifier."""
    with runtime.unit_of_work() as services:
        for document in example_definitions():
            services.catalogue.define(TypeDefinition.from_json(document), at=utcnow(),
                                      actor="test")
        services.seals.create(SealRequest(org_name="北京市朝阳区不动产登记中心",
                                          credit_code=REAL_ESTATE, seal_type=SealType.APPROVAL,
                                          image_png=seal_png()), at=utcnow(), actor="test")
    body = {
        "type_code": ESTATE_TYPE, "holder_kind": "citizen-id", "holder_code": PERSON,
        "holder_name": "王五",
        "fields": {"right_holder": "王五", "co_ownership": "单独所有", "location": "朝阳区某处",
                   "unit_number": "110105008001GB00012F00030058", "right_type": "房屋所有权",
                   "right_nature": "市场化商品房", "usage": "住宅", "area": "89.56㎡"},
    }
    response = http.post("/licences", json=body, headers=issuer_headers(runtime, REAL_ESTATE))
    assert response.status_code == 201, response.text
    return str(response.json()["identifier"])


def _assert_refused(response: Any) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "auth.invalid_credential"
    assert PERSON not in response.text


def test_a_provider_token_lists_the_holders_licences(http: Any, provider: Provider,
                                                     licence: str) -> None:
    response = http.get("/holder/licences", headers=bearer(provider.token()))
    assert response.status_code == 200, response.text
    assert [item["identifier"] for item in response.json()] == [licence]


def test_a_provider_token_downloads_the_holders_pdf(http: Any, provider: Provider,
                                                    licence: str) -> None:
    response = http.get(f"/holder/licences/{licence}/pdf", headers=bearer(provider.token()))
    assert response.status_code == 200, response.text
    assert response.content.startswith(b"%PDF-")


def test_the_holder_code_comes_from_the_configured_claim(http: Any, provider: Provider,
                                                         licence: str) -> None:
    claims: dict[str, Any] = {CODE_CLAIM: "440524188001010014", "holder_code": PERSON}
    token = provider.token(**claims)
    response = http.get("/holder/licences", headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.json() == []


def test_a_token_for_another_audience_is_refused(http: Any, provider: Provider) -> None:
    _assert_refused(http.get("/holder/licences",
                             headers=bearer(provider.token(aud="another-service"))))


def test_a_token_from_another_issuer_is_refused(http: Any, provider: Provider) -> None:
    _assert_refused(http.get("/holder/licences",
                             headers=bearer(provider.token(iss="https://idp.example.com/"))))


def test_an_expired_token_is_refused(http: Any, provider: Provider) -> None:
    an_hour_ago = int(time.time()) - 3600
    token = provider.token(iat=an_hour_ago - 600, exp=an_hour_ago)
    _assert_refused(http.get("/holder/licences", headers=bearer(token)))


def test_a_token_signed_with_a_key_the_jwks_does_not_list_is_refused(
    http: Any, provider: Provider
) -> None:
    token = provider.token(kid="some-other-key")
    _assert_refused(http.get("/holder/licences", headers=bearer(token)))


def test_a_token_with_a_bad_signature_is_refused(http: Any, provider: Provider) -> None:
    forger = ec.generate_private_key(ec.SECP256R1())
    token = provider.token(key=forger)  # the provider's kid, another key
    _assert_refused(http.get("/holder/licences", headers=bearer(token)))


def test_a_token_with_a_malformed_holder_code_is_refused(http: Any, provider: Provider) -> None:
    claims: dict[str, Any] = {CODE_CLAIM: "110105194912310021"}  # wrong check character
    token = provider.token(**claims)
    _assert_refused(http.get("/holder/licences", headers=bearer(token)))


def test_a_token_without_the_holder_code_claim_is_refused(http: Any, provider: Provider) -> None:
    claims: dict[str, Any] = {CODE_CLAIM: None}
    token = provider.token(**claims)
    _assert_refused(http.get("/holder/licences", headers=bearer(token)))
