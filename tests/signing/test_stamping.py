"""Stamping through the service: levels, placements, certification, co-sealing, refusals.

Every PDF produced here is checked by pyHanko's validator and by pdfsig; time-stamped ones
also by ``openssl ts -verify``; B-LT/B-LTA with revocation data from the file alone.
"""

from __future__ import annotations

from collections.abc import Callable
from io import BytesIO
from typing import Any

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader

from zhengyin.core.clock import utcnow
from zhengyin.signing.errors import (
    AnchorNotFoundError,
    BoxOutsidePageError,
    BrokenPDFError,
    EncryptedPDFError,
    NotPDFError,
    PageOutOfRangeError,
    PDFTooLargeError,
    SealNotAuthorisedError,
    SealUnusableError,
    SigningError,
    StampNotPermittedError,
    StampOptionsError,
)
from zhengyin.signing.models import Seal, SealType, SignatureLevel
from zhengyin.signing.placement import (
    AnchorPlacement,
    BoxPlacement,
    FieldPlacement,
    Placement,
    ReservedField,
)
from zhengyin.signing.stamper import StampOptions
from zhengyin.signing.stamping import StampedDocument, StampRequest
from zhengyin.signing.uselog import SealUseFilter

from .checks import (
    assert_pyhanko_passes,
    openssl_ts_verify,
    pdfsig_check,
    pyhanko_verdicts,
)
from .documents import (
    ANCHOR,
    ANCHOR_LINE,
    approval_pdf,
    damaged_xref_pdf,
    encrypted_pdf,
    not_a_pdf,
    truncated_pdf,
)
from .fixtures import StampingEnv

ANCHORED = Placement(AnchorPlacement(ANCHOR))


def stamp(env: StampingEnv, seal: Seal, pdf: bytes, options: StampOptions | None = None,
          *, client_id: str | None = None, **request: Any) -> StampedDocument:
    """Stamp through the service in one unit of work, as a route does."""
    values: dict[str, Any] = {"case_number": "审批〔2025〕12号", "purpose": "准予行政许可"}
    values.update(request)
    with env.runtime.unit_of_work() as services:
        return services.stamping.stamp(
            StampRequest(seal.id, options or StampOptions(ANCHORED), **values), pdf,
            client_id=client_id, actor="test", at=utcnow())


def use_count(env: StampingEnv, seal: Seal) -> int:
    with env.runtime.unit_of_work(readonly=True) as services:
        return len(services.seal_uses.page(SealUseFilter(seal_id=seal.id), limit=1000))


def check_everywhere(env: StampingEnv, pdf: bytes, *, timestamped: bool = True) -> None:
    assert_pyhanko_passes(pdf, env.root_der, timestamped=timestamped)
    pdfsig_check(pdf, env.nss, env.tmp)
    if timestamped:
        openssl_ts_verify(pdf, env.root_der, env.issuing_der, env.tmp)


# ----------------------------------------------------------------------------- levels


@pytest.mark.parametrize("level", list(SignatureLevel), ids=[lv.value for lv in SignatureLevel])
def test_each_level_validates_with_pyhanko_pdfsig_and_openssl(
        stamping: StampingEnv, approval_seal: Seal, level: SignatureLevel) -> None:
    done = stamp(stamping, approval_seal, approval_pdf(), StampOptions(ANCHORED, level=level))

    check_everywhere(stamping, done.result.pdf, timestamped=level is not SignatureLevel.B_B)
    assert done.result.level is level
    assert done.use.level is level


@pytest.mark.parametrize("level", [SignatureLevel.B_LT, SignatureLevel.B_LTA],
                         ids=["B-LT", "B-LTA"])
def test_long_term_levels_carry_their_own_revocation_data(
        stamping: StampingEnv, approval_seal: Seal, level: SignatureLevel) -> None:
    done = stamp(stamping, approval_seal, approval_pdf(), StampOptions(ANCHORED, level=level))

    # Certificates and CRLs/OCSP only from the DSS, revocation data required, no network.
    assert_pyhanko_passes(done.result.pdf, stamping.root_der, from_dss=True)
    reader = PdfFileReader(BytesIO(done.result.pdf))
    assert "/DSS" in reader.root
    if level is SignatureLevel.B_LTA:
        assert reader.embedded_signatures[-1].sig_object["/Type"] == "/DocTimeStamp"


