"""The cross-page seal (骑缝章), and tampering after a seal or a certification.

pdfsig does no difference analysis, so pyHanko is the oracle for changes made in a later
incremental update: the strips and the certification live in the signed revision, and
removing, swapping or editing pages afterwards must be reported.
"""

from __future__ import annotations

from collections.abc import Callable
from io import BytesIO

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader

from zhengyin.signing.errors import StampOptionsError
from zhengyin.signing.models import Seal, SignatureLevel
from zhengyin.signing.placement import BoxPlacement, CrossPage, InvisiblePlacement, Placement
from zhengyin.signing.stamper import StampOptions

from .checks import assert_pyhanko_passes, pdfsig_check, pyhanko_verdicts
from .documents import approval_pdf
from .fixtures import StampingEnv
from .test_stamping import ANCHORED, check_everywhere, stamp

CROSS_PAGE = Placement(BoxPlacement(page=-1, box=(360, 140, 479, 259)), CrossPage())


def _pages(pdf: bytes) -> list[generic.DictionaryObject]:
    return list(PdfFileReader(BytesIO(pdf)).root["/Pages"]["/Kids"])


def _xobject_names(page: generic.DictionaryObject) -> set[str]:
    resources = page["/Resources"]
    return {str(name) for name in resources.get("/XObject", {})}


def test_strips_cover_every_page_in_one_signature(stamping: StampingEnv,
                                                  approval_seal: Seal) -> None:
    done = stamp(stamping, approval_seal, approval_pdf(3), StampOptions(CROSS_PAGE))

    check_everywhere(stamping, done.result.pdf)
    assert len(PdfFileReader(BytesIO(done.result.pdf)).embedded_signatures) == 1
    assert done.result.placement["cross_page_pages"] == [1, 2, 3]
    for page in _pages(done.result.pdf):
        page_dict = page.get_object()  # type: ignore[no-untyped-call]  # unannotated in pyHanko
        assert "/ZYCrossPageSeal" in _xobject_names(page_dict)


def test_a_cross_page_seal_alone_can_be_invisible(stamping: StampingEnv,
                                                  approval_seal: Seal) -> None:
    placement = Placement(InvisiblePlacement(), CrossPage(first=2, last=3, y=300))
    done = stamp(stamping, approval_seal, approval_pdf(3), StampOptions(placement))

    check_everywhere(stamping, done.result.pdf)
    names = [_xobject_names(page.get_object())  # type: ignore[no-untyped-call]
             for page in _pages(done.result.pdf)]
    assert ["/ZYCrossPageSeal" in n for n in names] == [False, True, True]


def test_a_one_page_range_is_refused(stamping: StampingEnv, approval_seal: Seal) -> None:
    with pytest.raises(StampOptionsError):
        stamp(stamping, approval_seal, approval_pdf(3),
              StampOptions(Placement(InvisiblePlacement(), CrossPage(first=2, last=2))))


# ----------------------------------------------------------------------------- tampering


def _update(pdf: bytes, change: Callable[[IncrementalPdfFileWriter], None]) -> bytes:
    writer = IncrementalPdfFileWriter(BytesIO(pdf))
    change(writer)
    out = BytesIO()
    writer.write(out)  # type: ignore[no-untyped-call]  # unannotated in pyHanko
    return out.getvalue()


def remove_last_page(writer: IncrementalPdfFileWriter) -> None:
    pages = writer.root["/Pages"]
    kids = pages["/Kids"]
    del kids[-1]
    pages[pdf_name("/Count")] = generic.NumberObject(len(kids))  # type: ignore[no-untyped-call]
    writer.update_container(pages)


def swap_first_pages(writer: IncrementalPdfFileWriter) -> None:
    pages = writer.root["/Pages"]
    kids = pages["/Kids"]
    kids[0], kids[1] = kids[1], kids[0]
    writer.update_container(pages)


def replace_page_content(writer: IncrementalPdfFileWriter) -> None:
    page_ref = writer.root["/Pages"]["/Kids"].raw_get(1)
    page = page_ref.get_object()
    forged = writer.add_object(generic.StreamObject(stream_data=b"BT /F1 24 Tf 72 700 Td "
                                                                b"(FORGED) Tj ET"))
    page[pdf_name("/Contents")] = forged
    writer.update_container(page)


TAMPERING = {"page-removed": remove_last_page, "pages-swapped": swap_first_pages,
             "page-replaced": replace_page_content}


@pytest.mark.parametrize("tamper", list(TAMPERING), ids=list(TAMPERING))
@pytest.mark.parametrize("certify", [True, False], ids=["certified", "approval"])
def test_changing_pages_after_a_cross_page_seal_is_detected(
        stamping: StampingEnv, approval_seal: Seal, tamper: str, certify: bool) -> None:
    sealed = stamp(stamping, approval_seal, approval_pdf(3),
                   StampOptions(CROSS_PAGE, certify=certify)).result.pdf
    assert_pyhanko_passes(sealed, stamping.root_der)

    tampered = _update(sealed, TAMPERING[tamper])

    verdict = pyhanko_verdicts(tampered, stamping.root_der)[0]
    assert verdict.intact and verdict.valid  # the signed bytes themselves are untouched
    assert verdict.docmdp_ok is False, verdict.summary
    assert not verdict.bottom_line
    # pdfsig still says "valid": it does no difference analysis (REPORT §4).
    pdfsig_check(tampered, stamping.nss, stamping.tmp)


@pytest.mark.parametrize("tamper", list(TAMPERING), ids=list(TAMPERING))
def test_changing_a_certified_document_is_detected(stamping: StampingEnv,
                                                   approval_seal: Seal, tamper: str) -> None:
    sealed = stamp(stamping, approval_seal, approval_pdf(3), StampOptions(ANCHORED)).result.pdf

    verdict = pyhanko_verdicts(_update(sealed, TAMPERING[tamper]), stamping.root_der)[0]
    assert verdict.docmdp_ok is False, verdict.summary


def test_adding_validation_data_later_is_not_a_change(stamping: StampingEnv,
                                                      approval_seal: Seal) -> None:
    """Control: a harmless later revision (B-LTA time-stamp) keeps the seal valid."""
    sealed = stamp(stamping, approval_seal, approval_pdf(3),
                   StampOptions(CROSS_PAGE, level=SignatureLevel.B_LTA)).result.pdf
    verdicts = assert_pyhanko_passes(sealed, stamping.root_der)
    assert verdicts[0].modification_level in ("NONE", "LTA_UPDATES")
