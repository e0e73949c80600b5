"""External trust anchors: root CAs, besides ours, whose certificates verification accepts.

An administrator adds a root (PEM or DER) that another authority publishes, so documents
signed under it verify; removing it is recorded, never deleted, and both are audited.
Our own root is always an anchor and is not stored here.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from asn1crypto import pem, x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhengyin.core.audit import AuditLog
from zhengyin.core.locks import lock_name, lock_rows

from .errors import TrustError
from .models import TrustAnchor, TrustAnchorStatus

__all__ = ["TrustAnchorError", "TrustAnchorService", "parse_certificate"]


class TrustAnchorError(TrustError):
    """A certificate cannot be added as a trust anchor."""

    code = "trust_anchor.invalid"


def parse_certificate(data: bytes) -> x509.Certificate:
    """One X.509 certificate from PEM or DER, fully parsed."""
    try:
        if pem.detect(data):
            _type, _headers, data = pem.unarmor(data)
        certificate = x509.Certificate.load(data, strict=True)
        certificate.native  # noqa: B018 - parse every field now
    except (ValueError, TypeError, KeyError) as exc:
        raise TrustAnchorError("the file is not an X.509 certificate",
                               hint="give the root CA certificate as PEM or DER") from exc
    return certificate


class TrustAnchorService:
    """Adds, lists and removes external trust anchors in the caller's unit of work."""

    def __init__(self, session: Session, audit: AuditLog) -> None:
        self._session = session
        self._audit = audit

    def add(self, data: bytes, *, note: str | None, at: datetime, actor: str) -> TrustAnchor:
        """Trust a root CA certificate (idempotent; re-adds a removed one)."""
        certificate = parse_certificate(data)
        constraints = certificate.basic_constraints_value
        if constraints is None or not constraints["ca"].native:
            raise TrustAnchorError("the certificate is not a CA certificate",
                                   hint="add the authority's root, not a signer's certificate")
        der = bytes(certificate.dump())
        digest = hashlib.sha256(der).hexdigest()
        lock_name(self._session, f"trust-anchor:{digest}")  # added or re-added once
        anchor = self._session.scalar(select(TrustAnchor).where(TrustAnchor.sha256 == digest))
        if anchor is None:
            anchor = TrustAnchor(
                sha256=digest, subject=certificate.subject.human_friendly, der=der,
                not_before=certificate.not_valid_before, not_after=certificate.not_valid_after,
                note=note, status=TrustAnchorStatus.ACTIVE, added_at=at, added_by=actor)
            self._session.add(anchor)
        elif anchor.status is not TrustAnchorStatus.ACTIVE:
            anchor.status, anchor.removed_at, anchor.removed_by = \
                TrustAnchorStatus.ACTIVE, None, None
            anchor.added_at, anchor.added_by, anchor.note = at, actor, note or anchor.note
        else:
            return anchor
        self._session.flush()
        self._audit.append(actor=actor, action="trust_anchor.added", object_type="trust_anchor",
                           object_id=digest, at=at,
                           details={"subject": anchor.subject, "note": note})
        return anchor

    def active(self) -> list[TrustAnchor]:
        """Anchors in force."""
        return list(self._session.scalars(
            select(TrustAnchor).where(TrustAnchor.status == TrustAnchorStatus.ACTIVE)
            .order_by(TrustAnchor.id)))

    def all(self) -> list[TrustAnchor]:
        """Every anchor ever added, removed ones included."""
        return list(self._session.scalars(select(TrustAnchor).order_by(TrustAnchor.id)))

    def remove(self, sha256: str, *, at: datetime, actor: str) -> TrustAnchor:
        """Stop trusting an anchor (kept, marked removed)."""
        found = lock_rows(self._session, select(TrustAnchor)
                          .where(TrustAnchor.sha256 == sha256.strip().lower()))
        if not found:
            raise TrustAnchorError(f"no trust anchor with SHA-256 {sha256}")
        anchor = found[0]
        if anchor.status is TrustAnchorStatus.ACTIVE:
            anchor.status, anchor.removed_at, anchor.removed_by = \
                TrustAnchorStatus.REMOVED, at, actor
            self._session.flush()
            self._audit.append(actor=actor, action="trust_anchor.removed",
                               object_type="trust_anchor", object_id=anchor.sha256, at=at,
                               details={"subject": anchor.subject})
        return anchor
