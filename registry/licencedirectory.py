"""The licence registry as verification sees it (implements trust.validation.LicenceDirectory).

Only what anyone may learn about a licence: type, issuer, validity, status now and at the
signing time, and the hash of the PDF issued for the version; never the holder. A
document is found by the digest of its signed revision (the bytes a seal's signature
covers): a licence's issued PDF by ``Licence.signed_sha256``, a use-copy (加注件) the
registry made by ``LicenceUseCopy.signed_sha256``, in one indexed query.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from zhengyin.trust.validation.directories import LicenceRecord, LicenceState

from .catalogue import TypeVersions
from .errors import LicenceNotFoundError
from .filestore import FileStore
from .licences import LicenceQuery, Reader
from .lifecycle import effective_status, status_on
from .models import Licence, LicenceUseCopy
from .sealing import LicenceSealer

__all__ = ["RegistryLicenceDirectory"]

class RegistryLicenceDirectory:
    """Licence lookups for verification, within the caller's unit of work."""

    def __init__(self, session: Session, files: FileStore, *,
                 versions: TypeVersions | None = None) -> None:
        self._session = session
        self._query = LicenceQuery(session, versions=versions)
        self._files = files

    def _find(self, identifier: str) -> Licence | None:
        try:
            return self._query.get(identifier, Reader(everything=True))
        except LicenceNotFoundError:
            return None

    def licence(self, identifier: str, *, at: datetime, signed_at: datetime | None
                ) -> LicenceRecord | None:
        """The licence with this identifier, its state now and at ``signed_at``."""
        licence = self._find(identifier)
        return self._record(licence, at, signed_at) if licence is not None else None

    def licence_by_signed_digest(self, signed_sha256: str, *, at: datetime,
                                 signed_at: datetime) -> LicenceRecord | None:
        """The licence whose issued PDF, or a use-copy of which, has a signed revision
        with this SHA-256; its state now and when that revision was sealed.

        One query, three index branches (``licences.signed_sha256``, ``pdf_sha256``,
        the use-copies' ``signed_sha256`` then the primary key), at most a row each. The
        issued file's ``pdf_sha256`` stands in for a row whose signed digest was never
        recorded (a born-sealed file is its own signed revision: migration 0014); the
        NULL test is made here, not in SQL, where a planner may scan every unsealed row.
        """
        copy_of = (select(LicenceUseCopy.licence_id)
                   .where(LicenceUseCopy.signed_sha256 == signed_sha256).scalar_subquery())
        rows = self._session.scalars(select(Licence).where(or_(
            Licence.signed_sha256 == signed_sha256, Licence.pdf_sha256 == signed_sha256,
            Licence.id == copy_of)).limit(3)).all()
        for licence in rows:
            if licence.signed_sha256 == signed_sha256 or (
                    licence.signed_sha256 is None and licence.pdf_sha256 == signed_sha256):
                return self._record(licence, at, signed_at)
        for licence in rows:
            if licence.pdf_sha256 != signed_sha256:  # found by the use-copy branch
                return replace(self._record(licence, at, signed_at), use_copy=True)
        return None

    def _record(self, licence: Licence, at: datetime, signed_at: datetime | None
                ) -> LicenceRecord:
        successor = self._session.get(Licence, licence.superseded_by_id) \
            if licence.superseded_by_id else None
        at_signing = None
        if signed_at is not None:
            moment = signed_at
            if signed_at < licence.issued_at <= signed_at + timedelta(seconds=1):
                # Time-stamps carry whole seconds, the row microseconds: a licence sealed
                # as it was issued has a time-stamp up to a second before ``issued_at``.
                moment = licence.issued_at
            if licence.status_changed_at <= licence.issued_at:
                # Never changed since issue: only the issue event exists (no query).
                at_signing = status_on(licence, [], moment, LicenceSealer.today(moment))
            else:
                at_signing = self._query.status_at(licence, moment)
        return LicenceRecord(
            identifier=licence.identifier,
            type_name=self._query.type_name(licence.type_id),
            issuer_name=licence.issuer_name, issuer_code=licence.issuer_code,
            version=licence.version, valid_from=licence.valid_from,
            valid_until=licence.valid_until,
            state_now=LicenceState(effective_status(licence, LicenceSealer.today(at)).value),
            state_at_signing=LicenceState(at_signing.value) if at_signing else None,
            pdf_sha256=licence.pdf_sha256,
            superseded_by=successor.identifier if successor else None,
        )

    def issued_pdf(self, identifier: str) -> bytes | None:
        """The sealed PDF issued for this licence version (None before it is sealed)."""
        licence = self._find(identifier)
        if licence is None or licence.pdf_sha256 is None:
            return None
        return self._files.get(licence.pdf_sha256)
