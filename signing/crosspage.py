"""The cross-page seal (骑缝章): one seal image split into strips along the page edges.

Strip *i* of *n* is painted at the right edge of page *i* of the range, vertically at the
same height, so that the pages laid out overlapping show the whole seal (STANDARDS §4).
The strips are page content (an image XObject and an extra content stream; the page's
own content is wrapped in ``q``/``Q`` first), written with the *same* incremental writer
that is then signed: they belong to the revision the seal's signature covers. Removing,
swapping or replacing a page afterwards needs a later revision that pyHanko's difference
analysis reports (REPORT §3), and a viewer cannot delete a strip as it could an annotation.
"""

from __future__ import annotations

from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from .errors import StampOptionsError
from .placement import CrossPage, page_index
from .stampstyle import SealArtwork, pdf_number

__all__ = ["add_cross_page_strips", "page_box"]

_XOBJECT_NAME = "/ZYCrossPageSeal"


def page_box(writer: IncrementalPdfFileWriter, index: int) -> tuple[float, float, float, float]:
    """The visible area of a page (CropBox, else MediaBox, inherited through /Parent)."""
    page_ref, _ = writer.find_page_for_modification(index)  # type: ignore[no-untyped-call]
    node = page_ref.get_object()
    for key in ("/CropBox", "/MediaBox"):
        current = node
        while current is not None:
            if key in current:
                x1, y1, x2, y2 = (float(v) for v in current[key])
                return min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)
            parent = current.get("/Parent")
            current = parent.get_object() if parent is not None else None
    return 0.0, 0.0, 595.276, 841.89  # ISO 32000-1 has no default; A4 is ours


def add_cross_page_strips(writer: IncrementalPdfFileWriter, artwork: SealArtwork,
                          spec: CrossPage, *, page_count: int) -> list[int]:
    """Paint the strips on pages ``spec.first``..``spec.last``; return the 0-based pages.

    Nothing is written out: the caller signs ``writer`` afterwards.
    """
    first = page_index(spec.first, page_count)
    last = page_index(spec.last, page_count)
    if last < first:
        raise StampOptionsError(
            f"the cross-page range {spec.first}..{spec.last} is empty or reversed")
    pages = list(range(first, last + 1))
    if len(pages) < 2:
        raise StampOptionsError("a cross-page seal needs at least two pages",
                                hint="place a normal seal on a one-page document")
    strips = artwork.strips(len(pages))
    height = artwork.height_pt
    width = artwork.width_pt / len(pages)
    for strip, index in zip(strips, pages, strict=True):
        _x1, y1, x2, y2 = page_box(writer, index)
        centre = spec.y if spec.y is not None else (y1 + y2) / 2
        image_ref = strip.add_to(writer)
        # Isolate the page's graphics state from ours (as pyHanko's BaseStamp.apply does).
        add_stream: Any = writer.add_stream_to_page
        add_stream(index, writer.add_object(generic.StreamObject(stream_data=b"q")),
                   prepend=True)
        add_stream(index, writer.add_object(generic.StreamObject(stream_data=b"Q")))
        paint = b"q %s 0 0 %s %s %s cm %s Do Q" % (
            pdf_number(width), pdf_number(height), pdf_number(x2 - width),
            pdf_number(centre - height / 2), _XOBJECT_NAME.encode("ascii"))
        dictionary: Any = generic.DictionaryObject
        add_stream(
            index,
            writer.add_object(generic.StreamObject(stream_data=paint)),
            resources=dictionary({
                pdf_name("/XObject"): dictionary({pdf_name(_XOBJECT_NAME): image_ref}),
            }),
        )
    return pages
