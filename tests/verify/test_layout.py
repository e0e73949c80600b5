"""The file layout after the signed revision: well-formed updates pass, anything else is a
defect named with its offset (trust/validation/layout.py).

Documents are built here byte by byte (or with pikepdf and pyHanko's incremental writer
for cross-reference streams, object streams and linearisation); "signed" means the first
revisions, up to ``signed_end``, as a signature's /ByteRange would cover them. Each bad
layout is named for its defect (STYLE §6).
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable
from functools import cache

import pikepdf
import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader

from zhengyin.trust.validation.layout import LayoutFacts, account

_CATALOG = b"<< /Type /Catalog /Pages 2 0 R >>"
_PAGES = b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"
_PAGE = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>"
_CONTENT = b"<< /Length 8 >>\nstream\n0 0 m S\nendstream"


def _obj(number: int, body: bytes) -> bytes:
    return b"%d 0 obj\n" % number + body + b"\nendobj\n"


def _startxref(data: bytes) -> int:
    return int(re.findall(rb"startxref\s+(\d+)", data)[-1])


def _original() -> bytes:
    """A classic one-revision PDF (cross-reference table)."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate([_CATALOG, _PAGES, _PAGE, _CONTENT], start=1):
        offsets.append(len(out))
        out += _obj(number, body)
    xref = len(out)
    out += b"xref\n0 5\n0000000000 65535 f \n"
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size 5 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def _update(base: bytes, objects: dict[int, bytes], *, unlisted: bytes = b"",
            prev: int | None = None, startxref: int | None = None,
            trailer_extra: bytes = b"") -> bytes:
    """A classic incremental update (ISO 32000-1 §7.5.6) listing ``objects``; ``unlisted``
    bytes go between the objects and the table; ``prev``/``startxref`` may lie."""
    out = bytearray(base)
    offsets = {}
    for number, body in objects.items():
        offsets[number] = len(out)
        out += _obj(number, body)
    out += unlisted
    xref = len(out)
    out += b"xref\n"
    for number in sorted(offsets):
        out += b"%d 1\n%010d 00000 n \n" % (number, offsets[number])
    size = max([5, *offsets]) + 1
    out += (b"trailer\n<< /Size %d /Root 1 0 R /Prev %d" % (
        size, _startxref(base) if prev is None else prev) + trailer_extra + b" >>\n")
    out += b"startxref\n%d\n%%%%EOF\n" % (xref if startxref is None else startxref)
    return bytes(out)


def _account(data: bytes, signed_end: int) -> LayoutFacts:
    reader = PdfFileReader(io.BytesIO(data), strict=True)
    return account(data, reader, signed_end)


def _passes(data: bytes, signed_end: int) -> LayoutFacts:
    facts = _account(data, signed_end)
    assert facts.defect is None, facts.defect
    return facts


# ---------------------------------------------------------------------- well-formed


def test_a_file_that_ends_with_the_signed_revision_has_no_updates() -> None:
    data = _original() + b"\r\n  \n"
    facts = _passes(data, len(_original()))
    assert facts.updates == ()


def test_table_updates_after_the_signed_revision_are_accounted_for() -> None:
    signed = _original()
    first = _update(signed, {4: b"<< /Length 8 >>\nstream\n1 0 0 RG\nendstream"})
    data = _update(first, {5: b"<< /Note (a second update) >>", 1: _CATALOG})
    facts = _passes(data, len(signed))
    assert [(item.kind, item.objects) for item in facts.updates] == [("table", 1),
                                                                     ("table", 2)]
    assert facts.updates[0].start == len(signed) and facts.updates[-1].end == len(data) - 1


def test_unsigned_revisions_before_the_signed_one_are_inside_the_signed_bytes() -> None:
    earlier = _update(_original(), {5: b"<< /Note (before signing) >>"})
    signed = _update(earlier, {6: b"<< /Note (the signed revision) >>"})
    data = _update(signed, {7: b"<< /Note (after signing) >>"})
    facts = _passes(data, len(signed))
    assert len(facts.updates) == 1 and facts.updates[0].start == len(signed)


def _relisted(signed: bytes, *, number: int) -> bytes:
    """An update whose table also lists object ``number`` at the catalog's offset in the
    signed revision."""
    update = _update(signed, {5: b"<< /Note (new) >>"})
    table = update.rindex(b"\nxref\n") + 1
    return (update[:table] + b"xref\n%d 1\n%010d 00000 n \n" % (number,
                                                                signed.index(b"1 0 obj"))
            + update[table + len(b"xref\n"):])


def test_an_update_that_lists_an_unchanged_object_again_is_accounted_for() -> None:
    signed = _original()
    facts = _passes(_relisted(signed, number=1), len(signed))
    assert len(facts.updates) == 1


@cache
def _object_stream_original(*, linearize: bool = False) -> bytes:
    """A pikepdf file with a cross-reference stream and object streams (or linearised)."""
    with pikepdf.open(io.BytesIO(_original())) as document:
        out = io.BytesIO()
        document.save(out, linearize=linearize,
                      object_stream_mode=pikepdf.ObjectStreamMode.disable if linearize
                      else pikepdf.ObjectStreamMode.generate)
        return out.getvalue()


