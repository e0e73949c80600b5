"""The signed trust list: what an offline verifier needs to trust our seals.

A JSON document, signed as a compact JWS (RFC 7515) by the service's ``trustlist``
identity with its certificate chain in ``x5c``, so anyone who holds our root (fetched
once, out of band, and compared by fingerprint) verifies it without asking us. It holds:

* ``anchors``: our root and the external roots an administrator added (DER, base64);
* ``intermediates``: our issuing CA;
* ``crls``: the current CRLs of our CAs (revocation data as of ``issued_at``);
* ``service_certificates``: the chains of the service identities whose signatures people
  check offline (``registry``: receipts and display QR codes);
* ``seals``: every registered seal with its organisation, seal code, type, status (and
  when it changed), validity, and its certificate's serial and SHA-256.

``v`` is the format version and ``sequence`` grows with every list issued; ``next_update``
says when to fetch again. :func:`read_trust_list` verifies a list and gives back the
material and an offline seal directory, so ``zhengyin verify --trust-list`` runs the
same checks as the service without a database.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from keys import KeyHandle, KeyStore

from .jws import JWSError, sign_compact, verify_compact, x5c_of
from .validation.directories import SealRecord, SealState
from .validation.material import TrustMaterial

__all__ = [
    "TRUST_LIST_TYP",
    "TRUST_LIST_VERSION",
    "ListedSeal",
    "SealListing",
    "TrustList",
    "read_trust_list",
    "sign_trust_list",
    "trust_list_payload",
]

TRUST_LIST_TYP = "zhengyin-trust-list+jwt"
TRUST_LIST_VERSION = 1


@dataclass(frozen=True)
class ListedSeal:
    """One seal as the trust list publishes it."""

    seal_code: str
    name: str
    seal_type: str
    organisation: str
    credit_code: str
    status: str
    status_changed_at: datetime | None
    valid_from: datetime
    valid_until: datetime
    certificate_serial: str
    certificate_sha256: str


class SealListing(Protocol):
    """Every registered seal (implemented by signing.sealdirectory)."""

    def listed_seals(self) -> list[ListedSeal]:
        """All seals, in a stable order."""
        ...


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else None


def trust_list_payload(material: TrustMaterial, seals: list[ListedSeal], *, issuer: str,
                       at: datetime, lifetime: timedelta = timedelta(hours=12),
                       service_certificates: dict[str, list[bytes]] | None = None
                       ) -> dict[str, Any]:
    """The trust list's content as of ``at``."""
    def anchor(der: bytes, source: str) -> dict[str, Any]:
        from asn1crypto import x509

        certificate = x509.Certificate.load(der)
        return {"name": certificate.subject.human_friendly, "source": source,
                "sha256": hashlib.sha256(der).hexdigest(),
                "not_after": _iso(certificate.not_valid_after), "certificate": _b64(der)}

    return {
        "v": TRUST_LIST_VERSION,
        "issuer": issuer.rstrip("/"),
        "sequence": int(at.timestamp()),
        "iat": int(at.timestamp()),
        "issued_at": _iso(at),
        "next_update": _iso(at + lifetime),
        "anchors": [*(anchor(der, "service") for der in material.own_roots),
                    *(anchor(der, "external") for der in material.external_roots)],
        "intermediates": [_b64(der) for der in material.intermediates],
        "crls": [_b64(der) for der in material.crls],
        "service_certificates": {purpose: [_b64(der) for der in chain] for purpose, chain
                                 in sorted((service_certificates or {}).items())},
        "seals": [{
            "seal_code": seal.seal_code, "name": seal.name, "type": seal.seal_type,
            "organisation": seal.organisation, "credit_code": seal.credit_code,
            "status": seal.status, "status_changed_at": _iso(seal.status_changed_at),
            "valid_from": _iso(seal.valid_from), "valid_until": _iso(seal.valid_until),
            "certificate": {"serial": seal.certificate_serial,
                            "sha256": seal.certificate_sha256},
        } for seal in seals],
    }


def sign_trust_list(payload: dict[str, Any], keystore: KeyStore, handle: KeyHandle, *,
                    kid: str, chain_der: list[bytes]) -> str:
    """The compact JWS of a trust list (``x5c``: the signer's chain, leaf first)."""
    return sign_compact(keystore, handle, payload, kid=kid, typ=TRUST_LIST_TYP,
                        extra_headers={"x5c": x5c_of(chain_der)})


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


@dataclass(frozen=True)
class TrustList:
    """A verified trust list."""

    payload: dict[str, Any]

    @property
    def issued_at(self) -> datetime:
        """When the list was signed."""
        moment = _time(self.payload["issued_at"])
        assert moment is not None
        return moment

    def material(self) -> TrustMaterial:
        """The anchors, intermediates and CRLs it carries."""
        anchors = self.payload["anchors"]
        return TrustMaterial(
            own_roots=tuple(base64.b64decode(item["certificate"]) for item in anchors
                            if item["source"] == "service"),
            external_roots=tuple(base64.b64decode(item["certificate"]) for item in anchors
                                 if item["source"] != "service"),
            intermediates=tuple(base64.b64decode(item) for item in
                                self.payload["intermediates"]),
            crls=tuple(base64.b64decode(item) for item in self.payload["crls"]),
        )

    def seal_for_certificate(self, certificate_der: bytes, *, signed_at: datetime
                             ) -> SealRecord | None:
        """The listed seal with this certificate (offline :class:`SealDirectory`).

        The list carries each seal's current state and when it last changed: a seal
        suspended or revoked after ``signed_at`` was active then; before, it was not.
        Earlier history is not in the list (the online service replays it in full).
        """
        digest = hashlib.sha256(certificate_der).hexdigest()
        for item in self.payload["seals"]:
            if item["certificate"]["sha256"] != digest:
                continue
            state = SealState(item["status"])
            changed = _time(item["status_changed_at"])
            at_signing = state if state is SealState.ACTIVE or (
                changed is not None and changed <= signed_at) else SealState.ACTIVE
            valid_from = _time(item["valid_from"])
            valid_until = _time(item["valid_until"])
            assert valid_from is not None and valid_until is not None
            return SealRecord(
                seal_id=item["seal_code"], seal_code=item["seal_code"], name=item["name"],
                seal_type=item["type"], organisation=item["organisation"],
                credit_code=item["credit_code"], valid_from=valid_from,
                valid_until=valid_until, state_now=state, state_changed_at=changed,
                state_reason=None,
                # Time-stamps carry whole seconds, registry times microseconds.
                state_at_signing=at_signing if signed_at + timedelta(seconds=1) >= valid_from
                else None,
                image_png=None)
        return None


def read_trust_list(token: str, anchors: list[bytes], *, now: datetime) -> TrustList:
    """Verify a trust list against ``anchors`` (our root, obtained out of band).

    A list past its ``next_update`` is refused: it may miss a revocation or a seal
    suspended since, which is exactly what an offline verifier cannot see otherwise.
    """
    _header, payload = verify_compact(token.strip(), anchors, typ=TRUST_LIST_TYP,
                                      at=None)
    if payload.get("v") != TRUST_LIST_VERSION:
        raise JWSError(f"unknown trust list version {payload.get('v')!r}")
    next_update = _time(payload.get("next_update"))
    if next_update is None:
        raise JWSError("the trust list has no next_update")
    if now > next_update:
        raise JWSError(f"the trust list expired at {next_update.isoformat()}; "
                       "fetch a fresh one (GET /trust-list)")
    return TrustList(payload)
