"""The patches applied to libraries at import still apply, and are still needed.

trust/_asn1fix.py (asn1crypto #249) and trust/validation/_speedups.py (pyHanko's hex-string
reader, asn1crypto's name preparation) replace library functions. pyproject.toml bounds those
libraries; these tests fail when a release moves the patched code, so a lock refresh
(``make lock``) cannot silently drop a fix or a fast path.
"""

from __future__ import annotations

import subprocess
import sys
from io import BytesIO
from typing import Any

from asn1crypto import core, x509
from pyhanko.pdf_utils import generic

from zhengyin.trust import _asn1fix
from zhengyin.trust.validation import _speedups


def _sequence_with_length_ending_in_0x80() -> bytes:
    """A SEQUENCE of 0x880 content bytes (header 30 82 08 80) holding a BER (non-DER)
    BOOLEAN 01 01 01: re-encoding it turns the 01 into FF, so a forced re-encode shows."""
    boolean = b"\x01\x01\x01"
    padding = 0x880 - len(boolean) - 4
    octets = b"\x04\x82" + padding.to_bytes(2, "big") + b"\x00" * padding
    content = boolean + octets
    assert len(content) == 0x880
    return b"\x30\x82\x08\x80" + content


class _Flagged(core.Sequence):  # type: ignore[misc]
    _fields = [("flag", core.Boolean), ("data", core.OctetString)]  # noqa: RUF012


def test_asn1crypto_dumps_a_definite_length_ending_in_0x80_unchanged() -> None:
    _asn1fix.apply()
    encoded = _sequence_with_length_ending_in_0x80()
    assert _Flagged.load(encoded).dump() == encoded


def test_the_asn1crypto_fix_is_still_needed() -> None:
    """Unpatched asn1crypto still takes such a length for BER indefinite length (#249);
    when this fails, upstream fixed it and trust/_asn1fix.py can go."""
    encoded = _sequence_with_length_ending_in_0x80().hex()
    script = ("import sys; from asn1crypto import core\n"
              "class S(core.Sequence):\n"
              "    _fields = [('flag', core.Boolean), ('data', core.OctetString)]\n"
              f"d = bytes.fromhex('{encoded}')\n"
              "sys.exit(0 if S.load(d).dump() != d else 1)")
    assert subprocess.run([sys.executable, "-c", script], check=False).returncode == 0


def _read(raw: bytes) -> bytes:
    value = generic.read_object(BytesIO(raw), None)  # type: ignore[arg-type]
    assert isinstance(value, generic.ByteStringObject | generic.TextStringObject)
    return bytes(value.original_bytes)


def test_pyhanko_reads_hex_strings_through_the_fast_path() -> None:
    _speedups.apply()
    calls = []
    fast = generic.read_hex_string_from_stream
    assert getattr(fast, "_zhengyin_fast", False)

    def counting(stream: BytesIO) -> Any:
        calls.append(stream.tell())
        return fast(stream)

    generic.read_hex_string_from_stream = counting
    try:
        value = _read(b"<48 65 6c6c6F>")
    finally:
        generic.read_hex_string_from_stream = fast
    assert calls == [0]
    assert value == b"Hello"


def test_the_fast_hex_reader_agrees_with_pyhanko_on_odd_input() -> None:
    _speedups.apply()
    for raw, expected in ((b"<414>", b"A@"), (b"< 41\n42 >", b"AB"), (b"<>", b"")):
        assert _read(raw) == expected


def test_names_compare_and_hash_as_rfc_5280_says_after_the_speedups() -> None:
    _speedups.apply()
    upper = x509.Name.build({"common_name": "某某局 Seal", "organization_name": "ZHENGYIN"})
    lower = x509.Name.build({"common_name": "某某局  seal", "organization_name": "zhengyin"})
    other = x509.Name.build({"common_name": "某某局 Seal2", "organization_name": "ZHENGYIN"})
    assert upper == lower
    assert upper.hashable == lower.hashable
    assert upper != other
    assert upper.hashable != other.hashable
