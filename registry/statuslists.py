"""Status lists: an entry for every licence version, and the signed list built from the rows.

Format, values and citations: :mod:`zhengyin.trust.statuslist` (draft-ietf-oauth-status-list-20).

Allocation. A list has :data:`LIST_SIZE` (2^20) entries of 4 bits. Every licence version
gets one entry at issuance, import or change, before its PDF is rendered (the index is
printed in the signed metadata). Following the draft's privacy advice (§11.4, §11.5:
large lists, "non-sequential, pseudo-random or random indices") the index is drawn
uniformly at random from the open list with a CSPRNG, so it says nothing about issue
order or volume; unused entries read VALID (0x00) like valid licences (§12.3), which hides
how many are used. A draw is claimed by inserting its ``status_list_slots`` row with
``ON CONFLICT DO NOTHING RETURNING``: one statement, no counter row every issuer updates
(no hot spot), and two processes drawing the same index at once cannot both get it
(the primary key decides; the loser draws again). When :data:`CLOSE_AFTER_COLLISIONS`
draws in a row hit taken entries, the list is about three quarters full: it is closed
and a new one opened.

Publication. A list's token is built from the rows on request (one indexed query for its
entries that are not valid, a 512 KiB array, zlib, one signature) and cached per process
by the list's ``version``, which every status change of one of its licences bumps in the
same transaction (:meth:`StatusLists.touch`): a change is visible at the next request.
The alternative, a bit array row rewritten on every change, makes each status change
rewrite 512 KiB under a row lock; ``bench/status_list.py`` measures the build.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Integer, Table, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from zhengyin.core.db import lock_for_transaction
from zhengyin.trust.statuslist import BITS, StatusValue, compress_entries, status_list_claims

from .errors import RegistryError
from .models import Licence, LicenceStatus, StatusList, StatusListSlot

__all__ = [
    "CLOSE_AFTER_COLLISIONS",
    "LIFETIME",
    "LIST_SIZE",
    "TTL",
    "PublishedList",
    "StatusListCache",
    "StatusListNotFoundError",
    "StatusLists",
    "status_list_uri",
]

LIST_SIZE = 1 << 20
TTL = timedelta(minutes=5)
"""``ttl`` and HTTP max-age: how long a relying party may cache a list before fetching."""
LIFETIME = timedelta(hours=24)
"""``exp`` - ``iat``: how long an offline verifier may rely on a downloaded list."""
CLOSE_AFTER_COLLISIONS = 8
_SLOTS = cast(Table, StatusListSlot.__table__)
_CLAIM_ARRAY = (
    postgresql.insert(_SLOTS)
    .from_select(["list_id", "idx"], select(
        bindparam("list_id", type_=_SLOTS.c.list_id.type),
        func.unnest(bindparam("indices", type_=postgresql.ARRAY(Integer)))))
    .on_conflict_do_nothing()
    .returning(_SLOTS.c.idx))
Signer = Callable[[dict[str, Any]], str]


class StatusListNotFoundError(RegistryError):
    """No status list with this id."""

    code = "status_list.not_found"


def status_list_uri(base_url: str, list_id: int) -> str:
    """The list's URI: the token's ``sub`` and the licence's ``uri`` (draft §5.1, §6.2)."""
    return f"{base_url.rstrip('/')}/status-lists/{list_id}"


@dataclass(frozen=True)
class PublishedList:
    """A signed Status List Token and what HTTP caching needs."""

    token: str
    list_id: int
    version: int
    issued_at: datetime
    etag: str
    ttl_seconds: int


class StatusListCache:
    """The last token built per list, per process (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[int, PublishedList] = {}

    def get(self, list_id: int, version: int, at: datetime) -> PublishedList | None:
        """The cached token if the list has not changed and it is younger than its ttl."""
        with self._lock:
            found = self._tokens.get(list_id)
        if found is None or found.version != version or at - found.issued_at >= TTL:
            return None
        return found

    def put(self, published: PublishedList) -> None:
        """Keep ``published`` as the list's current token."""
        with self._lock:
            self._tokens[published.list_id] = published


