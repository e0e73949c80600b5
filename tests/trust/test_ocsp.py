"""The OCSP responder (RFC 6960) over HTTP, asked and checked by ``openssl ocsp``.

POST goes from ``openssl ocsp -url`` to the real app under uvicorn; GET requests are
built with ``openssl ocsp -reqout``, sent with httpx and the answers read back with
``openssl ocsp -respin``.
"""

from __future__ import annotations

import base64
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from asn1crypto import ocsp

from zhengyin.api.runtime import Runtime
from zhengyin.core.clock import utcnow
from zhengyin.trust.models import RevocationReason

from .conftest import OPENSSL_TIME, CommandResult, IssueSeal, OpenSSL, openssl_time

pytestmark = pytest.mark.openssl

SHA1_ALGORITHM_ID = bytes.fromhex("06052b0e03021a0500")


def ask_post(openssl: OpenSSL, url: str, *target: str) -> CommandResult:
    """``openssl ocsp -url`` (POST, with a nonce) about ``target`` (-cert/-serial args)."""
    return openssl("ocsp", "-url", f"{url}/ocsp", "-issuer", "issuing.pem", *target,
                   "-CAfile", "root.pem", "-timeout", "10")


def build_request(openssl: OpenSSL, name: str, *args: str) -> bytes:
    """A DER OCSPRequest written by ``openssl ocsp -reqout``."""
    openssl("ocsp", *args, "-reqout", name)
    return (openssl.cwd / name).read_bytes()