def test_a_b_t_file_lacks_revocation_data(stamping: StampingEnv, approval_seal: Seal) -> None:
    done = stamp(stamping, approval_seal, approval_pdf(), StampOptions(ANCHORED))

    verdicts = pyhanko_verdicts(done.result.pdf, stamping.root_der, from_dss=True)
    assert not verdicts[0].trusted


# ----------------------------------------------------------------------------- placement


def _widget_rect(pdf: bytes, field: str) -> tuple[float, ...]:
    reader = PdfFileReader(BytesIO(pdf))
    for signature in reader.embedded_signatures:
        if signature.field_name == field:
            return tuple(float(v) for v in signature.sig_field["/Rect"])
    raise AssertionError(field)


def test_the_seal_is_centred_on_the_anchor(stamping: StampingEnv, approval_seal: Seal) -> None:
    done = stamp(stamping, approval_seal, approval_pdf())

    x1, y1, x2, y2 = _widget_rect(done.result.pdf, done.result.field_name)
    assert done.result.placement["page"] == 3
    assert x1 < ANCHOR_LINE[0] + 130 < x2  # the anchor sits inside "发证机关（盖章处）："
    assert y1 < ANCHOR_LINE[1] + 5 < y2
    assert 117 <= x2 - x1 <= 121  # a 42 mm seal is 119 pt wide
    check_everywhere(stamping, done.result.pdf)


def test_a_box_is_in_points_from_the_bottom_left(stamping: StampingEnv,
                                                 approval_seal: Seal) -> None:
    box = (100.0, 150.0, 219.0, 269.0)
    done = stamp(stamping, approval_seal, approval_pdf(2),
                 StampOptions(Placement(BoxPlacement(page=1, box=box))))

    assert _widget_rect(done.result.pdf, done.result.field_name) == box
    check_everywhere(stamping, done.result.pdf)


def test_a_personal_name_seal_stamps_the_same_way(stamping: StampingEnv) -> None:
    seal = stamping.new_seal(SealType.LEGAL_REPRESENTATIVE)
    done = stamp(stamping, seal, approval_pdf(1),
                 StampOptions(Placement(BoxPlacement(page=-1, box=(400, 100, 451, 151)))))

    check_everywhere(stamping, done.result.pdf)


# ----------------------------------------------------------------------------- refusals

BAD_INPUTS: list[tuple[str, Callable[[], bytes], type[SigningError]]] = [
    ("not-a-pdf", not_a_pdf, NotPDFError),
    ("encrypted", encrypted_pdf, EncryptedPDFError),
    ("truncated-beyond-repair", truncated_pdf, BrokenPDFError),
]


@pytest.mark.parametrize(("defect", "make", "error"), BAD_INPUTS,
                         ids=[case[0] for case in BAD_INPUTS])
def test_a_bad_file_is_refused_and_not_recorded(
        stamping: StampingEnv, approval_seal: Seal, defect: str, make: Callable[[], bytes],
        error: type[SigningError]) -> None:
    before = use_count(stamping, approval_seal)
    with pytest.raises(error) as raised:
        stamp(stamping, approval_seal, make())
    assert raised.value.code.startswith("pdf.")
    assert use_count(stamping, approval_seal) == before


def test_a_damaged_cross_reference_table_is_repaired(stamping: StampingEnv,
                                                     approval_seal: Seal) -> None:
    done = stamp(stamping, approval_seal, damaged_xref_pdf(),
                 StampOptions(Placement(BoxPlacement(1, (100, 100, 200, 200)))))

    assert done.result.repaired
    assert done.use.placement["repaired"] is True
    check_everywhere(stamping, done.result.pdf)


def test_a_file_over_the_limit_is_refused(stamping: StampingEnv, approval_seal: Seal) -> None:
    pdf = approval_pdf()
    with stamping.runtime.unit_of_work() as services:
        services.stamping.max_pdf_bytes = len(pdf) - 1
        with pytest.raises(PDFTooLargeError):
            services.stamping.stamp(StampRequest(approval_seal.id, StampOptions(ANCHORED),
                                                 "案1", "用途"), pdf, client_id=None,
                                    actor="test", at=utcnow())


