"""Born-sealed PDFs: a page we generate, certified by a seal in the same single revision.

Used where Zhengyin writes the document itself (licences, reports): instead of rendering a
PDF and then signing it incrementally with pyHanko (about 70 ms), the page, its font
subset, the seal appearance and a certification signature (DocMDP) are written in one pass
and the CMS is filled into the reserved /Contents (about 3 ms). Documents from elsewhere
are stamped incrementally by :mod:`zhengyin.signing.stamper` instead.

Object layout is fixed, so everything that depends only on the seal (appearance form,
image, soft mask) is serialised once per seal with its object numbers.
"""

from __future__ import annotations

import hashlib
import io
import struct
from dataclasses import dataclass
from datetime import datetime

from PIL import Image, ImageStat

from zhengyin.core.clock import CHINA_TZ

from ..errors import SigningError
from .cms import CMSSigner
from .fontsubset import HEX4, FontSource, FontSubset
from .pdfwriter import PdfWriter, SignaturePlaceholder, pdf_date, stream_object, utf16_hex

__all__ = [
    "A4",
    "BornSealedPage",
    "SealAppearance",
    "UnrenderableTextError",
    "add_certification",
    "font_objects",
    "to_unicode_cmap",
]

A4 = (595.28, 841.89)

# Fixed object numbers of a born-sealed single-page document.
CATALOG, PAGES, PAGE, CONTENTS, FONT, CIDFONT, DESCRIPTOR, FONTFILE, TOUNICODE = range(1, 10)
WIDGET, SIGDICT, AP_FORM, IMAGE, SMASK, INFO = range(10, 16)

# Largest side of the seal raster embedded in PDFs: 480 px over a 42 mm seal is ~290 dpi,
# sharp in print, a quarter of the 600 dpi master's pixels (about 40 KB per file).
_MAX_SEAL_PIXELS = 480


class UnrenderableTextError(SigningError):
    """The text has characters the embedded font cannot draw (rare 生僻字, for example)."""

    code = "pdf.unrenderable_text"


