"""The certificate authorities: a root, an issuing CA and the service identities.

``zhengyin pki init`` creates, with keys in the key store:

* the root CA (self-signed) and the issuing CA it certifies;
* the OCSP responder (``id-kp-OCSPSigning``, ``id-pkix-ocsp-nocheck``) and the TSA
  (critical ``id-kp-timeStamping``), both certified by the issuing CA;
* the audit identity that signs audit-log checkpoints.

End-entity certificates for organisation seals and persons are issued by the issuing CA
with CRL distribution point and OCSP URLs under the service's public base URL.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from asn1crypto import core, x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhengyin.core.audit import AuditLog
from zhengyin.core.codes import validate_citizen_id, validate_credit_code
from zhengyin.core.errors import InvalidCodeError
from zhengyin.core.locks import lock_row
from zhengyin.keys import KeyAlgorithm, KeyHandle, KeyStore, PublicKey

from .asn1sign import public_key_info, sign_bytes, signature_algorithm
from .errors import CertificateNotFoundError, PKINotInitialisedError, RevocationError, TrustError
from .models import (
    CertificateRecord,
    CertificateRole,
    CertificateStatus,
    CRLState,
    RevocationReason,
    ServiceIdentity,
)
from .purposes import ekus_of_identity

__all__ = [
    "PKI",
    "SERVICE_PURPOSES",
    "IssuedCertificate",
    "PKIConfig",
]

# Purposes that have a current certificate in service_identities.
ROOT, ISSUING, OCSP, TSA, AUDIT = "root", "issuing", "ocsp", "tsa", "audit"
SERVICE_PURPOSES = (ROOT, ISSUING, OCSP, TSA, AUDIT)
_BUILT_IN = {OCSP, TSA, AUDIT}

# RFC 9336 id-kp-documentSigning.
DOCUMENT_SIGNING_EKU = "1.3.6.1.5.5.7.3.36"

# The 13-digit seal code (印章编码); it goes into serialNumber, a PrintableString.
_SEAL_CODE = re.compile(r"[0-9]{13}")


@dataclass(frozen=True)
class PKIConfig:
    """Policy of the CAs: names, lifetimes, URLs. Frozen: policies are data."""

    base_url: str
    organisation: str = "Zhengyin Development PKI"
    key_algorithm: KeyAlgorithm = KeyAlgorithm.EC_P256
    root_lifetime: timedelta = timedelta(days=20 * 365)
    issuing_lifetime: timedelta = timedelta(days=10 * 365)
    service_lifetime: timedelta = timedelta(days=5 * 365)
    end_entity_lifetime: timedelta = timedelta(days=3 * 365)
    crl_lifetime: timedelta = timedelta(days=1)
    ocsp_lifetime: timedelta = timedelta(hours=1)
    extra_subject: dict[str, str] = field(default_factory=dict)

    @property
    def ocsp_url(self) -> str:
        """Where relying parties ask for OCSP."""
        return f"{self.base_url.rstrip('/')}/ocsp"

    def crl_url(self, purpose: str) -> str:
        """The CRL of a CA (``root`` or ``issuing``)."""
        return f"{self.base_url.rstrip('/')}/pki/crl/{purpose}.crl"

    def ca_cert_url(self, purpose: str) -> str:
        """The certificate of a CA, for AIA caIssuers."""
        return f"{self.base_url.rstrip('/')}/pki/ca/{purpose}.crt"


@dataclass(frozen=True)
class IssuedCertificate:
    """A certificate we issued, parsed, with its database row's key facts."""

    record_id: int
    serial_hex: str
    role: CertificateRole
    key_handle: KeyHandle
    certificate: x509.Certificate

    @property
    def der(self) -> bytes:
        """DER encoding."""
        return bytes(self.certificate.dump())

    @classmethod
    def of(cls, record: CertificateRecord) -> IssuedCertificate:
        """Parse a database row."""
        return cls(
            record_id=record.id,
            serial_hex=record.serial_hex,
            role=record.role,
            key_handle=KeyHandle.parse(record.key_handle),
            certificate=x509.Certificate.load(record.der),
        )


