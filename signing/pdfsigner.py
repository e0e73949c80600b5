"""A pyHanko :class:`Signer` whose private key stays in our :class:`KeyStore`.

pyHanko asks :meth:`KeyStoreSigner.async_sign_raw` for the raw signature over the signed
attributes; we hand the bytes to ``keystore.sign(handle, ...)``, so software keys and
PKCS#11 tokens work the same way and no key material is ever loaded here.

Everything that does not change between documents is built and *frozen* once per signer:
the ESS signing-certificate-v2 attribute, the certificate set and the SignerIdentifier.
asn1crypto 1.5 re-encodes a structure built from Python values on every ``dump()``,
twice per nesting level, so an unfrozen ESS attribute costs ~4 ms per dump and pyHanko
dumps it several times per signature (measured in the stamping study, REPORT §2: the
whole signature went from 35.6 ms to 9.8 ms). ``type(v).load(v.dump())`` gives a value
that caches its encoding.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from asn1crypto import algos, cms, core, x509
from pyhanko.sign import attributes
from pyhanko.sign.attributes import SignedAttributeProviderSpec
from pyhanko.sign.general import as_signing_certificate_v2
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes, Signer
from pyhanko_certvalidator.registry import SimpleCertificateStore

from zhengyin.keys import KeyAlgorithm, KeyHandle, KeyStore
from zhengyin.trust import _asn1fix

__all__ = ["KeyStoreSigner", "digest_for", "freeze"]

_asn1fix.apply()

_A = TypeVar("_A", bound=core.Asn1Value)

# Largest raw signature per algorithm, for pyHanko's size estimate (dry run): a DER
# ECDSA-Sig-Value for P-256 is at most 72 bytes; RSA and Ed25519 have a fixed length.
_MAX_SIGNATURE = {
    KeyAlgorithm.EC_P256: 72,
    KeyAlgorithm.RSA_2048: 256,
    KeyAlgorithm.RSA_3072: 384,
    KeyAlgorithm.ED25519: 64,
}


def freeze(value: _A) -> _A:
    """Re-parse an asn1crypto value so later ``dump()`` calls reuse its encoding."""
    frozen: _A = type(value).load(value.dump())
    return frozen


def digest_for(algorithm: KeyAlgorithm) -> str:
    """The message digest a PDF signature with this key uses.

    Ed25519 fixes SHA-512 (RFC 8419 §3.1); the others use SHA-256.
    """
    return "sha512" if algorithm is KeyAlgorithm.ED25519 else "sha256"


def _mechanism(algorithm: KeyAlgorithm) -> algos.SignedDigestAlgorithm:
    if algorithm is KeyAlgorithm.EC_P256:
        name = "sha256_ecdsa"
    elif algorithm.is_rsa:
        name = "sha256_rsa"  # PKCS#1 v1.5, which KeyStore.sign produces for RSA
    else:
        name = "ed25519"
    return freeze(algos.SignedDigestAlgorithm({"algorithm": name}))


class _FrozenValue(attributes.CMSAttributeProvider):
    """A constant, pre-encoded signed attribute value."""

    def __init__(self, attribute_type: str, value: object) -> None:
        self.attribute_type = attribute_type
        self._value = value

    async def build_attr_value(self, dry_run: bool = False) -> object:
        return self._value


class _PAdESAttributes(SignedAttributeProviderSpec):
    """PAdES signed attributes: signing-certificate-v2 (frozen) besides the content type
    and message digest pyHanko always adds. PAdES forbids signing-time (ETSI EN 319 142-1
    §6.3); the claimed time is the signature dictionary's /M."""

    def __init__(self, ess_value: object) -> None:
        self._provider = _FrozenValue("signing_certificate_v2", ess_value)

    def signed_attr_providers(self, data_digest: bytes, digest_algorithm: str
                              ) -> Iterable[attributes.CMSAttributeProvider]:
        yield self._provider