def _png_idat(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    data = buffer.getvalue()
    position, chunks = 8, []
    while position < len(data):
        length, kind = struct.unpack_from(">I4s", data, position)
        if kind == b"IDAT":
            chunks.append(data[position + 8:position + 8 + length])
        position += 12 + length
    return b"".join(chunks)


@dataclass(frozen=True)
class SealAppearance:
    """A seal's appearance objects (form, flat-colour image, alpha soft mask), serialised once.

    The colour image is a single flat red: all the shape lives in the soft mask, so the
    colour stream compresses to almost nothing. Both streams reuse Pillow's PNG IDAT data
    with PNG predictors, so no per-document compression is needed.
    """

    name: str
    size_pt: float
    chunk: bytes
    offsets: dict[int, int]

    @classmethod
    def from_png(cls, name: str, png: bytes, *, size_pt: float = 119.06) -> SealAppearance:
        """Encode a transparent seal PNG once (``size_pt``: 42 mm by default)."""
        image = Image.open(io.BytesIO(png)).convert("RGBA")
        if max(image.size) > _MAX_SEAL_PIXELS:
            image = image.resize((_MAX_SEAL_PIXELS, _MAX_SEAL_PIXELS * image.height // image.width),
                                 Image.Resampling.LANCZOS)
        alpha = image.getchannel("A")
        # One opaque colour for the whole image, the seal's own ink; the shape is the mask.
        colour = Image.new("RGB", image.size, _dominant_colour(image))
        width, height = image.size
        predictor = "/DecodeParms << /Predictor 15 /Colors {c} /BitsPerComponent 8 /Columns {w} >>"
        smask = stream_object(
            f"/Type /XObject /Subtype /Image /Width {width} /Height {height} "
            f"/ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode "
            + predictor.format(c=1, w=width), _png_idat(alpha), compress=None)
        picture = stream_object(
            f"/Type /XObject /Subtype /Image /Width {width} /Height {height} "
            f"/ColorSpace /DeviceRGB /BitsPerComponent 8 /SMask {SMASK} 0 R /Filter /FlateDecode "
            + predictor.format(c=3, w=width), _png_idat(colour), compress=None)
        side = f"{size_pt:.2f}"
        form = stream_object(
            f"/Type /XObject /Subtype /Form /BBox [0 0 {side} {side}] "
            f"/Resources << /XObject << /Seal {IMAGE} 0 R >> >>",
            f"q {side} 0 0 {side} 0 0 cm /Seal Do Q".encode(), compress=None)
        parts, offsets, position = [], {}, 0
        for number, body in ((AP_FORM, form), (IMAGE, picture), (SMASK, smask)):
            chunk = b"%d 0 obj\n" % number + body + b"\nendobj\n"
            offsets[number] = position
            parts.append(chunk)
            position += len(chunk)
        return cls(name, size_pt, b"".join(parts), offsets)


def _dominant_colour(image: Image.Image) -> tuple[int, int, int]:
    """The median colour of the opaque pixels (the seal's ink)."""
    mask = image.getchannel("A").point(lambda value: 255 if value > 200 else 0)
    if mask.getbbox() is None:
        return (230, 0, 18)
    median = ImageStat.Stat(image.convert("RGB"), mask).median
    return (int(median[0]), int(median[1]), int(median[2]))


def to_unicode_cmap(unicode_of_cid: list[str]) -> bytes:
    """/ToUnicode CMap: each 2-byte CID to its character, so text can be extracted."""
    entries = [f"<{HEX4[cid]}> <{char.encode('utf-16-be').hex()}>"
               for cid, char in enumerate(unicode_of_cid) if char]
    blocks = []
    for start in range(0, len(entries), 100):  # at most 100 entries per bfchar block
        chunk = entries[start:start + 100]
        blocks.append(f"{len(chunk)} beginbfchar\n" + "\n".join(chunk) + "\nendbfchar")
    return ("/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
            "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
            "/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
            "1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n"
            + "\n".join(blocks)
            + "\nendcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n").encode()


def font_objects(source: FontSource, subset: FontSubset, *, font_compression: int | None = 1
                 ) -> list[tuple[int, bytes]]:
    """Type0 / CIDFontType2 (Identity-H) objects embedding ``subset``.

    CIDs equal the subset's glyph ids (/CIDToGIDMap /Identity); /W matches the embedded
    advances (ISO 32000-1 §9.7.4.3); /ToUnicode makes the text extractable.
    """
    scale = 1000.0 / source.units_per_em
    base = f"{subset.tag}+{source.name}"
    bbox = " ".join(str(round(value * scale)) for value in source.bbox)
    widths = " ".join(map(str, subset.widths))
    return [
        (FONT, (f"<< /Type /Font /Subtype /Type0 /BaseFont /{base} /Encoding /Identity-H "
                f"/DescendantFonts [{CIDFONT} 0 R] /ToUnicode {TOUNICODE} 0 R >>").encode()),
        (CIDFONT, (f"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /{base} "
                   f"/CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> "
                   f"/FontDescriptor {DESCRIPTOR} 0 R /DW 1000 /W [0 [{widths}]] "
                   f"/CIDToGIDMap /Identity >>").encode()),
        (DESCRIPTOR, (f"<< /Type /FontDescriptor /FontName /{base} /Flags 4 "
                      f"/FontBBox [{bbox}] /ItalicAngle {source.italic_angle:g} "
                      f"/Ascent {round(source.ascent * scale)} "
                      f"/Descent {round(source.descent * scale)} "
                      f"/CapHeight {round(source.cap_height * scale)} /StemV 80 "
                      f"/FontFile2 {FONTFILE} 0 R >>").encode()),
        (FONTFILE, stream_object(f"/Length1 {len(subset.data)}", subset.data,
                                 compress=font_compression)),
        (TOUNICODE, stream_object("", to_unicode_cmap(subset.unicode_of_cid), compress=6)),
    ]




def add_certification(writer: PdfWriter, seal: SealAppearance, signer: CMSSigner, *,
                      box: tuple[float, float], when: str, docmdp: int = 1,
                      field_name: str = "Seal1", reason: str | None = None) -> None:
    """The seal's widget, its certification signature dictionary and its appearance.

    The one writer of both born-signed documents (licences, reports): a CAdES detached
    signature (ETSI EN 319 142-1) that certifies the document with DocMDP permission
    ``docmdp`` (ISO 32000-1 §12.8.2.2), its /Contents reserved for ``signer``'s CMS.
    ``box``: the lower-left corner of the seal on the first page; ``when``: a PDF date.
    """
    x0, y0 = box
    side = seal.size_pt
    writer.add(WIDGET, (
        f"<< /Type /Annot /Subtype /Widget /FT /Sig /T {utf16_hex(field_name)} "
        f"/V {SIGDICT} 0 R /F 132 /P {PAGE} 0 R "
        f"/Rect [{x0:.2f} {y0:.2f} {x0 + side:.2f} {y0 + side:.2f}] "
        f"/AP << /N {AP_FORM} 0 R >> >>").encode())
    reason_entry = f"/Reason {utf16_hex(reason)} " if reason is not None else ""
    writer.add_signature(SIGDICT, SignaturePlaceholder.build(
        "/Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached "
        f"/Name {utf16_hex(seal.name)} /M ({when}) {reason_entry}"
        "/Reference [<< /Type /SigRef /TransformMethod /DocMDP "
        f"/TransformParams << /Type /TransformParams /P {docmdp} /V /1.2 >> >>]",
        max_cms_bytes=signer.max_size))
    writer.add_raw(seal.offsets, seal.chunk)


@dataclass(frozen=True)
class BornSealedPage:
    """One page (content stream with font /F1) to certify with a seal, the seal on it."""

    content: bytes
    subset: FontSubset
    seal_rect: tuple[float, float]
    title: str
    document_id: str
    page_size: tuple[float, float] = A4
    metadata: tuple[tuple[str, str], ...] = ()
    """Extra document-information entries (e.g. GB/T 36903 licence metadata: ZZBS …)."""
    more: tuple[bytes, ...] = ()
    """Content streams of further pages (a licence's continuation pages), same font."""

    def write(
        self,
        source: FontSource,
        seal: SealAppearance,
        signer: CMSSigner,
        *,
        at: datetime,
        docmdp: int = 1,
        field_name: str = "Seal1",
        producer: str = "Zhengyin",
    ) -> bytes:
        """The certified PDF. ``docmdp`` 1 forbids any change; 2 allows form filling and
        further signatures; 3 also annotations (ISO 32000-1 §12.8.2.2)."""
        if self.subset.missing:
            # Fail closed: a sealed document must not print empty boxes for a name.
            raise UnrenderableTextError(
                f"the font has no glyph for {''.join(self.subset.missing)!r}",
                hint="install a font that covers these characters",
            )
        if docmdp not in (1, 2, 3):
            raise SigningError(f"DocMDP permission level {docmdp} is not 1, 2 or 3")
        width, height = self.page_size
        when = pdf_date(at.astimezone(CHINA_TZ))
        x0, y0 = self.seal_rect
        writer = PdfWriter()
        writer.add(CATALOG, (
            f"<< /Type /Catalog /Pages {PAGES} 0 R /Lang (zh-CN) "
            f"/AcroForm << /Fields [{WIDGET} 0 R] /SigFlags 3 >> "
            f"/Perms << /DocMDP {SIGDICT} 0 R >> "
            f"/Extensions << /ESIC << /BaseVersion /1.7 /ExtensionLevel 2 >> >> "
            f"/ViewerPreferences << /DisplayDocTitle true >> >>").encode())
        # Further pages take the object numbers after the fixed ones, a page and its
        # content stream each.
        further = [(INFO + 1 + 2 * index, INFO + 2 + 2 * index)
                   for index in range(len(self.more))]
        kids = " ".join(f"{number} 0 R" for number in (PAGE, *(page for page, _ in further)))
        writer.add(PAGES,
                   f"<< /Type /Pages /Kids [{kids}] /Count {1 + len(further)} >>".encode())
        writer.add(PAGE, (
            f"<< /Type /Page /Parent {PAGES} 0 R /MediaBox [0 0 {width} {height}] "
            f"/Resources << /Font << /F1 {FONT} 0 R >> >> /Contents {CONTENTS} 0 R "
            f"/Annots [{WIDGET} 0 R] >>").encode())
        writer.add(CONTENTS, stream_object("", self.content, compress=6))
        for (page, contents), data in zip(further, self.more, strict=True):
            writer.add(page, (
                f"<< /Type /Page /Parent {PAGES} 0 R /MediaBox [0 0 {width} {height}] "
                f"/Resources << /Font << /F1 {FONT} 0 R >> >> /Contents {contents} 0 R >>"
            ).encode())
            writer.add(contents, stream_object("", data, compress=6))
        for number, body in font_objects(source, self.subset):
            writer.add(number, body)
        add_certification(writer, seal, signer, box=(x0, y0), when=when, docmdp=docmdp,
                          field_name=field_name)
        extra = "".join(f" /{key} {utf16_hex(value)}" for key, value in self.metadata
                        if key.isalnum())
        writer.add(INFO, (
            f"<< /Title {utf16_hex(self.title)} /Producer {utf16_hex(producer)} "
            f"/CreationDate ({when}) /ModDate ({when}){extra} >>").encode())
        file_id = hashlib.md5(f"{self.document_id}|{when}".encode(),
                              usedforsecurity=False).digest()
        return writer.finish_signed(root=CATALOG, info=INFO, file_id=file_id, sign=signer.sign,
                                    digest_algorithm=signer.digest_algorithm)

