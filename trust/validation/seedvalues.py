"""A signature field's seed values (/SV): what the document's author required of the
signature that fills it (ISO 32000-1 §12.7.4.5, Tables 234 and 235).

An entry binds the signer only when its bit is set in /Ff (of /SV, or of /SV /Cert);
unflagged entries are suggestions. pyHanko parses the dictionary
(:class:`~pyhanko.sign.fields.SigSeedValueSpec`) and checks the required entries
(``report_seed_value_validation``): sub-filter, digest method, Adobe revocation
information, reasons, certification level and lock, a trusted time-stamp, and the
certificate constraints on subject, issuer, subject DN and key usage. It does not read
/Cert /OID (certificate policies); that one is checked here: the signing certificate
must assert at least one of the listed policies, as Acrobat does. A required entry
nobody can check (a legal attestation, an unknown constraint) is reported as such.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from asn1crypto import core, x509
from pyhanko.pdf_utils import generic
from pyhanko.sign.fields import SigCertConstraintFlags, SigSeedValFlags, SigSeedValueSpec
from pyhanko.sign.validation.pdf_embedded import (
    EmbeddedPdfSignature,
    report_seed_value_validation,
)

from .evidence import SeedValueFacts

__all__ = ["seed_value_facts"]

_REQUIRED = (
    (SigSeedValFlags.SUBFILTER, "sub-filter"),
    (SigSeedValFlags.DIGEST_METHOD, "digest method"),
    (SigSeedValFlags.ADD_REV_INFO, "revocation information"),
    (SigSeedValFlags.REASONS, "reasons"),
    (SigSeedValFlags.LOCK_DOCUMENT, "document lock"),
    (SigSeedValFlags.LEGAL_ATTESTATION, "legal attestations"),
)
_CERTIFICATE = (
    (SigCertConstraintFlags.SUBJECT, "signer certificate"),
    (SigCertConstraintFlags.ISSUER, "certificate issuer"),
    (SigCertConstraintFlags.OID, "certificate policy"),
    (SigCertConstraintFlags.SUBJECT_DN, "subject name"),
    (SigCertConstraintFlags.KEY_USAGE, "key usage"),
)


class _WithSpec:
    """The embedded signature as pyHanko's seed-value check reads it, with the /Cert
    /OID constraint (which pyHanko cannot check) taken out: checked separately."""

    def __init__(self, embedded: EmbeddedPdfSignature, spec: SigSeedValueSpec) -> None:
        self._embedded = embedded
        self.seed_value_spec = spec

    def __getattr__(self, name: str) -> Any:
        return getattr(self._embedded, name)


def _policies(certificate: x509.Certificate) -> set[str]:
    value = certificate.certificate_policies_value
    if value is None:
        return set()
    return {str(item["policy_identifier"].dotted) for item in value}


def _required_oids(field: Any) -> list[str]:
    try:
        listed = field["/SV"]["/Cert"]["/OID"]
    except (KeyError, TypeError):
        return []
    if not isinstance(listed, generic.ArrayObject):
        return []
    oids = []
    for index in range(len(listed)):
        value = listed[index]
        data = value.original_bytes if isinstance(value, generic.TextStringObject) else (
            bytes(value) if isinstance(value, bytes) else str(value).encode())
        oids.append(_oid(data))
    return oids


def _oid(data: bytes) -> str:
    """A policy OID written as text ("1.2.3") or as DER."""
    text = data.decode("ascii", "replace").strip()
    if text and all(char.isdigit() or char == "." for char in text):
        return text
    try:
        return str(core.ObjectIdentifier.load(data).dotted)
    except Exception:
        return text


def seed_value_facts(embedded: EmbeddedPdfSignature, validation_path: Any,
                     timestamp_trusted: bool) -> SeedValueFacts | None:
    """The field's required seed values and the first one the signature violates; None
    when the field has no /SV."""
    try:
        spec = embedded.seed_value_spec
    except Exception as exc:
        return SeedValueFacts(required=(), problem=f"the seed value dictionary cannot be "
                              f"read ({type(exc).__name__})", uncheckable=False)
    if spec is None:
        return None
    required = [label for flag, label in _REQUIRED if spec.flags & flag]
    if spec.timestamp_required:
        required.append("time-stamp")
    if spec.seed_signature_type is not None:
        required.append("certification level")
    oids: list[str] = []
    if spec.cert is not None:
        required += [label for flag, label in _CERTIFICATE if spec.cert.flags & flag]
        if spec.cert.flags & SigCertConstraintFlags.OID:
            oids = _required_oids(embedded.sig_field)
            spec = replace(spec, cert=replace(
                spec.cert, flags=spec.cert.flags & ~SigCertConstraintFlags.OID))
    try:
        outcome = report_seed_value_validation(
            _WithSpec(embedded, spec),  # type: ignore[arg-type]  # duck-typed
            validation_path, timestamp_trusted)
    except NotImplementedError as exc:
        return SeedValueFacts(required=tuple(required), uncheckable=True,
                              problem=f"it requires what no verifier can check ({exc})")
    except Exception as exc:
        return SeedValueFacts(required=tuple(required), uncheckable=True,
                              problem=f"they cannot be checked ({type(exc).__name__})")
    error = outcome.get("seed_value_constraint_error")
    if error is not None:
        text = str(error).strip().splitlines()[0] if str(error).strip() else "violated"
        return SeedValueFacts(required=tuple(required), problem=text[:300],
                              uncheckable=False)
    if oids and not (_policies(embedded.signer_cert) & set(oids)):
        return SeedValueFacts(required=tuple(required), uncheckable=False,
                              problem="the signing certificate asserts none of the required "
                              f"certificate policies ({', '.join(oids)})")
    return SeedValueFacts(required=tuple(required), problem=None, uncheckable=False)
