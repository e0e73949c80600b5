"""Fast per-document TrueType subsetting for PDF CIDFontType2 embedding.

The font file is parsed once per process (:class:`FontSource`): table directory, cmap, loca and
hmtx are decoded into Python lists, and every glyph's bytes are cached on first use together with
the positions of composite-component glyph indices.  Per document, :meth:`FontSource.subset` only
concatenates cached glyph bytes, patches component indices and writes nine small tables.

The output font keeps exactly what ISO 32000-1 s9.9 (Table 126) requires for FontFile2 used with
a CIDToGIDMap: head, hhea, loca, maxp, glyf, hmtx and (when present) cvt, fpgm, prep.  No cmap
is needed because glyphs are addressed by GID (CID == new GID, /CIDToGIDMap /Identity).
"""

from __future__ import annotations

import struct
import zlib
from array import array
from dataclasses import dataclass
from pathlib import Path
from sys import byteorder
from typing import NamedTuple

__all__ = ["HEX4", "FontSource", "FontSubset"]

# Composite glyph flags (OpenType glyf table).
_ARG_1_AND_2_ARE_WORDS = 0x0001
_WE_HAVE_A_SCALE = 0x0008
_MORE_COMPONENTS = 0x0020
_WE_HAVE_AN_X_AND_Y_SCALE = 0x0040
_WE_HAVE_A_TWO_BY_TWO = 0x0080

# Tables copied verbatim if present (hinting programs referenced by glyph instructions).
_VERBATIM = (b"cvt ", b"fpgm", b"prep")


def _checksum(data: bytes) -> int:
    """OpenType table checksum: sum of big-endian uint32 words, zero padded."""
    if len(data) % 4:
        data = data + b"\0" * (4 - len(data) % 4)
    words = array("I", data)
    if byteorder == "little":
        words.byteswap()
    return sum(words) & 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class FontSubset:
    """One document's subset font plus what the PDF font dictionaries need."""

    data: bytes
    """The subset TrueType file (for /FontFile2)."""
    tag: str
    """Six-letter subset tag for /BaseFont (``ABCDEF+Name``)."""
    hex_of: dict[str, str]
    """Character -> four hex digits of its CID (== new GID), for Identity-H strings."""
    widths: list[int]
    """Advance width per CID 0..n-1 in 1/1000 em (for /W)."""
    unicode_of_cid: list[str]
    """Character per CID ('' for .notdef and component-only glyphs), for /ToUnicode."""
    missing: tuple[str, ...] = ()
    """Characters the font has no glyph for (they would print as .notdef boxes)."""

    def encode(self, text: str) -> str:
        """Hex string body (no angle brackets) showing *text* with this subset."""
        hex_of = self.hex_of
        return "".join([hex_of[c] for c in text])


