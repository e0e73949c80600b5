"""Trust anchors and revocation data for verification, gathered once and shared.

:class:`TrustMaterial` is what a verifier trusts, as DER: our root and the external roots
an administrator added (``trust_anchors``), our issuing CA, and the current CRLs of our
two CAs (in-process, never fetched). It is picklable, so workers receive it once per
change (its :attr:`~TrustMaterial.fingerprint`), and :class:`PreparedMaterial` keeps the
parsed form warm in each process: certificates, CRLs, and a revocation index of our own
CAs, the authoritative answer to "was this certificate of ours revoked, and when".
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from asn1crypto import crl, ocsp, x509
from sqlalchemy.orm import Session

from ..crl import CRLPublisher
from ..errors import TrustError
from ..models import TrustAnchor, TrustAnchorStatus
from ..pki import ISSUING, PKI, ROOT

__all__ = ["PreparedMaterial", "Revocation", "TrustMaterial", "collect_material"]


@dataclass(frozen=True)
class TrustMaterial:
    """Anchors (ours first), intermediates and CRLs, as DER."""

    own_roots: tuple[bytes, ...]
    external_roots: tuple[bytes, ...]
    intermediates: tuple[bytes, ...]
    crls: tuple[bytes, ...]

    @property
    def fingerprint(self) -> str:
        """Identifies the material; workers rebuild their prepared form when it changes."""
        digest = hashlib.sha256()
        for group in (self.own_roots, self.external_roots, self.intermediates, self.crls):
            digest.update(len(group).to_bytes(4, "big"))
            for item in group:
                digest.update(hashlib.sha256(item).digest())
        return digest.hexdigest()


def collect_material(session: Session, pki: PKI, crls: CRLPublisher, *,
                     at: datetime) -> TrustMaterial:
    """The material as of ``at``: signs a fresh CRL when the last one is stale."""
    from sqlalchemy import select

    external = tuple(session.scalars(
        select(TrustAnchor.der).where(TrustAnchor.status == TrustAnchorStatus.ACTIVE)
        .order_by(TrustAnchor.id)))
    return TrustMaterial(
        own_roots=(pki.identity(ROOT).der,),
        external_roots=external,
        intermediates=(pki.identity(ISSUING).der,),
        crls=(crls.current(ROOT, at=at), crls.current(ISSUING, at=at)),
    )


@dataclass(frozen=True)
class Revocation:
    """An entry of one of our CRLs."""

    revoked_at: datetime
    reason: str


@dataclass
class PreparedMaterial:
    """The parsed material of one process."""

    fingerprint: str
    own_roots: list[x509.Certificate]
    external_roots: list[x509.Certificate]
    intermediates: list[x509.Certificate]
    crls: list[crl.CertificateList]
    own_root_sha256: frozenset[str]
    external_root_sha256: frozenset[str]
    crl_issuers: list[tuple[crl.CertificateList, x509.Certificate]] = field(
        default_factory=list)
    """Each of our CRLs with its verified issuer (seeded into validation contexts)."""
    _revoked: dict[tuple[bytes, int], Revocation] = field(default_factory=dict)
    _our_issuers: frozenset[bytes] = frozenset()
    _signed_by_us: dict[bytes, bool] = field(default_factory=dict)

    @classmethod
    def of(cls, material: TrustMaterial) -> PreparedMaterial:
        """Parse once (each certificate's encoding is cached by asn1crypto)."""
        own = [x509.Certificate.load(der) for der in material.own_roots]
        external = [x509.Certificate.load(der) for der in material.external_roots]
        intermediates = [x509.Certificate.load(der) for der in material.intermediates]
        lists = [crl.CertificateList.load(der) for der in material.crls]
        prepared = cls(
            fingerprint=material.fingerprint, own_roots=own, external_roots=external,
            intermediates=intermediates, crls=lists,
            own_root_sha256=frozenset(hashlib.sha256(der).hexdigest()
                                      for der in material.own_roots),
            external_root_sha256=frozenset(hashlib.sha256(der).hexdigest()
                                           for der in material.external_roots),
        )
        issuers = set()
        authorities = [*own, *intermediates]
        for certificate_list in lists:
            authority = _verified_issuer(certificate_list, authorities)
            prepared.crl_issuers.append((certificate_list, authority))
            issuer = certificate_list.issuer.dump()
            issuers.add(issuer)
            for entry in certificate_list["tbs_cert_list"]["revoked_certificates"]:
                reason = entry.crl_reason_value
                prepared._revoked[(issuer, entry["user_certificate"].native)] = Revocation(
                    entry["revocation_date"].native,
                    reason.native if reason is not None else "unspecified")
        prepared._our_issuers = frozenset(issuers)
        return prepared

    def is_our_authority(self, name: x509.Name) -> bool:
        """Whether ``name`` is one of our CAs' (the issuer of a CRL, say)."""
        return name.dump() in self._our_issuers

    def answers_for_ours(self, response: ocsp.OCSPResponse) -> bool:
        """Whether an OCSP response answers for a certificate one of our CAs issued
        (RFC 6960 §4.1.1: CertID names the issuer by a hash of its name)."""
        try:
            answers = response.basic_ocsp_response["tbs_response_data"]["responses"]
            for answer in answers:
                cert_id = answer["cert_id"]
                algorithm = cert_id["hash_algorithm"]["algorithm"].native
                wanted = bytes(cert_id["issuer_name_hash"].native)
                if any(hashlib.new(algorithm, name).digest() == wanted
                       for name in self._our_issuers):
                    return True
        except (ValueError, KeyError, TypeError):
            return False  # unreadable: certvalidator finds nothing in it either
        return False

    @property
    def trust_roots(self) -> list[x509.Certificate]:
        """Every anchor."""
        return [*self.own_roots, *self.external_roots]

    def issued_by_us(self, certificate: x509.Certificate) -> bool:
        """Whether one of our CAs (with a CRL here) issued ``certificate``."""
        return certificate.issuer.dump() in self._our_issuers

    def signed_by_us(self, certificate: x509.Certificate) -> bool:
        """Whether one of our CAs' keys signed ``certificate``: a CA elsewhere may carry
        the very name of ours (:meth:`issued_by_us` compares names only). Remembered by
        the certificate's SHA-256."""
        key = certificate.sha256
        known = self._signed_by_us.get(key)
        if known is None:
            known = _signed_by_one_of(certificate, [*self.own_roots, *self.intermediates])
            if len(self._signed_by_us) > 4096:
                self._signed_by_us.clear()
            self._signed_by_us[key] = known
        return known

    def revocation(self, certificate: x509.Certificate) -> Revocation | None:
        """Our CRL entry for ``certificate``, if one of our CAs revoked it."""
        return self._revoked.get((certificate.issuer.dump(), certificate.serial_number))


def _signer_among(issuer: Any, signed_data: bytes, signature: bytes, algorithm: Any,
                  authorities: list[x509.Certificate]) -> x509.Certificate | None:
    """The authority named ``issuer`` whose key made ``signature`` (several CAs may
    share a name: each of them is tried)."""
    from pyhanko_certvalidator.sig_validate import DefaultSignatureValidator

    validator = DefaultSignatureValidator()
    for authority in authorities:
        if authority.subject.dump() != issuer.dump():
            continue
        try:
            validator.validate_signature(signature=signature, signed_data=signed_data,
                                         public_key_info=authority.public_key,
                                         signature_algorithm=algorithm)
        except Exception:  # noqa: S112 - another key of the same name: try the next
            continue
        return authority
    return None


def _signed_by_one_of(certificate: x509.Certificate,
                      authorities: list[x509.Certificate]) -> bool:
    return _signer_among(certificate.issuer, certificate["tbs_certificate"].dump(),
                         certificate["signature_value"].native,
                         certificate["signature_algorithm"], authorities) is not None


def _verified_issuer(certificate_list: crl.CertificateList,
                     authorities: list[x509.Certificate]) -> x509.Certificate:
    """The CA whose key signed ``certificate_list`` (checked once per process)."""
    authority = _signer_among(certificate_list.issuer,
                              certificate_list["tbs_cert_list"].dump(),
                              certificate_list["signature"].native,
                              certificate_list["signature_algorithm"], authorities)
    if authority is not None:
        return authority
    raise TrustError("a CRL of the trust material is not signed by one of our CAs")
