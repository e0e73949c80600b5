"""Issued licence PDFs checked by independent validators: pdfsig (NSS) and pyHanko.

pdfsig asks the OCSP responder named in our certificates (poppler 22.12 reports
"Unknown issue" rather than "Trusted" when it cannot), so these tests run against a
live service on a loopback port, as relying parties would.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms, tsp
from pyhanko.pdf_utils.reader import PdfFileReader

from zhengyin.core.clock import CHINA_TZ, utcnow
from zhengyin.registry.catalogue import TypeDefinition, example_definitions
from zhengyin.registry.issuance import IssueRequest, IssuingParty
from zhengyin.registry.models import Licence
from zhengyin.signing.models import SealType
from zhengyin.signing.seals import SealRequest

from ..signing.checks import pdfsig_check
from ..signing.fixtures import StampingEnv, make_stamping_env
from ..support import require_tool
from .conftest import MARKET, food_request, seal_png


@pytest.fixture(scope="module")
def live(database_url: str, kek_text: str,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[StampingEnv]:
    """A live service with the example types and the market regulator's seal."""
    for env in make_stamping_env(database_url, kek_text, tmp_path_factory):
        with env.runtime.unit_of_work() as services:
            for document in example_definitions():
                services.catalogue.define(TypeDefinition.from_json(document), at=utcnow(),
                                          actor="test")
            services.seals.create(SealRequest(org_name="北京市朝阳区市场监督管理局",
                                              credit_code=MARKET, seal_type=SealType.APPROVAL,
                                              image_png=seal_png()), at=utcnow(), actor="test")
        yield env


def _issue(env: StampingEnv, **overrides: Any) -> bytes:
    body = food_request(**overrides)
    request = IssueRequest(type_code=body["type_code"], holder_kind=body["holder_kind"],
                           holder_code=body["holder_code"], holder_name=body["holder_name"],
                           fields=body["fields"])
    with env.runtime.unit_of_work() as services:
        licence = services.issuance.issue(
            request, IssuingParty(org_code=MARKET, client_id=None, actor="test"), at=utcnow(),
        ).licence
        digest = licence.pdf_sha256
    assert digest is not None
    return env.runtime.file_store.get(digest)


def test_pdfsig_finds_the_seal_valid_trusted_and_covering_the_whole_file(
    live: StampingEnv
) -> None:
    report = pdfsig_check(_issue(live), live.nss, live.tmp)
    assert "Total document signed" in report
    assert "Signature Type: ETSI.CAdES.detached" in report


def test_pyhanko_finds_the_certification_intact_trusted_and_timestamped(
    live: StampingEnv
) -> None:
    from asn1crypto import x509

    from .pdfcheck import pyhanko_status

    pdf = _issue(live)
    status = pyhanko_status(pdf, x509.Certificate.load(live.root_der))
    assert status.bottom_line, status.pretty_print_details()
    assert status.docmdp_ok
    assert status.coverage.name == "ENTIRE_FILE"
    assert status.timestamp_validity is not None and status.timestamp_validity.trusted
    reader = PdfFileReader(__import__("io").BytesIO(pdf))
    assert reader.embedded_signatures[0].docmdp_level.value == 1


def test_the_signature_timestamp_covers_the_signature_value(live: StampingEnv) -> None:
    import hashlib
    import io

    signature = PdfFileReader(io.BytesIO(_issue(live))).embedded_signatures[0]
    signer_info = signature.signed_data["signer_infos"][0]
    token = signer_info["unsigned_attrs"][0]["values"][0]
    info = tsp.TSTInfo.load(token["content"]["encap_content_info"]["content"].parsed.dump())
    assert info["message_imprint"]["hashed_message"].native == \
        hashlib.sha256(signer_info["signature"].native).digest()
    assert isinstance(token, cms.ContentInfo)


def test_changing_one_byte_breaks_the_seal(live: StampingEnv) -> None:
    from asn1crypto import x509

    from .pdfcheck import pyhanko_status

    pdf = bytearray(_issue(live))
    position = pdf.index(b"/Title")
    pdf[position + 8] ^= 0x01
    status = pyhanko_status(bytes(pdf), x509.Certificate.load(live.root_der))
    assert not status.intact


def test_the_signed_revision_names_the_licence_in_its_metadata(live: StampingEnv) -> None:
    import io

    reader = PdfFileReader(io.BytesIO(_issue(live)))
    info = reader.trailer["/Info"]
    identifier = str(info["/ZZBS"])
    assert identifier.startswith("1.2.156.3005.2.11100000000013338W032.")
    assert str(info["/ZZMC"]) == "食品经营许可证"
    assert str(info["/ZZBFJGDM"]) == MARKET


