"""Licence status as an IETF Token Status List (draft-ietf-oauth-status-list-20, 20 April 2026).

Offline verifiers learn a licence's status from a signed list instead of asking the
registry. The format follows the draft exactly:

* the list (§4.1) is a byte array of ``bits`` per entry, entries packed from the least
  significant bit of each byte up (entry 0 is bits 0..3 of byte 0 with ``bits`` = 4),
  compressed with DEFLATE in the ZLIB format (RFC 1950/1951) at the highest level and
  base64url-encoded without padding as ``lst`` (§4.2);
* the Status List Token (§5.1) is a JWT with header ``typ: statuslist+jwt`` and claims
  ``sub`` (the list's URI), ``iat``, ``exp``, ``ttl`` and ``status_list: {bits, lst}``;
  it is signed by the registry identity, whose certificate carries our status-list EKU
  (``id-zy-kp-statusListSigning``, trust/purposes.py: the draft's own
  ``id-kp-oauthStatusSigning`` has no number yet, §10);
* a licence (the Referenced Token, §6) names its entry as ``{uri, idx}``: in the PDF's
  signed revision as the document information entries ``/ZYSL`` (URI) and ``/ZYSI``
  (index, decimal), in a display QR code as the draft's ``status.status_list`` claim.

Status values (§7.1; 4 bits, because 0x0C and 0x0D do not fit in 2):

====  ==================  ==========================================
0x00  VALID               有效
0x01  INVALID             注销 / 吊销 / 撤销 (revoked)
0x02  SUSPENDED           暂扣
0x03  application: LOST   挂失
0x0C  application: SUPERSEDED  已变更或延续 (a newer version replaced it)
0x0D  application: EXPIRED     过期, once the registry recorded the expiry
====  ==================  ==========================================

Expiry is judged first from the licence's own validity end (``/ZZYXQJZRQ`` in the signed
revision, ``u`` in a display code): the draft (§7.1, §8.3) makes the Referenced Token's
expiry precede its list status, and a date needs no list update at midnight. The list
marks 0x0D as well once the registry's expiry sweep records it, so that a relying party
reading only the list is not told "valid" about a recorded expiry.
"""

from __future__ import annotations

import base64
import enum
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from zhengyin.core.clock import beijing_time
from zhengyin.core.jose import JWSError

from .jws import SignerTrust, verify_compact
from .purposes import STATUS_LIST

__all__ = [
    "BITS",
    "DRAFT",
    "INDEX_KEY",
    "MAX_LIST_BYTES",
    "URI_KEY",
    "StatusListError",
    "StatusValue",
    "VerifiedStatusList",
    "compress_entries",
    "status_list_claims",
    "verify_status_list",
]

DRAFT = "draft-ietf-oauth-status-list-20"
BITS = 4
URI_KEY, INDEX_KEY = "ZYSL", "ZYSI"
"""Document information entries of a licence PDF's signed revision: the Status List
Token's URI and the licence's index in it (decimal)."""
MAX_LIST_BYTES = 16 * 1024 * 1024
"""Largest decompressed list read (a zlib bomb stops here): 32 M entries of 4 bits."""


class StatusValue(enum.IntEnum):
    """A list entry's value (draft §7.1; 0x03 and 0x0C-0x0F are application-specific)."""

    VALID = 0x00
    INVALID = 0x01
    SUSPENDED = 0x02
    LOST = 0x03
    SUPERSEDED = 0x0C
    EXPIRED = 0x0D

    @classmethod
    def of_state(cls, state: str) -> StatusValue:
        """The value for a licence status, by its value (``"revoked"`` …)."""
        return _OF_STATE[state]

    @property
    def state(self) -> str:
        """The licence status this value stands for (trust.validation.LicenceState value)."""
        return _STATE_OF[self]


_OF_STATE = {
    "valid": StatusValue.VALID, "revoked": StatusValue.INVALID,
    "suspended": StatusValue.SUSPENDED, "lost": StatusValue.LOST,
    "superseded": StatusValue.SUPERSEDED, "expired": StatusValue.EXPIRED,
}
_STATE_OF = {value: state for state, value in _OF_STATE.items()}


class StatusListError(JWSError):
    """A status list cannot be relied on (forged, expired, malformed, another list)."""

    code = "status_list.invalid"


