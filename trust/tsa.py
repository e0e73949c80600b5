"""RFC 3161 time-stamp authority.

The TSA signs with its own key (critical ``id-kp-timeStamping`` EKU) from the key store.
Requests are checked before anything is signed: only SHA-256/384/512 imprints of the
right length, our policy (or none), and no unknown critical extensions. Every answer is
a TimeStampResp; a bad request gets a ``rejection`` with the RFC 3161 failure bit set.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from asn1crypto import cms, core, tsp, x509

from zhengyin.core import der
from zhengyin.keys import KeyAlgorithm, KeyStore

from .asn1sign import digest_for, sign_bytes, signature_algorithm
from .errors import TimeStampError
from .pki import IssuedCertificate

__all__ = ["TSAPolicy", "TimeStampAuthority"]

_DIGEST_SIZES = {"sha256": 32, "sha384": 48, "sha512": 64}
_DIGEST_OIDS = {"sha256": "2.16.840.1.101.3.4.2.1", "sha384": "2.16.840.1.101.3.4.2.2",
                "sha512": "2.16.840.1.101.3.4.2.3"}
_OID_TST_INFO = "1.2.840.113549.1.9.16.1.4"
_OID_SIGNED_DATA = "1.2.840.113549.1.7.2"
_OID_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"


@dataclass(frozen=True)
class TSAPolicy:
    """What the TSA asserts. The default policy OID sits in the UUID arc (2.25, X.667)."""

    policy_oid: str = "2.25.216359409658224542339838425853745209373"
    accuracy_seconds: int = 1
    include_chain: bool = True


def _attribute(kind: str, value: Any) -> cms.CMSAttribute:
    return cms.CMSAttribute({"type": kind, "values": [value]})


def _signing_certificate_v2(certificate: x509.Certificate) -> tsp.SigningCertificateV2:
    """ESS signing-certificate-v2 (RFC 5035) naming the TSA certificate by SHA-256."""
    return tsp.SigningCertificateV2({
        "certs": [{
            "cert_hash": hashlib.sha256(certificate.dump()).digest(),
            "issuer_serial": {
                "issuer": [x509.GeneralName(name="directory_name", value=certificate.issuer)],
                "serial_number": certificate.serial_number,
            },
        }]
    })


class _TimeStampResp(core.Sequence):  # type: ignore[misc]
    """RFC 3161 §2.4.2 TimeStampResp, whose token is OPTIONAL.

    asn1crypto 1.5 declares ``time_stamp_token`` mandatory, so a rejection could not be
    encoded with ``tsp.TimeStampResp``.
    """

    _fields = [  # noqa: RUF012 - asn1crypto's class-level schema
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


class _RejectionError(Exception):
    def __init__(self, failure: str, text: str) -> None:
        super().__init__(text)
        self.failure = failure
        self.text = text


class TimeStampAuthority:
    """Issues time-stamp tokens; thread-safe and cheap to call (no database access)."""

    def __init__(
        self,
        keystore: KeyStore,
        identity: IssuedCertificate,
        chain: list[x509.Certificate],
        *,
        policy: TSAPolicy | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._keys = keystore
        self._identity = identity
        self._certificate = identity.certificate
        self._chain = chain
        self._policy = policy or TSAPolicy()
        self._clock = clock or (lambda: datetime.now(UTC))
        self._algorithm = KeyAlgorithm.of_public_key(keystore.public_key(identity.key_handle))
        self._sig_alg = signature_algorithm(self._algorithm)
        self._digest = digest_for(self._algorithm)
        # Hot path: the constant parts of every token are encoded once here; per token
        # only the TSTInfo values, the message digest and the signature are framed
        # (trust/der.py). About 0.2 ms a token instead of 2 ms with asn1crypto objects.
        certificate = self._certificate
        self._oid_tst_info = der.oid(_OID_TST_INFO)
        self._oid_signed_data = der.oid(_OID_SIGNED_DATA)
        self._tst_head = der.integer(1) + der.oid(self._policy.policy_oid)
        self._accuracy = der.seq(der.integer(self._policy.accuracy_seconds))
        self._tsa_name = der.explicit(0, x509.GeneralName(
            name="directory_name", value=certificate.subject).dump())
        self._attr_content_type = _attribute("content_type", "tst_info").dump()
        self._attr_signing_certificate = _attribute(
            "signing_certificate_v2", _signing_certificate_v2(certificate)).dump()
        self._digest_algorithm = der.seq(der.oid(_DIGEST_OIDS[self._digest]))
        self._signer_head = der.integer(1) + cms.SignerIdentifier(
            name="issuer_and_serial_number",
            value={"issuer": certificate.issuer, "serial_number": certificate.serial_number},
        ).dump() + self._digest_algorithm
        self._signature_algorithm = self._sig_alg.dump()
        self._signed_data_head = der.integer(3) + der.set_of(self._digest_algorithm)
        chain_certificates = [certificate, *self._chain] if self._policy.include_chain \
            else [certificate]
        self._certificates = der.tlv(0xA0, b"".join(sorted(c.dump() for c in chain_certificates)))

    @property
    def certificate(self) -> x509.Certificate:
        """The TSA's certificate."""
        return self._certificate

    def respond(self, request_der: bytes) -> bytes:
        """DER TimeStampResp for a DER TimeStampReq (RFC 3161 §2.4)."""
        try:
            request = self._parse(request_der)
        except _RejectionError as rejection:
            return self._rejection(rejection.failure, rejection.text)
        token = self._token(
            request["message_imprint"].dump(),
            nonce=request["nonce"].native,
            include_certificates=bool(request["cert_req"].native),
        )
        # TimeStampResp ::= SEQUENCE { status PKIStatusInfo (granted = 0), token }
        return der.seq(der.seq(der.integer(0)), token)

    def token_der(self, digest: bytes, *, algorithm: str = "sha256",
                  nonce: int | None = None, include_certificates: bool = True) -> bytes:
        """A DER TimeStampToken over ``digest``; used directly by in-process signers."""
        if len(digest) != _DIGEST_SIZES.get(algorithm, -1):
            raise TimeStampError(f"bad message imprint for {algorithm}")
        imprint = der.seq(der.seq(der.oid(_DIGEST_OIDS[algorithm])), der.octet_string(digest))
        return self._token(imprint, nonce=nonce, include_certificates=include_certificates)

    def token_for(self, imprint: tsp.MessageImprint, *, nonce: int | None = None,
                  include_certificates: bool = True) -> cms.ContentInfo:
        """A token over an asn1crypto ``MessageImprint`` (parsed, for convenience)."""
        algorithm = imprint["hash_algorithm"]["algorithm"].native
        if len(imprint["hashed_message"].native) != _DIGEST_SIZES.get(algorithm, -1):
            raise TimeStampError(f"bad message imprint for {algorithm}")
        return cms.ContentInfo.load(self._token(
            imprint.dump(), nonce=nonce, include_certificates=include_certificates))

    def _token(self, imprint_der: bytes, *, nonce: int | None,
               include_certificates: bool) -> bytes:
        """Frame and sign one token; ``imprint_der`` is copied from the request verbatim."""
        at = self._clock()
        tst_info = der.seq(
            self._tst_head,
            imprint_der,
            der.integer(secrets.randbits(127)),
            der.generalized_time(at),
            self._accuracy,
            # ordering is FALSE, its DEFAULT, so DER leaves it out.
            b"" if nonce is None else der.integer(nonce),
            self._tsa_name,
        )
        message_digest = der.seq(der.oid(_OID_MESSAGE_DIGEST), der.set_of(
            der.octet_string(hashlib.new(self._digest, tst_info).digest())))
        signed_attrs = der.set_of(self._attr_content_type, message_digest,
                                  self._attr_signing_certificate)
        signature = sign_bytes(self._keys, self._identity.key_handle, self._algorithm,
                               signed_attrs)
        signer_info = der.seq(self._signer_head, der.implicit(0, signed_attrs),
                              self._signature_algorithm, der.octet_string(signature))
        encapsulated = der.seq(self._oid_tst_info, der.explicit(0, der.octet_string(tst_info)))
        signed_data = der.seq(
            self._signed_data_head,
            encapsulated,
            self._certificates if include_certificates else b"",
            der.set_of(signer_info),
        )
        return der.seq(self._oid_signed_data, der.explicit(0, signed_data))

    def _parse(self, request_der: bytes) -> tsp.TimeStampReq:
        try:
            request = tsp.TimeStampReq.load(request_der, strict=True)
            # asn1crypto parses lazily: parse every field now, so that a broken one
            # (an extension, the nonce) is badDataFormat here, not an HTTP 500 later.
            request.native  # noqa: B018
            version = request["version"].native
            algorithm = request["message_imprint"]["hash_algorithm"]["algorithm"].native
            digest = request["message_imprint"]["hashed_message"].native
            policy = request["req_policy"].native
            extensions = request["extensions"]
        except (ValueError, TypeError, KeyError, IndexError, AttributeError,
                OverflowError) as exc:
            raise _RejectionError("bad_data_format", "request is not a DER TimeStampReq") from exc
        if version != "v1":
            raise _RejectionError("bad_request", "only version 1 requests are supported")
        if algorithm not in _DIGEST_SIZES:
            raise _RejectionError("bad_alg", f"unsupported hash algorithm {algorithm}; use SHA-256")
        if len(digest) != _DIGEST_SIZES[algorithm]:
            raise _RejectionError("bad_data_format", "message imprint has the wrong length")
        if policy is not None and policy != self._policy.policy_oid:
            raise _RejectionError("unaccepted_policy", f"policy {policy} is not offered")
        if extensions.native and any(ext["critical"].native for ext in extensions):
            raise _RejectionError("unaccepted_extensions", "critical extensions are not supported")
        return request

    @staticmethod
    def _rejection(failure: str, text: str) -> bytes:
        response = _TimeStampResp({
            "status": {
                "status": "rejection",
                "status_string": [text],
                "fail_info": tsp.PKIFailureInfo({failure}),
            }
        })
        return bytes(response.dump())
