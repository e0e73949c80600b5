"""File layout: every byte after the signed revisions belongs to a well-formed update.

A verifier reads a PDF from its last ``startxref`` back along the ``/Prev`` chain
(ISO 32000-1 §7.5.5, §7.5.6), so it sees only what the chain's cross-reference sections
list. Readers that rebuild the cross-reference table by scanning the file also see object
definitions no section lists; an attacker appends such an object after the last revision
and repeats the old ``startxref`` / ``%%EOF``, and the verifier, reading the same chain as
before, calls the signature's coverage complete. So the bytes after a signature's
coverage are accounted for, one incremental update at a time. From the end of the
earliest signed revision (its ``/ByteRange`` end) to the end of the file, the bytes must
be exactly a sequence of updates, each made of:

1. object definitions ``n g obj … endobj``;
2. a cross-reference table and its trailer (§7.5.4, §7.5.5), or a cross-reference stream
   among the objects (§7.5.8), or both (hybrid reference: a table whose trailer has
   ``/XRefStm``, §7.5.8.4);
3. ``startxref`` with the offset of *this* update's cross-reference, then ``%%EOF``;

with only white-space (§7.2.2) between and after. Each update's ``/Prev`` is the
previous update's ``startxref`` (for the first, the signed revision's), each update is
the next revision of the chain pyHanko read from the end of the file, and the objects an
update defines are exactly those its cross-reference lists at the offsets it gives
(objects in object streams likewise, §7.5.7). Anything else — object definitions without
a cross-reference section, a repeated ``startxref``, text, comments, padding other than
white-space — is a :class:`Defect` naming its offset. Earlier revisions, linearisation
(Annex F) included, lie inside the signed bytes and are the signature's business.

The work is proportional to the bytes after the signed revision (none, for a document
sealed once) and reads objects with pyHanko's parser under the reader's decode limits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any

from pyhanko.pdf_utils import generic, misc
from pyhanko.pdf_utils.decode_limits import DecodePurpose
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.xref import ObjStreamRef, XRefSectionType

__all__ = ["Defect", "LayoutFacts", "Update", "account", "hybrid_reference"]

_W = rb"[\x00\t\n\x0c\r ]"
# "n g obj" followed by a delimiter or white-space (ISO 32000-1 §7.2.2, §7.3.10).
_OBJECT = re.compile(rb"(\d{1,10})" + _W + rb"+(\d{1,5})" + _W
                     + rb"+obj(?![^\x00\t\n\x0c\r %<>\[\]()/{}])")
_STARTXREF = re.compile(rb"startxref" + _W + rb"+(\d{1,12})" + _W + rb"+%%EOF")
_SIGNED_TAIL = re.compile(rb"startxref" + _W + rb"+(\d{1,12})" + _W + rb"+%%EOF" + _W + rb"*\Z")
_TABLE_BODY = re.compile(rb"[0-9 nf\r\n]*")
_TAIL_WINDOW = 1024
_EXCERPT = 24
_WHITE_RUN = re.compile(_W + rb"*")
# Objects no cross-reference of the chain lists, tolerated in one update before the
# accounting stops: an attacker's flood of them must not cost seconds to parse.
_MAX_UNLISTED = 100


@dataclass(frozen=True)
class Defect:
    """Bytes that are not part of a well-formed update: where, and what."""

    offset: int
    en: str
    zh: str


@dataclass(frozen=True)
class Update:
    """One incremental update after the signed revision."""

    start: int
    end: int
    """Just after its ``%%EOF``."""
    xref: int
    """Its cross-reference offset (what its ``startxref`` says)."""
    kind: str
    """"table", "stream" or "hybrid"."""
    objects: int


@dataclass(frozen=True)
class LayoutFacts:
    """What follows the earliest signed revision."""

    signed_end: int
    """Where the earliest signed revision ends (its ``/ByteRange`` end)."""
    updates: tuple[Update, ...]
    """The well-formed updates found after it, in file order (up to a defect)."""
    defect: Defect | None


class _Defect(Exception):  # noqa: N818 - internal signal
    def __init__(self, offset: int, en: str, zh: str) -> None:
        super().__init__(en)
        self.defect = Defect(offset, en, zh)


@dataclass
class _Object:
    number: int
    generation: int
    offset: int
    value: Any

    @property
    def label(self) -> str:
        return f"object {self.number} {self.generation} (offset {self.offset})"

    @property
    def label_zh(self) -> str:
        return f"对象 {self.number} {self.generation}（偏移 {self.offset}）"

    def is_type(self, name: str) -> bool:
        value = self.value
        return isinstance(value, generic.StreamObject) and "/Type" in value \
            and value.raw_get("/Type") == name


@dataclass
class _Section:
    start: int
    objects: list[_Object] = field(default_factory=list)
    table: int | None = None
    trailer: Any = None
    unlisted: list[_Object] = field(default_factory=list)


def _read_non_whitespace(stream: BytesIO) -> None:
    """Skip white-space and comments inside an object, as pyHanko's parser does."""
    misc.read_non_whitespace(stream, seek_back=True)  # type: ignore[no-untyped-call]


