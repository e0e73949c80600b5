"""What each revision after a signature added, changed or removed, as a reader sees it.

pyHanko's difference analysis answers "does a certification level allow this?"; this
module answers "what exactly happened?", so the checks can hold this service's own seals
to a stricter rule than ISO 32000 and name every change in the report. Each revision is
compared with the one before, and every object its cross-reference section defines or
frees is accounted for, in this order (the first step that claims an object names it):

1. pages: pages added, removed or reordered; page dictionaries or inherited attributes
   changed (other than /Annots); objects a page draws from (content streams, resources)
   redefined or freed;
2. form fields: fields added (type, name, filled or empty, widget rectangle, page, whether
   anything is drawn), existing empty signature fields signed, values filled, field
   definitions changed or removed, AcroForm entries;
3. annotations per page: added, changed, removed; a widget with no field is an
   annotation; an annotation carrying a script or launch action is an action;
4. the catalog: /DSS (validation data), actions (/OpenAction, /AA, /Names /JavaScript),
   /Perms and every other entry; /Version, /Extensions and /MarkInfo are bookkeeping;
5. metadata: /Info entries and XMP properties, except the modification date and producer
   that every incremental writer refreshes;
6. what is left: objects added that nothing references, objects redefined or freed that
   no step above explains.

Bounded: at most :data:`MAX_VISITS` object visits per document; beyond, the revision is
reported as too complex to analyse (level OTHER).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader

from ._revisionstate import (
    UP,
    Budget,
    FieldView,
    RevisionView,
    TooComplexError,
    drawn,
    name_of,
    raw,
    reach,
    rect_of,
    ref_of,
    resolve,
    same,
    xmp_properties,
)
from .evidence import Modification
from .policy import ChangeLevel

__all__ = ["MAX_VISITS", "RevisionHistory", "analyse"]

MAX_VISITS = 200_000
_MAX_OBJECTS = 12
Ref = generic.Reference
L = ChangeLevel

# Catalog entries every incremental writer may set: no reader shows them.
_BOOKKEEPING = frozenset({"/Version", "/Extensions", "/MarkInfo"})
_INFO_BOOKKEEPING = frozenset({"/ModDate", "/Producer"})
# Field and widget entries a form filler changes (pyHanko's VALUE_UPDATE_KEYS and /MK).
_VALUE_KEYS = frozenset({"/V", "/AS", "/AP", "/DA", "/Q", "/Ff", "/Type", "/F", "/MK"})
# Actions that run code, open files or send data (ISO 32000-1 §12.6.4).
_ACTIVE = frozenset({"JavaScript", "Launch", "SubmitForm", "ImportData", "ResetForm",
                     "Rendition", "GoToE", "GoToR", "Hide", "SetOCGState", "Trans"})
_PAGE_SKIP = UP | {"/Annots", "/B"}


def _text(reference: Ref) -> str:
    return f"{reference.idnum} {reference.generation} R"


def _objects(references: set[Ref] | list[Ref]) -> tuple[str, ...]:
    return tuple(_text(item) for item in sorted(references, key=lambda r: (
        r.idnum, r.generation))[:_MAX_OBJECTS])


def _label(obj: Any) -> str:
    """What an object is, for a reason ("Form XObject", "font", "image")."""
    if isinstance(obj, generic.StreamObject):
        subtype = name_of(raw(obj, "/Subtype"))
        kind = name_of(raw(obj, "/Type"))
        if kind == "XObject" or subtype in ("Form", "Image"):
            return f"{subtype or ''} XObject".strip()
        return f"{kind} stream" if kind else "stream"
    if isinstance(obj, generic.DictionaryObject):
        kind = name_of(raw(obj, "/Type"))
        subtype = name_of(raw(obj, "/Subtype"))
        if kind in ("Font", "FontDescriptor"):
            return "font"
        if kind:
            return f"{kind} {subtype}" if subtype else kind
        return "dictionary"
    return "object"


@dataclass
class _Revision:
    """The comparison of one revision with the one before."""

    revision: int
    old: RevisionView
    new: RevisionView
    touched: set[Ref]
    created: set[Ref]
    freed: set[Ref]
    budget: Budget
    empty_since: dict[Ref, int]
    found: list[Modification] = field(default_factory=list)
    explained: set[Ref] = field(default_factory=set)

    @property
    def open(self) -> set[Ref]:
        """What the revision touched that no step has explained yet."""
        return self.touched - self.explained

    def add(self, kind: str, level: ChangeLevel, *, page: int | None = None,
            name: str | None = None, field_type: str | None = None,
            filled: bool | None = None, visible: bool | None = None,
            rect: tuple[float, float, float, float] | None = None,
            reserved_in: int | None = None, detail: str | None = None,
            objects: set[Ref] | list[Ref] | None = None) -> None:
        """Record one modification and the objects it explains."""
        objects = objects or []
        self.explained.update(objects)
        self.found.append(Modification(
            revision=self.revision, kind=kind, level=level, page=page, name=name,
            field_type=field_type, filled=filled, visible=visible, rect=rect,
            reserved_in=reserved_in, detail=detail, objects=_objects(list(objects))))

    def claim(self, start: list[Any], *, stop: set[Ref] | None = None,
              skip: frozenset[str] = UP, only_created: bool = False) -> set[Ref]:
        """The open references reachable from ``start``."""
        if not self.open:
            return set()
        reached = reach(start, self.budget, skip=skip, stop=stop or set())
        claimed = reached & self.open
        return claimed & self.created if only_created else claimed

    def changed(self, reference: Ref | None) -> bool:
        """Whether the revision redefined (or freed) this reference."""
        return reference is not None and reference in self.touched

    # ------------------------------------------------------------------ 1. pages

    def pages(self) -> None:
        old, new = self.old, self.new
        before, after = set(old.pages), set(new.pages)
        numbers, old_numbers = new.number, old.number
        stop = set(new.pages) | set(new.page_nodes)
        for reference in new.pages:
            if reference not in before:
                attributes = new.page_attributes[reference]
                claimed = self.claim([value for key, value in attributes.items()
                                      if key != "/Parent"], stop=stop)
                self.add("page-added", L.OTHER, page=numbers[reference],
                         objects=({reference} & self.touched) | claimed)
        for reference in old.pages:
            if reference not in after:
                self.add("page-removed", L.OTHER, page=old_numbers[reference],
                         objects={reference} & self.touched)
        if [item for item in old.pages if item in after] != \
                [item for item in new.pages if item in before]:
            self.add("page-changed", L.OTHER, detail="pages reordered")
        for reference, node in new.page_nodes.items():
            if not self.changed(reference):
                continue
            keys = _differing(old.page_nodes.get(reference), node,
                              ignore={"/Kids", "/Count", "/Parent"})
            if keys:
                self.add("page-changed", L.OTHER, detail=f"page tree node {keys}",
                         objects={reference})
            self.explained.add(reference)
        for reference in new.pages:
            if reference in before:
                self._page(reference, numbers[reference], stop)

    def _page(self, reference: Ref, number: int, stop: set[Ref]) -> None:
        attributes = self.new.page_attributes[reference]
        keys = _differing(self.old.page_attributes[reference], attributes,
                          ignore={"/Annots", "/Parent"})
        if keys:
            self.add("page-changed", L.OTHER, page=number, detail=keys,
                     objects={reference} & self.touched)
        self.explained.add(reference)
        contents = attributes.get("/Contents")
        listed = resolve(contents)
        streams = {ref_of(contents)} | ({ref_of(raw(listed, index)) for index in range(
            len(listed))} if isinstance(listed, generic.ArrayObject) else set())
        drawn_from = self.claim([value for key, value in attributes.items()
                                 if key not in _PAGE_SKIP], stop=stop)
        content = drawn_from & streams
        if content:
            self.add("page-content", L.OTHER, page=number, objects=content)
        for item in sorted(drawn_from - content, key=lambda r: (r.idnum, r.generation)):
            self.add("page-resource", L.OTHER, page=number, detail=self._what(item),
                     objects={item})

    def _what(self, reference: Ref) -> str:
        if reference in self.freed:
            return "object deleted"
        return _label(self.new.get(reference))

    # ------------------------------------------------------------------ 2. fields

    def fields(self) -> None:
        old, new = self.old, self.new
        self._acroform()
        for reference, view in new.fields.items():
            previous = old.fields.get(reference)
            if previous is None:
                self._field_added(view)
            else:
                self._field_kept(previous, view)
        for reference, view in old.fields.items():
            if reference not in new.fields:
                self.add("field-removed", L.OTHER, name=view.name,
                         field_type=view.field_type, page=old.page_of(view.widgets[0]),
                         objects=set(view.nodes) & self.touched)
        for view in new.fields.values():
            if view.field_type == "Sig" and view.value is None:
                self.empty_since.setdefault(view.reference, self.revision)
            else:
                self.empty_since.pop(view.reference, None)

    def _acroform(self) -> None:
        old, new = self.old, self.new
        self.explained.update(new.acroform_refs & self.touched)
        for key in _differing_set(old.acroform, new.acroform, ignore={"/Fields", "/SigFlags"}):
            level = L.FORM_FILLING if key in ("/DR", "/DA", "/NeedAppearances", "/Q") \
                else L.OTHER
            self.add("form", level, name=key, objects=self.claim([raw(new.acroform, key)]))

    def _widgets(self, view: FieldView) -> dict[str, Any]:
        """Page, rectangle and visibility of a field's widgets in the new revision."""
        widgets = [self.new.get(widget) for widget in view.widgets]
        return {"page": next((page for page in map(self.new.page_of, view.widgets)
                              if page is not None), None),
                "rect": next((rect for rect in map(rect_of, widgets) if rect), None),
                "visible": any(drawn(widget) for widget in widgets)}

    def _field_added(self, view: FieldView) -> None:
        where = self._widgets(view)
        filled = view.value is not None
        signed_type = name_of(raw(resolve(view.value), "/Type")) if filled else None
        claimed = self.claim([view.obj, *map(self.new.get, view.widgets)], only_created=True)
        objects = (set(view.nodes) & self.touched) | claimed
        if view.field_type == "Sig" and signed_type == "DocTimeStamp" and not where["visible"]:
            self.add("document-timestamp", L.LTA_UPDATES, name=view.name,
                     field_type="DocTimeStamp", filled=True, objects=objects, **where)
            return
        self.add("field-added", L.FORM_FILLING if view.field_type == "Sig" else L.OTHER,
                 name=view.name, field_type=view.field_type, filled=filled, objects=objects,
                 **where)

    def _field_kept(self, previous: FieldView, view: FieldView) -> None:
        nodes = {node for node in set(view.nodes) | set(previous.nodes) if self.changed(node)}
        deep = self.claim([view.obj, *map(self.new.get, view.widgets)]) - set(view.nodes)
        if not nodes and not deep and set(previous.widgets) == set(view.widgets):
            return
        keys: set[str] = set()
        for node in set(previous.nodes) | set(view.nodes):
            keys |= _differing_set(self.old.get(node), self.new.get(node))
        if set(previous.widgets) != set(view.widgets):
            keys.add("/Kids")
        facts: dict[str, Any] = {"name": view.name, "filled": view.value is not None,
                                 **self._widgets(view)}
        created = deep & self.created
        replaced = deep - created
        value_changed = not same(previous.value, view.value)
        kind, level = "field-changed", L.OTHER
        field_type = view.field_type
        if view.field_type == "Sig" and previous.value is None and view.value is not None \
                and keys <= _VALUE_KEYS:
            field_type = name_of(raw(resolve(view.value), "/Type")) or "Sig"
            kind, level = "signature", L.FORM_FILLING
        elif view.field_type != "Sig" and keys and keys <= _VALUE_KEYS:
            kind, level = "field-filled", L.FORM_FILLING
        if kind == "field-changed":
            detail = "signature replaced" if view.field_type == "Sig" and value_changed \
                else ", ".join(sorted(keys)) or "appearance objects redefined"
            self.add(kind, level, field_type=field_type, detail=detail,
                     objects=nodes | deep, **facts)
            return
        # Filling may rewrite the field's own appearance objects in place, never objects
        # something else in the document also uses (pyHanko's rule, "sneaky" overrides).
        shared = self._shared(replaced, view) if replaced else set()
        self.add(kind, level, field_type=field_type,
                 reserved_in=self.empty_since.get(view.reference) if kind == "signature"
                 else None, detail=", ".join(sorted(keys)) or None,
                 objects=nodes | created | (replaced - shared), **facts)
        if shared:
            self.add("field-changed", L.OTHER, field_type=field_type,
                     detail="objects used elsewhere in the document redefined",
                     objects=shared, **facts)

    def _shared(self, candidates: set[Ref], view: FieldView) -> set[Ref]:
        """Which of ``candidates`` the previous revision also reached other than through
        this field (from the trailer, past everything but the field)."""
        old = self.old
        elsewhere = reach([raw(old.resolver.trailer_view, key) for key in
                           old.resolver.trailer_view if key not in ("/Prev", "/ID")],
                          self.budget, stop=set(view.nodes) | set(previous_nodes(old, view)))
        return candidates & elsewhere

    # ------------------------------------------------------------------ 3. annotations

    def annotations(self) -> None:
        old, new = self.old, self.new
        field_widgets = new.widget_refs() | old.widget_refs()
        numbers = new.number
        self.explained.update(new.annotation_arrays & self.touched)
        for page, entries in new.annotations.items():
            number = numbers[page]
            before = old.annotations.get(page)
            if before is None:  # a new page: reported with the page
                self.explained.update(self.claim(entries))
                continue
            old_keys = {_key(entry): entry for entry in before}
            new_keys = {_key(entry): entry for entry in entries}
            for key, entry in new_keys.items():
                reference = ref_of(entry)
                if reference is not None and reference in field_widgets:
                    continue
                if key not in old_keys:
                    self._annotation(entry, number, added=True)
                elif reference is not None and (self.changed(reference) or self.claim(
                        [entry])):
                    self._annotation(entry, number, added=False)
            for key, entry in old_keys.items():
                if key in new_keys:
                    continue
                reference = ref_of(entry)
                if reference is not None and reference in old.widget_refs():
                    if reference in new.widget_refs():
                        continue  # moved to another page: the page change says so
                    self.add("field-changed", L.OTHER, page=number,
                             detail="widget removed from the page", objects={reference})
                    continue
                obj = resolve(entry)
                self.add("annotation-removed", L.ANNOTATIONS, page=number,
                         field_type=name_of(raw(obj, "/Subtype")),
                         objects={reference} if reference else set())

    def _annotation(self, entry: Any, page: int, *, added: bool) -> None:
        obj = resolve(entry)
        reference = ref_of(entry)
        subtype = name_of(raw(obj, "/Subtype"))
        objects = self.claim([entry]) | ({reference} if reference else set())
        facts: dict[str, Any] = {"page": page, "field_type": subtype, "visible": drawn(obj),
                 "rect": rect_of(obj), "objects": objects}
        action = _action(obj)
        if action is not None:
            self.add("action", L.OTHER, name=action, detail=f"{subtype} annotation", **facts)
        elif added:
            self.add("widget-added" if subtype == "Widget" else "annotation-added",
                     L.ANNOTATIONS, **facts)
        else:
            self.add("annotation-changed", L.ANNOTATIONS,
                     detail=_differing(self.old.get(reference), obj) or None, **facts)

    # ------------------------------------------------------------------ 4. catalog

    def catalog(self) -> None:
        old, new = self.old, self.new
        if new.root_ref is not None:
            self.explained.add(new.root_ref)
        if old.root_ref != new.root_ref:
            self.add("catalog", L.OTHER, name="/Root", detail="catalog replaced")
        keys = set(_keys(old.root)) | set(_keys(new.root))
        for key in sorted(keys):
            before, after = raw(old.root, key), raw(new.root, key)
            if key in ("/AcroForm", "/Metadata"):
                continue
            if key == "/DSS":
                claimed = self.claim([after])
                if claimed or not same(before, after):
                    self.add("validation-data", L.LTA_UPDATES, name="/DSS", objects=claimed)
                continue
            differs = not same(before, after)
            if key in _BOOKKEEPING:
                self.explained.update(self.claim([after]))
                continue
            if key == "/Pages":
                if differs:
                    self.add("page-changed", L.OTHER, detail="page tree replaced")
                continue
            if key == "/Names":
                self._names(before, after)
                continue
            claimed = self.claim([after])
            if not differs and not claimed:
                continue
            kind = "action" if key in ("/OpenAction", "/AA") else "catalog"
            self.add(kind, L.OTHER, name=key, detail=_verb(before, after),
                     objects=claimed)

    def _names(self, before: Any, after: Any) -> None:
        old_names, new_names = resolve(before), resolve(after)
        for key in sorted(set(_keys(old_names)) | set(_keys(new_names))):
            one, other = raw(old_names, key), raw(new_names, key)
            claimed = self.claim([other])
            if same(one, other) and not claimed:
                continue
            kind = "action" if key == "/JavaScript" else "catalog"
            self.add(kind, L.OTHER, name=f"/Names {key}", detail=_verb(one, other),
                     objects=claimed)
        if ref_of(after) is not None and self.changed(ref_of(after)):
            self.explained.add(ref_of(after))  # type: ignore[arg-type]

    # ------------------------------------------------------------------ 5. metadata

    def metadata(self) -> None:
        old, new = self.old, self.new
        (old_ref, old_info), (new_ref, new_info) = old.info(), new.info()
        if old_ref != new_ref or self.changed(new_ref):
            keys = _differing(old_info, new_info, ignore=_INFO_BOOKKEEPING)
            claimed = self.claim([new_info]) | ({new_ref} & self.touched if new_ref else set())
            if keys:
                self.add("metadata", L.LTA_UPDATES, name="/Info", detail=keys,
                         objects=claimed)
            else:
                self.explained.update(claimed)
        before, after = raw(old.root, "/Metadata"), raw(new.root, "/Metadata")
        reference = ref_of(after)
        if same(before, after) and not self.changed(reference):
            return
        claimed = self.claim([after])
        if xmp_properties(resolve(before)) != xmp_properties(resolve(after)) or \
                xmp_properties(resolve(after)) is None:
            self.add("metadata", L.LTA_UPDATES, name="XMP", objects=claimed)
        else:
            self.explained.update(claimed)

    # ------------------------------------------------------------------ 6. the rest

    def rest(self) -> None:
        for reference in sorted(self.open, key=lambda r: (r.idnum, r.generation)):
            if reference in self.freed:
                self.add("object-deleted", L.LTA_UPDATES, objects={reference})
            elif reference in self.created:
                self.add("object-added", L.LTA_UPDATES, detail=self._what(reference),
                         objects={reference})
            else:
                self.add("object-changed", L.OTHER, detail=self._what(reference),
                         objects={reference})