def _time(at: datetime) -> x509.Time:
    # RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050.
    if at.year < 2050:
        return x509.Time({"utc_time": at.replace(microsecond=0)})
    return x509.Time({"general_time": at.replace(microsecond=0)})


def _serial() -> int:
    # 159 random bits: positive, at most 20 octets, well over the 64 bits of entropy
    # the CA/Browser Forum asks for.
    return secrets.randbits(159) | (1 << 150)


def _ext(name: str, value: Any, *, critical: bool = False) -> dict[str, Any]:
    return {"extn_id": name, "critical": critical, "extn_value": value}


def _rfc4514(certificate: x509.Certificate) -> str:
    from cryptography import x509 as pyca_x509

    return pyca_x509.load_der_x509_certificate(certificate.dump()).subject.rfc4514_string()


def _uri(url: str) -> x509.GeneralName:
    return x509.GeneralName(name="uniform_resource_identifier", value=url)


def _name(attributes: dict[str, str]) -> x509.Name:
    return x509.Name.build(attributes, use_printable=False)


def _required(value: str, what: str) -> str:
    # Fail closed: an empty or blank name would certify nobody in particular.
    text = value.strip()
    if not text:
        raise TrustError(f"the {what} is empty", hint=f"give the {what} in full")
    return text


class PKI:
    """Creates CAs and issues, looks up and revokes certificates."""

    def __init__(
        self,
        session: Session,
        keystore: KeyStore,
        config: PKIConfig,
        *,
        audit: AuditLog | None = None,
    ) -> None:
        self._session = session
        self._keys = keystore
        self.config = config
        self._audit = audit

    # ---------------------------------------------------------------- lookups

    def is_initialised(self) -> bool:
        """Whether ``init`` has run on this database."""
        return self.has_identity(ISSUING)

    def has_identity(self, purpose: str) -> bool:
        """Whether a current certificate exists for ``purpose``."""
        return self._session.get(ServiceIdentity, purpose) is not None

    def has_all_identities(self) -> bool:
        """Whether every built-in identity exists (an upgrade may add new ones)."""
        return all(self.has_identity(purpose) for purpose in SERVICE_PURPOSES)

    def identity(self, purpose: str) -> IssuedCertificate:
        """The current certificate for a service purpose."""
        row = self._session.get(ServiceIdentity, purpose)
        if row is None:
            raise PKINotInitialisedError(
                f"no {purpose} certificate: the PKI is not initialised",
                hint="run: zhengyin pki init",
            )
        record = self._session.get(CertificateRecord, row.certificate_id)
        assert record is not None
        return IssuedCertificate.of(record)

    def records(self, *, role: CertificateRole | None = None, after_id: int = 0,
                limit: int = 100) -> list[CertificateRecord]:
        """Issued certificates after row ``after_id``, in row order (keyset paging)."""
        query = select(CertificateRecord).where(CertificateRecord.id > after_id)
        if role is not None:
            query = query.where(CertificateRecord.role == role)
        return list(self._session.scalars(query.order_by(CertificateRecord.id).limit(limit)))

    def record(self, serial_hex: str) -> CertificateRecord:
        """A certificate row by serial number (hex, any case, colons and leading zeros allowed).

        ``openssl x509 -serial`` pads an odd number of hex digits with a leading zero
        and browsers show ``4A:E7:…``; the table stores the bare lower-case number.
        """
        key = serial_hex.strip().lower().replace(":", "").lstrip("0") or "0"
        record = self._session.scalar(
            select(CertificateRecord).where(CertificateRecord.serial_hex == key)
        )
        if record is None:
            raise CertificateNotFoundError(
                f"no certificate with serial {serial_hex} was issued here")
        return record

    def public_key_of_serial(self, serial_hex: str) -> PublicKey:
        """The public key certified by certificate ``serial_hex`` (audit verification)."""
        from cryptography.x509 import load_der_x509_certificate

        key = load_der_x509_certificate(self.record(serial_hex).der).public_key()
        KeyAlgorithm.of_public_key(key)  # type: ignore[arg-type]
        return key  # type: ignore[return-value]

    def identity_handle_for(self, record_id: int) -> KeyHandle:
        """The key handle of the certificate row ``record_id`` (a CA signing a CRL)."""
        record = self._session.get(CertificateRecord, record_id)
        if record is None:
            raise CertificateNotFoundError(f"no certificate row {record_id}")
        return KeyHandle.parse(record.key_handle)

    def chain(self, certificate: IssuedCertificate) -> list[x509.Certificate]:
        """The certificate followed by its CA certificates up to the root."""
        result = [certificate.certificate]
        record = self._session.get(CertificateRecord, certificate.record_id)
        while record is not None and record.issuer_id is not None:
            record = self._session.get(CertificateRecord, record.issuer_id)
            if record is not None:
                result.append(x509.Certificate.load(record.der))
        return result

    # ---------------------------------------------------------------- set-up

    def init(self, *, at: datetime, actor: str) -> IssuedCertificate:
        """Create the root, the issuing CA and the service identities; idempotent.

        Identities missing from an older installation are added on a later run.
        """
        if self._session.get(ServiceIdentity, ROOT) is None:
            self._create_root(at, actor)
        if self._session.get(ServiceIdentity, ISSUING) is None:
            self._create_issuing(at, actor)
        for purpose in (OCSP, TSA, AUDIT):
            if self._session.get(ServiceIdentity, purpose) is None:
                self.issue_service_certificate(purpose, at=at, actor=actor)
        return self.identity(ROOT)

    def _create_root(self, at: datetime, actor: str) -> None:
        org = self.config.organisation
        handle = self._new_key("zhengyin root CA", at, actor)
        subject = _name({"country_name": "CN", "organization_name": org,
                         "common_name": f"{org} Root CA"})
        public = self._keys.public_key(handle)
        spki = public_key_info(public)
        extensions = [
            _ext("basic_constraints", {"ca": True}, critical=True),
            _ext("key_usage", {"key_cert_sign", "crl_sign"}, critical=True),
            _ext("key_identifier", spki.sha1),
        ]
        record = self._sign_and_store(
            role=CertificateRole.ROOT_CA, subject=subject, spki=spki, subject_handle=handle,
            issuer=None, not_before=at, not_after=at + self.config.root_lifetime,
            extensions=extensions, at=at, actor=actor,
        )
        self._set_identity(ROOT, record)

    def _create_issuing(self, at: datetime, actor: str) -> None:
        root = self.identity(ROOT)
        org = self.config.organisation
        handle = self._new_key("zhengyin issuing CA", at, actor)
        subject = _name({"country_name": "CN", "organization_name": org,
                         "common_name": f"{org} Issuing CA"})
        spki = public_key_info(self._keys.public_key(handle))
        extensions = [
            _ext("basic_constraints", {"ca": True, "path_len_constraint": 0}, critical=True),
            _ext("key_usage", {"key_cert_sign", "crl_sign"}, critical=True),
            _ext("key_identifier", spki.sha1),
            _ext("crl_distribution_points", [self._crl_dp(ROOT)]),
        ]
        record = self._sign_and_store(
            role=CertificateRole.ISSUING_CA, subject=subject, spki=spki, subject_handle=handle,
            issuer=root, not_before=at, not_after=min(
                at + self.config.issuing_lifetime, root.certificate.not_valid_after
            ),
            extensions=extensions, at=at, actor=actor,
        )
        self._set_identity(ISSUING, record)

    def issue_service_certificate(
        self, purpose: str, *, at: datetime, actor: str, label: str | None = None
    ) -> IssuedCertificate:
        """Create a key and a certificate for a service purpose and make it current.

        Built-in purposes: ``ocsp``, ``tsa``, ``audit``; upper layers add their own (e.g.
        ``registry`` for receipts and QR payloads). Each carries the EKUs of what it signs
        (trust/purposes.py); a purpose that signs nothing declared there is refused.
        """
        org = self.config.organisation
        names = {OCSP: "OCSP Responder", TSA: "Time-Stamping Authority", AUDIT: "Audit Log"}
        common_name = f"{org} {names.get(purpose, label or purpose.title())}"
        extensions = self._service_extensions(purpose)
        handle = self._new_key(f"zhengyin {purpose}", at, actor)
        return self._certify_service_key(
            purpose, handle=handle, extensions=extensions,
            subject=_name({"country_name": "CN", "organization_name": org,
                           "common_name": common_name}),
            not_before=at, not_after=at + self.config.service_lifetime, at=at, actor=actor)

    def lacks_purpose_ekus(self, purpose: str) -> bool:
        """Whether the current certificate of ``purpose`` misses an EKU it should carry
        (an identity made before per-purpose EKUs, or before a purpose was added)."""
        wanted = set(ekus_of_identity(purpose))
        if not wanted:
            return False
        certificate = self.identity(purpose).certificate
        usage = certificate.extended_key_usage_value
        present = {item.dotted for item in usage} if usage is not None else set()
        return not wanted <= present

    def reissue_service_certificate(self, purpose: str, *, at: datetime, actor: str
                                    ) -> IssuedCertificate:
        """Certify the current key of ``purpose`` again, with its purposes' EKUs.

        Same key, subject and expiry (a fresh lifetime only if it has expired): what the
        identity signed stays its signature, and the earlier certificate stays pinned by
        serial for the tokens that carry it (trust/identities.py). Audited.
        """
        current = self.identity(purpose)
        previous = current.certificate
        not_after = previous.not_valid_after
        if not_after <= at:
            not_after = at + self.config.service_lifetime
        issued = self._certify_service_key(
            purpose, handle=current.key_handle, extensions=self._service_extensions(purpose),
            subject=previous.subject, not_before=at, not_after=not_after, at=at, actor=actor)
        if self._audit is not None:
            self._audit.append(
                actor=actor, action="service_identity.reissued", object_type="certificate",
                object_id=issued.serial_hex, at=at,
                details={"purpose": purpose, "replaces": current.serial_hex,
                         "extended_key_usage": list(ekus_of_identity(purpose)),
                         "reason": "the identity lacked its purpose's extended key usage"})
        return issued

    def _service_extensions(self, purpose: str) -> list[dict[str, Any]]:
        extensions: list[dict[str, Any]] = [
            _ext("basic_constraints", {"ca": False}, critical=True),
        ]
        if purpose == OCSP:
            return [*extensions,
                    _ext("key_usage", {"digital_signature"}, critical=True),
                    _ext("extended_key_usage", ["ocsp_signing"]),
                    _ext("ocsp_no_check", None)]
        if purpose == TSA:
            return [*extensions,
                    # RFC 3161 §2.3: the only EKU, and critical.
                    _ext("key_usage", {"digital_signature", "non_repudiation"}, critical=True),
                    _ext("extended_key_usage", ["time_stamping"], critical=True)]
        ekus = ekus_of_identity(purpose)
        if not ekus:
            raise TrustError(f"no signing purpose is declared for service identity {purpose!r}",
                             hint="declare what it signs in trust/purposes.py")
        return [*extensions,
                _ext("key_usage", {"digital_signature", "non_repudiation"}, critical=True),
                _ext("extended_key_usage", list(ekus))]

    def _certify_service_key(self, purpose: str, *, handle: KeyHandle,
                             extensions: list[dict[str, Any]], subject: x509.Name,
                             not_before: datetime, not_after: datetime, at: datetime,
                             actor: str) -> IssuedCertificate:
        role = {OCSP: CertificateRole.OCSP, TSA: CertificateRole.TSA}.get(
            purpose, CertificateRole.SERVICE)
        spki = public_key_info(self._keys.public_key(handle))
        issued = self._issue_end_entity(
            role=role, subject=subject, spki=spki, handle=handle, not_before=not_before,
            not_after=not_after, extensions=extensions, org_credit_code=None, at=at,
            actor=actor,
        )
        record = self._session.get(CertificateRecord, issued.record_id)
        assert record is not None
        self._set_identity(purpose, record)
        return issued

    # ---------------------------------------------------------------- end entities

    def issue_seal_certificate(
        self,
        *,
        handle: KeyHandle,
        org_name: str,
        credit_code: str,
        seal_name: str,
        seal_code: str | None,
        not_before: datetime,
        not_after: datetime | None,
        at: datetime,
        actor: str,
        allow_legacy_code: bool = False,
    ) -> IssuedCertificate:
        """Certificate for an organisation's electronic seal.

        Subject: C=CN, O=<organisation>, organizationIdentifier=NTRCN-<credit code>
        (ETSI EN 319 412-1 semantics), CN=<seal name>, serialNumber=<13-digit seal code>.
        """
        code = validate_credit_code(credit_code, allow_legacy=allow_legacy_code)
        attributes = {
            "country_name": "CN",
            "organization_name": _required(org_name, "organisation name"),
            "organization_identifier": f"NTRCN-{code.value}",
            "common_name": _required(seal_name, "seal name"),
        }
        if seal_code:
            if not _SEAL_CODE.fullmatch(seal_code):
                raise InvalidCodeError("a seal code is 13 digits",
                                       hint="copy the code from the seal's filing record")
            attributes["serial_number"] = seal_code
        issued = self._issue_signing_certificate(
            role=CertificateRole.SEAL, subject=_name(attributes), handle=handle,
            not_before=not_before, not_after=not_after, org_credit_code=code.value,
            at=at, actor=actor,
        )
        if code.legacy_check_failure and self._audit is not None:
            # STANDARDS §3: a legacy pilot code is accepted where an operator says so,
            # never silently.
            self._audit.append(
                actor=actor, action="certificate.legacy_credit_code",
                object_type="certificate", object_id=issued.serial_hex, at=at,
                details={"credit_code": code.value,
                         "warning": "fails the GB 32100 check character"},
            )
        return issued

    def issue_person_certificate(
        self,
        *,
        handle: KeyHandle,
        name: str,
        id_number: str,
        not_before: datetime,
        not_after: datetime | None,
        at: datetime,
        actor: str,
    ) -> IssuedCertificate:
        """Certificate for a person's signature.

        The ID number is checked but neither printed nor derived: a hash of it could be
        reversed by trying the few numbers that fit a birth date and region, so the
        subject carries a random pseudonym, ``serialNumber=IDCN-<16 random hex>``, which
        only the registry can link to the person.
        """
        validate_citizen_id(id_number, today=at.date())
        pseudonym = secrets.token_hex(8).upper()
        subject = _name({"country_name": "CN", "common_name": _required(name, "name"),
                         "serial_number": f"IDCN-{pseudonym}"})
        return self._issue_signing_certificate(
            role=CertificateRole.PERSON, subject=subject, handle=handle,
            not_before=not_before, not_after=not_after, org_credit_code=None,
            at=at, actor=actor,
        )

    def _issue_signing_certificate(
        self,
        *,
        role: CertificateRole,
        subject: x509.Name,
        handle: KeyHandle,
        not_before: datetime,
        not_after: datetime | None,
        org_credit_code: str | None,
        at: datetime,
        actor: str,
    ) -> IssuedCertificate:
        spki = public_key_info(self._keys.public_key(handle))
        extensions = [
            _ext("basic_constraints", {"ca": False}, critical=True),
            # pyHanko's default signer policy requires nonRepudiation; NSS accepts a
            # certificate without EKU for document signatures.
            _ext("key_usage", {"digital_signature", "non_repudiation"}, critical=True),
        ]
        return self._issue_end_entity(
            role=role, subject=subject, spki=spki, handle=handle, not_before=not_before,
            not_after=not_after or (not_before + self.config.end_entity_lifetime),
            extensions=extensions, org_credit_code=org_credit_code, at=at, actor=actor,
        )

    def _issue_end_entity(
        self,
        *,
        role: CertificateRole,
        subject: x509.Name,
        spki: Any,
        handle: KeyHandle,
        not_before: datetime,
        not_after: datetime,
        extensions: list[dict[str, Any]],
        org_credit_code: str | None,
        at: datetime,
        actor: str,
    ) -> IssuedCertificate:
        issuing = self.identity(ISSUING)
        # Clamp first: a validity that only ends after the issuing CA's is cut short,
        # and what is left must still be a non-empty period.
        not_after = min(not_after, issuing.certificate.not_valid_after)
        if not_after <= not_before:
            raise TrustError("a certificate's validity must end after it starts "
                             "and before the issuing CA expires")
        extensions = [
            *extensions,
            _ext("key_identifier", spki.sha1),
            _ext("crl_distribution_points", [self._crl_dp(ISSUING)]),
            _ext("authority_information_access", [
                {"access_method": "ocsp", "access_location": _uri(self.config.ocsp_url)},
                {"access_method": "ca_issuers",
                 "access_location": _uri(self.config.ca_cert_url(ISSUING))},
            ]),
        ]
        record = self._sign_and_store(
            role=role, subject=subject, spki=spki, subject_handle=handle, issuer=issuing,
            not_before=not_before, not_after=not_after, extensions=extensions, at=at,
            actor=actor, org_credit_code=org_credit_code,
        )
        return IssuedCertificate.of(record)

    # ---------------------------------------------------------------- revocation

    def revoke(
        self, serial_hex: str, *, reason: RevocationReason, at: datetime, actor: str
    ) -> CertificateRecord:
        """Revoke a certificate; the next CRL and every OCSP answer report it.

        Idempotent for the reason it was revoked with; another reason is refused. A
        certificate on hold is revoked for good from the start of its hold: it has not
        been usable since (RFC 5280 §5.3.1 certificateHold).
        """
        reason = RevocationReason(reason)
        if reason is RevocationReason.CERTIFICATE_HOLD:
            raise RevocationError(
                "a hold is not a revocation reason here",
                hint="suspend the seal: its certificate goes on hold until it is resumed",
            )
        record = self._locked(serial_hex)
        if record.role in (CertificateRole.ROOT_CA,):
            raise RevocationError("the root CA cannot be revoked; retire the whole PKI instead")
        held = record.revocation_reason is RevocationReason.CERTIFICATE_HOLD
        if record.status is CertificateStatus.REVOKED and not held:
            if record.revocation_reason is reason:
                return record
            raise RevocationError(
                f"certificate {record.serial_hex} was already revoked at "
                f"{record.revoked_at:%Y-%m-%d %H:%M:%S} UTC "
                f"({record.revocation_reason.value if record.revocation_reason else 'unspecified'})"
            )
        record.status = CertificateStatus.REVOKED
        if not held:
            # Whole seconds: CRL and OCSP encode the time without fractions (RFC 5280
            # §4.1.2.5), and both must report the same instant.
            record.revoked_at = at.replace(microsecond=0)
        record.revocation_reason = reason
        self._changed(record, "certificate.revoked", at, actor,
                      {"reason": reason.value, "subject": record.subject,
                       **({"from_hold": True} if held else {})})
        return record

    def hold(self, serial_hex: str, *, at: datetime, actor: str) -> CertificateRecord:
        """Put a certificate on hold (its seal is suspended): CRLs list it with reason
        certificateHold and OCSP answers revoked with that reason, from ``at``."""
        record = self._locked(serial_hex)
        if record.revocation_reason is RevocationReason.CERTIFICATE_HOLD:
            return record
        if record.status is CertificateStatus.REVOKED:
            raise RevocationError(f"certificate {record.serial_hex} is revoked for good")
        record.status = CertificateStatus.REVOKED
        record.revoked_at = at.replace(microsecond=0)
        record.revocation_reason = RevocationReason.CERTIFICATE_HOLD
        self._changed(record, "certificate.held", at, actor, {"subject": record.subject})
        return record

    def release_hold(self, serial_hex: str, *, at: datetime, actor: str) -> CertificateRecord:
        """Take a certificate off hold (its seal is resumed): it leaves the next CRL,
        as a full CRL simply omits it (removeFromCRL is for delta CRLs, RFC 5280 §5.3.1)."""
        record = self._locked(serial_hex)
        if record.status is CertificateStatus.VALID:
            return record
        if record.revocation_reason is not RevocationReason.CERTIFICATE_HOLD:
            raise RevocationError(f"certificate {record.serial_hex} is revoked for good")
        record.status = CertificateStatus.VALID
        record.revoked_at = None
        record.revocation_reason = None
        self._changed(record, "certificate.released", at, actor, {"subject": record.subject})
        return record

    def _locked(self, serial_hex: str) -> CertificateRecord:
        record = lock_row(self._session, CertificateRecord, self.record(serial_hex).id)
        assert record is not None
        return record

    def _changed(self, record: CertificateRecord, action: str, at: datetime, actor: str,
                 details: dict[str, Any]) -> None:
        """A revocation state changed: the CRL is re-signed at its next request."""
        if record.issuer_id is not None:
            state = self._session.get(CRLState, record.issuer_id)
            if state is not None:
                state.stale = True
        self._session.flush()
        if self._audit is not None:
            self._audit.append(actor=actor, action=action, object_type="certificate",
                               object_id=record.serial_hex, at=at, details=details)

    # ---------------------------------------------------------------- internals

    def _new_key(self, label: str, at: datetime, actor: str) -> KeyHandle:
        handle = self._keys.generate(self.config.key_algorithm, label)
        if self._audit is not None:
            self._audit.append(
                actor=actor, action="key.created", object_type="key", object_id=str(handle),
                at=at, details={"label": label, "algorithm": self.config.key_algorithm.value},
            )
        return handle

    def _crl_dp(self, purpose: str) -> dict[str, Any]:
        return {"distribution_point": x509.DistributionPointName(
            name="full_name", value=[_uri(self.config.crl_url(purpose))])}

    def _set_identity(self, purpose: str, record: CertificateRecord) -> None:
        row = self._session.get(ServiceIdentity, purpose)
        if row is None:
            self._session.add(ServiceIdentity(purpose=purpose, certificate_id=record.id))
        else:
            row.certificate_id = record.id
        self._session.flush()

    def _sign_and_store(
        self,
        *,
        role: CertificateRole,
        subject: x509.Name,
        spki: Any,
        subject_handle: KeyHandle,
        issuer: IssuedCertificate | None,
        not_before: datetime,
        not_after: datetime,
        extensions: list[dict[str, Any]],
        at: datetime,
        actor: str,
        org_credit_code: str | None = None,
    ) -> CertificateRecord:
        signer_handle = issuer.key_handle if issuer else subject_handle
        signer_public: PublicKey = self._keys.public_key(signer_handle)
        algorithm = KeyAlgorithm.of_public_key(signer_public)
        sig_alg = signature_algorithm(algorithm)
        if issuer is not None:
            issuer_name = issuer.certificate.subject
            issuer_ski = issuer.certificate.key_identifier
            extensions = [*extensions,
                          _ext("authority_key_identifier", {"key_identifier": issuer_ski})]
        else:
            issuer_name = subject
        serial = _serial()
        tbs = x509.TbsCertificate({
            "version": "v3",
            "serial_number": serial,
            "signature": sig_alg,
            "issuer": issuer_name,
            "validity": {"not_before": _time(not_before), "not_after": _time(not_after)},
            "subject": subject,
            "subject_public_key_info": spki,
            "extensions": extensions,
        })
        tbs_der = tbs.dump()
        signature = sign_bytes(self._keys, signer_handle, algorithm, tbs_der)
        # Assembled from the parsed encoding: asn1crypto re-encodes structures built from
        # Python values at every nesting level on each dump (see trust/der.py).
        certificate = x509.Certificate.load(
            x509.Certificate({
                "tbs_certificate": x509.TbsCertificate.load(tbs_der),
                "signature_algorithm": sig_alg,
                "signature_value": core.OctetBitString(signature),
            }).dump()
        )
        record = CertificateRecord(
            serial_hex=format(serial, "x"),
            role=role,
            issuer_id=issuer.record_id if issuer else None,
            subject=_rfc4514(certificate),
            org_credit_code=org_credit_code,
            key_handle=str(subject_handle),
            key_sha1=spki.sha1.hex(),
            not_before=not_before.replace(microsecond=0),
            not_after=not_after.replace(microsecond=0),
            der=certificate.dump(),
            status=CertificateStatus.VALID,
            created_at=at,
        )
        self._session.add(record)
        self._session.flush()
        if self._audit is not None:
            self._audit.append(
                actor=actor, action="certificate.issued", object_type="certificate",
                object_id=record.serial_hex, at=at,
                details={"role": role.value, "subject": record.subject,
                         "key": str(subject_handle),
                         "not_after": record.not_after.isoformat()},
            )
        return record
