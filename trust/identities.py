"""Service identities: made on first use, re-issued when they lack an EKU, pinned.

An identity (``registry``, ``trustlist``, ``audit`` …) carries one EKU per purpose it
signs (:mod:`zhengyin.trust.purposes`). One made before those EKUs existed, or before a purpose
was added, is re-issued for the same key on start-up or first use (audited; processes
meeting it at once take turns under an advisory lock, the later ones find it done).

Pins. The signers a verifier accepts for a purpose are the valid certificates of the
identity's current key: the current one (with the EKU) and the ones it replaced. Those
lack the EKU; they are *legacy* pins, accepted only for purposes whose tokens are kept
as evidence (receipts; display codes for their few minutes), so a receipt signed before
the upgrade verifies forever while its certificate is neither expired at its ``iat`` nor
revoked. Revoking a legacy certificate removes its pin. A verifier with only our root
does not accept legacy signers: without the EKU nothing binds them to the purpose.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session, aliased

from zhengyin.core.db import lock_for_transaction
from zhengyin.keys import KeyHandle

from .models import CertificateRecord, CertificateStatus, ServiceIdentity
from .pki import ISSUING, PKI, ROOT, IssuedCertificate
from .purposes import PURPOSES, SigningPurpose, ekus_of_identity
from .signerpaths import PinnedSigner, SignerTrust

__all__ = ["SYSTEM_ACTOR", "TOKEN_PURPOSES", "ServiceIdentities", "ServiceKey"]

SYSTEM_ACTOR = "system"
"""How the audit log names the service when it makes or re-issues an identity itself."""

_log = logging.getLogger(__name__)

# The purposes whose tokens people verify (the trust list pins their signers).
TOKEN_PURPOSES: tuple[SigningPurpose, ...] = tuple(purpose for purpose in PURPOSES
                                                   if purpose.typ)


def _key_certificates() -> Select[str, bytes, bool]:
    # Built once: composing it (with the alias) costs more than running it.
    current = aliased(CertificateRecord)
    return (select(ServiceIdentity.purpose, CertificateRecord.der,
                   CertificateRecord.id == ServiceIdentity.certificate_id)
            .join(current, current.id == ServiceIdentity.certificate_id)
            .join(CertificateRecord, CertificateRecord.key_sha1 == current.key_sha1)
            .where(ServiceIdentity.purpose.in_(bindparam("identities", expanding=True)),
                   CertificateRecord.status == CertificateStatus.VALID)
            .order_by(ServiceIdentity.purpose, CertificateRecord.id.desc()))


_KEY_CERTIFICATES = _key_certificates()


@dataclass(frozen=True)
class ServiceKey:
    """A service identity's current certificate and what a token signed with it carries."""

    certificate: IssuedCertificate
    chain_der: tuple[bytes, ...]
    """The certificate, then the CAs above it; the root left out (verifiers anchor it)."""

    @property
    def serial_hex(self) -> str:
        """The certificate's serial number (tokens name it as ``kid``)."""
        return self.certificate.serial_hex

    @property
    def key_handle(self) -> KeyHandle:
        """The identity's key in the key store."""
        return self.certificate.key_handle


class ServiceIdentities:
    """The service identities of one unit of work."""

    def __init__(self, session: Session, pki: PKI) -> None:
        self._session = session
        self._pki = pki

    def ensure(self, identity: str, *, at: datetime, actor: str, label: str | None = None
               ) -> IssuedCertificate:
        """The identity's current certificate: made if missing, re-issued if it lacks an EKU.

        Every worker process meets a missing or outdated identity on its first use; they
        take turns, and the later ones use what the first committed.
        """
        pki = self._pki
        if pki.has_identity(identity) and not pki.lacks_purpose_ekus(identity):
            return pki.identity(identity)
        lock_for_transaction(self._session, f"service-identity:{identity}")
        # Read again under the lock: another process may have committed meanwhile.
        row = self._session.get(ServiceIdentity, identity, populate_existing=True)
        if row is None:
            issued = pki.issue_service_certificate(identity, at=at, actor=actor, label=label)
        elif pki.lacks_purpose_ekus(identity):
            issued = pki.reissue_service_certificate(identity, at=at, actor=actor)
        else:
            return pki.identity(identity)
        self._session.flush()
        return issued

    def ensure_chain(self, identity: str, *, at: datetime, actor: str, label: str | None = None
                     ) -> ServiceKey:
        """:meth:`ensure`, with the chain its tokens carry (the caller's unit must write)."""
        issued = self.ensure(identity, at=at, actor=actor, label=label)
        return ServiceKey(issued, tuple(bytes(certificate.dump())
                                        for certificate in self._pki.chain(issued)[:-1]))

    def upgrade(self, *, at: datetime, actor: str) -> list[str]:
        """Re-issue every existing identity that lacks an EKU; the ones re-issued."""
        done = []
        for identity in sorted({purpose.identity for purpose in PURPOSES}):
            if self._pki.has_identity(identity) and self._pki.lacks_purpose_ekus(identity):
                self.ensure(identity, at=at, actor=actor)
                _log.info("service identity %s re-issued with its purposes' extended key "
                          "usage", identity)
                done.append(identity)
        return done

    def pins(self, purposes: Iterable[SigningPurpose] = TOKEN_PURPOSES
             ) -> dict[str, tuple[PinnedSigner, ...]]:
        """Per purpose, the certificates that sign it (current first, then legacy)."""
        chosen = tuple(purposes)
        return _pins(chosen, self._certificates_of({purpose.identity for purpose in chosen}))

    def signer_trust(self) -> SignerTrust:
        """This installation's root, issuing CA and pinned signers (one query)."""
        found = self._certificates_of({ROOT, ISSUING, *(p.identity for p in TOKEN_PURPOSES)})
        if not found.get(ROOT) or not found.get(ISSUING):
            self._pki.identity(ROOT)  # raises: the PKI is not initialised
        return SignerTrust(anchors=(found[ROOT][0],), intermediates=(found[ISSUING][0],),
                           pins=_pins(TOKEN_PURPOSES, found), source="this installation")

    def _certificates_of(self, identities: set[str]) -> dict[str, list[bytes]]:
        """Per identity, the DER of the valid certificates of its current key, current first.

        One statement: the current certificates, joined to every certificate of their key.
        """
        rows = self._session.execute(_KEY_CERTIFICATES,
                                     {"identities": sorted(identities)}).all()
        found: dict[str, list[bytes]] = {identity: [] for identity in identities}
        for identity, der, is_current in rows:
            if is_current:
                found[identity].insert(0, der)
            elif identity not in (ROOT, ISSUING):
                found[identity].append(der)
        return found


def _pins(purposes: Iterable[SigningPurpose], found: dict[str, list[bytes]]
          ) -> dict[str, tuple[PinnedSigner, ...]]:
    result = {}
    for purpose in purposes:
        pins = []
        for der in found.get(purpose.identity, ()):
            pin = PinnedSigner(der)
            usage = _ekus(pin)
            if purpose.eku in usage:
                pins.append(pin)
            elif purpose.legacy and not usage & set(ekus_of_identity(purpose.identity)):
                # Made before EKUs: pinned by itself. A certificate with other EKUs of
                # ours was made for other purposes and is never a legacy signer.
                pins.append(PinnedSigner(der, legacy=True))
        result[purpose.name] = tuple(pins)
    return result


def _ekus(pin: PinnedSigner) -> set[str]:
    from cryptography import x509

    try:
        usage = pin.certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        return set()
    return {oid.dotted_string for oid in usage.value}
