"""Revocation data for B-LT and B-LTA, from our own CA in-process (no network).

The CRLs of the root and the issuing CA and an OCSP response for the seal certificate are
obtained from :class:`CRLPublisher` and :class:`OCSPResponder` directly, packed as DER in
a picklable :class:`RevocationMaterial` (workers get it with each task) and turned into a
pyHanko :class:`ValidationContext` that trusts only our root and never fetches. pyHanko
validates the seal's and the TSA's paths with it before signing and writes what it used
into the document security store (DSS), so the file carries its own validation data.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from datetime import datetime

from asn1crypto import crl, ocsp, x509
from pyhanko_certvalidator import ValidationContext

from zhengyin.trust.crl import CRLPublisher
from zhengyin.trust.ocsp import OCSPResponder
from zhengyin.trust.pki import ISSUING, PKI, ROOT

__all__ = ["RevocationMaterial", "collect_revocation", "validation_context"]


@dataclass(frozen=True)
class RevocationMaterial:
    """Trust anchors, intermediate certificates, CRLs and OCSP responses, as DER."""

    roots: tuple[bytes, ...]
    intermediates: tuple[bytes, ...]
    crls: tuple[bytes, ...]
    ocsp_responses: tuple[bytes, ...]

    @property
    def fingerprint(self) -> str:
        """Identifies the material (validation contexts are cached by it)."""
        digest = hashlib.sha256()
        for group in (self.roots, self.intermediates, self.crls, self.ocsp_responses):
            digest.update(len(group).to_bytes(4, "big"))
            for item in group:
                digest.update(hashlib.sha256(item).digest())
        return digest.hexdigest()


def _ocsp_request(certificate: x509.Certificate, issuer: x509.Certificate) -> bytes:
    cert_id = ocsp.CertId({
        "hash_algorithm": {"algorithm": "sha256"},
        "issuer_name_hash": hashlib.sha256(issuer.subject.dump()).digest(),
        "issuer_key_hash": hashlib.sha256(issuer.public_key["public_key"].contents[1:]).digest(),
        "serial_number": certificate.serial_number,
    })
    request = ocsp.OCSPRequest({
        "tbs_request": {"request_list": [{"req_cert": cert_id}]},
    })
    return bytes(request.dump())


def collect_revocation(pki: PKI, crls: CRLPublisher, responder: OCSPResponder,
                       certificate_der: bytes, *, at: datetime) -> RevocationMaterial:
    """Current CRLs of both CAs and an OCSP response for ``certificate_der``."""
    root = pki.identity(ROOT)
    issuing = pki.identity(ISSUING)
    certificate = x509.Certificate.load(certificate_der)
    response = responder.respond(_ocsp_request(certificate, issuing.certificate), at=at)
    return RevocationMaterial(
        roots=(root.der,),
        intermediates=(issuing.der,),
        crls=(crls.current(ROOT, at=at), crls.current(ISSUING, at=at)),
        ocsp_responses=(response,),
    )


_cache: dict[str, ValidationContext] = {}
_cache_lock = threading.Lock()


def validation_context(material: RevocationMaterial) -> ValidationContext:
    """An offline context over ``material`` that requires revocation data for every
    certificate on a path, so a missing CRL fails the signing instead of producing a
    B-T file labelled B-LT (REPORT §3). Cached per material and process."""
    key = material.fingerprint
    with _cache_lock:
        context = _cache.get(key)
        if context is None:
            if len(_cache) > 32:
                _cache.clear()
            context = ValidationContext(
                trust_roots=[x509.Certificate.load(der) for der in material.roots],
                other_certs=[x509.Certificate.load(der) for der in material.intermediates],
                crls=[crl.CertificateList.load(der) for der in material.crls],
                ocsps=[ocsp.OCSPResponse.load(der) for der in material.ocsp_responses],
                allow_fetching=False,
                revocation_mode="require",
            )
            _cache[key] = context
        return context