def _issued_on_paper(env: StampingEnv) -> tuple[Licence, Path]:
    """A food licence valid from 2026-03-01 (five years: to 2031-02-28), written to disk."""
    body = food_request()
    request = IssueRequest(type_code=body["type_code"], holder_kind=body["holder_kind"],
                           holder_code=body["holder_code"], holder_name=body["holder_name"],
                           fields=body["fields"], valid_from=date(2026, 3, 1))
    with env.runtime.unit_of_work() as services:
        licence = services.issuance.issue(
            request, IssuingParty(org_code=MARKET, client_id=None, actor="test"), at=utcnow(),
        ).licence
        services.session.expunge(licence)
    assert licence.pdf_sha256 is not None
    path = env.tmp / f"{licence.pdf_sha256}.pdf"
    path.write_bytes(env.runtime.file_store.get(licence.pdf_sha256))
    return licence, path


def _tool(name: str, *args: str) -> str:
    return subprocess.run([require_tool(name), *args], capture_output=True, text=True,
                          check=True, timeout=60).stdout


def test_the_licence_page_is_a4(live: StampingEnv) -> None:
    _, path = _issued_on_paper(live)
    boxes = _tool("pdfinfo", "-box", str(path))
    assert "Pages:           1" in boxes
    media = re.search(r"^MediaBox:\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)$", boxes,
                      re.MULTILINE)
    assert media is not None, boxes
    left, bottom, right, top = (float(value) for value in media.groups())
    assert (left, bottom) == (0, 0)
    assert right == pytest.approx(595.28, abs=0.01)
    assert top == pytest.approx(841.89, abs=0.01)


def test_every_font_of_the_licence_is_embedded_as_a_subset(live: StampingEnv) -> None:
    _, path = _issued_on_paper(live)
    lines = _tool("pdffonts", str(path)).splitlines()
    assert lines[1].startswith("----"), lines
    fonts = [line.split() for line in lines[2:] if line.strip()]
    assert fonts, "the licence has no fonts"
    for columns in fonts:
        name, embedded, subset = columns[0], columns[-5], columns[-4]
        assert (embedded, subset) == ("yes", "yes"), columns
        assert re.fullmatch(r"[A-Z]{6}\+.+", name), columns


def test_the_licence_text_names_the_issuing_body_and_the_dates(live: StampingEnv) -> None:
    licence, path = _issued_on_paper(live)
    text = _tool("pdftotext", "-layout", str(path), "-").replace(" ", "")
    issued_on = licence.issued_at.astimezone(CHINA_TZ).date()
    assert f"发证机关：{licence.issuer_name}" in text
    assert licence.issuer_name == "北京市朝阳区市场监督管理局"
    assert f"发证日期：{issued_on.year}年{issued_on.month:02d}月{issued_on.day:02d}日" in text
    assert "有效期限2026年03月01日至2031年02月28日" in text


def _longest_food_fields() -> dict[str, str]:
    """Food licence fields as long as the type's schema allows."""
    return {**food_request()["fields"], "operator_name": "某" * 100,
            "legal_representative": "张" * 40, "address": "路" * 200, "premises": "层" * 200,
            "business_items": "热食类食品制售；" * 62 + "制售", "daily_supervisor": "李" * 100}


def test_a_licence_at_its_schemas_maximum_lengths_flows_over_a_continuation_page(
        live: StampingEnv) -> None:
    from asn1crypto import x509

    from .pdfcheck import pyhanko_status

    fields = _longest_food_fields()
    pdf = _issue(live, fields=fields)
    path = live.tmp / "long.pdf"
    path.write_bytes(pdf)

    assert "Pages:           2" in _tool("pdfinfo", str(path))
    assert pyhanko_status(pdf, x509.Certificate.load(live.root_der)).bottom_line
    assert "Total document signed" in pdfsig_check(pdf, live.nss, live.tmp)
    second = _tool("pdftotext", "-f", "2", "-l", "2", str(path), "-").replace(" ", "")
    assert "食品经营许可证（续页）" in second and "第2页共2页" in second
    assert "电子证照标识：1.2.156.3005.2.11100000000013338W032." in second
    whole = _tool("pdftotext", str(path), "-").replace(" ", "").replace("\n", "")
    assert whole.count("热食类食品制售") == 62  # nothing is lost between the pages
    assert whole.count("层") == 200