class FontSource:
    """A TrueType font (or one face of a TTC) parsed once, ready for fast subsetting."""

    def __init__(self, path: str | Path, index: int = 0) -> None:
        raw = Path(path).read_bytes()
        self._raw = raw
        base = 0
        if raw[:4] == b"ttcf":
            (num_fonts,) = struct.unpack_from(">I", raw, 8)
            if not 0 <= index < num_fonts:
                raise ValueError(f"font index {index} out of range (collection has {num_fonts})")
            (base,) = struct.unpack_from(">I", raw, 12 + 4 * index)
        sfnt_version, num_tables = struct.unpack_from(">IH", raw, base)
        if sfnt_version not in (0x00010000, 0x74727565):  # 1.0 or 'true'
            raise ValueError("not a TrueType-outline font (CFF fonts are not supported)")
        self._tables: dict[bytes, tuple[int, int]] = {}
        for i in range(num_tables):
            tag, _sum, off, length = struct.unpack_from(">4sIII", raw, base + 12 + 16 * i)
            self._tables[tag] = (off, length)
        for required in (b"head", b"hhea", b"maxp", b"loca", b"glyf", b"hmtx", b"cmap"):
            if required not in self._tables:
                raise ValueError(f"font lacks the {required.decode()} table")

        head = self.table(b"head")
        self.units_per_em: int = struct.unpack_from(">H", head, 18)[0]
        self.bbox: tuple[int, int, int, int] = struct.unpack_from(">4h", head, 36)
        loca_format: int = struct.unpack_from(">h", head, 50)[0]
        hhea = self.table(b"hhea")
        self.ascent, self.descent = struct.unpack_from(">hh", hhea, 4)
        num_hmetrics: int = struct.unpack_from(">H", hhea, 34)[0]
        self.num_glyphs: int = struct.unpack_from(">H", self.table(b"maxp"), 4)[0]
        self.cap_height = self.ascent
        if b"OS/2" in self._tables:
            os2 = self.table(b"OS/2")
            if struct.unpack_from(">H", os2, 0)[0] >= 2 and len(os2) >= 90:
                self.cap_height = struct.unpack_from(">h", os2, 88)[0]
        self.italic_angle = 0.0
        if b"post" in self._tables:
            self.italic_angle = struct.unpack_from(">i", self.table(b"post"), 4)[0] / 65536.0

        n = self.num_glyphs
        loca = self.table(b"loca")
        if loca_format == 0:
            self._loca = [2 * v for v in struct.unpack_from(f">{n + 1}H", loca)]
        else:
            self._loca = list(struct.unpack_from(f">{n + 1}I", loca))
        self._glyf_offset = self._tables[b"glyf"][0]

        hmtx = self.table(b"hmtx")
        pairs = struct.unpack_from(f">{2 * num_hmetrics}h", hmtx)
        adv = [a & 0xFFFF for a in pairs[0::2]]
        lsb = list(pairs[1::2])
        rest = n - num_hmetrics
        if rest > 0:
            lsb += struct.unpack_from(f">{rest}h", hmtx, 4 * num_hmetrics)
            adv += [adv[-1]] * rest
        self._advance = adv
        self._lsb = lsb

        self.cmap: dict[int, int] = self._parse_cmap(self.table(b"cmap"))
        self._verbatim = {t: (self.table(t), _checksum(self.table(t)))
                          for t in _VERBATIM if t in self._tables}
        self._head = head
        self._hhea = hhea
        self._maxp = self.table(b"maxp")
        self._glyph_cache: dict[int, _Glyph] = {}
        self._width_cache: dict[str, int] = {}
        self.name = self._postscript_name() or "Font"

    # -- one-time parsing -------------------------------------------------------------------

    def table(self, tag: bytes) -> bytes:
        """Raw bytes of one table of the selected face."""
        off, length = self._tables[tag]
        return self._raw[off:off + length]

    @staticmethod
    def _parse_cmap(cmap: bytes) -> dict[int, int]:
        _version, count = struct.unpack_from(">HH", cmap, 0)
        subtables = {}
        for i in range(count):
            pid, eid, off = struct.unpack_from(">HHI", cmap, 4 + 8 * i)
            subtables[(pid, eid)] = off
        for key in ((3, 10), (0, 6), (0, 4), (3, 1), (0, 3), (0, 1), (0, 0)):
            if key in subtables:
                off = subtables[key]
                fmt = struct.unpack_from(">H", cmap, off)[0]
                if fmt == 12:
                    return FontSource._cmap12(cmap, off)
                if fmt == 4:
                    return FontSource._cmap4(cmap, off)
        raise ValueError("font has no Unicode cmap subtable of format 4 or 12")

    @staticmethod
    def _cmap4(cmap: bytes, off: int) -> dict[int, int]:
        seg_x2 = struct.unpack_from(">H", cmap, off + 6)[0]
        segs = seg_x2 // 2
        ends = struct.unpack_from(f">{segs}H", cmap, off + 14)
        starts = struct.unpack_from(f">{segs}H", cmap, off + 16 + seg_x2)
        deltas = struct.unpack_from(f">{segs}h", cmap, off + 16 + 2 * seg_x2)
        ro_pos = off + 16 + 3 * seg_x2
        range_offsets = struct.unpack_from(f">{segs}H", cmap, ro_pos)
        out: dict[int, int] = {}
        for i in range(segs):
            start, end, delta, ro = starts[i], ends[i], deltas[i], range_offsets[i]
            if start == 0xFFFF:
                continue
            for cp in range(start, end + 1):
                if ro == 0:
                    gid = (cp + delta) & 0xFFFF
                else:
                    pos = ro_pos + 2 * i + ro + 2 * (cp - start)
                    gid = struct.unpack_from(">H", cmap, pos)[0]
                    if gid:
                        gid = (gid + delta) & 0xFFFF
                if gid:
                    out[cp] = gid
        return out

    @staticmethod
    def _cmap12(cmap: bytes, off: int) -> dict[int, int]:
        (ngroups,) = struct.unpack_from(">I", cmap, off + 12)
        out: dict[int, int] = {}
        for i in range(ngroups):
            start, end, gid = struct.unpack_from(">III", cmap, off + 16 + 12 * i)
            for cp in range(start, end + 1):
                out[cp] = gid + cp - start
        return out

    def _postscript_name(self) -> str | None:
        if b"name" not in self._tables:
            return None
        name = self.table(b"name")
        _fmt, count, str_off = struct.unpack_from(">HHH", name, 0)
        for i in range(count):
            pid, _eid, _lang, nid, length, off = struct.unpack_from(">6H", name, 6 + 12 * i)
            if nid != 6:
                continue
            raw = name[str_off + off:str_off + off + length]
            text = raw.decode("utf-16-be") if pid in (0, 3) else raw.decode("latin-1")
            return "".join(ch for ch in text if ch.isalnum() or ch in "-_")
        return None

    # -- per-glyph cache ----------------------------------------------------------------------

    def _glyph(self, gid: int) -> _Glyph:
        """Cached per-glyph data; parsed from glyf/hmtx on first use."""
        cached = self._glyph_cache.get(gid)
        if cached is not None:
            return cached
        start, end = self._loca[gid], self._loca[gid + 1]
        data = self._raw[self._glyf_offset + start:self._glyf_offset + end]
        positions: list[int] = []
        components: list[int] = []
        if len(data) >= 10 and struct.unpack_from(">h", data, 0)[0] < 0:
            pos = 10
            while True:
                flags, comp = struct.unpack_from(">HH", data, pos)
                positions.append(pos + 2)
                components.append(comp)
                pos += 4 + (4 if flags & _ARG_1_AND_2_ARE_WORDS else 2)
                if flags & _WE_HAVE_A_SCALE:
                    pos += 2
                elif flags & _WE_HAVE_AN_X_AND_Y_SCALE:
                    pos += 4
                elif flags & _WE_HAVE_A_TWO_BY_TWO:
                    pos += 8
                if not flags & _MORE_COMPONENTS:
                    break
        if len(data) % 4:
            data += b"\0" * (4 - len(data) % 4)
        adv, lsb = self._advance[gid], self._lsb[gid]
        entry = _Glyph(data, tuple(positions), tuple(components), _checksum(data),
                       struct.pack(">Hh", adv, lsb), round(adv * 1000 / self.units_per_em))
        self._glyph_cache[gid] = entry
        return entry

    def width(self, char: str) -> int:
        """Advance width of *char* in 1/1000 em (the .notdef width if unmapped)."""
        w = self._width_cache.get(char)
        if w is None:
            gid = self.cmap.get(ord(char), 0)
            w = round(self._advance[gid] * 1000 / self.units_per_em)
            self._width_cache[char] = w
        return w

    def text_width(self, text: str, size: float) -> float:
        """Width of *text* in points at font *size*."""
        width = self.width
        return sum([width(c) for c in text]) * size / 1000.0

    def wrap(self, text: str, size: float, width: float) -> list[str]:
        """*text* broken into lines no wider than *width* points, character by character
        (Chinese text breaks anywhere); a character wider than the line stands alone."""
        lines, current, used = [], "", 0.0
        for char in text:
            advance = self.width(char) * size / 1000.0
            if current and used + advance > width:
                lines.append(current)
                current, used = "", 0.0
            current += char
            used += advance
        lines.append(current)
        return lines

    # -- per-document subsetting --------------------------------------------------------------

    def subset(self, text: str) -> FontSubset:
        """Build a subset font holding the glyphs for every character in *text*.

        New glyph ids: 0 = .notdef, then the characters' glyphs in code point order, then
        composite components not used directly.  Composite glyphs get their component
        indices rewritten to the new ids.
        """
        cmap = self.cmap
        order: list[int] = [0]
        new_of: dict[int, int] = {0: 0}
        unicode_of_cid: list[str] = [""]
        hex_of: dict[str, str] = {}
        missing: list[str] = []
        for ch in sorted(set(text)):
            gid = cmap.get(ord(ch), 0)
            if gid == 0:
                missing.append(ch)
            new = new_of.get(gid)
            if new is None:
                new = new_of[gid] = len(order)
                order.append(gid)
                unicode_of_cid.append(ch)
            hex_of[ch] = HEX4[new]

        # 1. Composite closure: components are appended after the glyphs that use them.
        glyph = self._glyph
        glyphs: list[_Glyph] = []
        i = 0
        while i < len(order):
            g = glyph(order[i])
            glyphs.append(g)
            for comp in g.components:
                if comp not in new_of:
                    new_of[comp] = len(order)
                    order.append(comp)
                    unicode_of_cid.append("")
            i += 1
        n = len(order)
        if n > 0xFFFF:
            raise ValueError("subset exceeds 65535 glyphs")

        # 2. glyf and loca; then patch component ids in place, adjusting the glyf checksum by
        #    the patched words (glyphs start 4-aligned, so pos % 4 says which half moved).
        offsets = [0]
        total = 0
        glyf_sum = 0
        patches: list[tuple[int, _Glyph]] = []
        for g in glyphs:
            glyf_sum += g.checksum
            if g.positions:
                patches.append((total, g))
            total += len(g.data)
            offsets.append(total)
        glyf = bytearray(b"".join([g.data for g in glyphs]))
        pack_into = struct.pack_into
        for base, g in patches:
            for pos, comp in zip(g.positions, g.components, strict=True):
                new = new_of[comp]
                pack_into(">H", glyf, base + pos, new)
                glyf_sum += (new - comp) << (16 if pos % 4 == 0 else 0)
        loca_words = array("I", offsets)
        if byteorder == "little":
            loca_words.byteswap()

        # 3. Small tables.
        head = bytearray(self._head)
        struct.pack_into(">I", head, 8, 0)  # checkSumAdjustment, set by _assemble
        struct.pack_into(">h", head, 50, 1)  # long loca offsets
        hhea = bytearray(self._hhea)
        struct.pack_into(">H", hhea, 34, n)
        maxp = bytearray(self._maxp)
        struct.pack_into(">H", maxp, 4, n)
        tables: dict[bytes, tuple[bytes, int]] = {
            b"glyf": (bytes(glyf), glyf_sum & 0xFFFFFFFF),
            b"head": (bytes(head), -1),
            b"hhea": (bytes(hhea), -1),
            b"hmtx": (b"".join([g.hmtx for g in glyphs]), -1),
            b"loca": (loca_words.tobytes(), -1),
            b"maxp": (bytes(maxp), -1),
            **self._verbatim,
        }
        data = _assemble(tables)
        tag_num = zlib.crc32(struct.pack(f">{n}H", *order))
        tag = "".join(chr(65 + (tag_num >> (5 * k)) % 26) for k in range(6))
        return FontSubset(data, tag, hex_of, [g.width for g in glyphs], unicode_of_cid,
                          tuple(missing))