def _excerpt(data: bytes, at: int) -> str:
    raw = data[at:at + _EXCERPT].split(b"\n")[0].split(b"\r")[0]
    text = "".join(chr(byte) if 0x20 <= byte < 0x7F else "." for byte in raw)
    return text + ("…" if len(raw) == _EXCERPT else "")


def hybrid_reference(reader: PdfFileReader) -> tuple[int, int] | None:
    """(table offset, /XRefStm offset) of the first hybrid-reference section, if any."""
    xrefs = reader.xrefs
    for revision in range(xrefs.total_revisions):
        meta = xrefs.get_xref_container_info(revision)
        if meta.xref_section_type is XRefSectionType.HYBRID_MAIN:
            hybrid = xrefs.get_xref_data(revision).hybrid
            stream_at = hybrid.meta_info.start_location if hybrid is not None else -1
            return meta.start_location, stream_at
    return None


def account(data: bytes, reader: PdfFileReader, signed_end: int) -> LayoutFacts:
    """Account for every byte of ``data`` after ``signed_end`` (steps in the module
    docstring); the reader is the one the signatures were examined with."""
    accountant = _Accountant(data, reader, signed_end)
    try:
        accountant.run()
    except _Defect as found:
        return LayoutFacts(signed_end, tuple(accountant.updates), found.defect)
    return LayoutFacts(signed_end, tuple(accountant.updates), None)