@pytest.mark.parametrize(("placement", "error"), [
    (Placement(BoxPlacement(page=4, box=(0, 0, 100, 100))), PageOutOfRangeError),
    (Placement(BoxPlacement(page=-4, box=(0, 0, 100, 100))), PageOutOfRangeError),
    (Placement(AnchorPlacement("不存在的锚点")), AnchorNotFoundError),
    (Placement(AnchorPlacement(ANCHOR, page=1)), AnchorNotFoundError),
], ids=["page-after-the-end", "page-before-the-start", "anchor-missing", "anchor-not-on-page"])
def test_a_placement_outside_the_document_is_refused(
        stamping: StampingEnv, approval_seal: Seal, placement: Placement,
        error: type[SigningError]) -> None:
    before = use_count(stamping, approval_seal)
    with pytest.raises(error):
        stamp(stamping, approval_seal, approval_pdf(3), StampOptions(placement))
    assert use_count(stamping, approval_seal) == before


A4_WIDTH, A4_HEIGHT = 595.2756, 841.8898


@pytest.mark.parametrize("options", [
    StampOptions(Placement(BoxPlacement(page=1, box=(700, 100, 819, 219)))),
    StampOptions(Placement(BoxPlacement(page=1, box=(500, 100, 619, 219)))),
    StampOptions(Placement(BoxPlacement(page=-1, box=(-40, 100, 79, 219)))),
    StampOptions(Placement(BoxPlacement(page=2, box=(100, 800, 219, 919)))),
    StampOptions(Placement(BoxPlacement(page=1, box=(100, -1, 219, 118)))),
    StampOptions(Placement(AnchorPlacement(ANCHOR, offset=(300, 0)))),
    StampOptions(ANCHORED, reserve=(ReservedField("CoSeal1", 1, (550, 10, 650, 110)),)),
], ids=["wholly-right-of-the-page", "partly-right", "partly-left", "partly-above",
        "one-point-below", "anchor-offset-off-the-page", "reserved-field-partly-off"])
def test_a_seal_box_not_wholly_on_the_page_is_refused(
        stamping: StampingEnv, approval_seal: Seal, options: StampOptions) -> None:
    before = use_count(stamping, approval_seal)
    with pytest.raises(BoxOutsidePageError) as raised:
        stamp(stamping, approval_seal, approval_pdf(3), options)
    assert raised.value.code == "stamp.box_outside_page"
    assert use_count(stamping, approval_seal) == before


def test_a_box_reaching_the_page_corners_is_accepted(stamping: StampingEnv,
                                                     approval_seal: Seal) -> None:
    box = (A4_WIDTH - 119, A4_HEIGHT - 119, A4_WIDTH, A4_HEIGHT)
    done = stamp(stamping, approval_seal, approval_pdf(1),
                 StampOptions(Placement(BoxPlacement(page=1, box=box))))

    assert done.result.placement["box"] == list(box)


@pytest.mark.parametrize("missing", ["case_number", "purpose"])
def test_case_number_and_purpose_are_required(stamping: StampingEnv, approval_seal: Seal,
                                              missing: str) -> None:
    blank: dict[str, Any] = {missing: "  "}  # request fields, not stamp()'s parameters
    with pytest.raises(StampOptionsError):
        stamp(stamping, approval_seal, approval_pdf(), **blank)


@pytest.mark.parametrize("change", ["suspend", "revoke", "expired"])
def test_an_unusable_seal_stamps_nothing(stamping: StampingEnv, change: str) -> None:
    from datetime import timedelta

    if change == "expired":
        now = utcnow()
        seal = stamping.new_seal(valid_from=now - timedelta(days=30),
                                 valid_until=now - timedelta(days=1))
    else:
        seal = stamping.new_seal()
        with stamping.runtime.unit_of_work() as services:
            getattr(services.seals, change)(seal.id, reason="test", at=utcnow(), actor="test")
    with pytest.raises(SealUnusableError):
        stamp(stamping, seal, approval_pdf())
    assert use_count(stamping, seal) == 0