class StatusLists:
    """Allocation, change marks and publication, inside the caller's unit of work."""

    def __init__(self, session: Session, *, base_url: str,
                 cache: StatusListCache | None = None) -> None:
        self._session = session
        self._base_url = base_url
        self._cache = cache or StatusListCache()

    # ------------------------------------------------------------------ allocation

    def allocate(self, at: datetime, count: int = 1) -> list[tuple[int, int]]:
        """``count`` fresh (list id, index) entries, each at a random free index.

        Each round draws as many distinct indices as are still wanted and claims the free
        ones; a list where :data:`CLOSE_AFTER_COLLISIONS` draws or more came back taken,
        three in four of all, is closed and the next round draws from a new one.
        """
        found: list[tuple[int, int]] = []
        asked = missed = 0
        while len(found) < count:
            list_id = self._open_list(at)
            wanted = count - len(found)
            draws: set[int] = set()
            while len(draws) < wanted:
                draws.add(secrets.randbelow(LIST_SIZE))
            got = self._claim(list_id, sorted(draws))
            found += [(list_id, index) for index in got]
            asked, missed = asked + wanted, missed + wanted - len(got)
            if missed >= CLOSE_AFTER_COLLISIONS and 4 * missed >= 3 * asked:
                self._close(list_id, at)
                asked = missed = 0
        return found

    def _claim(self, list_id: int, indices: list[int]) -> list[int]:
        """The indices whose slot rows this statement inserted (the others were taken)."""
        dialect = self._session.get_bind().dialect.name
        if dialect == "postgresql":
            # One array parameter: the statement's text is the same for every chunk, so it
            # is compiled once (a VALUES row per index recompiled 2 binds a row per chunk
            # and cost bulk import about a quarter of its speed).
            claimed = self._session.execute(_CLAIM_ARRAY, {
                "list_id": list_id, "indices": indices}).scalars().all()
            return list(claimed)
        rows = [{"list_id": list_id, "idx": index} for index in indices]
        statement = sqlite.insert(_SLOTS).values(rows).on_conflict_do_nothing()
        claimed = self._session.execute(statement.returning(_SLOTS.c.idx)).scalars().all()
        return list(claimed)

    def _open_list(self, at: datetime) -> int:
        list_id = self._session.scalar(
            select(StatusList.id).where(StatusList.closed_at.is_(None))
            .order_by(StatusList.id.desc()).limit(1))
        if list_id is not None:
            return list_id
        # Processes that find none at once take turns; the later ones use the first's.
        lock_for_transaction(self._session, "status-list:open")
        list_id = self._session.scalar(
            select(StatusList.id).where(StatusList.closed_at.is_(None))
            .order_by(StatusList.id.desc()).limit(1))
        if list_id is not None:
            return list_id
        created = StatusList(bits=BITS, size=LIST_SIZE, version=0, created_at=at,
                             changed_at=at, closed_at=None)
        self._session.add(created)
        self._session.flush()
        return created.id

    def _close(self, list_id: int, at: datetime) -> None:
        self._session.execute(update(StatusList).where(StatusList.id == list_id)
                              .where(StatusList.closed_at.is_(None)).values(closed_at=at))

    # ------------------------------------------------------------------ changes

    def touch(self, list_id: int | None, at: datetime) -> None:
        """Mark the list changed (a licence on it changed status): rebuilt on next read."""
        if list_id is None:
            return
        self._session.execute(update(StatusList).where(StatusList.id == list_id)
                              .values(version=StatusList.version + 1, changed_at=at)
                              .execution_options(synchronize_session=False))

    # ------------------------------------------------------------------ publication

    def published(self, list_id: int, *, at: datetime, sign: Signer) -> PublishedList:
        """The list's current Status List Token (cached until it changes or its ttl)."""
        version = self._session.scalar(select(StatusList.version)
                                       .where(StatusList.id == list_id))
        if version is None:
            raise StatusListNotFoundError(f"no status list {list_id}")
        cached = self._cache.get(list_id, version, at)
        if cached is not None:
            return cached
        token = sign(self.claims(list_id, at=at))
        published = PublishedList(
            token=token, list_id=list_id, version=version, issued_at=at,
            etag=f'"{hashlib.sha256(token.encode()).hexdigest()[:32]}"',
            ttl_seconds=int(TTL.total_seconds()))
        self._cache.put(published)
        return published

    def claims(self, list_id: int, *, at: datetime) -> dict[str, Any]:
        """The token's claims, from the list's entries that are not valid."""
        size = self._session.scalar(select(StatusList.size).where(StatusList.id == list_id))
        if size is None:
            raise StatusListNotFoundError(f"no status list {list_id}")
        rows = self._session.execute(
            select(Licence.status_list_index, Licence.status)
            .where(Licence.status_list_id == list_id)
            .where(Licence.status != LicenceStatus.VALID)).all()
        entries = [(index, StatusValue.of_state(status.value)) for index, status in rows
                   if index is not None]
        return status_list_claims(
            uri=status_list_uri(self._base_url, list_id),
            lst=compress_entries(size, entries), at=at,
            lifetime_seconds=int(LIFETIME.total_seconds()),
            ttl_seconds=int(TTL.total_seconds()))
