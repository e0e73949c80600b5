"""Every route declares who may call it: no credential 401, wrong scope 403.

The matrix is built from the app's own routes, so a new route without an authorisation
dependency fails here unless it is deliberately listed as public.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from zhengyin.api.app import create_app
from zhengyin.core.clients import ROLE_SCOPES
from zhengyin.core.models import ClientRole

from ..support import bearer

# Routes anyone may call, and why.
PUBLIC = {
    ("GET", "/healthz"): "liveness probe",
    ("GET", "/readyz"): "readiness probe",
    ("GET", "/pki/ca/{purpose}.crt"): "CA certificates are public trust anchors",
    ("GET", "/pki/certificates/{serial}"): "certificates are public",
    ("GET", "/pki/crl/{purpose}.crl"): "relying parties fetch CRLs",
    ("POST", "/ocsp"): "relying parties ask OCSP",
    ("GET", "/ocsp/{encoded}"): "relying parties ask OCSP",
    ("GET", "/public/licences/{identifier}/status"): "anyone checks a licence (no personal data)",
    ("GET", "/trust-list"): "offline verifiers fetch the signed trust list",
    ("GET", "/status-lists/{list_id}"): "relying parties fetch licence status lists (offline)",
    ("GET", "/verify"): "the public verification page (no sign-in, issue 6)",
    ("POST", "/verify"): "anyone verifies a PDF on the public page (size and rate limited)",
    ("GET", "/verify/licence"): "the public page's identifier form (a redirect)",
    ("GET", "/v/{identifier}"): "licence PDFs print this URL as their QR code",
    ("GET", "/public/display"): "anyone shown a holder's display code checks it (rate limited)",
    ("GET", "/verify/reports/{token}.json"): "the report just shown (unguessable token, 15 min)",
    ("GET", "/verify/reports/{token}.pdf"): "the report just shown (unguessable token, 15 min)",
}


def _routes() -> list[tuple[str, str, frozenset[str] | None]]:
    """(method, path, scopes) of client-authenticated routes from the OpenAPI document.

    None where no security is declared; routes secured by a holder token appear in
    HOLDER_ROUTES instead.
    """
    from zhengyin.api.settings import Settings

    document = create_app(Settings(database_url="sqlite://", kek="A" * 43 + "=")).openapi()
    result = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            security = operation.get("security")
            if security and all("HolderToken" in requirement for requirement in security):
                HOLDER_ROUTES.append((method.upper(), path))
                continue
            scopes = None if security is None else frozenset(
                scope for requirement in security for scopes in requirement.values()
                for scope in scopes
            )
            result.append((method.upper(), path, scopes))
    return result


HOLDER_ROUTES: list[tuple[str, str]] = []
ROUTES = _routes()
PROTECTED = [(m, p, s) for m, p, s in ROUTES if (m, p) not in PUBLIC]


def _url(path: str) -> str:
    return re.sub(r"\{[^}:]+(:path)?\}", "x", path)


def test_every_route_is_public_on_purpose_or_declares_scopes() -> None:
    undeclared = [(m, p) for m, p, scopes in ROUTES if scopes is None and (m, p) not in PUBLIC]
    assert undeclared == []


def test_public_routes_declare_no_scopes() -> None:
    declared = [(m, p) for m, p, scopes in ROUTES if scopes and (m, p) in PUBLIC]
    assert declared == []


@pytest.mark.parametrize(("method", "path", "scopes"), PROTECTED,
                         ids=[f"{m} {p}" for m, p, _ in PROTECTED])
def test_route_refuses_missing_and_wrong_credentials(
    http: Any, credentials: dict[ClientRole, str], method: str, path: str,
    scopes: frozenset[str],
) -> None:
    url = _url(path)
    anonymous = http.request(method, url, json={})
    assert anonymous.status_code == 401, anonymous.text
    assert anonymous.headers["content-type"] == "application/problem+json"
    assert anonymous.headers["www-authenticate"].startswith("Bearer")

    forged = http.request(method, url, json={},
                          headers=bearer("zy.0123456789abcdef." + "A" * 43))
    assert forged.status_code == 401

    for role, credential in credentials.items():
        response = http.request(method, url, json={}, headers=bearer(credential))
        if scopes <= ROLE_SCOPES[role]:
            assert response.status_code not in (401, 403), (role, response.text)
        else:
            assert response.status_code == 403, (role, response.text)
            assert response.json()["code"] == "auth.forbidden"


def test_a_disabled_client_is_refused(http: Any, runtime: Any,
                                      credentials: dict[ClientRole, str]) -> None:
    admin = bearer(credentials[ClientRole.ADMIN])
    victim = credentials[ClientRole.VERIFIER]
    client_id = victim.split(".")[1]
    # Authenticated once first, so this process holds it in its principal cache.
    assert http.post("/tsa", content=b"", headers=bearer(victim)).status_code != 401
    assert http.post(f"/admin/clients/{client_id}/disable", headers=admin).status_code == 200
    response = http.post("/tsa", content=b"", headers=bearer(victim))
    assert response.status_code == 401


def test_a_rotated_credential_stops_working(http: Any, credentials: dict[ClientRole, str]) -> None:
    admin = credentials[ClientRole.ADMIN]
    client_id = admin.split(".")[1]
    rotated = http.post(f"/admin/clients/{client_id}/rotate", headers=bearer(admin))
    assert rotated.status_code == 200
    new = rotated.json()["credential"]
    assert http.get("/admin/clients", headers=bearer(admin)).status_code == 401
    assert http.get("/admin/clients", headers=bearer(new)).status_code == 200


@pytest.mark.parametrize(("method", "path"), HOLDER_ROUTES,
                         ids=[f"{m} {p}" for m, p in HOLDER_ROUTES])
def test_holder_route_refuses_missing_and_client_credentials(
    http: Any, credentials: dict[ClientRole, str], method: str, path: str
) -> None:
    url = _url(path)
    anonymous = http.request(method, url)
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    for credential in credentials.values():
        assert http.request(method, url, headers=bearer(credential)).status_code == 401


def test_holder_routes_exist() -> None:
    assert len(HOLDER_ROUTES) >= 3
