"""Warm signers per seal for the PDFs we write ourselves (licences, verification reports).

Building a seal's signer costs milliseconds (the seal image decoded into appearance objects,
the certificate parsed, the CMS template pre-encoded and the signature sized), so each
process keeps one per seal and rebuilds it only when the seal's certificate changes (a
re-keyed seal gets a new one). Licence sealing and sealed verification reports share this
one cache.

Chain rule. The CMS carries the seal's certificate and the CAs that issued it, found by
walking the certificate's issuer links in the database, nearest first, and never "the
current issuing CA": right after a CA re-key, a seal certified by the previous CA still
chains only through that one. The walk stops before the root: verifiers trust the root
directly (it is their anchor), so embedding it would add bytes and nothing else.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from asn1crypto import x509 as asn1_x509
from sqlalchemy.orm import Session

from zhengyin.keys import KeyHandle, KeyStore
from zhengyin.trust.models import CertificateRecord

from ..errors import SealNotFoundError
from ..models import Seal
from ..timestamps import TimeStampClient
from .certified import SealAppearance
from .cms import CMSSigner

__all__ = ["SealSigner", "SealSigners", "issuer_chain"]


@dataclass(frozen=True)
class SealSigner:
    """A seal's appearance and CMS signer, for the certificate ``certificate_serial``."""

    certificate_serial: str
    appearance: SealAppearance
    cms: CMSSigner


def issuer_chain(session: Session, record: CertificateRecord) -> list[asn1_x509.Certificate]:
    """The CAs that issued ``record``, nearest first, by its issuer links; the root left out."""
    chain = []
    issuer_id = record.issuer_id
    while issuer_id is not None:
        issuer = session.get(CertificateRecord, issuer_id)
        if issuer is None or issuer.issuer_id is None:
            break  # the root is a trust anchor: not embedded
        chain.append(asn1_x509.Certificate.load(issuer.der))
        issuer_id = issuer.issuer_id
    return chain


class SealSigners:
    """Per seal, its warm :class:`SealSigner`; thread-safe, one per process."""

    def __init__(self, keystore: KeyStore,
                 timestamps: Callable[[], TimeStampClient | None]) -> None:
        self._keys = keystore
        self._timestamps = timestamps
        self._seals: dict[str, SealSigner] = {}
        self._lock = threading.Lock()

    def of(self, session: Session, seal_id: str, certificate_serial: str) -> SealSigner:
        """The signer of seal ``seal_id``; built again unless it is for ``certificate_serial``.

        The caller names the certificate it expects (known without loading the seal row,
        whose image is hundreds of KB), so a warm signer costs no query.
        """
        entry = self._seals.get(seal_id)
        if entry is not None and entry.certificate_serial == certificate_serial:
            return entry
        with self._lock:
            row = session.get(Seal, seal_id)
            if row is None:
                raise SealNotFoundError(f"seal {seal_id} does not exist")
            record = row.certificate
            entry = SealSigner(
                certificate_serial=record.serial_hex,
                appearance=SealAppearance.from_png(row.name, row.image_png),
                cms=CMSSigner(self._keys, KeyHandle.parse(row.key_handle),
                              asn1_x509.Certificate.load(record.der),
                              issuer_chain(session, record), timestamps=self._timestamps()),
            )
            self._seals[seal_id] = entry
            return entry
