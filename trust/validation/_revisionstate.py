"""One revision of a PDF as a reader sees it: pages, form fields, annotations, metadata.

:mod:`.modifications` compares two consecutive revisions through these views. Every walk
is bounded by a :class:`Budget` shared by the whole analysis (hostile input), resolves
objects through pyHanko's historical resolver for that revision, and never follows the
keys that lead back up a tree (/Parent, /P) or across the whole document (a signature
reference's /Data).
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import HistoricalResolver

__all__ = [
    "UP",
    "Budget",
    "FieldView",
    "RevisionView",
    "TooComplexError",
    "parse_xmp",
    "raw",
    "reach",
    "same",
    "xmp_properties",
]

Ref = generic.Reference

# Keys that lead up a tree or to another tree; never followed when collecting what an
# object "contains". /Data of a signature reference dictionary names the catalog.
UP = frozenset({"/Parent", "/P", "/Data", "/IRT"})
# Page attributes inheritable from the page tree (ISO 32000-1 §7.7.3.4, Table 30).
_INHERITED = ("/Resources", "/MediaBox", "/CropBox", "/Rotate")
# Annotation flags that keep a widget from being drawn (ISO 32000-1 §12.5.3):
# Hidden (bit 2), NoView (bit 6).
_NOT_DRAWN = 2 | 32


class TooComplexError(Exception):
    """The analysis visited more objects than its budget allows."""


class Budget:
    """How many more objects the analysis may visit."""

    def __init__(self, limit: int) -> None:
        self.left = limit

    def spend(self, count: int = 1) -> None:
        """Take ``count`` visits; raise when none are left."""
        self.left -= count
        if self.left < 0:
            raise TooComplexError


def raw(container: Any, key: Any) -> Any:
    """A dictionary's value or an array's item without dereferencing; None if absent."""
    try:
        if isinstance(container, generic.DictionaryObject):
            return container.raw_get(key) if key in container else None
        if isinstance(container, generic.ArrayObject):
            return container.raw_get(key)
    except Exception:
        return None
    return None


def resolve(value: Any) -> Any:
    """Dereference an indirect object (None when it cannot be read)."""
    if isinstance(value, generic.IndirectObject):
        try:
            return value.get_object()  # type: ignore[no-untyped-call]
        except Exception:
            return None
    return value


def ref_of(value: Any) -> Ref | None:
    """The reference of an indirect object, else None."""
    return value.reference if isinstance(value, generic.IndirectObject) else None


def _children(item: Any, skip: Container[str]) -> Iterator[Any]:
    if isinstance(item, generic.DictionaryObject):  # streams too: their dictionary
        for key in list(item.keys()):
            if key not in skip:
                yield raw(item, key)
    elif isinstance(item, generic.ArrayObject):
        for index in range(len(item)):
            yield raw(item, index)


def reach(start: Iterable[Any], budget: Budget, *, skip: Container[str] = UP,
          stop: Container[Ref] = ()) -> set[Ref]:
    """Every reference reachable from ``start`` (objects or indirect references),
    without following ``skip`` keys or entering ``stop`` references. A reference that
    resolves to nothing (freed, dangling) is still reported: something points at it."""
    found: set[Ref] = set()
    stack = list(start)
    while stack:
        item = stack.pop()
        budget.spend()
        if isinstance(item, generic.IndirectObject):
            reference = item.reference
            if reference in found or reference in stop:
                continue
            found.add(reference)
            item = resolve(item)
        stack.extend(_children(item, skip))
    return found


def same(old: Any, new: Any) -> bool:
    """Whether two raw values are the same PDF object (streams: dictionary and bytes)."""
    if isinstance(old, generic.StreamObject) or isinstance(new, generic.StreamObject):
        if not (isinstance(old, generic.StreamObject) and isinstance(new, generic.StreamObject)):
            return False
        try:
            return dict.__eq__(old, new) is True and old.encoded_data == new.encoded_data
        except Exception:
            return False
    try:
        return bool(old == new) and type(old) is type(new)
    except Exception:
        return False


def name_of(value: Any) -> str | None:
    """A name object's text without the slash."""
    value = resolve(value)
    return str(value)[1:] if isinstance(value, generic.NameObject) else None


def rect_of(widget: Any) -> tuple[float, float, float, float] | None:
    """An annotation's /Rect as four numbers, if it has one."""
    value = resolve(raw(widget, "/Rect"))
    if not isinstance(value, generic.ArrayObject) or len(value) != 4:
        return None
    try:
        numbers = [float(resolve(raw(value, index))) for index in range(4)]
    except (TypeError, ValueError):
        return None
    return numbers[0], numbers[1], numbers[2], numbers[3]


