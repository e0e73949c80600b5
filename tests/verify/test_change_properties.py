"""Property: an incremental update to a document we sealed passes only if it is
validation data, a document time-stamp or a registered seal in a reserved field.

Hypothesis draws one to three incremental updates to one of our sealed documents (an
approval, a certified stamp, a certified stamp with a field reserved for a co-sealer, a
licence). An update either signs (a document time-stamp from our TSA; a registered seal
of ours filling the reserved field) or edits: each edit is one of what a reader would
show or act on (a new object, an empty signature field, an annotation, page content, a
page attribute, a catalog entry, a document-information or XMP entry) or one of what
it would not (validation data in the DSS, the modification date, an object rewritten
unchanged). Then:

* if any edit of the first kind was made, the verdict is not TOTAL-PASSED;
* if none was, every signature's changes check passes and the verdict is TOTAL-PASSED
  (so the rule is not "refuse everything").

CI-friendly: ``ZHENGYIN_CHANGE_EXAMPLES`` examples (default 40, a few seconds per
database backend), derandomised.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import Any

import pytest
from asn1crypto import crl as asn1_crl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign.signers import PdfTimeStamper
from pyhanko.sign.validation.dss import DocumentSecurityStore

from zhengyin.core.clock import utcnow
from zhengyin.signing.errors import SigningError
from zhengyin.signing.models import Seal, SealType
from zhengyin.signing.placement import FieldPlacement, Placement, ReservedField
from zhengyin.trust.pki import ISSUING, ROOT
from zhengyin.trust.validation import CheckStatus

from .conftest import CO_SEAL_BOX, VerifyEnv, verify_env

__all__ = ["verify_env"]

EXAMPLES = int(os.environ.get("ZHENGYIN_CHANGE_EXAMPLES", "40"))
HARMLESS = frozenset({"dss", "mod_date", "rewrite_unchanged"})


@dataclass
class Documents:
    """The sealed bases, a co-sealer and our CRLs (for validation data)."""

    bases: dict[str, bytes]
    co_sealer: Seal
    crls: list[asn1_crl.CertificateList]


@pytest.fixture(scope="module")
def documents(verify_env: VerifyEnv) -> Documents:
    reserve = (ReservedField("CoSeal1", -1, CO_SEAL_BOX),)
    bases = {"approval": verify_env.stamp(certify=False), "certified": verify_env.stamp(),
             "reserved": verify_env.stamp(reserve=reserve), "licence": verify_env.issue()[1]}
    for name, pdf in bases.items():
        assert verify_env.verify(pdf).verdict.passed, name
    with verify_env.runtime.unit_of_work() as services:
        crls = [asn1_crl.CertificateList.load(services.crl.current(authority, at=utcnow()))
                for authority in (ROOT, ISSUING)]
    return Documents(bases, verify_env.new_seal(SealType.CONTRACT), crls)


def _number(value: int) -> generic.NumberObject:
    return generic.NumberObject(value)  # type: ignore[no-untyped-call]


def _rect(values: tuple[int, int, int, int]) -> generic.ArrayObject:
    return generic.ArrayObject([_number(value) for value in values])


def _dictionary(entries: dict[str, generic.PdfObject]) -> generic.DictionaryObject:
    return generic.DictionaryObject(  # type: ignore[no-untyped-call]
        {pdf_name(key): value for key, value in entries.items()})


rects = st.tuples(*(st.integers(min_value=0, max_value=600) for _ in range(4)))
texts = st.text(alphabet="abc许可撤销 ", min_size=1, max_size=12)
edits = st.one_of(
    st.tuples(st.just("object"), texts),
    st.tuples(st.just("empty_field"), rects),
    st.tuples(st.just("annotation"), st.tuples(
        st.sampled_from(["/Text", "/FreeText", "/Square", "/Stamp", "/Link", "/Widget"]),
        rects)),
    st.tuples(st.just("page_content"), st.binary(min_size=1, max_size=40)),
    st.tuples(st.just("page_attribute"), st.tuples(
        st.sampled_from(["/Rotate", "/CropBox", "/UserUnit", "/Tabs", "/Group"]), rects)),
    st.tuples(st.just("catalog"), st.sampled_from(
        ["/OpenAction", "/PageLabels", "/Lang", "/ViewerPreferences", "/OCProperties",
         "/Names", "/Perms", "/Outlines"])),
    st.tuples(st.just("info"), st.tuples(st.sampled_from(
        ["/Title", "/Subject", "/Keywords", "/ZZBS", "/Author", "/Creator"]), texts)),
    st.tuples(st.just("xmp"), texts),
    st.tuples(st.just("dss"), st.none()),
    st.tuples(st.just("mod_date"), st.none()),
    st.tuples(st.just("rewrite_unchanged"), st.sampled_from(["catalog", "page"])),
)
updates = st.lists(st.one_of(
    st.tuples(st.just("sign"), st.sampled_from(["timestamp", "co_seal"])),
    st.tuples(st.just("edit"), st.lists(edits, min_size=1, max_size=3)),
), min_size=1, max_size=3)


def _add_field(writer: IncrementalPdfFileWriter, field: generic.IndirectObject) -> None:
    root = writer.root
    if "/AcroForm" not in root:
        root[pdf_name("/AcroForm")] = _dictionary({"/Fields": generic.ArrayObject([field])})
    else:
        root["/AcroForm"]["/Fields"].append(field)
        form = root.raw_get("/AcroForm")
        if isinstance(form, generic.IndirectObject):
            writer.mark_update(form)
    writer.update_root()  # type: ignore[no-untyped-call]


def _apply(writer: IncrementalPdfFileWriter, kind: str, value: Any,
           documents: Documents) -> None:
    """One edit (steps of the module docstring)."""
    root = writer.root
    page = root["/Pages"]["/Kids"].raw_get(0)
    if kind == "object":
        writer.add_object(generic.TextStringObject(str(value)))
    elif kind in ("empty_field", "annotation"):
        subtype, rect = ("/Widget", value) if kind == "empty_field" else value
        entries: dict[str, generic.PdfObject] = {
            "/Type": pdf_name("/Annot"), "/Subtype": pdf_name(subtype), "/Rect": _rect(rect),
            "/P": page, "/F": _number(4)}
        if kind == "empty_field":
            entries.update({"/FT": pdf_name("/Sig"),
                            "/T": generic.TextStringObject(f"F{rect[0]}")})
        annotation = writer.add_object(_dictionary(entries))
        writer.register_annotation(page, annotation)  # type: ignore[no-untyped-call]
        if kind == "empty_field":
            _add_field(writer, annotation)
    elif kind == "page_content":
        stream = writer.add_object(generic.StreamObject(stream_data=bytes(value)))
        writer.add_stream_to_page(0, stream)  # type: ignore[no-untyped-call]
    elif kind == "page_attribute":
        key, rect = value
        entry: generic.PdfObject = pdf_name("/S")
        if key == "/CropBox":
            entry = _rect(rect)
        elif key in ("/Rotate", "/UserUnit"):
            entry = _number(rect[0] % 4 * 90 if key == "/Rotate" else 2)
        page.get_object()[pdf_name(key)] = entry
        writer.mark_update(page)
    elif kind == "catalog":
        root[pdf_name(str(value))] = writer.add_object(_dictionary(
            {"/S": pdf_name("/JavaScript"), "/JS": generic.TextStringObject("1")}))
        writer.update_root()  # type: ignore[no-untyped-call]
    elif kind == "info":
        key, text = value
        writer.set_info(_dictionary({key: generic.TextStringObject(text)}))
    elif kind == "xmp":
        from pyhanko.pdf_utils.metadata.xmp_xml import MetadataStream

        packet = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.'
                  'org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" xmlns:dc='
                  '"http://purl.org/dc/elements/1.1/"><dc:description>' + str(value)
                  + '</dc:description></rdf:Description></rdf:RDF></x:xmpmeta>')
        root[pdf_name("/Metadata")] = writer.add_object(MetadataStream(
            stream_data=packet.encode()))
        writer.update_root()  # type: ignore[no-untyped-call]
    elif kind == "dss":
        DocumentSecurityStore.supply_dss_in_writer(writer, None, crls=documents.crls)
    elif kind == "mod_date":
        writer.document_meta.last_modified = "now"
    elif kind == "rewrite_unchanged":
        if value == "page":
            writer.mark_update(page)
        else:
            writer.update_root()  # type: ignore[no-untyped-call]


def _sign(verify_env: VerifyEnv, documents: Documents, pdf: bytes, kind: str) -> bytes | None:
    if kind == "timestamp":
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
        stamped: io.BytesIO = PdfTimeStamper(verify_env.runtime.pdf_timestamper()
                                             ).timestamp_pdf(writer, md_algorithm="sha256")
        return stamped.getvalue()
    try:
        return verify_env.stamp(pdf, seal=documents.co_sealer,
                                placement=Placement(FieldPlacement("CoSeal1")))
    except SigningError:  # no reserved field here, or already filled: nothing appended
        return None


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(base=st.sampled_from(["approval", "certified", "reserved", "licence"]),
       plan=updates)
def test_only_validation_data_time_stamps_and_reserved_co_seals_keep_a_seal_valid(
        verify_env: VerifyEnv, documents: Documents, base: str,
        plan: list[tuple[str, Any]]) -> None:
    pdf = documents.bases[base]
    shown: list[str] = []
    for step, detail in plan:
        if step == "sign":
            signed = _sign(verify_env, documents, pdf, str(detail))
            pdf = signed if signed is not None else pdf
            continue
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
        for kind, value in detail:
            _apply(writer, kind, value, documents)
            if kind not in HARMLESS:
                shown.append(kind)
        out = io.BytesIO()
        writer.write(out)  # type: ignore[no-untyped-call]
        pdf = out.getvalue()
    report = verify_env.verify(pdf)
    reasons = [reason.en for reason in report.verdict.reasons]
    if shown:
        assert not report.verdict.passed, (base, plan, reasons)
        return
    assert all(item.changes.status is CheckStatus.PASSED for item in report.signatures), \
        (base, plan, reasons)
    assert report.verdict.passed, (base, plan, reasons)
