"""What the registry signs for others to keep: check receipts and licence display QR codes.

Both are compact JWS (RFC 7515) signed with the registry's service key, carrying the
certificate chain in ``x5c``, so anyone holding our root (or the published trust list)
verifies them offline with :func:`zhengyin.trust.jws.verify_compact`. Each payload carries a
version marker ``v`` and a type in the JOSE header ``typ``; each kind is a signing
purpose with its own EKU on the registry's certificate (trust/purposes.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from zhengyin.core.jose import JWSError, x5c_of
from zhengyin.keys import KeyAlgorithm, KeyHandle, KeyStore
from zhengyin.trust.jws import SignerTrust, encoded_header, sign_with_header, verify_compact
from zhengyin.trust.purposes import DISPLAY_CODE, RECEIPT

__all__ = [
    "DISPLAY_TYP",
    "RECEIPT_TYP",
    "DisplayExpiredError",
    "ServiceSigner",
    "display_payload",
    "verify_display",
    "verify_receipt",
]

RECEIPT_TYP = RECEIPT.typ
DISPLAY_TYP = DISPLAY_CODE.typ


class DisplayExpiredError(JWSError):
    """A genuine display code past its few minutes: the holder shows a fresh one.

    Its own class so that displays can say so (亮证码已过期) instead of "does not verify";
    it is raised only after the signature and chain verified.
    """

    code = "display.expired"


@dataclass(frozen=True)
class ServiceSigner:
    """The registry's signing identity: a key-store handle and its certificate chain."""

    keystore: KeyStore
    handle: KeyHandle
    serial: str
    chain_der: tuple[bytes, ...]

    @cached_property
    def _algorithm(self) -> KeyAlgorithm:
        return KeyAlgorithm.of_public_key(self.keystore.public_key(self.handle))

    @cached_property
    def _x5c(self) -> list[str]:
        return x5c_of(list(self.chain_der))

    @cached_property
    def _headers(self) -> dict[tuple[str, bool], str]:
        return {}

    def sign(self, payload: dict[str, Any], *, typ: str, embed_chain: bool = True) -> str:
        """A compact JWS of ``payload``; the chain goes in ``x5c`` unless the token must
        stay small (a QR code), where ``kid`` names the certificate instead."""
        # The header (with the chain, about 1.5 KB) is encoded once per kind of token.
        header = self._headers.get((typ, embed_chain))
        if header is None:
            header = self._headers[typ, embed_chain] = encoded_header(
                self._algorithm, kid=self.serial, typ=typ,
                extra_headers={"x5c": self._x5c} if embed_chain else None)
        return sign_with_header(self.keystore, self.handle, header, payload,
                                algorithm=self._algorithm)


def display_payload(*, identifier: str, type_name: str, printed_number: str,
                    holder_name: str, status: str, valid_until: str | None, at: datetime,
                    lifetime: timedelta, status_list: tuple[str, int] | None = None
                    ) -> dict[str, Any]:
    """What a display QR asserts: a few fields of one licence, as of ``at``, briefly.

    ``status_list`` (URI, index): the licence's status-list entry, as the draft's
    Referenced Token ``status`` claim (draft-ietf-oauth-status-list-20 §6.1), so an offline
    verifier holding the list checks the status now. An added claim: codes without it
    (and readers that ignore it) stay version 1.
    """
    extra = {"status": {"status_list": {"idx": status_list[1], "uri": status_list[0]}}} \
        if status_list is not None else {}
    return {
        "v": 1,
        "id": identifier,
        "t": type_name,
        "n": printed_number,
        "h": holder_name,
        "s": status,
        "u": valid_until,
        "iat": int(at.timestamp()),
        "exp": int((at + lifetime).timestamp()),
        **extra,
    }


def verify_receipt(token: str, trust: SignerTrust) -> dict[str, Any]:
    """A receipt's payload, if its signature and its signer's path verify (offline).

    With pins (a trust list, this installation) the signer must be a pinned receipt
    signer; with a root only, its certificate must carry the receipt EKU.
    """
    _, payload = verify_compact(token, trust, purpose=RECEIPT)
    return payload


def verify_display(token: str, trust: SignerTrust, *, now: datetime) -> dict[str, Any]:
    """A display QR's payload, if it verifies and has not expired at ``now``.

    Display tokens name their signer by ``kid`` only (a QR code has no room for the
    chain): ``trust`` must pin the registry's certificates, from the published trust
    list, this installation, or ``zhengyin pki export registry``.
    """
    _, payload = verify_compact(token, trust, purpose=DISPLAY_CODE, now=now)
    if payload.get("v") != 1:
        raise JWSError("not a display code of a version this service reads")
    if int(payload.get("exp", 0)) < int(now.timestamp()):
        raise DisplayExpiredError("the display code has expired",
                                  hint="ask the holder to show a new one")
    return payload