def drawn(annotation: Any) -> bool:
    """Whether a viewer draws anything for this annotation: an area, not hidden, and a
    normal appearance (widgets and most annotations are drawn from /AP /N)."""
    rect = rect_of(annotation)
    if rect is None or abs(rect[2] - rect[0]) * abs(rect[3] - rect[1]) == 0:
        return False
    flags = resolve(raw(annotation, "/F"))
    if isinstance(flags, int) and flags & _NOT_DRAWN:
        return False
    appearance = resolve(raw(annotation, "/AP"))
    if isinstance(appearance, generic.DictionaryObject):
        return raw(appearance, "/N") is not None
    # Without /AP a viewer may still draw text annotations (an icon) and free text.
    return name_of(raw(annotation, "/Subtype")) not in (None, "Widget")


@dataclass
class FieldView:
    """A terminal form field: what a person sees of it."""

    reference: Ref
    name: str
    field_type: str | None
    value: Any
    obj: Any
    widgets: list[Ref]
    nodes: list[Ref]
    """The field's own reference, its ancestors' and its widgets'."""


@dataclass
class RevisionView:
    """One revision, read through its historical resolver."""

    revision: int
    resolver: HistoricalResolver
    root_ref: Ref | None
    root: Any
    pages: list[Ref] = field(default_factory=list)
    page_nodes: dict[Ref, Any] = field(default_factory=dict)
    """The page tree's intermediate nodes."""
    page_attributes: dict[Ref, dict[str, Any]] = field(default_factory=dict)
    """Per page: its own keys plus the inherited attributes it takes from the tree."""
    annotations: dict[Ref, list[Any]] = field(default_factory=dict)
    """Per page: the raw entries of its /Annots (references or direct dictionaries)."""
    annotation_arrays: set[Ref] = field(default_factory=set)
    fields: dict[Ref, FieldView] = field(default_factory=dict)
    acroform: Any = None
    acroform_refs: set[Ref] = field(default_factory=set)
    _annotation_pages: dict[Ref | None, int] | None = None

    @classmethod
    def read(cls, resolver: HistoricalResolver, budget: Budget) -> RevisionView:
        """Read the revision's pages, annotations and form fields."""
        # The trailer's references resolve in the newest revision: look them up here.
        root_ref = ref_of(raw(resolver.trailer_view, "/Root"))
        view = cls(revision=resolver.revision, resolver=resolver, root_ref=root_ref,
                   root=None)
        view.root = view.get(root_ref)
        view._read_pages(budget)
        view._read_fields(budget)
        return view

    @cached_property
    def number(self) -> dict[Ref, int]:
        """Page references to page numbers (from 1)."""
        return {reference: index + 1 for index, reference in enumerate(self.pages)}

    def info(self) -> tuple[Ref | None, Any]:
        """The trailer's /Info: its reference and dictionary."""
        reference = ref_of(raw(self.resolver.trailer_view, "/Info"))
        return reference, self.get(reference)

    def page_of(self, reference: Ref | None) -> int | None:
        """The page an annotation (a widget) sits on: its page's /Annots, else its /P."""
        if reference is None:
            return None
        if self._annotation_pages is None:
            numbers = self.number
            self._annotation_pages = {
                ref_of(entry): numbers[page] for page, entries in self.annotations.items()
                for entry in entries if ref_of(entry) is not None}
        found = self._annotation_pages.get(reference)
        if found is not None:
            return found
        parent = ref_of(raw(self.get(reference), "/P"))
        return self.number.get(parent) if parent is not None else None

    def get(self, reference: Ref | None) -> Any:
        """The object a reference names in this revision (None if it cannot be read)."""
        if reference is None:
            return None
        try:
            return self.resolver(reference)
        except Exception:
            return None

    def widget_refs(self) -> set[Ref]:
        """Every widget of every form field."""
        return {widget for view in self.fields.values() for widget in view.widgets}

    # ------------------------------------------------------------------ reading

    def _read_pages(self, budget: Budget) -> None:
        stack: list[tuple[Any, dict[str, Any]]] = [(raw(self.root, "/Pages"), {})]
        for reference, node, (inherited,) in _tree(stack, budget):
            kids = resolve(raw(node, "/Kids"))
            own = {key: raw(node, key) for key in _INHERITED if key in node}
            if isinstance(kids, generic.ArrayObject) and name_of(raw(node, "/Type")) != "Page":
                self.page_nodes[reference] = node
                passed = {**inherited, **own}
                stack.extend((raw(kids, index), passed)
                             for index in reversed(range(len(kids))))
                continue
            self.pages.append(reference)
            attributes = {**inherited, **{key: raw(node, key) for key in node}}
            self.page_attributes[reference] = attributes
            annots = raw(node, "/Annots")
            if isinstance(annots, generic.IndirectObject):
                self.annotation_arrays.add(annots.reference)
            entries = resolve(annots)
            self.annotations[reference] = [raw(entries, index) for index in range(
                len(entries))] if isinstance(entries, generic.ArrayObject) else []
            budget.spend(len(self.annotations[reference]))

    def _read_fields(self, budget: Budget) -> None:
        form_raw = raw(self.root, "/AcroForm")
        if isinstance(form_raw, generic.IndirectObject):
            self.acroform_refs.add(form_raw.reference)
        self.acroform = form = resolve(form_raw)
        fields_raw = raw(form, "/Fields")
        if isinstance(fields_raw, generic.IndirectObject):
            self.acroform_refs.add(fields_raw.reference)
        top = resolve(fields_raw)
        if not isinstance(top, generic.ArrayObject):
            return
        stack: list[tuple[Any, str, str | None, Any, list[Ref]]] = [
            (raw(top, index), "", None, None, []) for index in reversed(range(len(top)))]
        for reference, node, (prefix, inherited_type, inherited, ancestors) in _tree(stack,
                                                                                    budget):
            title = resolve(raw(node, "/T"))
            name = prefix if not isinstance(title, str) else (
                f"{prefix}.{title}" if prefix else str(title))
            field_type = name_of(raw(node, "/FT")) or inherited_type
            value = raw(node, "/V") if "/V" in node else inherited
            kids = resolve(raw(node, "/Kids"))
            kid_refs = [raw(kids, index) for index in range(len(kids))] \
                if isinstance(kids, generic.ArrayObject) else []
            kid_fields = [kid for kid in kid_refs if isinstance(resolve(kid), generic.
                                                                 DictionaryObject)
                          and "/T" in resolve(kid)]
            if kid_fields:
                stack.extend((kid, name, field_type, value, [*ancestors, reference])
                             for kid in reversed(kid_fields))
                continue
            widgets = [ref for ref in (ref_of(kid) for kid in kid_refs) if ref is not None]
            if not widgets:
                widgets = [reference]
            self.fields[reference] = FieldView(
                reference=reference, name=name, field_type=field_type, value=value,
                obj=node, widgets=widgets,
                nodes=[*ancestors, reference, *(w for w in widgets if w != reference)])