def _pyhanko_update(base: bytes, *, object_stream: bool = False) -> bytes:
    """pyHanko's incremental writer adds two dictionaries (in an object stream if asked)."""
    writer = IncrementalPdfFileWriter(io.BytesIO(base), strict=True)
    stream = writer.prepare_object_stream() if object_stream else None  # type: ignore[no-untyped-call]
    for note in ("first", "second"):
        entry = generic.DictionaryObject({  # type: ignore[no-untyped-call]
            generic.pdf_name("/Note"): generic.TextStringObject(note)})
        writer.add_object(entry, obj_stream=stream)
    writer.update_root()  # type: ignore[no-untyped-call]
    out = io.BytesIO()
    writer.write(out)  # type: ignore[no-untyped-call]
    return out.getvalue()


def test_cross_reference_stream_updates_with_object_streams_are_accounted_for() -> None:
    signed = _object_stream_original()
    data = _pyhanko_update(_pyhanko_update(signed, object_stream=True))
    facts = _passes(data, len(signed))
    assert [item.kind for item in facts.updates] == ["stream", "stream"]


def test_an_update_to_a_linearised_original_is_accounted_for() -> None:
    signed = _object_stream_original(linearize=True)
    assert b"/Linearized" in signed[:1024]
    data = _pyhanko_update(signed)
    facts = _passes(data, len(signed))
    assert len(facts.updates) == 1


def _xref_stream(number: int, rows: list[tuple[int, int, int, int]], *, prev: int,
                 extra: bytes = b"") -> bytes:
    """An unfiltered cross-reference stream (§7.5.8), /W [1 4 2], rows (number, type,
    field 2, field 3), one /Index range per row."""
    body = b"".join(bytes([kind]) + second.to_bytes(4, "big") + third.to_bytes(2, "big")
                    for _number, kind, second, third in rows)
    index = b" ".join(b"%d 1" % row[0] for row in rows)
    return (b"<< /Type /XRef /Size %d /W [1 4 2] /Index [%s] /Root 1 0 R /Prev %d%s "
            b"/Length %d >>\nstream\n" % (max(row[0] for row in rows) + 1, index, prev, extra,
                                          len(body)) + body + b"\nendstream")


def _hybrid_update(base: bytes) -> bytes:
    """A table update whose trailer's /XRefStm names a stream listing object 6, which
    the table itself does not (ISO 32000-1 §7.5.8.4)."""
    out = bytearray(base)
    at5 = len(out)
    out += _obj(5, b"<< /Note (listed in the table) >>")
    at6 = len(out)
    out += _obj(6, b"<< /Note (listed in the stream) >>")
    at7 = len(out)
    out += _obj(7, _xref_stream(7, [(6, 1, at6, 0), (7, 1, at7, 0)], prev=_startxref(base)))
    xref = len(out)
    out += b"xref\n5 1\n%010d 00000 n \n" % at5
    out += (b"trailer\n<< /Size 8 /Root 1 0 R /Prev %d /XRefStm %d >>\nstartxref\n%d\n"
            b"%%%%EOF\n" % (_startxref(base), at7, xref))
    return bytes(out)


def test_a_hybrid_reference_update_is_accounted_for() -> None:
    signed = _original()
    facts = _passes(_hybrid_update(signed), len(signed))
    assert [item.kind for item in facts.updates] == ["hybrid"]


# ---------------------------------------------------------------------- defects


def _object_stream_update(base: bytes, *, listed: tuple[int, ...]) -> bytes:
    """An unfiltered object stream holding objects 5 and 6, whose cross-reference stream
    lists only ``listed`` of them."""
    members = [b"<< /Note (five) >>", b"<< /Note (six) >>"]
    header = b"5 0 6 %d " % (len(members[0]) + 1)
    payload = header + members[0] + b" " + members[1]
    out = bytearray(base)
    at8 = len(out)
    out += _obj(8, b"<< /Type /ObjStm /N 2 /First %d /Length %d >>\nstream\n" % (
        len(header), len(payload)) + payload + b"\nendstream")
    at9 = len(out)
    rows = [(number, 2, 8, index) for index, number in enumerate((5, 6)) if number in listed]
    out += _obj(9, _xref_stream(9, [*rows, (8, 1, at8, 0), (9, 1, at9, 0)],
                                prev=_startxref(base)))
    out += b"startxref\n%d\n%%%%EOF\n" % at9
    return bytes(out)


def test_an_object_stream_update_listing_every_member_is_accounted_for() -> None:
    signed = _original()
    facts = _passes(_object_stream_update(signed, listed=(5, 6)), len(signed))
    assert [item.kind for item in facts.updates] == ["stream"]


def _cut_before_startxref(data: bytes) -> bytes:
    return data[:data.rindex(b"startxref")]


_RED = _obj(4, b"<< /Length 25 >>\nstream\n1 0 0 rg 0 0 595 842 re f\nendstream")
_SIGNED = _original()
_S = len(_SIGNED)



