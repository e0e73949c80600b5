"""Every attack file gets the same verdict through every interface (issue 13, tests).

The library's verdict on each attack of tests/verify/test_attacks.py is the one the API
(`POST /verifications`), the public page (`POST /verify`), the CLI (`zhengyin verify
--json`) and offline verification (`--trust-list … --root …`) give: an interface that
formats or re-derives the verdict cannot turn a failure into a pass.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import pem

from zhengyin.api.ratelimit import RateLimiter
from zhengyin.trust.validation import Indication

from .attacks import ATTACKS
from .conftest import VerifyEnv, verify_env
from .test_attacks import CASES, Case, bases
from .test_interfaces import _root, headers

__all__ = ["bases", "headers", "verify_env"]


@pytest.fixture
def unlimited_page(verify_env: VerifyEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    """The public page's per-client rate limit, lifted: every request here comes from
    one test client."""
    monkeypatch.setattr(verify_env.runtime.verification, "public_limiter",
                        RateLimiter(1_000_000, burst=1_000_000))


def _pair(verdict: dict[str, Any]) -> tuple[str, str | None]:
    return verdict["indication"], verdict.get("sub_indication")


@pytest.mark.parametrize("case", CASES, ids=[f"{c.attack}-{c.base}" for c in CASES])
def test_every_interface_gives_the_library_verdict_on_an_attack(
        verify_env: VerifyEnv, bases: dict[str, bytes], api: Any,
        headers: dict[str, dict[str, str]], cli: Any, tmp_path: Path, case: Case,
        unlimited_page: None) -> None:
    pdf = ATTACKS[case.attack](bases[case.base])  # each case applies (test_attacks)
    library = verify_env.verify(pdf).verdict
    expected = (library.indication.value,
                library.sub_indication.value if library.sub_indication else None)
    assert library.indication is not Indication.TOTAL_PASSED
    upload = {"file": ("attacked.pdf", pdf, "application/pdf")}
    body = api.post("/verifications", headers=headers["verifier"], files=upload).json()
    assert _pair(body["verdict"]) == expected
    page = api.post("/verify", files=upload)
    assert f'data-indication="{expected[0]}"' in page.text
    if expected[1]:
        assert f"结论：{expected[0]}（{expected[1]}）" in page.text
    document = tmp_path / "attacked.pdf"
    document.write_bytes(pdf)
    online = cli("verify", str(document), "--json")
    assert online.exit_code != 0
    assert _pair(json.loads(online.output)["verdict"]) == expected
    listed, root = tmp_path / "list.jws", tmp_path / "root.pem"
    assert cli("trustlist", "export", "--out", str(listed)).exit_code == 0
    root.write_bytes(pem.armor("CERTIFICATE", _root(verify_env)))
    offline = cli("verify", str(document), "--trust-list", str(listed), "--root", str(root),
                  "--json")
    assert offline.exit_code != 0, offline.output
    assert _pair(json.loads(offline.output)["verdict"]) == expected
