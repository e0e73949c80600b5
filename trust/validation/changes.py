"""What later revisions of a signed PDF added or changed, object by object.

pyHanko's difference analysis decides whether the changes are allowed; this module says
*what* they are, so a report can name them ("page 1: content stream changed; a new
FreeText annotation on page 1") instead of only "modified". It reads each later
revision's cross-reference section and classifies every object it touches. Bounded: at
most :data:`MAX_ITEMS` objects are described and :data:`MAX_PAGES` pages indexed.
"""

from __future__ import annotations

from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader

from .evidence import ObjectChange

__all__ = ["MAX_ITEMS", "describe_changes"]

MAX_ITEMS = 40
MAX_PAGES = 5000


def _page_index(reader: PdfFileReader) -> tuple[dict[Any, int], dict[Any, int]]:
    """Page object and content stream references of the latest revision, to page numbers."""
    pages: dict[Any, int] = {}
    contents: dict[Any, int] = {}
    try:
        stack = [reader.root.raw_get("/Pages")]
        seen: set[Any] = set()
        while stack and len(pages) < MAX_PAGES and len(seen) < 4 * MAX_PAGES:
            item = stack.pop()
            if not isinstance(item, generic.IndirectObject) or item.reference in seen:
                continue
            seen.add(item.reference)
            node = item.get_object()  # type: ignore[no-untyped-call]
            kids = node.get("/Kids")
            if kids is not None:
                stack.extend(reversed(list(kids)))
                continue
            number = len(pages) + 1
            pages[item.reference] = number
            raw = node.raw_get("/Contents") if "/Contents" in node else None
            target = raw.get_object() if isinstance(  # type: ignore[no-untyped-call]
                raw, generic.IndirectObject) else raw
            refs = list(target) if isinstance(target, generic.ArrayObject) else [raw]
            for ref in refs:
                if isinstance(ref, generic.IndirectObject):
                    contents[ref.reference] = number
    except Exception:  # noqa: S110 - a broken page tree: describe what can be described
        pass
    return pages, contents


def _name(value: Any) -> str | None:
    return str(value)[1:] if isinstance(value, generic.NameObject) else None


def _classify(obj: Any, ref: Any, pages: dict[Any, int], contents: dict[Any, int]
              ) -> tuple[str, str | None, int | None, str | None]:
    """(kind, subtype, page, field name)."""
    if ref in pages:
        return "page", None, pages[ref], None
    if ref in contents:
        return "page-content", None, contents[ref], None
    entries = obj if isinstance(obj, generic.DictionaryObject) else None
    if entries is None:
        return "other", None, None, None
    kind_of = _name(entries.get("/Type"))
    subtype = _name(entries.get("/Subtype"))
    field_type = _name(entries.get("/FT"))
    title = entries.get("/T")
    field_name = str(title) if isinstance(title, str) else None
    page = None
    parent_page = entries.raw_get("/P") if "/P" in entries else None
    if isinstance(parent_page, generic.IndirectObject):
        page = pages.get(parent_page.reference)
    if field_type == "Sig":
        return "signature-field", subtype, page, field_name
    if kind_of == "Annot" or (subtype is not None and "/Rect" in entries):
        return "annotation", subtype, page, field_name
    if field_type is not None or ("/T" in entries and "/Kids" in entries):
        return "form-field", field_type, page, field_name
    table = {"Sig": "signature", "DocTimeStamp": "signature", "XObject": "xobject",
             "Font": "font", "FontDescriptor": "font", "Catalog": "catalog",
             "Pages": "page-tree", "DSS": "validation-data", "VRI": "validation-data",
             "Metadata": "metadata", "ObjStm": "object-stream", "XRef": "object-stream"}
    if kind_of in table:
        return table[kind_of], subtype, page, None
    if "/Fields" in entries:
        return "form", None, None, None
    return "other", subtype, None, None


def describe_changes(reader: PdfFileReader, signed_revision: int) -> tuple[ObjectChange, ...]:
    """Objects added or changed by the revisions after ``signed_revision``."""
    pages, contents = _page_index(reader)
    items: list[ObjectChange] = []
    total = reader.xrefs.total_revisions
    for revision in range(signed_revision + 1, total):
        try:
            refs = sorted(reader.xrefs.explicit_refs_in_revision(revision),
                          key=lambda ref: (ref.idnum, ref.generation))
            resolver = reader.get_historical_resolver(revision)
        except Exception:  # noqa: S112 - an unreadable revision: pyHanko's analysis says so
            continue
        for ref in refs:
            if len(items) >= MAX_ITEMS:
                return tuple(items)
            try:
                obj = resolver(ref)
                new = reader.xrefs.get_introducing_revision(ref) > signed_revision
            except Exception:
                obj, new = None, True
            kind, subtype, page, name = _classify(obj, ref, pages, contents)
            if kind == "object-stream":
                continue
            items.append(ObjectChange(revision=revision, reference=f"{ref.idnum} "
                                      f"{ref.generation} R", kind=kind, subtype=subtype,
                                      page=page, new=new, name=name))
    return tuple(items)
