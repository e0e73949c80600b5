"""Reading what checks disclosed: the use records (用证记录) and a check's own receipt.

Who may read which uses is the caller's standing, decided by the API (an issuer its own
licences', an administrator all, a holder theirs); this module only pages them.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import LicenceCheck, LicenceUse

__all__ = ["LicenceUses"]


class LicenceUses:
    """Use records and checks of one unit of work, keyset-paged by row id."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def page(self, *, issuer_code: str | None, identifier: str | None = None,
             after: int = 0, limit: int = 100) -> list[LicenceUse]:
        """Uses after row ``after``, oldest first; ``issuer_code`` None: every issuer's."""
        query = select(LicenceUse).where(LicenceUse.id > after)
        if issuer_code is not None:
            query = query.where(LicenceUse.issuer_code == issuer_code)
        if identifier:
            query = query.where(LicenceUse.identifier == identifier)
        return list(self._session.scalars(query.order_by(LicenceUse.id).limit(limit)))

    def of_holder(self, holder_code: str, *, after: int = 0, limit: int = 100
                  ) -> list[LicenceUse]:
        """Uses of one holder's licences, newest first."""
        return list(self._session.scalars(
            select(LicenceUse).where(LicenceUse.holder_code == holder_code)
            .where(LicenceUse.id > after).order_by(LicenceUse.id.desc()).limit(limit)))

    def check_of(self, check_id: str, *, client_id: str) -> LicenceCheck | None:
        """The check, if the client ran it (another client's is as good as none)."""
        check = self._session.get(LicenceCheck, check_id)
        if check is None or check.client_id != client_id:
            return None
        return check
