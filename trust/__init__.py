"""The trust service's PKI: certificates, revocation (CRL, OCSP), time-stamping, validation.

Also the signed artefacts that rest on it: compact JWS verified along signer paths, trust
lists, status lists, the audit log's checkpoints. The platform it stands on (database,
audit log, API clients, codes, masking, JOSE encoding, DER) is :mod:`zhengyin.core`.
"""

from __future__ import annotations

from . import _asn1fix
from .errors import (
    CertificateNotFoundError,
    PKINotInitialisedError,
    RevocationError,
    TimeStampError,
    TrustError,
)

# asn1crypto 1.5.1 re-encodes any structure whose length ends in byte 0x80 as if it were
# indefinite-length, at exponential cost (seconds per CMS); see trust/_asn1fix.py.
_asn1fix.apply()

__all__ = [
    "CertificateNotFoundError",
    "PKINotInitialisedError",
    "RevocationError",
    "TimeStampError",
    "TrustError",
]
