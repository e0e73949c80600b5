"""Whom a verifier trusts to sign tokens, and the certificate path check behind it.

Paths are validated by ``cryptography``'s :mod:`cryptography.x509.verification` (RFC 5280
path building with the CA/Browser Forum profile's CA rules), never by hand: basic
constraints and path length on every intermediate, validity of every certificate at the
validation time, signatures, and our per-purpose rules on the signer as extension
policies (key usage digitalSignature; the purpose's EKU, :mod:`zhengyin.trust.purposes`).

A verifier holds a :class:`SignerTrust`: our root(s) and, where it has them, the pinned
signers per purpose (from the trust list, or this installation's records). With pins the
signer must be one of them byte for byte; with only a root, the purpose's EKU is what
binds the signer.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from cryptography import x509
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from .purposes import SigningPurpose

__all__ = ["PinnedSigner", "SignerPathError", "SignerTrust", "validate_signer_path"]


@dataclass(frozen=True)
class PinnedSigner:
    """A certificate named as a purpose's signer.

    ``legacy``: it predates per-purpose EKUs, so its pin, not an EKU, binds it to the
    purpose (accepted only for purposes that keep legacy signers, such as receipts).
    """

    der: bytes
    legacy: bool = False

    @cached_property
    def certificate(self) -> x509.Certificate:
        """The parsed certificate."""
        return x509.load_der_x509_certificate(self.der)

    @property
    def serial_hex(self) -> str:
        """Serial number, lower-case hex without leading zeros (a token's ``kid``)."""
        return format(self.certificate.serial_number, "x")

    @property
    def sha256(self) -> str:
        """SHA-256 of the DER, hex."""
        return hashlib.sha256(self.der).hexdigest()


@dataclass(frozen=True)
class SignerTrust:
    """Roots, known intermediates and, unless ``pins`` is None, the pinned signers.

    ``pins`` maps a purpose's name to its signers; a purpose missing from it has none.
    ``source`` names where the pins came from, for error messages.
    """

    anchors: tuple[bytes, ...]
    intermediates: tuple[bytes, ...] = ()
    pins: Mapping[str, tuple[PinnedSigner, ...]] | None = None
    source: str = "the trust list"

    @classmethod
    def roots_only(cls, anchors: list[bytes] | tuple[bytes, ...]) -> SignerTrust:
        """Trust by root alone: the purpose's EKU binds the signer."""
        return cls(anchors=tuple(anchors))

    def pinned(self, purpose: SigningPurpose) -> tuple[PinnedSigner, ...] | None:
        """The signers pinned for ``purpose``, or None when nothing is pinned at all."""
        if self.pins is None:
            return None
        return tuple(pin for pin in self.pins.get(purpose.name, ())
                     if purpose.legacy or not pin.legacy)


class SignerPathError(Exception):
    """The signer's certificate path does not validate; the message says why."""


# Raised inside our extension validators; the library wraps the text into its own error.
_MARK = "zhengyin:"
_OURS = re.compile(re.escape(_MARK) + r"(.*?)(?: \(encountered processing <|$)")


def _key_usage_check(_policy: Any, _certificate: x509.Certificate, usage: x509.KeyUsage
                     ) -> None:
    if not usage.digital_signature:
        raise ValueError(f"{_MARK}the signing certificate may not sign "
                         "(its key usage lacks digitalSignature)")
    if usage.key_cert_sign:
        raise ValueError(f"{_MARK}the signing certificate is a CA's (keyCertSign)")


def _ee_policy(purpose: SigningPurpose, *, legacy: bool) -> ExtensionPolicy:
    wanted = x509.ObjectIdentifier(purpose.eku)

    def eku_check(_policy: Any, _certificate: x509.Certificate,
                  usage: x509.ExtendedKeyUsage) -> None:
        # An explicit purpose only: anyExtendedKeyUsage does not name one.
        if wanted not in list(usage):
            raise ValueError(f"{_MARK}not a {purpose.signer}")

    policy = (ExtensionPolicy.webpki_defaults_ee()
              # Our service certificates name no host: no subjectAltName is needed.
              .may_be_present(x509.SubjectAlternativeName, Criticality.AGNOSTIC, None)
              .require_present(x509.KeyUsage, Criticality.AGNOSTIC, _key_usage_check))
    if legacy:
        return policy.may_be_present(x509.ExtendedKeyUsage, Criticality.AGNOSTIC, None)
    return policy.require_present(x509.ExtendedKeyUsage, Criticality.AGNOSTIC, eku_check)


def _explain(error: VerificationError, purpose: SigningPurpose, when: str) -> str:
    """One precise sentence for the validator's error (its decision stands as it is)."""
    text = str(error)
    ours = _OURS.search(text)
    if ours:
        return ours.group(1)
    if "basicConstraints.cA must be asserted" in text:
        return "intermediate is not a CA"
    if "path length constraint violated" in text:
        return "path length exceeded"
    if "not valid at validation time" in text:
        return f"a certificate of the signer's path was not valid {when}"
    if "missing required extension" in text and "extendedKeyUsage" in text:
        return f"not a {purpose.signer}"
    if "missing required extension" in text and "keyUsage" in text:
        return "the signing certificate may not sign (it has no key usage)"
    if "no interior errors" in text or "signature does not match" in text:
        return "the signer's certificate does not chain to a trusted root"
    detail = re.sub(r"^validation failed: (candidates exhausted: )?", "", text)
    return f"the signer's certificate path does not validate: {detail.split(' (encountered')[0]}"


def validate_signer_path(signer: x509.Certificate, supplied: list[x509.Certificate],
                         trust: SignerTrust, purpose: SigningPurpose, *, legacy: bool,
                         at: datetime, when: str) -> list[x509.Certificate]:
    """The validated path from ``signer`` to one of ``zhengyin.trust.anchors`` at ``at``.

    ``supplied``: intermediates the token carries, tried with the trust's own. ``legacy``:
    the signer is a pinned legacy certificate, which need not carry the purpose's EKU.
    ``when`` says in errors which time failed ("at the signing time …", "now").
    """
    try:
        store = Store([x509.load_der_x509_certificate(der) for der in trust.anchors])
    except ValueError as exc:  # no anchors at all
        raise SignerPathError("no trusted root was given") from exc
    known = [x509.load_der_x509_certificate(der) for der in trust.intermediates]
    verifier = (PolicyBuilder().store(store).time(at)
                .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(),
                                    ee_policy=_ee_policy(purpose, legacy=legacy))
                .build_client_verifier())
    try:
        return verifier.verify(signer, [*supplied, *known]).chain
    except VerificationError as exc:
        raise SignerPathError(_explain(exc, purpose, when)) from None
