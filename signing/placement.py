"""Where a seal goes on the page.

Units and origin: **PDF points** (1/72 inch, 1 mm = 2.835 pt) in the page's own
coordinate system, **origin at the bottom-left corner** of the page (x grows to the right,
y grows upwards), exactly as PDF readers and pyHanko use them. Pages are numbered **from 1**;
negative numbers count from the end (-1 is the last page).

Ways to place a seal:

* :class:`BoxPlacement` — a page and a box ``(x1, y1, x2, y2)``; the image is fitted into
  the box, centred, aspect ratio kept;
* :class:`AnchorPlacement` — a text such as 盖章处: the seal, at its natural size, is
  centred on the first occurrence searched from the last page backwards (or on one page);
* :class:`FieldPlacement` — fill an empty signature field reserved earlier (co-sealing);
* :class:`InvisiblePlacement` — no visible seal (used with a cross-page seal alone);

and, with any of them, :class:`CrossPage` — the seal cut into strips along the right edge
of a range of pages (骑缝章), painted in the same revision the signature covers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .errors import AnchorNotFoundError, PageOutOfRangeError, StampOptionsError

__all__ = [
    "AnchorPlacement",
    "BoxPlacement",
    "CrossPage",
    "FieldPlacement",
    "InvisiblePlacement",
    "Placement",
    "ReservedField",
    "ResolvedBox",
    "find_anchor",
    "page_index",
]

Box = tuple[float, float, float, float]


def page_index(page: int, page_count: int) -> int:
    """The 0-based index of page number ``page`` (1-based, negative from the end)."""
    if page == 0 or not -page_count <= page <= page_count:
        raise PageOutOfRangeError(
            f"page {page} is outside the document, which has {page_count} page(s)",
            hint="pages count from 1; -1 is the last page",
        )
    return page - 1 if page > 0 else page_count + page


def _check_box(box: Box) -> Box:
    x1, y1, x2, y2 = (float(v) for v in box)
    if not (x2 > x1 and y2 > y1):
        raise StampOptionsError(
            f"the box {box} is empty: give (x1, y1, x2, y2) with x2 > x1 and y2 > y1",
            hint="units are PDF points, origin bottom-left")
    return x1, y1, x2, y2


@dataclass(frozen=True)
class BoxPlacement:
    """A page (from 1, negative from the end) and a box in points, origin bottom-left."""

    page: int
    box: Box

    def __post_init__(self) -> None:
        object.__setattr__(self, "box", _check_box(self.box))


@dataclass(frozen=True)
class AnchorPlacement:
    """Centre the seal on a text; ``page`` limits the search to one page."""

    text: str
    page: int | None = None
    offset: tuple[float, float] = (0.0, 0.0)

    def __post_init__(self) -> None:
        if not self.text.strip():
            raise StampOptionsError("the anchor text is empty")


@dataclass(frozen=True)
class FieldPlacement:
    """Fill the empty signature field ``name`` (reserved by a certifying seal)."""

    name: str


@dataclass(frozen=True)
class InvisiblePlacement:
    """No visible signature widget."""


@dataclass(frozen=True)
class CrossPage:
    """Strips along the right edge of pages ``first``..``last`` (from 1, negative from the end).

    ``y`` is the height of the seal's centre in points from the bottom of each page;
    by default the middle of the page.
    """

    first: int = 1
    last: int = -1
    y: float | None = None


@dataclass(frozen=True)
class ReservedField:
    """An empty signature field for a co-sealer, created by the certifying seal."""

    name: str
    page: int
    box: Box

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("_", "").replace("-", "").isalnum():
            raise StampOptionsError(f"field name {self.name!r} must be letters, digits, - or _")
        object.__setattr__(self, "box", _check_box(self.box))


Visible = BoxPlacement | AnchorPlacement | FieldPlacement | InvisiblePlacement


@dataclass(frozen=True)
class Placement:
    """The visible seal (or none) and an optional cross-page seal."""

    visible: Visible
    cross_page: CrossPage | None = None

    def describe(self) -> dict[str, Any]:
        """A flat JSON description for the seal-use log."""
        kind = {BoxPlacement: "box", AnchorPlacement: "anchor", FieldPlacement: "field",
                InvisiblePlacement: "invisible"}[type(self.visible)]
        result: dict[str, Any] = {"kind": kind, **asdict(self.visible)}
        if self.cross_page is not None:
            result["cross_page"] = asdict(self.cross_page)
        return result


@dataclass(frozen=True)
class ResolvedBox:
    """A concrete widget position: 0-based page index and box in points."""

    page_index: int
    box: Box


def find_anchor(pdf: bytes, text: str, *, page: int | None, page_count: int
                ) -> tuple[int, Box]:
    """The 0-based page index and bounding box of ``text`` (PDFium text search).

    PDFium finds a string on a page in about 2 ms; a pure-Python layout analysis costs
    about 100 ms (REPORT §1), most of the latency budget of one stamp.
    """
    import pypdfium2 as pdfium

    if page is not None:
        order: list[int] = [page_index(page, page_count)]
    else:
        order = list(range(page_count - 1, -1, -1))
    document = pdfium.PdfDocument(pdf)
    try:
        for index in order:
            textpage = document[index].get_textpage()
            searcher = textpage.search(text, match_case=True, match_whole_word=False)
            hit = searcher.get_next()
            if hit is None:
                continue
            start, count = hit
            boxes = [textpage.get_charbox(i) for i in range(start, start + count)]
            return index, (min(b[0] for b in boxes), min(b[1] for b in boxes),
                           max(b[2] for b in boxes), max(b[3] for b in boxes))
    finally:
        document.close()
    where = f"page {page}" if page is not None else "any page"
    raise AnchorNotFoundError(
        f"the anchor text {text!r} does not occur on {where}",
        hint="check the text (it must match exactly) or place the seal with a page and box",
    )
