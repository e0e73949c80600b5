"""Which keys and certificates audit checkpoints are verified with.

The certificate rows live in the database that the audit log guards, so they cannot vouch
for themselves: whoever can write the database could add a certificate of their own key
and re-sign checkpoints over a rewritten chain. A checkpoint's key is therefore read from
the key store (outside the database) and must be one this service generated for its audit
identity, which the certificate must certify.
"""

from __future__ import annotations

from cryptography import x509
from sqlalchemy.orm import Session

from zhengyin.keys import KeyHandle, KeyStore, KeyStoreError, PublicKey

from .auditverify import AuditVerification, verify_audit_chain
from .errors import CertificateNotFoundError
from .models import CertificateRecord
from .pki import AUDIT, PKI, ROOT

__all__ = ["AuditKeys"]


class AuditKeys:
    """Looks up checkpoint keys and certificate chains for verification and export."""

    def __init__(self, session: Session, pki: PKI, keystore: KeyStore) -> None:
        self._session = session
        self._pki = pki
        self._keys = keystore

    def verify_chain(self, *, every: int) -> AuditVerification:
        """Recompute the chain and check each checkpoint with the key-store key that made it."""
        return verify_audit_chain(self._session, self.key_of, every=every)

    def key_of(self, serial_hex: str) -> PublicKey:
        """The key that signs checkpoints under certificate ``serial_hex``, from the key store.

        Raises :class:`CertificateNotFoundError` unless the certificate's key is a key of
        this store labelled for the audit identity.
        """
        record = self._pki.record(serial_hex)
        refused = CertificateNotFoundError(
            f"certificate {serial_hex} is not one of this service's audit identities",
            hint="its key is not the audit key held in the key store")
        try:
            handle = KeyHandle.parse(record.key_handle or "")
            label = self._keys.info(handle).label
            held = self._keys.public_key(handle)
        except KeyStoreError:
            raise refused from None
        certified = x509.load_der_x509_certificate(record.der).public_key()
        if label != f"zhengyin {AUDIT}" or held != certified:
            raise refused
        return held

    def chain_of(self, serial_hex: str) -> list[bytes]:
        """Certificate ``serial_hex`` and its CAs' certificates, without the root (DER)."""
        record: CertificateRecord | None = self._pki.record(serial_hex)
        chain = []
        while record is not None and record.issuer_id is not None:
            chain.append(record.der)
            record = self._session.get(CertificateRecord, record.issuer_id)
        return chain

    def root(self) -> x509.Certificate:
        """This service's root certificate, as the database holds it."""
        return x509.load_der_x509_certificate(self._pki.identity(ROOT).der)
