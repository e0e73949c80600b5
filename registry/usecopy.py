"""Use-copies (加注件): a licence copy marked for one use, then sealed by the registry.

The copy is a new document: every page of the original licence (its seal appearance
flattened into the page) overlaid with the purpose, case number, date and requesting
system, the original sealed PDF attached unchanged so its issuer's signature can still be
verified, and the whole certified by the registry's own seal. A copy made for one case is
visibly not a copy for another. (Writing on the original itself would break its
certification, which forbids every change.)
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from datetime import datetime

import pikepdf

from signing.certified import CHINA_TZ, to_unicode_cmap
from signing.fontsubset import FontSource, FontSubset

__all__ = ["UseCopyMarks", "watermarked_copy"]


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


def watermarked_copy(original: bytes, marks: UseCopyMarks, *, font: FontSource,
                     attachment_name: str) -> bytes:
    """The marked copy (unsigned; the caller seals it)."""
    lines = marks.lines()
    subset = font.subset("".join(lines))
    with pikepdf.open(io.BytesIO(original)) as source:
        # Bring the issuer's seal (a widget appearance) into the page content.
        source.flatten_annotations(mode="all")
        copy = pikepdf.new()
        font_ref = copy.make_indirect(_font(copy, font, subset))
        state = copy.make_indirect(pikepdf.Dictionary(Type=pikepdf.Name.ExtGState, ca=0.22))
        for page in source.pages:
            form = copy.copy_foreign(page.as_form_xobject())
            box = [float(v) for v in page.mediabox]
            width, height = box[2] - box[0], box[3] - box[1]
            new_page = pikepdf.Page(pikepdf.Dictionary(
                Type=pikepdf.Name.Page, MediaBox=pikepdf.Array([0, 0, width, height]),
                Resources=pikepdf.Dictionary(
                    XObject=pikepdf.Dictionary(Original=form),
                    Font=pikepdf.Dictionary(FW=font_ref),
                    ExtGState=pikepdf.Dictionary(Faint=state),
                ),
            ))
            copy.pages.append(new_page)
            ops = [f"q 1 0 0 1 {-box[0]:.2f} {-box[1]:.2f} cm /Original Do Q"]
            # Header band: the marking, legible and on top.
            ops.append("q 1 1 0.85 rg 0.78 0.06 0.18 RG 0.8 w "
                       f"36 {height - 84:.2f} {width - 72:.2f} 52 re B Q")
            ops.append("BT /FW 10 Tf 0.78 0.06 0.18 rg")
            for index, line in enumerate(lines):
                y = height - 46 - (index % 2) * 16
                x = 46 + (index // 2) * (width - 92) / 2
                ops.append(f"1 0 0 1 {x:.2f} {y:.2f} Tm <{subset.encode(line)}> Tj")
            ops.append("ET")
            # Faint diagonal repetition across the page, so no part can be cut out clean.
            angle = math.radians(35)
            cos, sin = math.cos(angle), math.sin(angle)
            text = "  ".join(lines[:3])
            ops.append("q /Faint gs BT /FW 14 Tf 0.78 0.06 0.18 rg")
            for row in range(-2, 12):
                x, y = -100 + row * 40, row * 90
                ops.append(f"{cos:.4f} {sin:.4f} {-sin:.4f} {cos:.4f} {x:.2f} {y:.2f} Tm "
                           f"<{subset.encode(text)}> Tj")
            ops.append("ET Q")
            new_page.obj.Contents = copy.make_stream("\n".join(ops).encode("ascii"))
        stamp = f"D:{marks.at.astimezone(CHINA_TZ):%Y%m%d%H%M%S}+08'00'"
        copy.attachments[attachment_name] = pikepdf.AttachedFileSpec(
            copy, original, description="原始电子证照（含发证机关签章）",
            filename=attachment_name, mime_type="application/pdf",
            creation_date=stamp, mod_date=stamp,
        )
        copy.docinfo[pikepdf.Name.Title] = "电子证照加注件"
        output = io.BytesIO()
        copy.save(output, deterministic_id=True)
        return output.getvalue()
