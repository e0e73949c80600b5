"""Use-copies (加注件): a licence copy marked for one use, carrying only what it may show.

The copy is a new document drawn afresh from the licence's data, not an overlay on the
issued PDF: every surface field the use may not receive (and a person holder's name) is
replaced by a redaction mark *before* the page is laid out, so the redacted values are in
no content stream, font subset or /ToUnicode map of the copy (a black box over text that
is still in the file would hide nothing from a text extractor). The issuer's seal is
copied from the issued PDF's appearance (an image, no text) to where it sat. Over the
page go the purpose, case number, date and requesting system; the original sealed PDF is
attached only where the service item allows it; the document information names the
licence (GB/T 36903 ``ZZBS`` …, STANDARDS §2). The registry's platform seal then
certifies the copy (:mod:`zhengyin.registry.usecopies`). A copy made for one case is visibly not a
copy for another.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from datetime import datetime

import pikepdf

from zhengyin.core.clock import CHINA_TZ
from zhengyin.signing.pdf.certified import to_unicode_cmap
from zhengyin.signing.pdf.fontsubset import FontSource, FontSubset

from .render import LicenceRenderer, LicenceView

__all__ = ["UseCopyMarks", "use_copy_document"]

# The licence page is drawn scaled into the space under the marking band.
_SCALE = 0.88
_BAND_HEIGHT = 52.0


@dataclass(frozen=True)
class UseCopyMarks:
    """What a use-copy says about its one use."""

    purpose: str
    case_number: str
    client_name: str
    at: datetime

    def lines(self) -> list[str]:
        """The marking, one line each."""
        day = self.at.astimezone(CHINA_TZ)
        return [
            f"加注件 仅供：{self.client_name}",
            f"事由：{self.purpose}",
            f"案件号：{self.case_number}",
            f"制作时间：{day:%Y年%m月%d日 %H:%M}",
        ]


def _font(pdf: pikepdf.Pdf, source: FontSource, subset: FontSubset) -> pikepdf.Dictionary:
    scale = 1000.0 / source.units_per_em
    base = pikepdf.Name(f"/{subset.tag}+{source.name}")
    fontfile = pikepdf.Stream(pdf, subset.data)
    fontfile.Length1 = len(subset.data)
    descriptor = pikepdf.Dictionary(
        Type=pikepdf.Name.FontDescriptor, FontName=base, Flags=4,
        FontBBox=[round(value * scale) for value in source.bbox], ItalicAngle=0,
        Ascent=round(source.ascent * scale), Descent=round(source.descent * scale),
        CapHeight=round(source.cap_height * scale), StemV=80, FontFile2=fontfile,
    )
    cid_font = pikepdf.Dictionary(
        Type=pikepdf.Name.Font, Subtype=pikepdf.Name.CIDFontType2, BaseFont=base,
        CIDSystemInfo=pikepdf.Dictionary(Registry=pikepdf.String("Adobe"),
                                         Ordering=pikepdf.String("Identity"), Supplement=0),
        FontDescriptor=descriptor, DW=1000, W=[0, pikepdf.Array(subset.widths)],
        CIDToGIDMap=pikepdf.Name.Identity,
    )
    return pikepdf.Dictionary(
        Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type0, BaseFont=base,
        Encoding=pikepdf.Name("/Identity-H"), DescendantFonts=[pdf.make_indirect(cid_font)],
        ToUnicode=pikepdf.Stream(pdf, to_unicode_cmap(subset.unicode_of_cid)),
    )


def _issuer_seal(copy: pikepdf.Pdf, original: bytes) -> tuple[pikepdf.Object, str] | None:
    """The issued PDF's seal appearance (first page's signature widget) as a form XObject
    of ``copy``, and the operators placing it where it sat; None if it has none."""
    with pikepdf.open(io.BytesIO(original)) as source:
        for annotation in source.pages[0].obj.get("/Annots", pikepdf.Array()):
            appearances = annotation.get("/AP")
            appearance = appearances.get("/N") \
                if isinstance(appearances, pikepdf.Dictionary) else None
            if annotation.get("/FT") != "/Sig" or not isinstance(appearance, pikepdf.Stream):
                continue
            x1, y1, x2, y2 = (float(value) for value in annotation.Rect)
            bx1, by1, bx2, by2 = (float(value) for value in appearance.BBox)
            if min(x2 - x1, y2 - y1, bx2 - bx1, by2 - by1) <= 0:
                return None
            sx, sy = (x2 - x1) / (bx2 - bx1), (y2 - y1) / (by2 - by1)
            form = copy.copy_foreign(appearance)
            return form, (f"q {sx:.5f} 0 0 {sy:.5f} {x1 - bx1 * sx:.2f} {y1 - by1 * sy:.2f} cm "
                          "/IssuerSeal Do Q")
    return None


def _marking_ops(lines: list[str], subset: FontSubset, width: float, height: float
                 ) -> list[str]:
    """The marking band on top and its faint diagonal repetition across the page."""
    ops = ["q 1 1 0.85 rg 0.78 0.06 0.18 RG 0.8 w "
           f"36 {height - 32 - _BAND_HEIGHT:.2f} {width - 72:.2f} {_BAND_HEIGHT:.0f} re B Q",
           "BT /FW 10 Tf 0.78 0.06 0.18 rg"]
    for index, line in enumerate(lines):
        y = height - 46 - (index % 2) * 16
        x = 46 + (index // 2) * (width - 92) / 2
        ops.append(f"1 0 0 1 {x:.2f} {y:.2f} Tm <{subset.encode(line)}> Tj")
    ops.append("ET")
    # Faint diagonal repetition, so no part of the page can be cut out clean.
    angle = math.radians(35)
    cos, sin = math.cos(angle), math.sin(angle)
    text = "  ".join(lines[:3])
    ops.append("q /Faint gs BT /FW 14 Tf 0.78 0.06 0.18 rg")
    for row in range(-2, 12):
        x, y = -100 + row * 40, row * 90
        ops.append(f"{cos:.4f} {sin:.4f} {-sin:.4f} {cos:.4f} {x:.2f} {y:.2f} Tm "
                   f"<{subset.encode(text)}> Tj")
    ops.append("ET Q")
    return ops


def use_copy_document(view: LicenceView, marks: UseCopyMarks, *, renderer: LicenceRenderer,
                      original: bytes, attach_original: bool, attachment_name: str) -> bytes:
    """The marked copy of ``view`` (already redacted by the caller; unsigned).

    ``original``: the issued PDF, whose seal appearance is drawn on the copy and which is
    attached when ``attach_original``.
    """
    page = renderer.page(view)
    lines = marks.lines()
    marking = renderer.font.subset("".join(lines))
    copy = pikepdf.new()
    licence_font = copy.make_indirect(_font(copy, renderer.font, page.subset))
    marking_font = copy.make_indirect(_font(copy, renderer.font, marking))
    faint = copy.make_indirect(pikepdf.Dictionary(Type=pikepdf.Name.ExtGState, ca=0.22))
    width, height = page.page_size
    seal = _issuer_seal(copy, original)
    # The licence page, scaled under the band and centred; its seal where it sat on it.
    shift_x, shift_y = width * (1 - _SCALE) / 2, 8.0
    ops = [f"q {_SCALE} 0 0 {_SCALE} {shift_x:.2f} {shift_y:.2f} cm",
           page.content.decode("ascii"), seal[1] if seal else "", "Q",
           *_marking_ops(lines, marking, width, height)]
    xobjects = pikepdf.Dictionary(IssuerSeal=seal[0]) if seal else pikepdf.Dictionary()
    resources = pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=licence_font, FW=marking_font),
                                   ExtGState=pikepdf.Dictionary(Faint=faint),
                                   XObject=xobjects)
    # A licence whose fields flow onto continuation pages (registry.templatefit): every
    # page of it is copied, scaled and marked alike, so no disclosed field goes missing.
    further = [[f"q {_SCALE} 0 0 {_SCALE} {shift_x:.2f} {shift_y:.2f} cm",
                content.decode("ascii"), "Q", *_marking_ops(lines, marking, width, height)]
               for content in page.more]
    for page_ops in [ops, *further]:
        copy.pages.append(pikepdf.Page(pikepdf.Dictionary(
            Type=pikepdf.Name.Page, MediaBox=pikepdf.Array([0, 0, width, height]),
            Resources=resources,
            Contents=copy.make_stream("\n".join(page_ops).encode("ascii")),
        )))
    stamp = f"D:{marks.at.astimezone(CHINA_TZ):%Y%m%d%H%M%S}+08'00'"
    if attach_original:
        copy.attachments[attachment_name] = pikepdf.AttachedFileSpec(
            copy, original, description="原始电子证照（含发证机关签章）",
            filename=attachment_name, mime_type="application/pdf",
            creation_date=stamp, mod_date=stamp,
        )
    copy.docinfo[pikepdf.Name.Title] = "电子证照加注件"
    # The licence this is a copy of (GB/T 36903 names; no holder data): verification
    # reads the identifier from the signed revision and asks the registry, which knows
    # this copy by the digest of that revision (registry.usecopies).
    for key, value in (("ZZBS", view.identifier), ("ZZMC", view.title),
                       ("ZZLXDM", view.type_code), ("ZZBH", view.printed_number),
                       ("ZZBFJG", view.issuer_name), ("ZZBFJGDM", view.issuer_code)):
        copy.docinfo[pikepdf.Name(f"/{key}")] = value
    copy.docinfo[pikepdf.Name.CreationDate] = stamp
    output = io.BytesIO()
    copy.save(output, deterministic_id=True)
    return output.getvalue()
