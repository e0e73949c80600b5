"""The PKI, revocation (CRL, OCSP), time-stamping, API clients, the audit log and validation.

Shared plumbing every upper layer uses lives here too: the declarative base and engines
(:mod:`zhengyin.core.db`), identifier check characters (:mod:`zhengyin.core.codes`) and masking of
personal data (:mod:`zhengyin.core.privacy`).
"""

from __future__ import annotations

from zhengyin.core.errors import (
    AuditChainBrokenError,
    AuthenticationError,
    ClientNotFoundError,
    DatabaseSchemaError,
    InvalidCodeError,
    InvalidCreditCodeError,
    InvalidIDNumberError,
)

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
    "AuditChainBrokenError",
    "AuthenticationError",
    "CertificateNotFoundError",
    "ClientNotFoundError",
    "DatabaseSchemaError",
    "InvalidCodeError",
    "InvalidCreditCodeError",
    "InvalidIDNumberError",
    "PKINotInitialisedError",
    "RevocationError",
    "TimeStampError",
    "TrustError",
]
