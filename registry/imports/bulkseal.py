"""Sealing many licence PDFs at once (bulk import with ``--seal-now``).

A :class:`SealJob` is picklable (the page's content, the seal's id, the signing time), so
the same jobs run in this process (:class:`InlineSealing`) or in a pool of worker
processes that each keep their own warm :class:`~zhengyin.registry.sealing.LicenceSealer` (the
``zhengyin`` command line builds one sized to the cores: signing is CPU-bound Python and
threads give nothing). Each job's PDF is written, fsynced, to the content-addressed store
by whoever sealed it, and only its digest travels back: the rows that reference the files
commit afterwards, so a crash leaves at most unreferenced files for ``zhengyin store
sweep``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from zhengyin.signing.models import Seal

from ..errors import RegistryError
from ..filestore import FileStore
from ..render import LicenceView
from ..sealing import IssuerSeal, LicenceSealer

__all__ = ["InlineSealing", "LicenceSealing", "SealJob", "SealedFile", "seal_jobs"]


@dataclass(frozen=True, slots=True)
class SealJob:
    """One licence page to certify with one seal at one time."""

    view: LicenceView
    seal_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class SealedFile:
    """A sealed PDF in the file store."""

    sha256: str
    size: int
    signed_sha256: str
    """SHA-256 of its signed revision
    (:attr:`~zhengyin.registry.sealing.SealedLicence.signed_sha256`)."""


class LicenceSealing(Protocol):
    """Seals jobs and stores their PDFs; results in the order of the jobs."""

    def seal_all(self, jobs: Sequence[SealJob]) -> list[SealedFile]:
        """Seal and store every job (any failure raises: the chunk is not written)."""
        ...


def seal_jobs(session: Session, sealer: LicenceSealer, files: FileStore,
              jobs: Sequence[SealJob]) -> list[SealedFile]:
    """Render, certify and store each job (the seal's material is read once per seal)."""
    results = []
    for job in jobs:
        seal = session.get(Seal, job.seal_id)
        if seal is None:
            raise RegistryError(f"seal {job.seal_id} does not exist")
        sealed = sealer.seal(session, job.view, IssuerSeal.of(seal), at=job.at)
        results.append(SealedFile(files.put(sealed.pdf), len(sealed.pdf), sealed.signed_sha256))
    return results


class InlineSealing:
    """Seals in the calling process (the API, tests, one-core machines)."""

    def __init__(self, sessions: Callable[[], AbstractContextManager[Session]],
                 sealer: LicenceSealer, files: FileStore) -> None:
        self._sessions = sessions
        self._sealer = sealer
        self._files = files

    def seal_all(self, jobs: Sequence[SealJob]) -> list[SealedFile]:
        """Seal one job after the other."""
        with self._sessions() as session:
            return seal_jobs(session, self._sealer, self._files, jobs)