def previous_nodes(view: RevisionView, field_view: FieldView) -> list[Ref]:
    """The nodes of the same field in ``view`` (it may have other widgets there)."""
    earlier = view.fields.get(field_view.reference)
    return earlier.nodes if earlier is not None else []


def _keys(obj: Any) -> list[str]:
    return [str(key) for key in obj] if isinstance(obj, generic.DictionaryObject) else []


def _differing_set(old: Any, new: Any, *, ignore: frozenset[str] | set[str] = frozenset()
                   ) -> set[str]:
    old_keys = set(old.keys()) if isinstance(old, dict) else set()
    new_keys = set(new.keys()) if isinstance(new, dict) else set()
    keys = {str(key) for key in (old_keys | new_keys) if str(key) not in ignore
            and not same(raw_dict(old, key), raw_dict(new, key))}
    if isinstance(old, generic.StreamObject) != isinstance(new, generic.StreamObject) or (
            isinstance(new, generic.StreamObject) and not same(old, new)):
        keys.add("stream data")
    return keys


def raw_dict(container: Any, key: Any) -> Any:
    """``raw`` for plain dicts too (inherited page attributes)."""
    if isinstance(container, generic.DictionaryObject):
        return raw(container, key)
    if isinstance(container, dict):
        return container.get(key)
    return None