def _tree(stack: list[Any], budget: Budget) -> Iterator[tuple[Ref, Any, tuple[Any, ...]]]:
    """Walk a tree of indirect dictionaries (page tree, field tree) depth first: pops
    (item, *context) from ``stack`` (the caller pushes children) and yields each node
    once with its reference and context; cycles and non-dictionaries are skipped."""
    seen: set[Ref] = set()
    while stack:
        item, *context = stack.pop()
        budget.spend()
        reference = ref_of(item)
        if reference is None or reference in seen:
            continue
        seen.add(reference)
        node = resolve(item)
        if isinstance(node, generic.DictionaryObject):
            yield reference, node, tuple(context)


def parse_xmp(data: bytes) -> Any:
    """The XMP packet's root element, parsed without resolving entities or fetching
    anything; None when it is not well-formed XML or uses entities (which could make
    readers see other text than the search did)."""
    from lxml import etree  # type: ignore[import-untyped]  # no stubs installed

    try:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False,
                                 remove_comments=True, remove_pis=True)
        root = etree.fromstring(data, parser=parser)
    except Exception:
        return None
    if any(True for _ in root.iter(etree.Entity)):
        return None
    return root


def xmp_properties(stream: Any) -> frozenset[tuple[str, str]] | None:
    """The XMP packet's properties as (path, value) pairs, without the ones every
    incremental writer refreshes (modification and metadata dates, producer, the
    toolkit, the per-save instance ID of ISO 16684-1 xmpMM); None when the stream is not
    well-formed XMP."""
    from pyhanko.pdf_utils.decode_limits import DecodePurpose

    ignored = {"{http://ns.adobe.com/xap/1.0/}ModifyDate",
               "{http://ns.adobe.com/xap/1.0/}MetadataDate",
               "{http://ns.adobe.com/pdf/1.3/}Producer",
               "{http://ns.adobe.com/xap/1.0/mm/}InstanceID",
               "{adobe:ns:meta/}xmptk"}
    try:
        data = stream.read_data(DecodePurpose.XMP_METADATA) \
            if hasattr(stream, "read_data") else stream.data
    except Exception:
        return None
    root = parse_xmp(data)
    if root is None:
        return None
    pairs: set[tuple[str, str]] = set()

    def visit(element: Any, path: str) -> None:
        tag = element.tag if isinstance(element.tag, str) else ""
        if tag in ignored:
            return
        here = f"{path}/{tag}"
        for key, value in element.attrib.items():
            if key not in ignored:
                pairs.add((f"{here}@{key}", value))
        text = (element.text or "").strip()
        if text:
            pairs.add((here, text))
        for child in element:
            visit(child, here)

    visit(root, "")
    return frozenset(pairs)
