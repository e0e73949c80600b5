"""Reports shown on the public verification page, kept 15 minutes for their download links.

The links (``/verify/reports/{token}.pdf|.json``) must work whichever worker process of
``serve --workers N`` (or node) answers them, so the report is kept in the database, not
in one process's memory: as JSON (pydantic's round trip of the report's dataclasses,
bytes as base64; seal images left out, the downloads never show them), compressed, under
the SHA-256 of a random token. Rows past their expiry are deleted whenever a report is
kept.
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
import zlib
from datetime import datetime, timedelta
from functools import cache

from pydantic import BaseModel, ConfigDict
from sqlalchemy import delete
from sqlalchemy.orm import Session

from zhengyin.api.models import KeptReport
from zhengyin.trust.validation import VerificationReport

__all__ = ["REPORT_LIFETIME", "KeptReports", "find_report", "keep_report"]

REPORT_LIFETIME = timedelta(minutes=15)


class _Kept(BaseModel):
    """The stored form (versioned, STYLE §3)."""

    model_config = ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")

    v: int = 1
    report: VerificationReport


@cache
def _schema() -> type[_Kept]:
    # Building the validator walks every dataclass of the report once (about 12 ms).
    _Kept.model_rebuild()
    return _Kept


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _without_images(report: VerificationReport) -> VerificationReport:
    signatures = tuple(
        dataclasses.replace(item, seal=dataclasses.replace(item.seal, image_png=None))
        if item.seal is not None and item.seal.image_png is not None else item
        for item in report.signatures)
    return dataclasses.replace(report, signatures=signatures)


def keep_report(session: Session, report: VerificationReport, *, at: datetime) -> str:
    """Keep ``report`` until ``at`` + 15 minutes; the token that names it in the links."""
    token = secrets.token_urlsafe(18)
    data = _schema()(report=_without_images(report)).model_dump_json().encode("utf-8")
    session.execute(delete(KeptReport).where(KeptReport.expires_at <= at))
    session.add(KeptReport(token_sha256=_digest(token), expires_at=at + REPORT_LIFETIME,
                           report=zlib.compress(data, 6)))
    session.flush()
    return token


def find_report(session: Session, token: str, *, at: datetime) -> VerificationReport | None:
    """The report kept under ``token``, while it is fresh."""
    if len(token) > 64:
        return None
    row = session.get(KeptReport, _digest(token))
    if row is None or row.expires_at <= at:
        return None
    return _schema().model_validate_json(zlib.decompress(row.report)).report


class KeptReports:
    """The kept reports of one unit of work (what the public page's links name)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def keep(self, report: VerificationReport, *, at: datetime) -> str:
        """See :func:`keep_report`."""
        return keep_report(self._session, report, at=at)

    def find(self, token: str, *, at: datetime) -> VerificationReport | None:
        """See :func:`find_report`."""
        return find_report(self._session, token, at=at)
