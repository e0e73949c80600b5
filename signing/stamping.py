"""The stamping service: authorise, stamp, record the use — in one unit of work.

Flow (DESIGN "Stamp"): the caller's right to the seal and the seal's state are checked
first (:meth:`SealService.require_usable`); then the document is stamped by the warm
per-process :class:`SealStamper`; only a signed document is recorded as a seal use
(用印记录), with the hashes of the input and the output. Any refusal raises before a
signature exists, so nothing is signed and nothing is recorded.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from asn1crypto import x509 as asn1_x509
from cryptography.x509 import load_der_x509_certificate
from pyhanko.sign.timestamps.api import TimeStamper
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhengyin.keys import KeyAlgorithm, KeyStore
from zhengyin.trust.crl import CRLPublisher
from zhengyin.trust.models import CertificateRecord, CertificateRole
from zhengyin.trust.ocsp import OCSPResponder
from zhengyin.trust.pki import PKI, IssuedCertificate

from .errors import StampOptionsError
from .models import Seal, SealUse, SignatureLevel
from .revocation import RevocationMaterial, collect_revocation, validation_context
from .seals import SealService
from .stamper import SealMaterial, SealStamper, StampOptions, StampResult
from .uselog import SealUseLog

__all__ = [
    "StampRequest",
    "StampService",
    "StampedDocument",
    "StamperCache",
    "check_use_cause",
]

_MAX_CASE = 128
_MAX_PURPOSE = 200


def check_use_cause(case_number: str, purpose: str) -> tuple[str, str]:
    """The case number and purpose, trimmed; both are required (STANDARDS §2)."""
    case_number, purpose = case_number.strip(), purpose.strip()
    if not case_number or not purpose:
        raise StampOptionsError("every stamp needs a case number and a purpose",
                                hint="send case_number and purpose")
    if len(case_number) > _MAX_CASE or len(purpose) > _MAX_PURPOSE:
        raise StampOptionsError(
            f"the case number is at most {_MAX_CASE} and the purpose at most "
            f"{_MAX_PURPOSE} characters")
    return case_number, purpose


@dataclass(frozen=True)
class StampRequest:
    """One document to stamp, and why."""

    seal_id: str
    options: StampOptions
    case_number: str
    purpose: str
    document_name: str | None = None


@dataclass(frozen=True)
class StampedDocument:
    """The sealed PDF and its seal-use record."""

    result: StampResult
    use: SealUse
    input_sha256: str
    output_sha256: str


class StamperCache:
    """Warm :class:`SealStamper` objects of this process, one per seal material."""

    def __init__(self, keystore: KeyStore, *, limit: int = 64) -> None:
        self._keys = keystore
        self._limit = limit
        self._stampers: dict[str, SealStamper] = {}
        self._lock = threading.Lock()

    def get(self, material: SealMaterial) -> SealStamper:
        """The stamper for ``material`` (built on first use)."""
        key = material.cache_key
        with self._lock:
            stamper = self._stampers.get(key)
        if stamper is None:
            stamper = SealStamper(self._keys, material)
            with self._lock:
                if len(self._stampers) >= self._limit:
                    self._stampers.pop(next(iter(self._stampers)))
                stamper = self._stampers.setdefault(key, stamper)
        return stamper


class StampService:
    """Stamps documents within the caller's unit of work."""

    def __init__(self, session: Session, *, pki: PKI, crl: CRLPublisher, ocsp: OCSPResponder,
                 seals: SealService, uses: SealUseLog, stampers: StamperCache,
                 timestamper: Callable[[], TimeStamper], max_pdf_bytes: int) -> None:
        self._session = session
        self._pki = pki
        self._crl = crl
        self._ocsp = ocsp
        self.seals = seals
        self.uses = uses
        self._stampers = stampers
        self._timestamper = timestamper
        self.max_pdf_bytes = max_pdf_bytes

    def material(self, seal: Seal) -> SealMaterial:
        """What a stamping process needs to know about a seal (no secret)."""
        record = self._session.get(CertificateRecord, seal.certificate_id)
        assert record is not None
        chain = self._pki.chain(IssuedCertificate.of(record))[1:]
        public_key = load_der_x509_certificate(record.der).public_key()
        algorithm = KeyAlgorithm.of_public_key(public_key)  # type: ignore[arg-type]
        return SealMaterial(
            seal_id=seal.id, seal_code=seal.seal_code, key_handle=seal.key_handle,
            algorithm=algorithm, certificate_der=record.der,
            chain_der=tuple(bytes(ca.dump()) for ca in chain), image_png=seal.image_png,
            authority_key_ids=self._authority_key_ids(),
        )

    def _authority_key_ids(self) -> tuple[bytes, ...]:
        """Key identifiers of every CA of ours (root and issuing, current and earlier)."""
        ders = self._session.scalars(
            select(CertificateRecord.der)
            .where(CertificateRecord.role.in_((CertificateRole.ROOT_CA,
                                               CertificateRole.ISSUING_CA)))
            .order_by(CertificateRecord.id))
        return tuple(_key_identifier(der) for der in ders)

    def revocation(self, material: SealMaterial, level: SignatureLevel, *, at: datetime
                   ) -> RevocationMaterial | None:
        """CRLs and OCSP for B-LT/B-LTA (None for lower levels)."""
        if level not in (SignatureLevel.B_LT, SignatureLevel.B_LTA):
            return None
        return collect_revocation(self._pki, self._crl, self._ocsp, material.certificate_der,
                                  at=at)

    def stamp(self, request: StampRequest, pdf: bytes, *, client_id: str | None, actor: str,
              at: datetime, job_id: str | None = None) -> StampedDocument:
        """Authorise, stamp and record one document."""
        case_number, purpose = check_use_cause(request.case_number, request.purpose)
        seal = self.seals.require_usable(request.seal_id, client_id=client_id, at=at)
        material = self.material(seal)
        level = SignatureLevel(request.options.level)
        revocation = self.revocation(material, level, at=at)
        stamper = self._stampers.get(material)
        result = stamper.stamp(
            pdf, request.options,
            timestamper=None if level is SignatureLevel.B_B else self._timestamper(),
            validation_context=validation_context(revocation) if revocation else None,
            max_bytes=self.max_pdf_bytes,
        )
        input_sha = hashlib.sha256(pdf).hexdigest()
        output_sha = hashlib.sha256(result.pdf).hexdigest()
        # Recorded (and released) only if the seal is still active, held so that a
        # suspension waits for this use and takes effect after its time-stamp.
        self.seals.hold_for_use(seal.id)
        use = self.uses.record(
            seal_id=seal.id, client_id=client_id, actor=actor, at=at,
            case_number=case_number, purpose=purpose, document_name=request.document_name,
            input_sha256=input_sha, output_sha256=output_sha, field_name=result.field_name,
            level=result.level, placement=placement_record(result), job_id=job_id,
        )
        return StampedDocument(result, use, input_sha, output_sha)


@functools.cache
def _key_identifier(der: bytes) -> bytes:
    """A CA certificate's subject key identifier (its key's SHA-1 if it has none)."""
    certificate = asn1_x509.Certificate.load(der)
    return bytes(certificate.key_identifier or certificate.public_key.sha1)


def placement_record(result: StampResult) -> dict[str, object]:
    """What the seal-use log keeps about where and how a document was stamped."""
    record: dict[str, object] = dict(result.placement)
    record["certified"] = result.certified
    if result.docmdp is not None:
        record["docmdp"] = result.docmdp
    if result.repaired:
        record["repaired"] = True
    return record
