"""Content-addressed file store (sha256), on local disk by default.

The database row is the source of truth: a file is written (and fsynced) first and the
row that references it commits last, so a crash can leave only an unreferenced file,
which :func:`sweep` removes once it is older than a grace period.
"""

from __future__ import annotations

import abc
import hashlib
import os
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import FileStoreError

__all__ = ["FileStore", "LocalFileStore", "SweepReport", "sweep"]

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class FileStore(abc.ABC):
    """Immutable blobs addressed by their SHA-256."""

    @abc.abstractmethod
    def put(self, data: bytes) -> str:
        """Store ``data`` durably; returns its hex SHA-256 (idempotent)."""

    @abc.abstractmethod
    def get(self, digest: str) -> bytes:
        """The bytes stored under ``digest``."""

    @abc.abstractmethod
    def exists(self, digest: str) -> bool:
        """Whether a blob is stored."""

    @abc.abstractmethod
    def delete(self, digest: str) -> None:
        """Remove a blob (only the sweeper does this)."""

    @abc.abstractmethod
    def iter_older_than(self, seconds: float) -> Iterator[str]:
        """Digests of blobs written more than ``seconds`` ago."""


class LocalFileStore(FileStore):
    """Blobs as files ``<root>/<ab>/<cd>/<sha256>``, written atomically and fsynced."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._tmp = root / "tmp"
        self._tmp.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"LocalFileStore({str(self.root)!r})"

    def _path(self, digest: str) -> Path:
        if not _SHA256.match(digest):
            raise FileStoreError(f"{digest!r} is not a SHA-256 hex digest")
        return self.root / digest[:2] / digest[2:4] / digest

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        path = self._path(digest)
        if path.exists():
            return digest
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._tmp / f"{digest}.{uuid.uuid4().hex}"
        try:
            with open(tmp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
            directory = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise FileStoreError(f"cannot write to the file store at {self.root}: "
                                 f"{exc.strerror}") from None
        return digest

    def get(self, digest: str) -> bytes:
        try:
            return self._path(digest).read_bytes()
        except FileNotFoundError:
            raise FileStoreError(f"file {digest} is missing from the store") from None

    def exists(self, digest: str) -> bool:
        return self._path(digest).exists()

    def delete(self, digest: str) -> None:
        self._path(digest).unlink(missing_ok=True)

    def iter_older_than(self, seconds: float) -> Iterator[str]:
        cutoff = time.time() - seconds
        for path in self.root.glob("??/??/*"):
            if _SHA256.match(path.name) and path.stat().st_mtime < cutoff:
                yield path.name
        # Leftovers of interrupted writes.
        for path in self._tmp.iterdir():
            if path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)


@dataclass(frozen=True)
class SweepReport:
    """What a sweep looked at and removed."""

    examined: int
    removed: list[str]


def sweep(store: FileStore, referenced: Callable[[list[str]], Iterable[str]], *,
          grace_seconds: float = 3600, batch: int = 500, dry_run: bool = False) -> SweepReport:
    """Remove blobs older than the grace period that no row references.

    ``referenced`` answers, for a batch of digests, which of them some table uses. The
    grace period keeps files of transactions still in flight.
    """
    examined, removed = 0, []
    pending: list[str] = []

    def flush() -> None:
        used = set(referenced(pending))
        for digest in pending:
            if digest not in used:
                removed.append(digest)
                if not dry_run:
                    store.delete(digest)
        pending.clear()

    for digest in store.iter_older_than(grace_seconds):
        examined += 1
        pending.append(digest)
        if len(pending) >= batch:
            flush()
    if pending:
        flush()
    return SweepReport(examined, removed)
