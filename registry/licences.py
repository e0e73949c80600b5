"""Reading licences: by identifier, holder, type or issuer, keyset-paged; public status.

Who may see what is decided here from the reader's standing, so every entry point
(API, pages, CLI) applies the same rule: an issuer sees the licences its organisation
issued, an administrator sees all, a holder sees their own, the public sees only an
identifier's type, status and validity.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, aliased

from .catalogue import TypeVersions
from .errors import LicenceNotFoundError
from .identifiers import LicenceIdentifier
from .lifecycle import effective_status, status_on
from .models import Licence, LicenceEvent, LicenceStatus, LicenceType
from .sealing import LicenceSealer

__all__ = ["LicenceListing", "LicenceQuery", "PublicStatus", "Reader"]


@dataclass(frozen=True)
class Reader:
    """Who reads: an organisation (issuer), a holder, or everyone (administrators)."""

    issuer_code: str | None = None
    holder_code: str | None = None
    everything: bool = False

    def may_see(self, licence: Licence) -> bool:
        """Whether this reader may see this licence."""
        if self.everything:
            return True
        if self.issuer_code is not None and licence.issuer_code == self.issuer_code:
            return True
        return self.holder_code is not None and licence.holder_code == self.holder_code


@dataclass(frozen=True)
class PublicStatus:
    """What anyone may learn about an identifier: no personal data."""

    identifier: str
    type_name: str
    status: LicenceStatus
    valid_from: date
    valid_until: date | None
    superseded_by: str | None


@dataclass(frozen=True)
class LicenceListing:
    """A licence as its readers see it: the row, its type version, its status on the day,
    and the identifiers of the versions before and after it."""

    licence: Licence
    licence_type: LicenceType
    status: LicenceStatus
    previous: str | None
    superseded_by: str | None


_Successor = aliased(Licence)

# Built once: every QR scan runs it. Only the columns the public may learn, with the
# successor's identifier joined in: one Core statement, no ORM objects.
_PUBLIC_STATUS = (
    select(Licence.identifier, Licence.type_id, Licence.status, Licence.valid_from,
           Licence.valid_until, _Successor.identifier.label("successor"))
    .outerjoin(_Successor, _Successor.id == Licence.superseded_by_id)
    .where(Licence.identifier == bindparam("identifier"))
)


class LicenceQuery:
    """Read-side access to licences."""

    def __init__(self, session: Session, *, versions: TypeVersions | None = None) -> None:
        self._session = session
        # Stored type versions (immutable rows), shared by a process's units of work over
        # one database: they spare the public status read and licence reads a query.
        self._versions = versions if versions is not None else TypeVersions()

    @staticmethod
    def _canonical(identifier: str) -> str:
        """The identifier as stored; a malformed one is simply not found (no oracle)."""
        try:
            return str(LicenceIdentifier.parse(identifier))
        except Exception:
            raise LicenceNotFoundError(f"no licence {identifier!r}") from None

    def get(self, identifier: str, reader: Reader) -> Licence:
        """One licence the reader may see; anything else is 'not found' (no oracle)."""
        canonical = self._canonical(identifier)
        licence = self._session.scalar(select(Licence).where(Licence.identifier == canonical))
        if licence is None or not reader.may_see(licence):
            raise LicenceNotFoundError(f"no licence {identifier!r}")
        return licence

    def page(self, reader: Reader, *, holder_code: str | None = None,
             type_code: str | None = None, issuer_code: str | None = None,
             after_id: int = 0, limit: int = 50) -> list[Licence]:
        """Licences the reader may see, filtered, in id order after ``after_id``."""
        query = select(Licence).where(Licence.id > after_id)
        if not reader.everything:
            if reader.issuer_code is not None:
                query = query.where(Licence.issuer_code == reader.issuer_code)
            elif reader.holder_code is not None:
                query = query.where(Licence.holder_code == reader.holder_code)
            else:
                return []
        if holder_code:
            query = query.where(Licence.holder_code == holder_code.strip().upper())
        if type_code:
            query = query.where(Licence.type_code == type_code.strip().upper())
        if issuer_code:
            query = query.where(Licence.issuer_code == issuer_code.strip().upper())
        return list(self._session.scalars(query.order_by(Licence.id).limit(limit)))

    def listed(self, licences: Sequence[Licence], *, at: datetime) -> list[LicenceListing]:
        """The licences as listed at ``at``; one query for all their neighbours' identifiers
        (a page of 200 is not 400 point reads), none when no licence has one."""
        linked = {row_id for licence in licences
                  for row_id in (licence.previous_id, licence.superseded_by_id)
                  if row_id is not None}
        identifiers: dict[int, str] = {}
        if linked:
            identifiers = {row_id: identifier for row_id, identifier in self._session.execute(
                select(Licence.id, Licence.identifier).where(Licence.id.in_(linked)))}
        today = LicenceSealer.today(at)
        return [LicenceListing(
            licence=licence, licence_type=self.licence_type(licence),
            status=effective_status(licence, today),
            previous=identifiers.get(licence.previous_id) if licence.previous_id else None,
            superseded_by=identifiers.get(licence.superseded_by_id)
            if licence.superseded_by_id else None,
        ) for licence in licences]

    def type_name(self, type_id: int) -> str:
        """The name of a stored type version."""
        return self._versions.name(self._session, type_id)

    def licence_type(self, licence: Licence) -> LicenceType:
        """The type version a licence was issued under."""
        return self._versions.get(self._session, licence.type_id)

    def history(self, licence: Licence) -> list[LicenceEvent]:
        """The licence's events in effective order."""
        return list(self._session.scalars(
            select(LicenceEvent).where(LicenceEvent.licence_id == licence.id)
            .order_by(LicenceEvent.effective_at, LicenceEvent.id)
        ))

    def status_at(self, licence: Licence, moment: datetime) -> LicenceStatus | None:
        """The status at ``moment`` (None before the licence existed)."""
        return status_on(licence, self.history(licence), moment, LicenceSealer.today(moment))

    def public_status(self, identifier: str, *, at: datetime) -> PublicStatus:
        """Type, status and validity of an identifier; nothing about its holder."""
        row = self._session.connection().execute(
            _PUBLIC_STATUS, {"identifier": self._canonical(identifier)}).one_or_none()
        if row is None:
            raise LicenceNotFoundError(f"no licence {identifier!r}")
        return PublicStatus(
            identifier=row.identifier,
            type_name=self.type_name(row.type_id),
            status=effective_status(row, LicenceSealer.today(at)),
            valid_from=row.valid_from,
            valid_until=row.valid_until,
            superseded_by=row.successor,
        )
