"""The licence identifiers a document claims, wherever it claims them.

GB/T 36903 names a licence's identifier ``ZZBS`` (``certificateIdentifier`` in some
systems, STANDARDS §2); readers and relying systems show it from the document
information dictionary or the XMP metadata, of whichever revision they read. None of it
decides which licence a document is (the digest of a signed revision does, issue 13 §1),
but every claim is collected here, from every revision, signed or appended later, so that
a claim the signed bytes do not bear out fails the document instead of passing unseen.
A value that is no identifier (a number, an empty or over-long string, XMP that cannot be
read but names the entry) is a malformed claim, never silently dropped.
"""

from __future__ import annotations

from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.decode_limits import DecodePurpose
from pyhanko.pdf_utils.reader import HistoricalResolver, PdfFileReader

from ._revisionstate import parse_xmp
from .evidence import LicenceClaim

__all__ = ["MAX_IDENTIFIER", "licence_claims", "trailer_entry"]

MAX_IDENTIFIER = 200
"""The longest identifier taken at face value (GB/T 36904 identifiers are under 100)."""

_NAMES = frozenset({"zzbs", "certificateidentifier"})
_MAX_CLAIMS = 20
_SHOWN = 64


def trailer_entry(resolver: HistoricalResolver, key: str) -> Any:
    """The trailer's ``key`` as of the resolver's revision, or None.

    pyHanko's ``trailer_view[key]`` dereferences through the reader, that is in the
    *latest* revision: an update that redefines the object in place (same number) would
    be read instead of the revision's own. Resolving the reference with the historical
    resolver reads the object as that revision defined it (and what it refers to).
    """
    try:
        value = resolver.trailer_view.raw_get(key)
    except KeyError:
        return None
    if isinstance(value, generic.IndirectObject):
        return resolver.get_object(value.reference)
    return value


def licence_claims(reader: PdfFileReader) -> tuple[LicenceClaim, ...]:
    """Every distinct claim of every revision, first revision first (bounded)."""
    found: dict[tuple[str, str], LicenceClaim] = {}
    for revision in range(reader.xrefs.total_revisions):
        try:
            resolver = reader.get_historical_resolver(revision)
        except Exception:  # noqa: S112 - an unreadable revision: the layout check says so
            continue
        for claim in (*_info_claims(resolver, revision), *_xmp_claims(resolver, revision)):
            found.setdefault((claim.source, claim.found), claim)
            if len(found) >= _MAX_CLAIMS:
                return tuple(found.values())
    return tuple(found.values())


_KINDS: tuple[tuple[type, str], ...] = (
    (generic.NameObject, "a name"), (generic.BooleanObject, "a boolean"),
    (generic.NumberObject, "a number"), (generic.FloatObject, "a number"),
    (generic.ByteStringObject, "a byte string"), (generic.StreamObject, "a stream"),
    (generic.ArrayObject, "an array"), (generic.DictionaryObject, "a dictionary"),
    (generic.NullObject, "null"))


def _claim(value: object, source: str, revision: int) -> LicenceClaim:
    """A claim of ``value``; a name is a ``str`` in pyHanko, so the kinds come first."""
    kind = next((label for cls, label in _KINDS if isinstance(value, cls)), None)
    if kind is None and isinstance(value, str):
        text = value.strip() if source == "xmp" else str(value)
        if text.strip() and len(text) <= MAX_IDENTIFIER:
            return LicenceClaim(text, text, source, revision)
        kind = "an empty string" if not text.strip() else \
            f"a string of {len(text)} characters beginning {text[:_SHOWN]!r}"
    return LicenceClaim(None, kind or type(value).__name__, source, revision)


def _info_claims(resolver: HistoricalResolver, revision: int) -> list[LicenceClaim]:
    try:
        info = trailer_entry(resolver, "/Info")
        if not isinstance(info, generic.DictionaryObject):
            return []
        keys = [key for key in info if str(key)[1:].lower() in _NAMES]
        claims = []
        for key in keys:
            try:
                value = info[key]
            except Exception:
                value = None
            claims.append(_claim(value, "info", revision) if value is not None else
                          LicenceClaim(None, "an unreadable value", "info", revision))
        return claims
    except Exception:
        return []


def _xmp_claims(resolver: HistoricalResolver, revision: int) -> list[LicenceClaim]:
    try:
        root = trailer_entry(resolver, "/Root")
        metadata = root.get("/Metadata") if isinstance(root, generic.DictionaryObject) \
            else None
        stream = metadata.get_object() if metadata is not None else None
        if not isinstance(stream, generic.StreamObject):
            return []
        data = stream.read_data(DecodePurpose.XMP_METADATA)
    except Exception:
        return []
    folded = _text(data).lower()
    if not any(name in folded for name in _NAMES):
        return []
    root = parse_xmp(data)
    if root is None:
        return [LicenceClaim(None, "XMP metadata that names a licence identifier but "
                             "cannot be read", "xmp", revision)]
    claims = []
    for element in root.iter():
        if isinstance(element.tag, str) and _local(element.tag) in _NAMES:
            claims.append(_claim("".join(element.itertext()), "xmp", revision))
        claims += [_claim(value, "xmp", revision) for name, value in element.attrib.items()
                   if _local(name) in _NAMES]
    return claims


def _local(name: object) -> str:
    return str(name).rsplit("}", 1)[-1].rsplit(":", 1)[-1].lower()


def _text(data: bytes) -> str:
    """XMP is UTF-8, UTF-16 or UTF-32 (XMP part 1 §7.3.2): decode by its BOM or its
    zero bytes, so that a packet in UTF-16 cannot hide an entry from the search."""
    for bom, codec in ((b"\x00\x00\xfe\xff", "utf-32-be"), (b"\xff\xfe\x00\x00", "utf-32-le"),
                       (b"\xfe\xff", "utf-16-be"), (b"\xff\xfe", "utf-16-le"),
                       (b"\xef\xbb\xbf", "utf-8")):
        if data.startswith(bom):
            return data[len(bom):].decode(codec, errors="replace")
    head = data[:4]
    if len(head) == 4 and head[0] == 0 and head[1] == 0:
        return data.decode("utf-32-be", errors="replace")
    if len(head) == 4 and head[2] == 0 and head[3] == 0:
        return data.decode("utf-32-le", errors="replace")
    if len(head) >= 2 and head[0] == 0:
        return data.decode("utf-16-be", errors="replace")
    if len(head) >= 2 and head[1] == 0:
        return data.decode("utf-16-le", errors="replace")
    return data.decode("utf-8", errors="replace")
