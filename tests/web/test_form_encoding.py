"""Form fields that are not valid UTF-8 (the public verify page, the wallet's forms, the
verification and stamping APIs) are 422 problem+json, never a 500 and never stored or
shown as mojibake."""

from __future__ import annotations

import re
from typing import Any

import pytest

from zhengyin.core.models import ClientRole

BOUNDARY = "zyBoundary"
PDF = b"%PDF-1.7\n% not really a PDF\n%%EOF\n"


def _multipart(*parts: tuple[bytes, bytes]) -> tuple[bytes, dict[str, str]]:
    """A multipart body from (Content-Disposition parameters, content) pairs."""
    body = b"".join(b"--" + BOUNDARY.encode() + b"\r\nContent-Disposition: form-data; "
                    + disposition + b"\r\n\r\n" + content + b"\r\n"
                    for disposition, content in parts)
    body += b"--" + BOUNDARY.encode() + b"--\r\n"
    return body, {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}


def _refused(response: Any) -> None:
    assert response.status_code == 422, response.text[:300]
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "request.invalid_encoding"


@pytest.mark.parametrize("parts", [
    [(b'name="file"; filename="\xff\xfe.pdf"', PDF)],
    [(b'name="fi\xc3le"; filename="a.pdf"', PDF)],
    [(b'name="file"; filename="a.pdf"', PDF), (b'name="note"', b"\xe4\xb8")],
], ids=["file-name", "field-name", "field-value"])
def test_the_verify_page_refuses_form_text_that_is_not_utf8(http: Any,
                                                           parts: list[Any]) -> None:
    body, headers = _multipart(*parts)
    _refused(http.post("/verify", content=body, headers=headers))


def test_the_verify_page_still_takes_a_utf8_file_name_and_any_file_bytes(http: Any) -> None:
    body, headers = _multipart(('name="file"; filename="营业执照.pdf"'.encode(),
                                PDF + b"\xff\xfe\x00binary"))
    response = http.post("/verify", content=body, headers=headers)
    assert response.status_code == 200  # a verdict on a broken PDF, not an encoding error
    assert response.headers["content-type"].startswith("text/html")
    token = re.search(r"/verify/reports/([A-Za-z0-9_-]+)\.json", response.text)
    assert token is not None
    report = http.get(f"/verify/reports/{token.group(1)}.json").json()
    assert report["subject"]["file_name"] == "营业执照.pdf"


@pytest.mark.parametrize("broken", [b"%FF%FE", b"\xff\xfe", b"%C3"],
                         ids=["percent-encoded", "raw-bytes", "truncated-sequence"])
def test_the_wallet_refuses_form_text_that_is_not_utf8(http: Any, broken: bytes) -> None:
    headers = {"content-type": "application/x-www-form-urlencoded"}
    _refused(http.post("/wallet/login", content=b"token=" + broken, headers=headers))
    _refused(http.post("/wallet/login", content=b"tok" + broken + b"en=abc", headers=headers))
    _refused(http.post("/wallet/consents", content=b"csrf=x&item_code=" + broken,
                       headers=headers))


def test_the_wallet_refuses_a_multipart_form_that_is_not_utf8(http: Any) -> None:
    body, headers = _multipart((b'name="token"', b"\xff\xfe"))
    _refused(http.post("/wallet/login", content=body, headers=headers))


def test_the_wallet_still_reads_a_utf8_form(http: Any) -> None:
    response = http.post("/wallet/login", content="token=不是令牌".encode(),
                         headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 401  # a readable token that is not valid: the page says so
    assert response.headers["content-type"].startswith("text/html")


def test_a_form_in_an_unknown_charset_is_refused(http: Any) -> None:
    response = http.post("/wallet/login", content=b"token=abc", headers={
        "content-type": "application/x-www-form-urlencoded; charset=no-such-charset"})
    _refused(response)


def test_the_verification_api_refuses_form_text_that_is_not_utf8(http: Any,
                                                                 credentials: Any) -> None:
    body, headers = _multipart((b'name="file"; filename="\xff\xfe.pdf"', PDF))
    headers["authorization"] = f"Bearer {credentials[ClientRole.VERIFIER]}"
    _refused(http.post("/verifications", content=body, headers=headers))


def test_the_stamping_api_refuses_form_text_that_is_not_utf8(http: Any,
                                                             credentials: Any) -> None:
    body, headers = _multipart((b'name="file"; filename="a.pdf"', PDF),
                               (b'name="case_number"', b"\xe4\xb8"))
    headers["authorization"] = f"Bearer {credentials[ClientRole.STAMPER]}"
    _refused(http.post("/seals/no-such-seal/stamp", content=body, headers=headers))
