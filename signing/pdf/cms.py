"""Detached CMS SignedData for PAdES signatures we generate ourselves (born-sealed PDFs).

Structure (ETSI EN 319 142-1 baseline, ``ETSI.CAdES.detached``): SignedData v1 over
detached id-data; certificates = the signer's certificate and its issuing CA; one
SignerInfo (issuerAndSerialNumber) with signed attributes content-type, message-digest and
signing-certificate-v2 (no signingTime: PAdES takes the claimed time from /M), and, at B-T,
the unsigned attribute signature-time-stamp-token over the signature value.

The constant parts are encoded once per signer; each signature frames only the digest,
the signature and the token (trust/der.py), about 0.1 ms plus the key operation, where
building the same structure from asn1crypto objects costs 4 ms and pyHanko's signer 25 ms.
Tests parse every CMS back with asn1crypto and validate the PDFs with pyHanko and pdfsig.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from asn1crypto import cms, tsp
from asn1crypto import x509 as asn1_x509

from zhengyin.core import der
from zhengyin.keys import KeyAlgorithm, KeyHandle, KeyStore
from zhengyin.trust.asn1sign import digest_for, signature_algorithm

from ..errors import SigningError
from ..timestamps import TimeStampClient

__all__ = ["CMSSigner"]

_OID_DATA = "1.2.840.113549.1.7.1"
_OID_SIGNED_DATA = "1.2.840.113549.1.7.2"
_OID_CONTENT_TYPE = "1.2.840.113549.1.9.3"
_OID_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
_OID_SIGNATURE_TIME_STAMP = "1.2.840.113549.1.9.16.2.14"
_DIGEST_OIDS = {"sha256": "2.16.840.1.101.3.4.2.1", "sha512": "2.16.840.1.101.3.4.2.3"}
# Room for variation between a sample signature and a real one: ECDSA values vary by a
# few bytes, TSA tokens by their serial and nonce lengths.
_SIZE_SLACK = 64


def _signing_certificate_v2(certificate: asn1_x509.Certificate) -> bytes:
    value = tsp.SigningCertificateV2({"certs": [{
        "cert_hash": hashlib.sha256(certificate.dump()).digest(),
        "issuer_serial": {
            "issuer": [asn1_x509.GeneralName(name="directory_name", value=certificate.issuer)],
            "serial_number": certificate.serial_number,
        },
    }]})
    return bytes(cms.CMSAttribute({"type": "signing_certificate_v2", "values": [value]}).dump())


@dataclass(frozen=True)
class _Template:
    attr_content_type: bytes
    attr_signing_certificate: bytes
    signer_head: bytes
    signature_algorithm: bytes
    signed_data_head: bytes


class CMSSigner:
    """Signs ByteRange digests as PAdES CMS with a key that stays in the key store."""

    def __init__(
        self,
        keystore: KeyStore,
        handle: KeyHandle,
        certificate: asn1_x509.Certificate,
        chain: list[asn1_x509.Certificate],
        *,
        timestamps: TimeStampClient | None,
    ) -> None:
        self._keys = keystore
        self._handle = handle
        self._timestamps = timestamps
        self.algorithm = KeyAlgorithm.of_public_key(keystore.public_key(handle))
        self.digest_algorithm = digest_for(self.algorithm)
        digest_alg = der.seq(der.oid(_DIGEST_OIDS[self.digest_algorithm]))
        sid = cms.IssuerAndSerialNumber({
            "issuer": certificate.issuer, "serial_number": certificate.serial_number,
        }).dump()
        certificates = der.tlv(0xA0, b"".join(sorted(c.dump() for c in [certificate, *chain])))
        self._template = _Template(
            attr_content_type=der.seq(der.oid(_OID_CONTENT_TYPE),
                                      der.set_of(der.oid(_OID_DATA))),
            attr_signing_certificate=_signing_certificate_v2(certificate),
            signer_head=der.integer(1) + sid + digest_alg,
            signature_algorithm=signature_algorithm(self.algorithm).dump(),
            signed_data_head=(der.integer(1) + der.set_of(digest_alg)
                              + der.seq(der.oid(_OID_DATA)) + certificates),
        )
        self.max_size = len(self.sign(bytes(hashlib.new(self.digest_algorithm).digest_size))) \
            + _SIZE_SLACK

    @property
    def timestamped(self) -> bool:
        """Whether signatures carry a signature time-stamp (PAdES B-T)."""
        return self._timestamps is not None

    def sign(self, digest: bytes) -> bytes:
        """DER ContentInfo(SignedData) over the document digest."""
        template = self._template
        message_digest = der.seq(der.oid(_OID_MESSAGE_DIGEST),
                                 der.set_of(der.octet_string(digest)))
        signed_attrs = der.set_of(template.attr_content_type, message_digest,
                                  template.attr_signing_certificate)
        signature = self._keys.sign(self._handle, signed_attrs, digest=self.digest_algorithm)
        unsigned = b""
        if self._timestamps is not None:
            token = self._timestamps.token(hashlib.sha256(signature).digest())
            unsigned = der.tlv(0xA1, der.seq(der.oid(_OID_SIGNATURE_TIME_STAMP),
                                             der.set_of(token)))
        signer_info = der.seq(template.signer_head, der.implicit(0, signed_attrs),
                              template.signature_algorithm, der.octet_string(signature),
                              unsigned)
        signed_data = der.seq(template.signed_data_head, der.set_of(signer_info))
        result = der.seq(der.oid(_OID_SIGNED_DATA), der.explicit(0, signed_data))
        if hasattr(self, "max_size") and len(result) > self.max_size:
            raise SigningError(
                f"the CMS is {len(result)} bytes, more than the {self.max_size} reserved"
            )
        return result
