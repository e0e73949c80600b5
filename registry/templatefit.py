"""A licence type's template must fit its own schema, so every valid licence has its PDF.

Checked when a type is defined: the page is laid out with every printed field as long as
the schema lets it be, in the font's widest character, by the renderer that will draw the
licences (:class:`zhengyin.registry.render.LicenceRenderer`); the fields may flow over
continuation pages, up to :data:`zhengyin.registry.render.MAX_PAGES`. A printed field the schema
does not bound (a string without ``maxLength``, ``enum`` or date ``format``; a number
without ``minimum`` and ``maximum``; an object or array) is refused, as is a title,
subtitle, footer or issuer name wider than the page, or text the font cannot draw.
Issuance and import then never meet a schema-valid licence whose page cannot be made, and
need not lay out each row to know; they only ask that each printed value's characters
are in the font (:func:`unprintable_fields`).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Sequence
from datetime import date
from functools import lru_cache
from typing import Any

from zhengyin.signing.pdf.fonts import pdf_font
from zhengyin.signing.pdf.fontsubset import FontSource

from .render import PAGE_WIDTH, LicenceLayoutError, LicenceRenderer, LicenceView

__all__ = ["HOLDER_NAME_MAX", "template_problems", "unprintable", "unprintable_fields"]

HOLDER_NAME_MAX = 200  # the longest holder name issuance and import accept
_NUMBER_TEXT = 24  # the longest text of a float: -1.2345678901234567e-308
_DATE_TEXT = 11  # 2024年02月29日
_MARGIN = 40.0


@lru_cache(maxsize=1)
def _renderer() -> LicenceRenderer:
    face = pdf_font()
    return LicenceRenderer(FontSource(face.path, face.index))


@lru_cache(maxsize=1)
def _printable() -> frozenset[str]:
    return frozenset(chr(code) for code in _renderer().font.cmap)


@lru_cache(maxsize=1)
def _unprintable_pattern() -> re.Pattern[str]:
    """A character outside the font (whitespace aside): one class of code-point ranges, so
    a row is searched at C speed."""
    ranges, codes = [], sorted(ord(char) for char in _printable())
    start = previous = codes[0]
    for code in [*codes[1:], -1]:
        if code != previous + 1:
            ranges.append(re.escape(chr(start)) if start == previous else
                          f"{re.escape(chr(start))}-{re.escape(chr(previous))}")
            start = code
        previous = code
    return re.compile("[^\\s" + "".join(ranges) + "]")


def unprintable(text: str) -> str:
    """The characters of ``text`` the licence font has no glyph for (whitespace aside)."""
    if _unprintable_pattern().search(text) is None:
        return ""
    missing = set(text) - _printable()
    return "".join(sorted(char for char in missing if not char.isspace()))


def unprintable_fields(template: dict[str, Any], *, holder_name: str | None,
                       fields: dict[str, Any], printed_number: str | None
                       ) -> list[dict[str, str]]:
    """One problem per printed value with a character the licence page cannot show.

    Issuance and import both ask before a licence exists, so neither accepts a licence
    whose PDF would fail (a rare character outside the embedded font, say).
    """
    keys = [entry["key"] for entry in template.get("fields", ())]
    # One search over the whole row (bulk import asks thousands of times a second); only
    # a row that fails is looked at value by value.
    printed = [str(value) for key in keys if (value := fields.get(key)) is not None]
    if not unprintable("".join([holder_name or "", printed_number or "", *printed])):
        return []
    values = [("holder_name", holder_name), ("printed_number", printed_number),
              *((f"fields.{key}", fields.get(key)) for key in keys)]
    problems = []
    for name, value in values:
        missing = unprintable(str(value)) if value is not None else ""
        if missing:
            problems.append({"field": name, "message": f"the licence font cannot print "
                                                       f"{missing!r}"})
    return problems


# The standard library's regular-expression parser, the one that compiles patterns (it
# has no public name and no type stubs).
_PARSER: Any = importlib.import_module("re._parser")
_SRE: Any = importlib.import_module("re._constants")
_BEGIN = {_SRE.AT_BEGINNING, _SRE.AT_BEGINNING_STRING}
_END = {_SRE.AT_END, _SRE.AT_END_STRING}


def _pattern_bound(pattern: str) -> int | None:
    """The longest string an anchored ``pattern`` matches (JSON Schema searches, so an
    unanchored one bounds nothing), or None.

    A pattern the parser cannot read bounds nothing.
    """
    try:
        parsed = _PARSER.parse(pattern)
        items = list(parsed)
        if not items or parsed.state.flags & re.MULTILINE:
            return None
        first, last = items[0], items[-1]
        if not (first[0] is _SRE.AT and first[1] in _BEGIN
                and last[0] is _SRE.AT and last[1] in _END):
            return None
        longest = parsed.getwidth()[1]
    except Exception:  # a private parser: anything odd means "unbounded"
        return None
    # "$" also matches before a final newline, which the value may then carry.
    return int(longest) + 1 if longest < _SRE.MAXREPEAT else None


def _bound(schema: dict[str, Any]) -> int | str:
    """The longest text a printed property can show, in characters, or why it is unbounded."""
    kind = schema.get("type")
    if "enum" in schema:
        return max((len(str(value)) for value in schema["enum"]), default=0)
    if kind == "string":
        if isinstance(schema.get("maxLength"), int):
            return int(schema["maxLength"])
        if schema.get("format") == "date":
            return _DATE_TEXT
        bounded = _pattern_bound(schema["pattern"]) if isinstance(schema.get("pattern"),
                                                                  str) else None
        if bounded is not None:
            return bounded
        return "a string needs a maxLength (or an enum, format date or an anchored pattern " \
               "of bounded length)"
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum"))
        high = schema.get("maximum", schema.get("exclusiveMaximum"))
        if not isinstance(low, int | float) or not isinstance(high, int | float):
            return "a number needs a minimum and a maximum"
        if kind == "integer":
            return max(len(str(int(low))), len(str(int(high))))
        return _NUMBER_TEXT
    if kind == "boolean":
        return len("False")
    return "a printed field must be a string, a number or a boolean"


def template_problems(*, title: str, template: dict[str, Any], schema: dict[str, Any],
                      person_held: bool, issuer_names: Sequence[str]) -> list[str]:
    """What keeps the template from fitting every licence its schema allows (empty: fits).

    ``person_held``: some holder kind prints the holder's name (up to
    :data:`HOLDER_NAME_MAX` characters) rather than an 18-character credit code.
    """
    renderer = _renderer()
    widest = renderer.widest_character
    width = renderer.font.text_width
    usable = PAGE_WIDTH - 2 * _MARGIN
    problems = []
    title_width = width(title, 30.0) + 12.0 * (len(title) - 1)
    for what, text_width in (("template.title", title_width),
                             ("template.subtitle", width(template.get("subtitle", ""), 14.0)),
                             ("template.footer", width(template.get("footer", ""), 9.0)),
                             *((f"issuer name {name}", width(f"发证机关：{name}", 13.0))
                               for name in issuer_names)):
        if text_width > usable:
            problems.append(f"{what} is wider than the licence page")
    texts = [title, str(template.get("subtitle", "")), str(template.get("footer", "")),
             str(template.get("number_label", "")), *issuer_names,
             *(str(entry["label"]) for entry in template.get("fields", []))]
    missing = unprintable("".join(texts))
    if missing:
        problems.append(f"the licence font cannot print {missing!r} of the template")
    properties = schema.get("properties", {})
    fields = []
    for entry in template.get("fields", []):
        bound = _bound(properties.get(entry["key"], {}))
        if isinstance(bound, str):
            problems.append(f"printed field {entry['key']}: {bound}")
        else:
            fields.append((str(entry["label"]), widest * bound))
    if problems:
        return problems
    holder = widest * (HOLDER_NAME_MAX if person_held else 18)
    view = LicenceView(
        title=title, subtitle=template.get("subtitle", ""),
        number_label=template.get("number_label", "证照编号"), printed_number=widest * 64,
        fields=fields, holder_label="持证人", holder=holder, valid_from=date(2000, 12, 28),
        valid_until=date(2000, 12, 28), issuer_name="", issued_on=date(2000, 12, 28),
        identifier="1.2.156.3005.2." + "W" * 21 + "." + "W" * 18 + "." + "W" * 32 + ".999.W",
        verify_url="https://x/v/", footer=template.get("footer", ""))
    try:
        renderer.layout_pages(view)
    except LicenceLayoutError as exc:
        longest = sorted(((len(value), label) for label, value in fields), reverse=True)[:3]
        problems.append(f"the printed fields at their schema's maximum lengths do not fit: "
                        f"{exc.message} (longest: "
                        + ", ".join(f"{label} {length}" for length, label in longest) + ")")
    return problems