class _Accountant:
    def __init__(self, data: bytes, reader: PdfFileReader, signed_end: int) -> None:
        self.data = data
        self.reader = reader
        self.signed_end = signed_end
        self.stream = BytesIO(data)
        self.updates: list[Update] = []
        self.position = signed_end
        xrefs = reader.xrefs
        self.revisions = {xrefs.get_startxref_for_revision(revision): revision
                          for revision in range(xrefs.total_revisions)}
        self.listed: set[int] = set()

    def _index(self, signed: int) -> None:
        """Every offset the cross-references after revision ``signed`` list (a large
        original costs nothing)."""
        xrefs = self.reader.xrefs
        for revision in range(signed + 1, xrefs.total_revisions):
            data_of = xrefs.get_xref_data(revision)
            self.listed.update(offset for _gen, offset in data_of.standard_xrefs.values())
            self.listed.add(xrefs.get_xref_container_info(revision).start_location)
            if data_of.hybrid is not None:
                hybrid = data_of.hybrid
                self.listed.update(offset for _gen, offset
                                   in hybrid.xref_data.standard_xrefs.values())
                self.listed.add(hybrid.meta_info.start_location)

    def _skip(self, position: int) -> int:
        match = _WHITE_RUN.match(self.data, position)
        assert match is not None  # the pattern matches the empty string
        return match.end()

    def run(self) -> None:
        data, position = self.data, self._skip(self.signed_end)
        if position >= len(data):
            return
        tail = _SIGNED_TAIL.search(data, max(0, self.signed_end - _TAIL_WINDOW),
                                   self.signed_end)
        if tail is None:
            raise _Defect(self.signed_end,
                          f"the signed bytes end at offset {self.signed_end} without "
                          "startxref and %%EOF, so what follows cannot chain to them",
                          f"签名覆盖的内容在偏移 {self.signed_end} 处结束，但不以 startxref 和 "
                          "%%EOF 结尾，其后的内容无法与之衔接")
        previous = int(tail.group(1))
        revision = self.revisions.get(previous)
        if revision is None:
            raise _Defect(tail.start(),
                          f"the signed revision's startxref ({previous}) is not in the "
                          "document's cross-reference chain",
                          f"签名版本的 startxref（{previous}）不在文件的交叉引用链中")
        self._index(revision)
        while position < len(data):
            section = self._read(position)
            update, previous, revision = self._judge(section, previous, revision)
            self.updates.append(update)
            position = self._skip(update.end)
        if revision != self.reader.xrefs.total_revisions - 1:
            raise _Defect(len(data),
                          "the file's last startxref does not lead to its last update",
                          "文件最后的 startxref 没有指向最后一个增量更新")

    # ------------------------------------------------------------------ reading

    def _read(self, start: int) -> _Section:
        """Objects, an optional table and trailer, up to ``startxref`` (not judged yet)."""
        data, section, position = self.data, _Section(start), start
        while True:
            position = self._skip(position)
            if position >= len(data):
                raise self._unfinished(section)
            if data.startswith(b"startxref", position):
                self.position = position
                return section
            if section.table is not None:
                raise _Defect(position, f"unexpected bytes ('{_excerpt(data, position)}') "
                              f"at offset {position} between a trailer and its startxref",
                              f"偏移 {position} 处在文件尾（trailer）与 startxref 之间有多余内容"
                              f"（“{_excerpt(data, position)}”）")
            match = _OBJECT.match(data, position)
            if match is not None:
                item = self._object(match)
                section.objects.append(item)
                position = self.stream.tell()
                self._count_unlisted(section, item)
            elif data.startswith(b"xref", position):
                position = self._table(section, position)
            else:
                raise self._stray(section, position)

    def _count_unlisted(self, section: _Section, item: _Object) -> None:
        """Stop early when an update holds many objects no cross-reference lists (the
        judgement at its startxref would name the first of them anyway)."""
        if item.offset in self.listed:
            return
        section.unlisted.append(item)
        if len(section.unlisted) > _MAX_UNLISTED:
            first = section.unlisted[0]
            raise _Defect(first.offset,
                          f"{first.label} and more than {_MAX_UNLISTED} further objects "
                          "after it are listed in no cross-reference section of the file",
                          f"{first.label_zh}及其后超过 {_MAX_UNLISTED} 个对象不在文件的任何"
                          "交叉引用表中")

    def _object(self, match: re.Match[bytes]) -> _Object:
        number, generation = int(match.group(1)), int(match.group(2))
        offset, stream = match.start(), self.stream
        item = _Object(number, generation, offset, None)
        ref = generic.Reference(number, generation, self.reader)
        try:
            stream.seek(match.end())
            _read_non_whitespace(stream)
            item.value = generic.read_object(stream, ref)
            _read_non_whitespace(stream)
            closed = stream.read(6) == b"endobj"
        except RecursionError:
            raise _Defect(offset, f"{item.label} is nested too deeply to read",
                          f"{item.label_zh}嵌套过深，无法读取") from None
        except Exception as exc:
            raise _Defect(offset, f"{item.label} cannot be read ({type(exc).__name__})",
                          f"{item.label_zh}无法解析") from None
        if not closed:
            raise _Defect(offset, f"{item.label} does not end with endobj",
                          f"{item.label_zh}没有以 endobj 结束")
        if isinstance(item.value, generic.StreamObject):
            item.value.container_ref = ref  # decode under the reader's limits
        return item

    def _table(self, section: _Section, position: int) -> int:
        data = self.data
        if section.table is not None:
            raise _Defect(position, f"a second cross-reference table at offset {position} "
                          "in one update", f"偏移 {position} 处：同一增量更新中有第二个交叉引用表")
        body = _TABLE_BODY.match(data, position + 4)
        assert body is not None  # the pattern matches the empty string
        if not data.startswith(b"trailer", body.end()):
            raise _Defect(position, f"the cross-reference table at offset {position} is "
                          "not followed by a trailer",
                          f"偏移 {position} 处的交叉引用表后面没有文件尾（trailer）")
        stream = self.stream
        stream.seek(body.end() + 7)
        try:
            _read_non_whitespace(stream)
            container = generic.TrailerReference(self.reader)  # type: ignore[no-untyped-call]
            trailer = generic.DictionaryObject.read_from_stream(stream, container)
        except Exception as exc:
            raise _Defect(body.end(), f"the trailer at offset {body.end()} cannot be read "
                          f"({type(exc).__name__})",
                          f"偏移 {body.end()} 处的文件尾（trailer）无法解析") from None
        section.table, section.trailer = position, trailer
        return stream.tell()

    def _unfinished(self, section: _Section) -> _Defect:
        data = self.data
        if section.objects and section.table is None:
            first = section.objects[0]
            return _Defect(first.offset,
                           f"{first.label} is appended after the last revision without "
                           "a cross-reference section, startxref or %%EOF",
                           f"{first.label_zh}附加在最后一个版本之后，没有交叉引用表、startxref "
                           "和 %%EOF")
        return _Defect(section.start, f"the file ends at offset {len(data)} inside the "
                       f"update at offset {section.start}, which has no startxref and %%EOF",
                       f"文件在偏移 {len(data)} 处结束，偏移 {section.start} 处的增量更新缺少 "
                       "startxref 和 %%EOF")

    def _stray(self, section: _Section, position: int) -> _Defect:
        data = self.data
        excerpt = _excerpt(data, position)
        if data.startswith(b"%%EOF", position):
            return _Defect(position, f"a %%EOF marker at offset {position} without "
                           "startxref and a cross-reference section",
                           f"偏移 {position} 处有一个孤立的 %%EOF（没有 startxref 和交叉引用表）")
        if data.startswith(b"%", position):
            return _Defect(position, f"a comment ('{excerpt}') at offset {position} "
                           "after the signed revision",
                           f"签名版本之后偏移 {position} 处有注释（“{excerpt}”）")
        return _Defect(position, f"bytes that are no PDF object ('{excerpt}') at offset "
                       f"{position} after the signed revision",
                       f"签名版本之后偏移 {position} 处有不属于任何 PDF 对象的内容（“{excerpt}”）")

    # ------------------------------------------------------------------ judging

    def _judge(self, section: _Section, previous: int, revision: int
               ) -> tuple[Update, int, int]:
        """Steps 2 and 3 and the chain: returns the update, its startxref and revision."""
        data, position = self.data, self.position
        match = _STARTXREF.match(data, position)
        if match is None:
            raise _Defect(position, f"the startxref at offset {position} is not followed "
                          "by an offset and %%EOF",
                          f"偏移 {position} 处的 startxref 后面没有偏移量和 %%EOF")
        declared, end = int(match.group(1)), match.end()
        streams = {item.offset: item for item in section.objects if item.is_type("/XRef")}
        if section.table is None and not streams:
            if section.objects:
                first = section.objects[0]
                raise _Defect(first.offset,
                              f"{first.label} is appended without a cross-reference "
                              f"section; the startxref at offset {position} repeats "
                              f"{declared}",
                              f"{first.label_zh}附加在文件中但没有交叉引用表；偏移 {position} "
                              f"处的 startxref 重复了 {declared}")
            raise _Defect(position, f"a repeated startxref ({declared}) at offset "
                          f"{position} with no cross-reference section before it",
                          f"偏移 {position} 处重复的 startxref（{declared}）前面没有交叉引用表")
        if section.table is not None:
            kind, own = "table", section.table
            trailer = section.trailer
            if "/XRefStm" in trailer:
                kind = "hybrid"
                hybrid_at = trailer.raw_get("/XRefStm")
                if not isinstance(hybrid_at, int) or hybrid_at not in streams:
                    raise _Defect(own, f"the trailer of the table at offset {own} names "
                                  f"/XRefStm {hybrid_at}, where this update has no "
                                  "cross-reference stream",
                                  f"偏移 {own} 处交叉引用表的 /XRefStm {hybrid_at} 不指向本次"
                                  "更新中的交叉引用流")
        else:
            kind = "stream"
            own = declared if declared in streams else min(streams)
            trailer = streams[own].value
        if declared != own:
            raise _Defect(position, f"the startxref at offset {position} says {declared}, "
                          f"but this update's cross-reference is at {own}",
                          f"偏移 {position} 处的 startxref 为 {declared}，但本次更新的交叉引用"
                          f"位于 {own}")
        prev = trailer.raw_get("/Prev") if "/Prev" in trailer else None
        if not isinstance(prev, int) or isinstance(prev, bool) or prev != previous:
            shown = "no /Prev" if prev is None else f"/Prev {prev}"
            raise _Defect(own, f"the update at offset {section.start} has {shown}; the "
                          f"previous cross-reference is at {previous}",
                          f"偏移 {section.start} 处的增量更新的 /Prev 为 {prev}，而前一个交叉引用"
                          f"位于 {previous}")
        current = self.revisions.get(declared)
        if current is None:
            raise _Defect(section.start, f"the update at offset {section.start} (its "
                          f"cross-reference at {own}) is not in the cross-reference chain "
                          "read from the end of the file: a later /Prev or startxref skips "
                          "it, so a verifier never reads its objects",
                          f"偏移 {section.start} 处的增量更新（交叉引用位于 {own}）不在从文件末尾"
                          "读出的交叉引用链中：之后的 /Prev 或 startxref 跳过了它，"
                          "核验时读不到其中的对象")
        if current != revision + 1:
            raise _Defect(section.start, f"the update at offset {section.start} is revision "
                          f"{current + 1} of the cross-reference chain, not the next one "
                          f"({revision + 2})",
                          f"偏移 {section.start} 处的增量更新是交叉引用链中的第 {current + 1} "
                          f"个版本，而不是下一个（第 {revision + 2} 个）")
        self._entries(section, current)
        update = Update(start=section.start, end=end, xref=own, kind=kind,
                        objects=len(section.objects))
        return update, declared, current

    def _entries(self, section: _Section, revision: int) -> None:
        """The objects the update defines are the ones its cross-reference lists."""
        xref_data = self.reader.xrefs.get_xref_data(revision)
        standard = dict(xref_data.standard_xrefs)
        in_streams = dict(xref_data.xrefs_in_objstm)
        meta = self.reader.xrefs.get_xref_container_info(revision)
        own_streams = {meta.stream_ref}
        if xref_data.hybrid is not None:
            for number, entry in xref_data.hybrid.xref_data.standard_xrefs.items():
                standard.setdefault(number, entry)
            for number, place in xref_data.hybrid.xref_data.xrefs_in_objstm.items():
                in_streams.setdefault(number, place)
            own_streams.add(xref_data.hybrid.meta_info.stream_ref)
        defined: dict[int, _Object] = {}
        for item in section.objects:
            listed = standard.get(item.number)
            if listed is not None and listed[0] == item.generation \
                    and self._at(listed[1]) == item.offset:
                defined[item.offset] = item
                continue
            if generic.Reference(item.number, item.generation) in own_streams \
                    and item.is_type("/XRef") and listed is None:
                continue  # a cross-reference stream need not list itself
            where = f" (it lists offset {listed[1]})" if listed is not None else ""
            raise _Defect(item.offset, f"{item.label} is defined in the update at offset "
                          f"{section.start} but not in its cross-reference{where}",
                          f"{item.label_zh}定义在偏移 {section.start} 处的增量更新中，"
                          "但不在其交叉引用表中（隐藏内容）")
        for number, (generation, offset) in standard.items():
            if offset < section.start and self._defines(offset, number, generation):
                continue  # an earlier definition listed again: nothing new, nothing hidden
            found = defined.get(self._at(offset))
            if found is None or found.number != number or found.generation != generation:
                raise _Defect(section.start, f"the cross-reference of the update at offset "
                              f"{section.start} lists object {number} {generation} at "
                              f"offset {offset}, where that object is not defined",
                              f"偏移 {section.start} 处增量更新的交叉引用表把对象 {number} "
                              f"{generation} 指向偏移 {offset}，但该处没有定义此对象")
        self._object_streams(section, defined, in_streams)

    def _object_streams(self, section: _Section, defined: dict[int, _Object],
                        in_streams: dict[int, ObjStreamRef]) -> None:
        by_number = {item.number: item for item in defined.values() if item.is_type("/ObjStm")}
        members = {number: self._members(item) for number, item in by_number.items()}
        for number, place in in_streams.items():
            held = members.get(place.obj_stream_id)
            if held is None:
                raise _Defect(section.start, f"the cross-reference of the update at offset "
                              f"{section.start} places object {number} in object stream "
                              f"{place.obj_stream_id}, which the update does not define",
                              f"偏移 {section.start} 处增量更新的交叉引用把对象 {number} 放在"
                              f"本次更新未定义的对象流 {place.obj_stream_id} 中")
            if not 0 <= place.ix_in_stream < len(held) or held[place.ix_in_stream] != number:
                stream = by_number[place.obj_stream_id]
                raise _Defect(stream.offset, f"object stream {stream.label} does not hold "
                              f"object {number} at index {place.ix_in_stream}, as the "
                              "cross-reference says",
                              f"对象流{stream.label_zh}的第 {place.ix_in_stream} 个对象不是"
                              f"交叉引用所说的对象 {number}")
        for stream_number, held in members.items():
            for index, number in enumerate(held):
                entry = in_streams.get(number)
                if entry is None or (entry.obj_stream_id, entry.ix_in_stream) != \
                        (stream_number, index):
                    stream = by_number[stream_number]
                    raise _Defect(stream.offset, f"object {number} in object stream "
                                  f"{stream.label} is not in its update's cross-reference",
                                  f"对象流{stream.label_zh}中的对象 {number} 不在本次更新的"
                                  "交叉引用中（隐藏内容）")

    def _members(self, item: _Object) -> list[int]:
        """The object numbers an object stream's header lists, in order (§7.5.7)."""
        stream = item.value
        try:
            count, first = int(stream["/N"]), int(stream["/First"])
            header = stream.read_data(DecodePurpose.OBJECT_STREAM)[:first].split()
            numbers = [int(header[2 * index]) for index in range(count)]
            if len(header) != 2 * count:
                raise ValueError("header length")
        except Exception:
            raise _Defect(item.offset, f"object stream {item.label} cannot be read",
                          f"对象流{item.label_zh}无法读取") from None
        return numbers

    def _defines(self, offset: int, number: int, generation: int) -> bool:
        """Whether an object header ``number generation obj`` starts at ``offset``."""
        match = _OBJECT.match(self.data, self._at(offset))
        return match is not None and (int(match.group(1)), int(match.group(2))) == \
            (number, generation)

    def _at(self, offset: int) -> int:
        """An xref offset, past white-space some writers leave before the header."""
        return self._skip(offset) if 0 <= offset < len(self.data) else offset