def post_der(url: str, der: bytes) -> bytes:
    response = httpx.post(f"{url}/ocsp", content=der, timeout=10,
                          headers={"Content-Type": "application/ocsp-request"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/ocsp-response"
    return response.content


def get_der(url: str, der: bytes) -> bytes:
    encoded = quote(base64.b64encode(der).decode("ascii"), safe="")
    response = httpx.get(f"{url}/ocsp/{encoded}", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/ocsp-response"
    return response.content


def responder_error(openssl: OpenSSL, response_der: bytes) -> str:
    (openssl.cwd / "error.der").write_bytes(response_der)
    result = openssl("ocsp", "-respin", "error.der", "-resp_text", "-noverify", check=False)
    return result.stdout.strip()


def revoke(runtime: Runtime, serial_hex: str, reason: RevocationReason,
           at: datetime | None = None) -> None:
    with runtime.unit_of_work() as services:
        services.pki.revoke(serial_hex, reason=reason, at=at or utcnow(), actor="test")


def nonce_of(openssl: OpenSSL, kind: str, name: str) -> str | None:
    """The hex nonce openssl shows in a request (``req``) or response (``resp``)."""
    args = ["-reqin", name, "-req_text"] if kind == "req" else \
        ["-respin", name, "-resp_text", "-noverify"]
    lines = [line.strip() for line in openssl("ocsp", *args).stdout.splitlines()]
    if "OCSP Nonce:" not in lines:
        return None
    return lines[lines.index("OCSP Nonce:") + 1]


# --------------------------------------------------------------------------- status


def test_post_answers_good_before_revocation(
    live_server: str, openssl: OpenSSL, ca_files: dict[str, Path], issue_seal: IssueSeal
) -> None:
    issue_seal()
    result = ask_post(openssl, live_server, "-cert", "seal.pem")
    assert result.stdout.splitlines()[0] == "seal.pem: good"
    # The response was signed by the delegated responder and verified to root.pem, and
    # its nonce matched the request's (otherwise openssl warns here).
    assert result.stderr == "Response verify OK\n"


def test_post_answers_revoked_with_reason_after_revocation(
    live_server: str, pki_runtime: Runtime, openssl: OpenSSL, ca_files: dict[str, Path],
    issue_seal: IssueSeal,
) -> None:
    seal = issue_seal()
    at = utcnow().replace(microsecond=250000)
    revoke(pki_runtime, seal.serial_hex, RevocationReason.KEY_COMPROMISE, at=at)
    result = ask_post(openssl, live_server, "-cert", "seal.pem")
    lines = [line.strip() for line in result.stdout.splitlines()]
    assert lines[0] == "seal.pem: revoked"
    assert "Reason: keyCompromise" in lines
    # Whole seconds, as in the CRL (RFC 5280 §4.1.2.5.2 forbids fractions).
    assert f"Revocation Time: {openssl_time(at)}" in lines
    assert result.stderr == "Response verify OK\n"


def test_revoked_without_a_reason_carries_no_reason(
    live_server: str, pki_runtime: Runtime, openssl: OpenSSL, ca_files: dict[str, Path],
    issue_seal: IssueSeal,
) -> None:
    seal = issue_seal()
    revoke(pki_runtime, seal.serial_hex, RevocationReason.UNSPECIFIED)
    lines = [line.strip()
             for line in ask_post(openssl, live_server, "-cert", "seal.pem").stdout.splitlines()]
    assert lines[0] == "seal.pem: revoked"
    assert not [line for line in lines if line.startswith("Reason:")]


def test_get_answers_good_before_revocation(
    live_server: str, openssl: OpenSSL, ca_files: dict[str, Path], issue_seal: IssueSeal
) -> None:
    issue_seal()
    request = build_request(openssl, "req.der", "-issuer", "issuing.pem", "-cert", "seal.pem",
                            "-no_nonce")
    (openssl.cwd / "resp.der").write_bytes(get_der(live_server, request))
    result = openssl("ocsp", "-respin", "resp.der", "-CAfile", "root.pem",
                     "-issuer", "issuing.pem", "-cert", "seal.pem", "-no_nonce")
    assert result.stdout.splitlines()[0] == "seal.pem: good"
    assert result.stderr == "Response verify OK\n"


def test_get_answers_revoked_with_reason_after_revocation(
    live_server: str, pki_runtime: Runtime, openssl: OpenSSL, ca_files: dict[str, Path],
    issue_seal: IssueSeal,
) -> None:
    seal = issue_seal()
    revoke(pki_runtime, seal.serial_hex, RevocationReason.AFFILIATION_CHANGED)
    request = build_request(openssl, "req.der", "-issuer", "issuing.pem", "-cert", "seal.pem",
                            "-no_nonce")
    (openssl.cwd / "resp.der").write_bytes(get_der(live_server, request))
    result = openssl("ocsp", "-respin", "resp.der", "-CAfile", "root.pem",
                     "-issuer", "issuing.pem", "-cert", "seal.pem", "-no_nonce")
    lines = [line.strip() for line in result.stdout.splitlines()]
    assert lines[0] == "seal.pem: revoked"
    assert "Reason: affiliationChanged" in lines
    assert result.stderr == "Response verify OK\n"


def test_unknown_serial_is_answered_unknown(
    live_server: str, openssl: OpenSSL, ca_files: dict[str, Path]
) -> None:
    result = ask_post(openssl, live_server, "-serial", "0x1234")
    assert result.stdout.splitlines()[0] == "0x1234: unknown"
    assert result.stderr == "Response verify OK\n"


def test_sha256_certificate_id_is_answered(
    live_server: str, openssl: OpenSSL, ca_files: dict[str, Path], issue_seal: IssueSeal
) -> None:
    issue_seal()
    result = openssl("ocsp", "-url", f"{live_server}/ocsp", "-sha256", "-issuer", "issuing.pem",
                     "-cert", "seal.pem", "-CAfile", "root.pem", "-timeout", "10")
    assert result.stdout.splitlines()[0] == "seal.pem: good"


def test_answer_is_valid_for_one_hour(
    live_server: str, openssl: OpenSSL, ca_files: dict[str, Path], issue_seal: IssueSeal
) -> None:
    issue_seal()
    lines = [line.strip() for line in
             ask_post(openssl, live_server, "-cert", "seal.pem").stdout.splitlines()]
    this_update = datetime.strptime(lines[1].removeprefix("This Update: "), OPENSSL_TIME)
    next_update = datetime.strptime(lines[2].removeprefix("Next Update: "), OPENSSL_TIME)
    assert (next_update - this_update).total_seconds() == 3600


# --------------------------------------------------------------------------- nonce, signature


def test_request_nonce_is_echoed_in_the_response(
    live_server: str, openssl: OpenSSL, ca_files: dict[str, Path], issue_seal: IssueSeal
) -> None:
    issue_seal()
    request = build_request(openssl, "req.der", "-issuer", "issuing.pem", "-cert", "seal.pem")
    (openssl.cwd / "resp.der").write_bytes(post_der(live_server, request))
    sent = nonce_of(openssl, "req", "req.der")
    assert sent is not None
    assert nonce_of(openssl, "resp", "resp.der") == sent
    # openssl's own comparison of the two (it says "Nonce Verify error" on a mismatch).
    result = openssl("ocsp", "-reqin", "req.der", "-respin", "resp.der", "-CAfile", "root.pem",
                     "-issuer", "issuing.pem")
    assert result.stderr == "Response verify OK\n"


def test_request_without_nonce_gets_a_response_without_nonce(
    live_server: str, openssl: OpenSSL, ca_files: dict[str, Path], issue_seal: IssueSeal
) -> None:
    issue_seal()
    request = build_request(openssl, "req.der", "-issuer", "issuing.pem", "-cert", "seal.pem",
                            "-no_nonce")
    (openssl.cwd / "resp.der").write_bytes(post_der(live_server, request))
    assert nonce_of(openssl, "resp", "resp.der") is None


def _with_nonce(request_der: bytes, nonce: bytes) -> bytes:
    """The same request with a nonce of the given value (asn1crypto builds it)."""
    tbs = ocsp.OCSPRequest.load(request_der)["tbs_request"]
    return bytes(ocsp.OCSPRequest({"tbs_request": {
        "request_list": tbs["request_list"],
        "request_extensions": [{"extn_id": "nonce", "critical": False, "extn_value": nonce}],
    }}).dump())


def test_nonce_of_32_octets_is_echoed(
    live_server: str, openssl: OpenSSL, ca_files: dict[str, Path], issue_seal: IssueSeal
) -> None:
    issue_seal()
    base = build_request(openssl, "base.der", "-issuer", "issuing.pem", "-cert", "seal.pem",
                         "-no_nonce")
    (openssl.cwd / "req.der").write_bytes(_with_nonce(base, bytes(range(32))))
    (openssl.cwd / "resp.der").write_bytes(post_der(live_server,
                                                    (openssl.cwd / "req.der").read_bytes()))
    assert nonce_of(openssl, "resp", "resp.der") == "0420" + bytes(range(32)).hex().upper()


@pytest.mark.parametrize("nonce", [pytest.param(b"", id="empty"),
                                   pytest.param(bytes(33), id="33-octets")])
def test_nonce_of_bad_length_is_a_malformed_request(
    live_server: str, openssl: OpenSSL, ca_files: dict[str, Path], issue_seal: IssueSeal,
    nonce: bytes,
) -> None:
    # RFC 8954 §2.1: the responder MUST reject 0 or more than 32 octets.
    issue_seal()
    base = build_request(openssl, "base.der", "-issuer", "issuing.pem", "-cert", "seal.pem",
                         "-no_nonce")
    answer = post_der(live_server, _with_nonce(base, nonce))
    assert responder_error(openssl, answer) == "Responder Error: malformedrequest (1)"


def test_response_does_not_verify_against_an_impostor_root(
    live_server: str, openssl: OpenSSL, ca_files: dict[str, Path], issue_seal: IssueSeal
) -> None:
    issue_seal()
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "impostor.key", "-out", "impostor.pem", "-days", "1", "-subj",
            "/C=CN/O=Zhengyin Development PKI/CN=Zhengyin Development PKI Root CA")
    result = openssl("ocsp", "-url", f"{live_server}/ocsp", "-issuer", "issuing.pem",
                     "-cert", "seal.pem", "-CAfile", "impostor.pem", "-timeout", "10",
                     check=False)
    assert result.stderr.startswith("Response Verify Failure")


# --------------------------------------------------------------------------- refusals


def _mistagged_issuer_name_hash(request: bytes) -> bytes:
    # The OCTET STRING after the SHA-1 AlgorithmIdentifier becomes a private-class tag:
    # asn1crypto only notices when the field is read.
    index = request.index(SHA1_ALGORITHM_ID) + len(SHA1_ALGORITHM_ID)
    assert request[index:index + 2] == b"\x04\x14"
    return request[:index] + b"\xc4" + request[index + 1:]


MALFORMED = [
    pytest.param(lambda good: b"not an OCSP request", id="text"),
    pytest.param(lambda good: b"", id="empty"),
    pytest.param(lambda good: b"\x30\x00", id="empty-sequence"),
    pytest.param(lambda good: good[:-5], id="truncated"),
    pytest.param(lambda good: good + b"\x00\x00", id="trailing-bytes"),
    pytest.param(_mistagged_issuer_name_hash, id="mistagged-issuer-name-hash"),
]


@pytest.mark.parametrize("corrupt", MALFORMED)
def test_malformed_post_is_answered_malformed_request(
    live_server: str, openssl: OpenSSL, ca_files: dict[str, Path], issue_seal: IssueSeal,
    corrupt: object,
) -> None:
    issue_seal()
    good = build_request(openssl, "good.der", "-issuer", "issuing.pem", "-cert", "seal.pem",
                         "-no_nonce")
    answer = post_der(live_server, corrupt(good))  # type: ignore[operator]
    assert responder_error(openssl, answer) == "Responder Error: malformedrequest (1)"


def test_get_with_bad_base64_is_answered_malformed_request(
    live_server: str, openssl: OpenSSL
) -> None:
    response = httpx.get(f"{live_server}/ocsp/not%20base64%21", timeout=10)
    assert response.status_code == 200
    assert responder_error(openssl, response.content) == "Responder Error: malformedrequest (1)"


def test_request_about_a_certificate_of_another_ca_is_unauthorized(
    live_server: str, openssl: OpenSSL, ca_files: dict[str, Path]
) -> None:
    # The issuing CA itself is certified by the root, whose status the root's CRL gives.
    request = build_request(openssl, "req.der", "-issuer", "root.pem", "-cert", "issuing.pem",
                            "-no_nonce")
    answer = post_der(live_server, request)
    assert responder_error(openssl, answer) == "Responder Error: unauthorized (6)"