def _pointing_back(pdf: bytes) -> bytes:
    """A well-formed update whose startxref names the signed revision's table."""
    return _update(pdf, {4: _RED[8:-8]}, startxref=_startxref(pdf))


_POINTING_BACK_AT = _pointing_back(_SIGNED).rindex(b"startxref")

BadLayout = Callable[[bytes], bytes]
# (name, builder, offset of the defect relative to the signed end, what the reason says)
DEFECTS: list[tuple[str, BadLayout, int, str]] = [
    ("object_without_cross_reference", lambda pdf: pdf + _RED, 0,
     f"object 4 0 (offset {_S}) is appended after the last revision without a "
     "cross-reference section"),
    ("object_with_repeated_startxref",
     lambda pdf: pdf + _RED + b"startxref\n%d\n%%%%EOF\n" % _startxref(pdf), 0,
     f"object 4 0 (offset {_S}) is appended without a cross-reference section; the "
     f"startxref at offset {_S + len(_RED)} repeats {_startxref(_SIGNED)}"),
    ("repeated_startxref_alone",
     lambda pdf: pdf + b"startxref\n%d\n%%%%EOF\n" % _startxref(pdf), 0,
     f"a repeated startxref ({_startxref(_SIGNED)}) at offset {_S} with no "
     "cross-reference section"),
    ("text_after_eof", lambda pdf: pdf + b"This licence is void.\n", 0,
     "bytes that are no PDF object ('This licence is void.')"),
    ("comment_after_eof", lambda pdf: pdf + b"\n% a note\n", 1, "a comment ('% a note')"),
    ("eof_marker_without_startxref",
     lambda pdf: _update(pdf + b"%%EOF\n", {5: b"<< /Note (after) >>"}), 0,
     "a %%EOF marker at offset"),
    ("padding_other_than_whitespace", lambda pdf: pdf + b"\n" + b"." * 64, 1,
     "bytes that are no PDF object ('......"),
    ("object_unlisted_in_its_update",
     lambda pdf: _update(pdf, {5: b"<< /Note (listed) >>"}, unlisted=_RED),
     len(_obj(5, b"<< /Note (listed) >>")),
     f"object 4 0 (offset {_S + len(_obj(5, b'<< /Note (listed) >>'))}) is defined in "
     f"the update at offset {_S} but not in its cross-reference"),
    ("startxref_pointing_back", _pointing_back, _POINTING_BACK_AT - _S,
     f"the startxref at offset {_POINTING_BACK_AT} says {_startxref(_SIGNED)}, but this "
     "update's cross-reference is at"),
    ("entry_pointing_at_another_object", lambda pdf: _relisted(pdf, number=2), 0,
     f"lists object 2 0 at offset {_SIGNED.index(b'1 0 obj')}, where that object is not "
     "defined"),
    ("file_ending_inside_an_update", lambda pdf: _cut_before_startxref(
        _update(pdf, {5: b"<< /Note (cut) >>"})), 0,
     f"inside the update at offset {_S}, which has no startxref and %%EOF"),
    ("object_stream_member_unlisted",
     lambda pdf: _object_stream_update(pdf, listed=(5,)), 0,
     f"object 6 in object stream object 8 0 (offset {_S}) is not in its update's "
     "cross-reference"),
]


@pytest.mark.parametrize(("name", "build", "offset", "says"), DEFECTS,
                         ids=[item[0] for item in DEFECTS])
def test_bytes_that_are_no_well_formed_update_are_a_defect_with_their_offset(
        name: str, build: BadLayout, offset: int, says: str) -> None:
    data = build(_SIGNED)
    facts = _account(data, _S)
    assert facts.defect is not None, name
    assert facts.defect.offset == _S + offset, facts.defect
    assert says in facts.defect.en, facts.defect.en
    assert facts.defect.zh


def test_an_update_that_a_later_prev_skips_is_a_defect() -> None:
    hidden = _update(_SIGNED, {4: _RED[8:-8]})
    data = _update(hidden, {5: b"<< /Note (visible) >>"}, prev=_startxref(_SIGNED))
    facts = _account(data, _S)
    assert facts.defect is not None and facts.defect.offset == _S
    assert "is not in the cross-reference chain read from the end of the file" in \
        facts.defect.en


def test_well_formed_updates_before_a_defect_are_reported() -> None:
    first = _update(_SIGNED, {5: b"<< /Note (fine) >>"})
    facts = _account(first + b"junk", _S)
    assert len(facts.updates) == 1
    assert facts.defect is not None and facts.defect.offset == len(first)


def test_a_flood_of_unlisted_objects_stops_the_accounting_early() -> None:
    flood = b"".join(_obj(number, b"null") for number in range(10, 200_010))
    data = _update(_SIGNED + flood, {5: b"<< /Note (the update that ends the file) >>"})
    started = time.perf_counter()
    facts = _account(data, _S)
    elapsed = time.perf_counter() - started
    assert facts.defect is not None and facts.defect.offset == _S
    assert "further objects after it are listed in no cross-reference section" in \
        facts.defect.en
    assert elapsed < 0.5, elapsed
