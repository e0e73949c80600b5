"""Tables of the API layer: verification reports kept for the public page's links."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from zhengyin.core.db import Base, UTCDateTime

__all__ = ["KeptReport"]


class KeptReport(Base):
    """A verification report shown on the public page, kept for its download links.

    Kept in the database, not in a process's memory, so that any worker of
    ``serve --workers N`` (or any node) answers the links; only a SHA-256 of the token
    is stored, and rows past ``expires_at`` are deleted.
    """

    __tablename__ = "kept_reports"

    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    report: Mapped[bytes] = mapped_column(LargeBinary)
    """The report as zlib-compressed JSON (:mod:`zhengyin.api.keptreports`)."""
