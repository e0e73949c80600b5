"""Work-around for asn1crypto 1.5.1 treating some definite lengths as indefinite (issue #249).

``Asn1Value``, ``Choice``, ``Primitive``, ``Sequence`` and ``SequenceOf.dump`` test
``self._header[-1:] == b'\\x80'`` to detect BER indefinite length.  That also matches every
definite long-form length whose *last* byte is 0x80 (128, 0x180, 0x880, ...), and then the
value and everything below it is force-re-encoded, recursively: 10-25 s for one pyHanko CMS
whose SignerInfo happens to be 0x880 bytes long (about one signature in four with our test
certificates).  Upstream: https://github.com/wbond/asn1crypto/issues/249 (open), fix attempt
in PR #302 (closed).

:func:`apply` wraps the affected ``dump`` methods: when the cached header is a definite
long-form length (second byte > 0x80), it drops the cached header first, so the original check
cannot misfire and the header is recomputed from the unchanged contents (same bytes).
Low tag numbers only (< 31), which covers CMS, TSP and X.509.
"""

from __future__ import annotations

from typing import Any

from asn1crypto import core

__all__ = ["apply"]



def _wrap(cls: Any) -> None:
    original = cls.dump

    def dump(self: Any, force: bool = False) -> bytes:
        header = self._header
        if header is not None and len(header) > 2 and header[1] > 0x80 and header[-1] == 0x80:
            self._header = None
        return original(self, force)  # type: ignore[no-any-return]

    dump.__doc__ = original.__doc__
    dump._zhengyin_fixed = True  # type: ignore[attr-defined]
    cls.dump = dump


def apply() -> None:
    """Patch asn1crypto once per process (idempotent)."""
    if getattr(core.Asn1Value.dump, "_zhengyin_fixed", False):
        return
    # The classes whose own dump() contains the faulty check (asn1crypto 1.5.1 core.py).
    for cls in (core.Asn1Value, core.Choice, core.Primitive, core.Sequence, core.SequenceOf):
        _wrap(cls)