def test_an_unauthorised_client_stamps_nothing(stamping: StampingEnv,
                                               approval_seal: Seal) -> None:
    from zhengyin.core.models import ClientRole

    with stamping.runtime.unit_of_work() as services:
        client = services.clients.add(name="stamper-unauthorised", role=ClientRole.STAMPER,
                                      org_credit_code="11100000000013338W", at=utcnow(),
                                      actor="test").client
        client_id = client.id
    before = use_count(stamping, approval_seal)
    with pytest.raises(SealNotAuthorisedError):
        stamp(stamping, approval_seal, approval_pdf(), client_id=client_id)
    assert use_count(stamping, approval_seal) == before

    with stamping.runtime.unit_of_work() as services:
        services.seals.authorise(approval_seal.id, client_id, at=utcnow(), actor="test")
    done = stamp(stamping, approval_seal, approval_pdf(), client_id=client_id)
    assert done.use.client_id == client_id
    assert_pyhanko_passes(done.result.pdf, stamping.root_der)


# ----------------------------------------------------------------------------- use log


def test_every_stamp_is_a_recorded_and_audited_use(stamping: StampingEnv,
                                                   approval_seal: Seal) -> None:
    pdf = approval_pdf()
    done = stamp(stamping, approval_seal, pdf, case_number="案-7", purpose="准予许可",
                 document_name="决定书.pdf")

    import hashlib

    use = done.use
    assert (use.case_number, use.purpose, use.document_name) == ("案-7", "准予许可", "决定书.pdf")
    assert use.input_sha256 == hashlib.sha256(pdf).hexdigest()
    assert use.output_sha256 == hashlib.sha256(done.result.pdf).hexdigest()
    assert use.field_name == done.result.field_name
    assert use.placement["kind"] == "anchor"
    with stamping.runtime.unit_of_work(readonly=True) as services:
        from sqlalchemy import select

        from zhengyin.core.models import AuditEntry

        entry = services.session.scalars(
            select(AuditEntry).where(AuditEntry.action == "seal.used")
            .order_by(AuditEntry.seq.desc()).limit(1)).one()
        assert entry.details["use"] == use.id
        assert entry.details["output_sha256"] == use.output_sha256
        rows = "".join(services.seal_uses.csv_rows(SealUseFilter(case_number="案-7")))
    assert use.output_sha256 in rows


# ----------------------------------------------------------------------------- co-sealing


def test_a_certified_document_refuses_another_seal(stamping: StampingEnv,
                                                   approval_seal: Seal) -> None:
    first = stamp(stamping, approval_seal, approval_pdf())
    assert first.result.certified and first.result.docmdp == 1
    other = stamping.new_seal(SealType.OFFICIAL)
    with pytest.raises(StampNotPermittedError) as raised:
        stamp(stamping, other, first.result.pdf,
              StampOptions(Placement(BoxPlacement(1, (50, 50, 150, 150)))))
    assert raised.value.signature == first.result.field_name
    assert "no changes allowed" in raised.value.message


def test_co_sealed_approval_keeps_every_seal_valid(stamping: StampingEnv,
                                                   approval_seal: Seal) -> None:
    partner = stamping.new_seal(SealType.OFFICIAL)
    reserved = ReservedField("CoSeal1", page=-1, box=(80, 140, 199, 259))
    first = stamp(stamping, approval_seal, approval_pdf(),
                  StampOptions(ANCHORED, reserve=(reserved,)))
    assert first.result.docmdp == 2
    check_everywhere(stamping, first.result.pdf)
    with pytest.raises(StampOptionsError):
        stamp(stamping, partner, first.result.pdf,
              StampOptions(Placement(FieldPlacement("CoSeal1")), certify=True))
    second = stamp(stamping, partner, first.result.pdf,
                   StampOptions(Placement(FieldPlacement("CoSeal1"))))

    verdicts = assert_pyhanko_passes(second.result.pdf, stamping.root_der)
    assert [v.field for v in verdicts] == [first.result.field_name, "CoSeal1"]
    assert verdicts[0].modification_level == "FORM_FILLING"
    pdfsig_check(second.result.pdf, stamping.nss, stamping.tmp)
    openssl_ts_verify(second.result.pdf, stamping.root_der, stamping.issuing_der, stamping.tmp)
