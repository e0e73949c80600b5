"""The signed trust list: what an offline verifier needs to trust our seals.

A JSON document, signed as a compact JWS (RFC 7515) by the service's ``trustlist``
identity with its certificate chain in ``x5c``, so anyone who holds our root (fetched
once, out of band, and compared by fingerprint) verifies it without asking us. It holds:

* ``anchors``: our root and the external roots an administrator added (DER, base64);
* ``intermediates``: our issuing CA;
* ``crls``: the current CRLs of our CAs (revocation data as of ``issued_at``);
* ``service_certificates``: the chains of the service identities whose signatures people
  check offline (``registry``: receipts, display QR codes, status lists; ``trustlist``);
* ``service_pins``: per signing purpose (``receipt``, ``display-code``, ``trust-list``,
  ``status-list``), its EKU and the certificates that sign it, current and legacy
  (trust/identities.py): a token's signer must be one of them;
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

from zhengyin.core.jose import JWSError, x5c_of
from zhengyin.keys import KeyHandle, KeyStore

from .jws import PinnedSigner, SignerTrust, sign_compact, verify_compact
from .purposes import TRUST_LIST, purpose_named
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

TRUST_LIST_TYP = TRUST_LIST.typ
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
                       service_certificates: dict[str, list[bytes]] | None = None,
                       service_pins: dict[str, tuple[PinnedSigner, ...]] | None = None
                       ) -> dict[str, Any]:
    """The trust list's content as of ``at``."""
    def pins(name: str, signers: tuple[PinnedSigner, ...]) -> dict[str, Any]:
        purpose = purpose_named(name)
        return {"identity": purpose.identity, "eku": purpose.eku, "typ": purpose.typ,
                "certificates": [{"serial": pin.serial_hex, "sha256": pin.sha256,
                                  "legacy": pin.legacy, "certificate": _b64(pin.der)}
                                 for pin in signers]}

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
        "service_pins": {name: pins(name, signers) for name, signers
                         in sorted((service_pins or {}).items())},
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
    """A verified trust list, and the roots it was verified against."""

    payload: dict[str, Any]
    roots: tuple[bytes, ...] = ()

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

    def signer_trust(self) -> SignerTrust:
        """Whom the list names as signers of each purpose, under the roots that verified it.

        The list's own anchors are not used: external roots vouch for others' seals,
        never for our service identities.
        """
        return SignerTrust(
            anchors=self.roots,
            intermediates=tuple(base64.b64decode(item) for item in self.payload["intermediates"]),
            pins=_pins(self.payload.get("service_pins", {})), source="the trust list")

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


def _pins(published: dict[str, Any]) -> dict[str, tuple[PinnedSigner, ...]]:
    return {name: tuple(PinnedSigner(base64.b64decode(item["certificate"]),
                                     legacy=bool(item.get("legacy")))
                        for item in entry["certificates"])
            for name, entry in published.items()}


def read_trust_list(token: str, anchors: list[bytes], *, now: datetime) -> TrustList:
    """Verify a trust list against ``anchors`` (our root, obtained out of band).

    Its signer must carry the trust-list EKU (only a root binds it) and be the signer
    the list itself pins. A list past its ``next_update`` is refused: it may miss a
    revocation or a seal suspended since, which is exactly what an offline verifier
    cannot see otherwise.
    """
    header, payload = verify_compact(token.strip(), SignerTrust.roots_only(anchors),
                                     purpose=TRUST_LIST, now=now)
    if payload.get("v") != TRUST_LIST_VERSION:
        raise JWSError(f"unknown trust list version {payload.get('v')!r}")
    next_update = _time(payload.get("next_update"))
    if next_update is None:
        raise JWSError("the trust list has no next_update")
    if now > next_update:
        raise JWSError(f"the trust list expired at {next_update.isoformat()}; "
                       "fetch a fresh one (GET /trust-list)")
    try:
        pinned = _pins(payload.get("service_pins", {})).get(TRUST_LIST.name, ())
        signer = base64.b64decode(header["x5c"][0], validate=True)
    except (KeyError, TypeError, ValueError) as exc:
        raise JWSError("the trust list's service_pins cannot be read") from exc
    if not any(pin.der == signer for pin in pinned):
        raise JWSError("the trust list's signer is not the trust list signer it names")
    return TrustList(payload, roots=tuple(anchors))