def _differing(old: Any, new: Any, *, ignore: frozenset[str] | set[str] = frozenset()) -> str:
    return ", ".join(sorted(_differing_set(old, new, ignore=ignore)))


def _key(entry: Any) -> Any:
    reference = ref_of(entry)
    return reference if reference is not None else ("direct", repr(entry)[:2000])


def _action(annotation: Any) -> str | None:
    """The active action an annotation carries (/A with a dangerous type, or any /AA)."""
    if raw(annotation, "/AA") is not None:
        return "/AA"
    action = resolve(raw(annotation, "/A"))
    kind = name_of(raw(action, "/S"))
    return kind if kind in _ACTIVE else None


def _verb(before: Any, after: Any) -> str:
    if before is None:
        return "added"
    if after is None:
        return "removed"
    return "changed"


class RevisionHistory:
    """The modifications of a document's revisions, analysed once per document and
    shared by its signatures."""

    def __init__(self, reader: PdfFileReader) -> None:
        self.reader = reader
        self._start: int | None = None
        self._found: tuple[Modification, ...] = ()

    def after(self, revision: int) -> tuple[Modification, ...]:
        """What every revision after ``revision`` did."""
        if self._start is None or revision < self._start:
            self._start = revision
            self._found = analyse(self.reader, revision)
        return tuple(item for item in self._found if item.revision > revision)


