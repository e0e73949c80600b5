"""Stamping over HTTP refuses unreadable documents and archives with a 422, never a 500."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ..signing.test_refused_inputs import DAMAGED, deeply_nested_catalog_pdf
from .test_seals import ANCHOR_OPTIONS, _stamp, _uses, api, creds, h, seal, stamping

__all__ = ["api", "creds", "seal", "stamping"]


def test_a_deeply_nested_pdf_is_a_422_and_no_use(api: Any, creds: dict[str, dict[str, str]],
                                                 seal: dict[str, Any]) -> None:
    before = _uses(api, creds, seal["id"])
    response = _stamp(api, creds, seal["id"], deeply_nested_catalog_pdf())
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "pdf.broken"
    assert _uses(api, creds, seal["id"]) == before


@pytest.mark.parametrize("defect", list(DAMAGED))
def test_a_stamp_job_with_a_damaged_zip_is_a_422(api: Any, creds: dict[str, dict[str, str]],
                                                 seal: dict[str, Any], defect: str) -> None:
    make, _message = DAMAGED[defect]
    response = api.post(f"/seals/{seal['id']}/stamp-jobs", headers=h(creds, "stamper"),
                        data={"case_number": "批-1", "purpose": "批量", "options": ANCHOR_OPTIONS},
                        files=[("archive", ("in.zip", make(), "application/zip"))])
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "stamp.invalid_options"


def test_stamp_options_with_non_finite_or_huge_numbers_are_a_422(
        api: Any, creds: dict[str, dict[str, str]], seal: dict[str, Any]) -> None:
    for placement in ({"kind": "box", "page": 1, "box": [0, 0, "Infinity", 10]},
                      {"kind": "box", "page": 2**70, "box": [0, 0, 10, 10]},
                      {"kind": "anchor", "text": "盖\x00章处"}):
        options = json.dumps({"placement": placement}).replace('"Infinity"', "Infinity")
        response = _stamp(api, creds, seal["id"], b"%PDF-1.7", options=options)
        assert response.status_code == 422, (placement, response.text)
