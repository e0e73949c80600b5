"""The RFC 3161 time-stamp authority over HTTP, queried and verified with ``openssl ts``."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from asn1crypto import tsp

from zhengyin.api.runtime import Runtime
from zhengyin.core.models import ClientRole
from zhengyin.trust.tsa import TSAPolicy

from ..support import bearer
from .conftest import CommandResult, OpenSSL

pytestmark = pytest.mark.openssl

OUR_POLICY = TSAPolicy().policy_oid
TSA_SUBJECT = ("DirName:/C=CN/O=Zhengyin Development PKI"
               "/CN=Zhengyin Development PKI Time-Stamping Authority")


@pytest.fixture
def document(tmp_path: Path) -> Path:
    """The data being time-stamped."""
    path = tmp_path / "document.pdf"
    path.write_bytes(b"%PDF-1.7\n% a licence to be time-stamped\n")
    return path


Stamp = Callable[[str, bytes], bytes]


@pytest.fixture
def stamp(live_server: str, client_credentials: dict[ClientRole, str],
          openssl: OpenSSL) -> Stamp:
    """POST a DER query to /tsa as a client with tsa:use; write and return the reply."""

    def post(reply_name: str, query: bytes) -> bytes:
        response = httpx.post(
            f"{live_server}/tsa", content=query, timeout=10,
            headers={"Content-Type": "application/timestamp-query",
                     **bearer(client_credentials[ClientRole.INTAKE])},
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/timestamp-reply"
        (openssl.cwd / reply_name).write_bytes(response.content)
        return response.content

    return post


def query(openssl: OpenSSL, name: str, *options: str, digest: str = "-sha256") -> bytes:
    """``openssl ts -query`` over document.pdf."""
    openssl("ts", "-query", "-data", "document.pdf", digest, *options, "-out", name)
    return (openssl.cwd / name).read_bytes()


def reply_lines(openssl: OpenSSL, name: str) -> list[str]:
    return openssl("ts", "-reply", "-in", name, "-text").stdout.splitlines()


def token_certificates(openssl: OpenSSL, reply_name: str) -> list[str]:
    """Subjects of the certificates inside the token (``openssl pkcs7 -print_certs``)."""
    openssl("ts", "-reply", "-in", reply_name, "-token_out", "-out", "token.der")
    printed = openssl("pkcs7", "-inform", "DER", "-in", "token.der", "-print_certs",
                      "-noout").stdout
    return [line.removeprefix("subject=") for line in printed.splitlines()
            if line.startswith("subject=")]


def verify(openssl: OpenSSL, reply_name: str, *source: str,
           untrusted: str = "issuing.pem") -> CommandResult:
    """``openssl ts -verify`` against root.pem; its verdict is on stdout."""
    return openssl("ts", "-verify", "-in", reply_name, *source, "-CAfile", "root.pem",
                   "-untrusted", untrusted, check=False)


# --------------------------------------------------------------------------- granted


def test_token_for_a_query_with_nonce_and_certificate_request_verifies(
    openssl: OpenSSL, ca_files: dict[str, Path], document: Path, stamp: Stamp
) -> None:
    stamp("resp.tsr", query(openssl, "req.tsq", "-cert"))
    assert verify(openssl, "resp.tsr", "-queryfile", "req.tsq").stdout == "Verification: OK\n"


def test_token_for_a_query_without_nonce_or_certificate_request_verifies(
    openssl: OpenSSL, ca_files: dict[str, Path], document: Path, stamp: Stamp
) -> None:
    stamp("resp.tsr", query(openssl, "req.tsq", "-no_nonce"))
    # No certificates in the token: the verifier brings the TSA certificate itself.
    (openssl.cwd / "untrusted.pem").write_bytes(ca_files["issuing"].read_bytes()
                                                + ca_files["tsa"].read_bytes())
    result = verify(openssl, "resp.tsr", "-queryfile", "req.tsq", untrusted="untrusted.pem")
    assert result.stdout == "Verification: OK\n"


def test_token_verifies_against_the_data_itself(
    openssl: OpenSSL, ca_files: dict[str, Path], document: Path, stamp: Stamp
) -> None:
    stamp("resp.tsr", query(openssl, "req.tsq", "-cert"))
    assert verify(openssl, "resp.tsr", "-data", "document.pdf").stdout == "Verification: OK\n"


def test_token_does_not_verify_against_other_data(
    openssl: OpenSSL, ca_files: dict[str, Path], document: Path, stamp: Stamp
) -> None:
    stamp("resp.tsr", query(openssl, "req.tsq", "-cert"))
    (openssl.cwd / "other.pdf").write_bytes(document.read_bytes() + b" ")
    result = verify(openssl, "resp.tsr", "-data", "other.pdf")
    assert result.stdout == "Verification: FAILED\n"
    assert "message imprint mismatch" in result.stderr


@pytest.mark.parametrize("digest", ["-sha384", "-sha512"])
def test_token_over_longer_sha2_imprints_verifies(
    openssl: OpenSSL, ca_files: dict[str, Path], document: Path, stamp: Stamp, digest: str
) -> None:
    stamp("resp.tsr", query(openssl, "req.tsq", "-cert", digest=digest))
    assert verify(openssl, "resp.tsr", "-queryfile", "req.tsq").stdout == "Verification: OK\n"


def test_token_with_certificate_request_carries_the_tsa_certificate_and_chain(
    openssl: OpenSSL, ca_files: dict[str, Path], document: Path, stamp: Stamp
) -> None:
    stamp("resp.tsr", query(openssl, "req.tsq", "-cert"))
    # CMS certificates are a SET OF: compare without order.
    assert sorted(token_certificates(openssl, "resp.tsr")) == [
        "C = CN, O = Zhengyin Development PKI, CN = Zhengyin Development PKI Issuing CA",
        "C = CN, O = Zhengyin Development PKI, CN = Zhengyin Development PKI Root CA",
        "C = CN, O = Zhengyin Development PKI, "
        "CN = Zhengyin Development PKI Time-Stamping Authority",
    ]


def test_token_without_certificate_request_carries_no_certificates(
    openssl: OpenSSL, ca_files: dict[str, Path], document: Path, stamp: Stamp
) -> None:
    stamp("resp.tsr", query(openssl, "req.tsq"))
    assert token_certificates(openssl, "resp.tsr") == []


def test_token_echoes_the_query_nonce(
    openssl: OpenSSL, ca_files: dict[str, Path], document: Path, stamp: Stamp
) -> None:
    stamp("resp.tsr", query(openssl, "req.tsq"))
    asked = [line for line in openssl("ts", "-query", "-in", "req.tsq", "-text").stdout
             .splitlines() if line.startswith("Nonce: ")]
    answered = [line for line in reply_lines(openssl, "resp.tsr") if line.startswith("Nonce: ")]
    assert len(asked) == 1
    assert answered == asked


def test_token_states_policy_time_and_tsa(
    openssl: OpenSSL, ca_files: dict[str, Path], document: Path, stamp: Stamp
) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    stamp("resp.tsr", query(openssl, "req.tsq"))
    after = datetime.now(UTC)
    lines = reply_lines(openssl, "resp.tsr")
    assert "Status: Granted." in lines
    assert f"Policy OID: {OUR_POLICY}" in lines
    assert "Hash Algorithm: sha256" in lines
    assert f"TSA: {TSA_SUBJECT}" in lines
    assert "Accuracy: 0x01 seconds, unspecified millis, unspecified micros" in lines
    stamped = next(line for line in lines if line.startswith("Time stamp: "))
    # "Nov 22 03:16:39.465935 2026 GMT": drop the fraction, parse the rest.
    text = re.sub(r"\.[0-9]+ ", " ", stamped.removeprefix("Time stamp: "))
    at = datetime.strptime(text, "%b %d %H:%M:%S %Y GMT").replace(tzinfo=UTC)
    assert before <= at <= after


def test_query_naming_our_policy_is_granted(
    openssl: OpenSSL, ca_files: dict[str, Path], document: Path, stamp: Stamp
) -> None:
    stamp("resp.tsr", query(openssl, "req.tsq", "-cert", "-tspolicy", OUR_POLICY))
    assert verify(openssl, "resp.tsr", "-queryfile", "req.tsq").stdout == "Verification: OK\n"


# --------------------------------------------------------------------------- rejected


def _imprint(algorithm: str, digest: bytes) -> dict[str, Any]:
    return {"hash_algorithm": {"algorithm": algorithm}, "hashed_message": digest}


def _critical_extension_query() -> bytes:
    return bytes(tsp.TimeStampReq({
        "version": "v1",
        "message_imprint": _imprint("sha256", bytes(32)),
        "extensions": [{"extn_id": "1.2.3.4.5", "critical": True, "extn_value": b"\x05\x00"}],
    }).dump())


def _short_imprint_query() -> bytes:
    return bytes(tsp.TimeStampReq({
        "version": "v1", "message_imprint": _imprint("sha256", bytes(20)),
    }).dump())


def _broken_extensions_query() -> bytes:
    # A valid request followed by an extensions field [0] whose content is one stray byte.
    body = bytes(tsp.TimeStampReq({
        "version": "v1", "message_imprint": _imprint("sha256", bytes(32)),
    }).dump())[2:] + b"\xa0\x01\xff"
    return b"\x30" + bytes([len(body)]) + body


def _version_2_query() -> bytes:
    return bytes(tsp.TimeStampReq({
        "version": 2, "message_imprint": _imprint("sha256", bytes(32)),
    }).dump())


REJECTIONS = [
    # (build the query, RFC 3161 PKIFailureInfo as openssl names it)
    pytest.param(lambda o: query(o, "req.tsq", digest="-sha1"),
                 "unrecognized or unsupported algorithm identifier", id="sha1-badAlg"),
    pytest.param(lambda o: b"this is not a TimeStampReq",
                 "the data submitted has the wrong format", id="garbage-badDataFormat"),
    pytest.param(lambda o: query(o, "req.tsq", "-tspolicy", "1.2.3.4"),
                 "the requested TSA policy is not supported by the TSA",
                 id="unknown-policy-unacceptedPolicy"),
    pytest.param(lambda o: _critical_extension_query(),
                 "the requested extension is not supported by the TSA",
                 id="critical-extension-unacceptedExtension"),
    pytest.param(lambda o: _broken_extensions_query(),
                 "the data submitted has the wrong format",
                 id="broken-extensions-badDataFormat"),
    pytest.param(lambda o: _short_imprint_query(),
                 "the data submitted has the wrong format", id="short-imprint-badDataFormat"),
    pytest.param(lambda o: _version_2_query(),
                 "transaction not permitted or supported", id="version-2-badRequest"),
]


@pytest.mark.parametrize(("build", "failure"), REJECTIONS)
def test_bad_query_is_rejected_with_its_failure_info(
    openssl: OpenSSL, ca_files: dict[str, Path], document: Path, stamp: Stamp,
    build: Callable[[OpenSSL], bytes], failure: str,
) -> None:
    stamp("resp.tsr", build(openssl))
    lines = reply_lines(openssl, "resp.tsr")
    assert lines[:2] == ["Status info:", "Status: Rejected."]
    assert f"Failure info: {failure}" in lines
    assert lines[lines.index("TST info:") + 1] == "Not included."


# --------------------------------------------------------------------------- who may ask


def test_anonymous_caller_is_refused(live_server: str, openssl: OpenSSL,
                                     document: Path) -> None:
    response = httpx.post(f"{live_server}/tsa", content=query(openssl, "req.tsq"), timeout=10,
                          headers={"Content-Type": "application/timestamp-query"})
    assert response.status_code == 401
    assert response.json()["code"] == "auth.invalid_credential"


def test_client_without_tsa_use_scope_is_forbidden(
    live_server: str, openssl: OpenSSL, document: Path,
    client_credentials: dict[ClientRole, str],
) -> None:
    response = httpx.post(f"{live_server}/tsa", content=query(openssl, "req.tsq"), timeout=10,
                          headers={"Content-Type": "application/timestamp-query",
                                   **bearer(client_credentials[ClientRole.VERIFIER])})
    assert response.status_code == 403
    assert response.json()["code"] == "auth.forbidden"


@pytest.fixture
def public_tsa_http(pki_runtime: Runtime) -> Iterator[Any]:
    """The app over the same PKI with settings.tsa_public, through a test client."""
    from fastapi.testclient import TestClient

    from zhengyin.api.app import create_app

    public = Runtime(pki_runtime.settings.model_copy(update={"tsa_public": True}))
    with TestClient(create_app(runtime=public)) as client:
        yield client


def test_public_tsa_serves_anonymous_callers(
    public_tsa_http: Any, openssl: OpenSSL, ca_files: dict[str, Path], document: Path
) -> None:
    response = public_tsa_http.post("/tsa", content=query(openssl, "req.tsq", "-cert"),
                                    headers={"Content-Type": "application/timestamp-query"})
    assert response.status_code == 200
    (openssl.cwd / "resp.tsr").write_bytes(response.content)
    assert verify(openssl, "resp.tsr", "-queryfile", "req.tsq").stdout == "Verification: OK\n"