def analyse(reader: PdfFileReader, start: int) -> tuple[Modification, ...]:
    """The modifications of every revision after ``start`` (steps 1 to 6), per revision,
    page changes first."""
    budget = Budget(MAX_VISITS)
    found: list[Modification] = []
    total = reader.xrefs.total_revisions
    if start + 1 >= total:
        return ()
    containers = set(getattr(reader.xrefs, "xref_stream_refs", set()))
    try:
        previous = RevisionView.read(reader.get_historical_resolver(start), budget)
        empty_since = {view.reference: start for view in previous.fields.values()
                       if view.field_type == "Sig" and view.value is None}
        for revision in range(start + 1, total):
            current = RevisionView.read(reader.get_historical_resolver(revision), budget)
            touched = {ref for ref in reader.xrefs.explicit_refs_in_revision(revision)
                       if ref.idnum != 0}
            freed = {ref for ref in reader.xrefs.refs_freed_in_revision(revision)
                     if ref.idnum != 0}
            containers |= set(reader.xrefs.object_streams_used_in(  # type: ignore[no-untyped-call]
                revision))
            created = {ref for ref in touched if _introduced(reader, ref) == revision}
            touched = {ref for ref in touched - containers
                       if ref in created or not same(previous.get(ref), current.get(ref))
                       } | freed
            step = _Revision(revision=revision, old=previous, new=current, touched=touched,
                             created=created, freed=freed, budget=budget,
                             empty_since=empty_since)
            for part in (step.pages, step.fields, step.annotations, step.catalog,
                         step.metadata, step.rest):
                part()
            found.extend(sorted(step.found, key=lambda item: _ORDER.get(item.kind, 9)))
            previous = current
    except TooComplexError:
        found.append(_unanalysable(total - 1, "the changes are too large to analyse"))
    except RecursionError:
        found.append(_unanalysable(total - 1, "the objects are nested too deeply"))
    except Exception as exc:  # a malformed revision: nothing after it is accounted for
        found.append(_unanalysable(total - 1, f"a revision cannot be read "
                                              f"({type(exc).__name__})"))
    return tuple(found)


# Page changes first within a revision, then fields and annotations, then the rest.
_ORDER = {"page-content": 0, "page-resource": 1, "page-changed": 2, "page-added": 3,
          "page-removed": 4, "action": 5, "field-added": 6, "field-filled": 6,
          "field-changed": 6, "field-removed": 6, "signature": 6, "widget-added": 7,
          "annotation-added": 7, "annotation-changed": 7, "annotation-removed": 7}


def _introduced(reader: PdfFileReader, reference: Ref) -> int | None:
    try:
        return int(reader.xrefs.get_introducing_revision(reference))
    except KeyError:
        return None


def _unanalysable(revision: int, why: str) -> Modification:
    return Modification(revision=revision, kind="unanalysable", level=L.OTHER, page=None,
                        name=None, field_type=None, filled=None, visible=None, rect=None,
                        reserved_in=None, detail=why, objects=())
