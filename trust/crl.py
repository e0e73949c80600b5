"""Certificate revocation lists for the root and issuing CAs.

A CRL is signed once and served until it is half-way to its nextUpdate or a revocation
marks it stale; the CRL number only ever grows (the state row is locked while signing).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from asn1crypto import core, crl, x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhengyin.keys import KeyAlgorithm, KeyStore

from .asn1sign import sign_bytes, signature_algorithm
from .errors import TrustError
from .models import CertificateRecord, CertificateStatus, CRLState, RevocationReason
from .pki import ISSUING, PKI, ROOT, _time

__all__ = ["CRLPublisher"]


class CRLPublisher:
    """Serves a current CRL for a CA purpose (``root`` or ``issuing``)."""

    def __init__(self, session: Session, keystore: KeyStore, pki: PKI) -> None:
        self._session = session
        self._keys = keystore
        self._pki = pki

    def current(self, purpose: str, *, at: datetime) -> bytes:
        """DER of a CRL that is valid at ``at``, signing a new one when needed."""
        # Only the CAs publish CRLs; the OCSP or TSA key must never sign one.
        if purpose not in (ROOT, ISSUING):
            raise TrustError(f"{purpose!r} is not a certificate authority; "
                             "CRLs exist for root and issuing")
        ca = self._pki.identity(purpose)
        state = self._session.get(CRLState, ca.record_id, with_for_update=True)
        lifetime = self._pki.config.crl_lifetime
        if (
            state is not None
            and not state.stale
            and state.der is not None
            and state.this_update is not None
            and state.this_update <= at < state.this_update + lifetime / 2
        ):
            return state.der
        if state is None:
            state = CRLState(ca_id=ca.record_id, crl_number=0, stale=True)
            self._session.add(state)
        number = state.crl_number + 1
        der = self._sign(ca.record_id, number, at)
        state.crl_number = number
        state.this_update = at.replace(microsecond=0)
        state.next_update = (at + lifetime).replace(microsecond=0)
        state.der = der
        state.stale = False
        self._session.flush()
        return der

    def _sign(self, ca_id: int, number: int, at: datetime) -> bytes:
        ca_record = self._session.get(CertificateRecord, ca_id)
        assert ca_record is not None
        ca_cert = x509.Certificate.load(ca_record.der)

        revoked_rows = self._session.scalars(
            select(CertificateRecord)
            .where(CertificateRecord.issuer_id == ca_id)
            .where(CertificateRecord.status == CertificateStatus.REVOKED)
            .order_by(CertificateRecord.id)
        ).all()
        revoked: list[dict[str, Any]] = []
        for row in revoked_rows:
            assert row.revoked_at is not None
            entry: dict[str, Any] = {
                "user_certificate": int(row.serial_hex, 16),
                "revocation_date": _time(row.revoked_at),
            }
            reason = row.revocation_reason
            # RFC 5280 §5.3.1: omit the reason code rather than use "unspecified".
            if reason is not None and reason is not RevocationReason.UNSPECIFIED:
                entry["crl_entry_extensions"] = [
                    {"extn_id": "crl_reason", "critical": False, "extn_value": reason.value}
                ]
            revoked.append(entry)

        handle = self._pki.identity_handle_for(ca_id)
        algorithm = KeyAlgorithm.of_public_key(self._keys.public_key(handle))
        sig_alg = signature_algorithm(algorithm)
        tbs_fields: dict[str, Any] = {
            "version": "v2",
            "signature": sig_alg,
            "issuer": ca_cert.subject,
            "this_update": _time(at),
            "next_update": _time(at + self._pki.config.crl_lifetime),
            "crl_extensions": [
                {"extn_id": "crl_number", "critical": False, "extn_value": number},
                {"extn_id": "authority_key_identifier", "critical": False,
                 "extn_value": {"key_identifier": ca_cert.key_identifier}},
            ],
        }
        # RFC 5280 §5.1.2.6: an empty list must be absent, not empty.
        if revoked:
            tbs_fields["revoked_certificates"] = revoked
        tbs = crl.TbsCertList(tbs_fields)
        signature = sign_bytes(self._keys, handle, algorithm, tbs.dump())
        return bytes(
            crl.CertificateList({
                "tbs_cert_list": tbs,
                "signature_algorithm": sig_alg,
                "signature": core.OctetBitString(signature),
            }).dump()
        )
