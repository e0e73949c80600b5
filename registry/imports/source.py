"""The file a bulk import reads: hashed once, then streamed line by line (never loaded).

The SHA-256 names the batch (re-running the same command finds it) and refuses a
different file under the same batch. Lines are read with a length cap, so one enormous
line costs bounded memory and becomes a row error instead of an out-of-memory crash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import ImportSourceError
from .rows import MAX_LINE_BYTES

__all__ = ["ImportSource", "SourceLine"]

_READ = 1 << 20
_MARKERS = (b"identifier", b"serial", b"\\u")


@dataclass(frozen=True, slots=True)
class SourceLine:
    """One non-blank line: its 1-based line number, its bytes, the offset after it."""

    row: int
    data: bytes
    offset: int


@dataclass(frozen=True)
class ImportSource:
    """A JSON Lines file and its digest."""

    path: Path
    sha256: str
    size: int
    names_serials: bool = True
    """Whether any row may keep an identifier or serial (else none needs reserving)."""

    @classmethod
    def open(cls, path: Path) -> ImportSource:
        """Hash the file (streaming); a missing or empty file is refused.

        The same pass notes whether the file mentions ``identifier`` or ``serial`` at all
        (or has ``\\u`` escapes, which could spell them), so a file of new licences only
        is not read a second time for serials to reserve.
        """
        try:
            digest = hashlib.sha256()
            size, names_serials, tail = 0, False, b""
            with path.open("rb") as handle:
                while block := handle.read(_READ):
                    digest.update(block)
                    size += len(block)
                    if not names_serials:
                        window = tail + block  # a marker may straddle two blocks
                        names_serials = any(marker in window for marker in _MARKERS)
                        tail = block[-16:]
        except OSError as exc:
            raise ImportSourceError(f"cannot read {path}: {exc.strerror}") from None
        if size == 0:
            raise ImportSourceError(f"{path} is empty", hint="one JSON object per line")
        return cls(path, digest.hexdigest(), size, names_serials)

    def lines(self, *, skip: int = 0) -> Iterator[SourceLine]:
        """Non-blank lines after the first ``skip`` lines.

        A line longer than the cap is yielded cut at cap + 1 bytes (the row check
        refuses it) and the rest of it is skipped.
        """
        with self.path.open("rb") as handle:
            number = offset = 0
            while True:
                line = handle.readline(MAX_LINE_BYTES + 1)
                if not line:
                    return
                offset += len(line)
                if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
                    while rest := handle.readline(_READ):
                        offset += len(rest)
                        if rest.endswith(b"\n"):
                            break
                number += 1
                if number <= skip or not line.strip():
                    continue
                yield SourceLine(number, line, offset)
