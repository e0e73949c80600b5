"""Test documents: approvals drawn with reportlab, and files broken on purpose.

Each bad file is named for its defect (STYLE §6). The approvals are A4, in Chinese with
WenQuanYi Micro Hei embedded (so PDFium can find the anchor text), with 盖章处 on the
last page at a known place.
"""

from __future__ import annotations

import io
from functools import cache

ANCHOR = "盖章处"
FONT_PATH = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
# Where drawString puts the anchor line on the last page (points, bottom-left origin).
ANCHOR_LINE = (330.0, 200.0)

_PARAGRAPH = (
    "根据《中华人民共和国行政许可法》及相关法律法规的规定，经审查，申请人提交的材料齐全、"
    "符合法定形式，准予行政许可。持证单位应当严格遵守国家有关规定，接受监督检查。"
)


@cache
def _font() -> str:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    pdfmetrics.registerFont(TTFont("WQY", FONT_PATH, subfontIndex=0))
    return "WQY"


@cache
def approval_pdf(pages: int = 3, *, anchor: bool = True, title: str = "行政许可决定书") -> bytes:
    """An approval of ``pages`` A4 pages; the anchor 盖章处 sits on the last page."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    font = _font()
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer, pagesize=A4)
    width, height = A4
    for number in range(pages):
        page.setFont(font, 20)
        page.drawCentredString(width / 2, height - 80, f"{title}（测试）")
        page.setFont(font, 11)
        page.drawString(72, height - 110,
                        f"测试许〔2025〕第 {1000 + number} 号  第 {number + 1} 页")
        y = height - 150
        for line in range(6):
            text = f"{line + 1}. {_PARAGRAPH}"
            for start in range(0, len(text), 38):
                page.drawString(72, y, text[start:start + 38])
                y -= 17
        if number == pages - 1 and anchor:
            page.setFont(font, 12)
            page.drawString(*ANCHOR_LINE, f"发证机关（{ANCHOR}）：")
            page.drawString(330, 120, "日期：2025 年 6 月 1 日")
        page.showPage()
    page.save()
    return buffer.getvalue()


def encrypted_pdf() -> bytes:
    """A valid approval protected with a user password."""
    import pikepdf

    with pikepdf.open(io.BytesIO(approval_pdf(1))) as pdf:
        out = io.BytesIO()
        pdf.save(out, encryption=pikepdf.Encryption(user="secret", owner="owner"))
        return out.getvalue()


def damaged_xref_pdf() -> bytes:
    """A good file whose cross-reference offsets are all wrong (qpdf can rebuild it)."""
    data = approval_pdf(2)
    start = data.rindex(b"\nxref") + 1
    table = data[start:]
    broken = table.replace(b" 00000 n", b" 00000 n").replace(b"0000000", b"0000001")
    return data[:start] + broken


def truncated_pdf() -> bytes:
    """A PDF header followed by garbage: broken beyond repair."""
    return b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R" + b"\x00" * 64


def not_a_pdf() -> bytes:
    """A PNG file sent as a PDF."""
    return b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