def compress_entries(size: int, entries: Iterable[tuple[int, int]], *, bits: int = BITS
                     ) -> bytes:
    """The ZLIB-compressed byte array of ``size`` entries, all 0 but ``entries``
    (index, value) (draft §4.1 steps 1-4)."""
    if bits not in (1, 2, 4, 8) or size * bits % 8:
        raise ValueError("bits must be 1, 2, 4 or 8 and the list a whole number of bytes")
    array = bytearray(size * bits // 8)
    per_byte = 8 // bits
    for index, value in entries:
        array[index // per_byte] |= value << (index % per_byte * bits)
    return zlib.compress(bytes(array), 9)


def status_list_claims(*, uri: str, lst: bytes, at: datetime, lifetime_seconds: int,
                       ttl_seconds: int, bits: int = BITS) -> dict[str, Any]:
    """The JWT claims of a Status List Token (draft §5.1)."""
    issued = int(at.timestamp())
    return {"sub": uri, "iat": issued, "exp": issued + lifetime_seconds, "ttl": ttl_seconds,
            "status_list": {"bits": bits,
                            "lst": base64.urlsafe_b64encode(lst).rstrip(b"=").decode()}}


@dataclass(frozen=True)
class VerifiedStatusList:
    """A Status List Token whose signature, signer and expiry verified."""

    uri: str
    issued_at: datetime
    expires_at: datetime
    ttl: int | None
    bits: int
    array: bytes

    @property
    def issued_text(self) -> str:
        """The list's issue time as people read it (Beijing time, zone named)."""
        return beijing_time(self.issued_at, zone="UTC+8")

    def value(self, index: int) -> int | None:
        """The entry at ``index`` (draft §8.3 step 6), None when out of bounds."""
        per_byte = 8 // self.bits
        if index < 0 or index // per_byte >= len(self.array):
            return None
        return (self.array[index // per_byte] >> (index % per_byte * self.bits)) \
            & ((1 << self.bits) - 1)


def verify_status_list(token: str, trust: SignerTrust, *, now: datetime) -> VerifiedStatusList:
    """Verify a Status List Token offline (draft §8.3 step 3-5).

    The signer must be the registry identity ``trust`` pins for status lists (or, with
    a root only, a certificate carrying the status-list EKU), valid at ``iat`` and now;
    ``exp`` must not have passed: an expired list "MUST NOT be relied upon" (§12.8).
    """
    try:
        _, payload = verify_compact(token.strip(), trust, purpose=STATUS_LIST, now=now)
    except StatusListError:
        raise
    except JWSError as exc:
        raise StatusListError(f"the status list does not verify: {exc.message}",
                              hint=exc.hint) from None
    claims = payload.get("status_list")
    sub, exp, ttl = payload.get("sub"), payload.get("exp"), payload.get("ttl")
    if not isinstance(sub, str) or not isinstance(claims, dict) \
            or not isinstance(exp, int) or isinstance(exp, bool):
        raise StatusListError("the status list lacks sub, exp or status_list")
    issued_at = datetime.fromtimestamp(int(payload["iat"]), UTC)
    expires_at = datetime.fromtimestamp(exp, UTC)
    if expires_at <= now:
        raise StatusListError(
            f"the status list issued {beijing_time(issued_at, zone='UTC+8')} expired "
            f"{beijing_time(expires_at, zone='UTC+8')}: it cannot be relied on",
            hint="download the current list from its URI")
    bits, lst = claims.get("bits"), claims.get("lst")
    if bits not in (1, 2, 4, 8) or not isinstance(lst, str):
        raise StatusListError("the status list's bits or lst is malformed")
    try:
        inflater = zlib.decompressobj()
        array = inflater.decompress(base64.urlsafe_b64decode(lst + "=" * (-len(lst) % 4)),
                                    MAX_LIST_BYTES)
        if inflater.unconsumed_tail or not inflater.eof:
            raise StatusListError("the status list is truncated or too large")
    except (ValueError, zlib.error) as exc:
        raise StatusListError("the status list's lst is not base64url ZLIB data") from exc
    return VerifiedStatusList(uri=sub, issued_at=issued_at, expires_at=expires_at,
                              ttl=ttl if isinstance(ttl, int) else None, bits=int(bits),
                              array=array)
