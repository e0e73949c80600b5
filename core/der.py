"""Minimal DER framing for structures signed on hot paths (time-stamp tokens, CMS).

asn1crypto re-encodes every structure built from Python values, at every nesting level,
on each ``dump()``: a time-stamp token costs milliseconds that way. On hot paths the
constant parts are encoded once with asn1crypto and only the few per-call values are
framed here. Every structure framed this way is parsed back by asn1crypto in tests.
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = [
    "explicit",
    "generalized_time",
    "implicit",
    "integer",
    "octet_string",
    "oid",
    "seq",
    "set_of",
    "tlv",
]


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def tlv(tag: int, body: bytes) -> bytes:
    """One element with a single-byte tag."""
    return bytes((tag,)) + _length(len(body)) + body


def seq(*parts: bytes) -> bytes:
    """SEQUENCE of encoded parts."""
    return tlv(0x30, b"".join(parts))


def set_of(*parts: bytes) -> bytes:
    """SET OF encoded parts, sorted as DER requires (X.690 §11.6)."""
    return tlv(0x31, b"".join(sorted(parts)))


def integer(value: int) -> bytes:
    """INTEGER, two's complement, minimal length."""
    length = value.bit_length() // 8 + 1
    return tlv(0x02, value.to_bytes(length, "big", signed=True))


def oid(dotted: str) -> bytes:
    """OBJECT IDENTIFIER from dotted notation."""
    arcs = [int(arc) for arc in dotted.split(".")]
    body = bytearray()
    for arc in [arcs[0] * 40 + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        rest = arc >> 7
        while rest:
            chunk.append(0x80 | (rest & 0x7F))
            rest >>= 7
        body.extend(reversed(chunk))
    return tlv(0x06, bytes(body))


def octet_string(value: bytes) -> bytes:
    """OCTET STRING."""
    return tlv(0x04, value)


def generalized_time(at: datetime) -> bytes:
    """GeneralizedTime in UTC, whole seconds, 'Z' (RFC 5280 / RFC 3161 profile)."""
    return tlv(0x18, at.astimezone(UTC).strftime("%Y%m%d%H%M%SZ").encode("ascii"))


def explicit(number: int, body: bytes) -> bytes:
    """Context-specific constructed [number] around an encoded element."""
    return tlv(0xA0 | number, body)


def implicit(number: int, encoded: bytes) -> bytes:
    """Re-tag an encoded constructed element as [number] IMPLICIT."""
    return bytes((0xA0 | number,)) + encoded[1:]