class _Glyph(NamedTuple):
    data: bytes
    """Glyph bytes, zero padded to a multiple of 4."""
    positions: tuple[int, ...]
    """Offsets of the component glyph indices (composite glyphs only)."""
    components: tuple[int, ...]
    checksum: int
    """Table checksum contribution of :attr:`data` (before component rewriting)."""
    hmtx: bytes
    """advanceWidth + lsb, 4 bytes."""
    width: int
    """Advance in 1/1000 em, for /W."""


HEX4 = [f"{i:04X}" for i in range(0x10000)]
"""Four-digit upper-case hex for every 16-bit value (CIDs in content and CMap strings)."""


def _assemble(tables: dict[bytes, tuple[bytes, int]]) -> bytes:
    """Write an sfnt with *tables* ({tag: (data, checksum or -1)}) sorted by tag.

    checkSumAdjustment = 0xB1B0AFBA - checksum(whole font) is computed from the table
    checksums plus the header's, which is equal because every table starts 4-aligned and is
    zero padded.
    """
    tags = sorted(tables)
    num = len(tags)
    entry_selector = num.bit_length() - 1
    search_range = 16 << entry_selector
    header = struct.pack(">IHHHH", 0x00010000, num, search_range, entry_selector,
                         num * 16 - search_range)
    offset = 12 + 16 * num
    records: list[bytes] = []
    bodies: list[bytes] = []
    total = 0
    head_at = 0
    for tag in tags:
        body, checksum = tables[tag]
        if checksum < 0:
            checksum = _checksum(body)
        total += checksum
        if tag == b"head":
            head_at = offset
        records.append(struct.pack(">4sIII", tag, checksum, offset, len(body)))
        pad = (-len(body)) % 4
        bodies.append(body + b"\0" * pad if pad else body)
        offset += len(body) + pad
    directory = header + b"".join(records)
    total += _checksum(directory)
    font = bytearray(directory + b"".join(bodies))
    struct.pack_into(">I", font, head_at + 8, (0xB1B0AFBA - total) & 0xFFFFFFFF)
    return bytes(font)