class KeyStoreSigner(Signer):
    """Signs PDF signatures (CMS) with a key held in a :class:`KeyStore`.

    ``certificate`` is the key's certificate; ``chain`` its CA certificates (issuing CA,
    root), all embedded in the CMS so that pdfsig and other validators can build the path.
    One signer serves any number of documents; it is not tied to a thread, but a KeyStore
    backend may serialise concurrent signatures.
    """

    def __init__(
        self,
        keystore: KeyStore,
        handle: KeyHandle,
        certificate: x509.Certificate,
        chain: Sequence[x509.Certificate] = (),
        *,
        algorithm: KeyAlgorithm | None = None,
    ) -> None:
        self.keystore = keystore
        self.handle = handle
        self.algorithm = algorithm or KeyAlgorithm.of_public_key(keystore.public_key(handle))
        certificate = freeze(certificate)
        chain = [freeze(ca) for ca in chain]
        super().__init__(
            signing_cert=certificate,
            cert_registry=SimpleCertificateStore.from_certs(chain),  # type: ignore[no-untyped-call]
            signature_mechanism=_mechanism(self.algorithm),
            embed_roots=True,
        )
        self._pades_spec = _PAdESAttributes(freeze(as_signing_certificate_v2(certificate)))
        self._certificate_set = freeze(cms.CertificateSet(
            [cms.CertificateChoices(name="certificate", value=cert)
             for cert in (certificate, *chain)]
        ))
        self._sid = freeze(cms.SignerIdentifier({
            "issuer_and_serial_number": {
                "issuer": certificate.issuer, "serial_number": certificate.serial_number,
            },
        }))

    @property
    def digest_algorithm(self) -> str:
        """The digest to put in the signature metadata (``md_algorithm``)."""
        return digest_for(self.algorithm)

    @property
    def max_signature_size(self) -> int:
        """Upper bound of the raw signature length in bytes."""
        return _MAX_SIGNATURE[self.algorithm]

    async def async_sign_raw(self, data: bytes, digest_algorithm: str,
                             dry_run: bool = False) -> bytes:
        """The raw signature over ``data`` from the key store (placeholder in a dry run)."""
        if dry_run:
            return bytes(self.max_signature_size)
        return self.keystore.sign(self.handle, data, digest=digest_algorithm)

    def _signed_attr_provider_spec(self, attr_settings: PdfCMSSignedAttributes,
                                   timestamper: Any = None, use_cades: bool = False,
                                   is_pdf_sig: bool = True) -> Any:
        if use_cades and is_pdf_sig and attr_settings.cades_signed_attrs is None:
            return self._pades_spec
        return super()._signed_attr_provider_spec(
            attr_settings, timestamper=timestamper, use_cades=use_cades,
            is_pdf_sig=is_pdf_sig)

    async def signed_attrs(self, data_digest: bytes, digest_algorithm: str,  # noqa: PLR0917
                           attr_settings: PdfCMSSignedAttributes | None = None,
                           content_type: str = "data", use_pades: bool = False,
                           timestamper: Any = None, dry_run: bool = False,
                           is_pdf_sig: bool = True) -> cms.CMSAttributes:
        """pyHanko's signed attributes, frozen before they are signed and embedded."""
        built = await super().signed_attrs(
            data_digest, digest_algorithm, attr_settings=attr_settings,
            content_type=content_type, use_pades=use_pades, timestamper=timestamper,
            dry_run=dry_run, is_pdf_sig=is_pdf_sig,
        )
        return freeze(built)

    def _package_signature(self, *, digest_algorithm: str, cms_version: Any,
                           signed_attrs: cms.CMSAttributes, signature: bytes,
                           unsigned_attrs: cms.CMSAttributes | None,
                           encap_content_info: Any) -> cms.ContentInfo:
        """The same SignedData pyHanko builds, from the pre-encoded certificates and SID."""
        if self.attribute_certs:
            return super()._package_signature(
                digest_algorithm=digest_algorithm, cms_version=cms_version,
                signed_attrs=signed_attrs, signature=signature,
                unsigned_attrs=unsigned_attrs, encap_content_info=encap_content_info)
        digest = algos.DigestAlgorithm({"algorithm": digest_algorithm})
        signer_info: dict[str, Any] = {
            "version": "v1",
            "sid": self._sid,
            "digest_algorithm": digest,
            "signature_algorithm": self.signature_mechanism,
            "signed_attrs": signed_attrs,
            "signature": signature,
        }
        if unsigned_attrs is not None:
            signer_info["unsigned_attrs"] = unsigned_attrs
        return cms.ContentInfo({
            "content_type": "signed_data",
            "content": cms.SignedData({
                "version": cms_version,
                "digest_algorithms": [digest],
                "encap_content_info": encap_content_info or {"content_type": "data"},
                "certificates": self._certificate_set,
                "signer_infos": [cms.SignerInfo(signer_info)],
            }),
        })
