"""The verifier: a PDF, a licence identifier or a QR payload in; a report out.

Steps for a PDF:

1. examine the bytes (in a worker process with limits, or in-process): facts only;
2. look each signer up in the seal registry, and each signature's signed revision (by
   its SHA-256) in the licence registry, at the signing time (the proven one, else the
   time of verification): a match makes the document that licence, whatever its
   metadata says or later revisions appended (issue 13 §1);
3. run every check against the policy; the verdicts follow from the results.

A licence identifier is verified by its status in the registry and by re-verifying the
PDF issued for it; a QR payload is read by a :class:`QRPayloadReader` into an identifier
(our licence QR codes print ``{public_base_url}/v/{identifier}``; other payloads, such as
the holder's display codes, are read by readers the API wires in).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from . import checks
from .changepolicy import ChangeContext
from .checks import run
from .directories import LicenceDirectory, LicenceRecord, SealDirectory, SealRecord
from .evidence import DocumentEvidence, SignatureEvidence
from .licencecheck import LicenceIdentity, check_licence, check_licence_status
from .listedstatus import check_listed_status
from .policy import DEFAULT_POLICY, ValidationPolicy
from .report import SignatureReport, Subject, VerificationReport
from .verdict import CheckResult, Reason

if TYPE_CHECKING:
    from ..statuslist import VerifiedStatusList

__all__ = ["DocumentExaminer", "QRClaim", "QRPayloadReader", "Verifier"]


class DocumentExaminer(Protocol):
    """Turns bytes into evidence (an :class:`~.examine.Examiner` or a worker pool)."""

    def examine(self, data: bytes, *, at: datetime) -> DocumentEvidence:
        """Examine one document."""
        ...


@dataclass(frozen=True)
class QRClaim:
    """What a QR payload points at, and how the payload itself was checked."""

    identifier: str
    reason: Reason


class QRPayloadReader(Protocol):
    """Reads a scanned QR payload; raises UnsupportedPayloadError for unknown formats."""

    def read(self, payload: str, *, at: datetime) -> QRClaim:
        """The licence the payload names."""
        ...


class Verifier:
    """Verifies within one unit of work (the directories read the database)."""

    def __init__(self, examiner: DocumentExaminer, *, seals: SealDirectory,
                 licences: LicenceDirectory | None, policy: ValidationPolicy = DEFAULT_POLICY,
                 qr: QRPayloadReader | None = None,
                 status_list: VerifiedStatusList | None = None) -> None:
        """``licences`` None: no licence registry (offline, from a trust list); licence
        identifiers in documents are then judged by ``status_list`` (a verified status
        list, :mod:`.listedstatus`) or, without one, reported as not checked."""
        self.examiner = examiner
        self.seals = seals
        self.licences = licences
        self.policy = policy
        self.qr = qr
        self.status_list = status_list

    def with_policy(self, policy: ValidationPolicy) -> Verifier:
        """The same verifier under another policy (e.g. :data:`~.policy.FINAL_POLICY`)."""
        return Verifier(self.examiner, seals=self.seals, licences=self.licences,
                        policy=policy, qr=self.qr, status_list=self.status_list)

    # ------------------------------------------------------------------ entry points

    def verify_pdf(self, data: bytes, *, at: datetime, file_name: str | None = None
                   ) -> VerificationReport:
        """Verify a PDF document (steps 1 to 3)."""
        evidence = self.examiner.examine(data, at=at)
        return self.judge(evidence, at=at, file_name=file_name)

    def verify_identifier(self, identifier: str, *, at: datetime) -> VerificationReport:
        """A licence's status now, and the verdict on the PDF issued for it."""
        from .errors import VerificationError

        identifier = identifier.strip()
        if self.licences is None:
            raise VerificationError("no licence registry to ask (offline verification)",
                                    hint="verify the licence's PDF instead")
        licence = self.licences.licence(identifier, at=at, signed_at=None)
        status = run("licence-status", check_licence_status, licence, identifier)
        signatures: tuple[SignatureReport, ...] = ()
        if licence is not None and licence.pdf_sha256 is not None:
            issued = self.licences.issued_pdf(licence.identifier)
            if issued is not None:
                evidence = self.examiner.examine(issued, at=at)
                signatures = self.judge(evidence, at=at).signatures
        return VerificationReport(
            subject=Subject("identifier", None, None, None,
                            licence.identifier if licence else identifier),
            verified_at=at, document=(status,), signatures=signatures, licence=licence)

    def verify_qr(self, payload: str, *, at: datetime) -> VerificationReport:
        """A scanned QR payload: what it names, verified as an identifier."""
        from .errors import CheckFailedError, UnsupportedPayloadError

        if self.qr is None:
            raise UnsupportedPayloadError("this verifier reads no QR payloads")
        try:
            claim = self.qr.read(payload, at=at)
        except CheckFailedError as failure:
            return VerificationReport(
                subject=Subject("qr", None, None, None, None), verified_at=at,
                document=(CheckResult.problem("qr-payload", failure.sub_indication,
                                              failure.reason),),
                signatures=(), licence=None)
        report = self.verify_identifier(claim.identifier, at=at)
        return VerificationReport(
            subject=Subject("qr", None, None, None, report.subject.identifier),
            verified_at=at, document=(CheckResult.passed("qr-payload", claim.reason),
                                      *report.document),
            signatures=report.signatures, licence=report.licence)

    # ------------------------------------------------------------------ judgement

    def judge(self, evidence: DocumentEvidence, *, at: datetime,
              file_name: str | None = None) -> VerificationReport:
        """Steps 2 and 3 for examined evidence."""
        document = (
            run("document-readable", checks.check_document_readable, evidence),
            run("document-signed", checks.check_document_signed, evidence),
            run("file-layout", checks.check_layout, evidence),
        )
        seals = [self._seal(item, at) for item in evidence.signatures]
        # Fields holding a registered seal: the final rule lets one fill a reserved field.
        registered = [item.field for item, seal in zip(evidence.signatures, seals, strict=True)
                      if seal is not None]
        identity = LicenceIdentity(tuple(
            (item.field, record) for item in evidence.signatures
            if (record := self._licence(item, at)) is not None), evidence.licence_claims)
        signatures = tuple(self._signature(item, seal, identity, at, registered)
                           for item, seal in zip(evidence.signatures, seals, strict=True))
        licence = identity.record
        return VerificationReport(
            subject=Subject("pdf", evidence.sha256, evidence.size, file_name,
                            licence.identifier if licence else None),
            verified_at=at, document=document, signatures=signatures, licence=licence)

    def _seal(self, evidence: SignatureEvidence, at: datetime) -> SealRecord | None:
        moment = evidence.chain.moment if evidence.chain is not None else at
        if evidence.kind == "signature" and evidence.signer is not None:
            return self.seals.seal_for_certificate(evidence.signer.der, signed_at=moment)
        return None

    def _licence(self, evidence: SignatureEvidence, at: datetime) -> LicenceRecord | None:
        """The licence (or use-copy) this signature's signed revision is, by its digest:
        one indexed query per signature. Any signature qualifies, not only a registered
        seal's: the signed revision ends with the signature's own value, so only the
        signature the registry made has the recorded digest (a seal since rekeyed
        included). Document time-stamps seal no licence."""
        digest = evidence.signed_bytes_sha256
        if self.licences is None or not self.policy.check_licences or digest is None \
                or evidence.kind != "signature":
            return None
        moment = evidence.chain.moment if evidence.chain is not None else at
        return self.licences.licence_by_signed_digest(digest, at=at, signed_at=moment)

    def _signature(self, evidence: SignatureEvidence, seal: SealRecord | None,
                   identity: LicenceIdentity, at: datetime, registered: list[str]
                   ) -> SignatureReport:
        policy = self.policy
        context = ChangeContext.of(evidence, registered=seal is not None,
                                   registered_fields=registered)
        if self.licences is None and evidence.licence_identifier \
                and self.status_list is not None:
            licence_check = run("licence", check_listed_status, evidence, self.status_list, at)
        elif self.licences is None and evidence.licence_identifier:
            # Offline: only the signed revision's own identifier is named (metadata
            # appended later never changes which licence is meant).
            identifier = evidence.licence_identifier
            licence_check = CheckResult.not_applicable("licence", Reason(
                "licence.offline",
                f"未查询证照库（离线核验）：电子证照 {identifier} 的状态请联网查询",
                f"the licence registry was not consulted (offline): check licence "
                f"{identifier} online"))
        else:
            licence_check = run("licence", check_licence, evidence, identity, policy)
        return SignatureReport(
            evidence=evidence, seal=seal, licence=identity.of(evidence.field),
            format=run("format", checks.check_format, evidence),
            integrity=run("integrity", checks.check_integrity, evidence),
            changes=run("changes", checks.check_changes, evidence, policy, context),
            certificate=run("certificate", checks.check_certificate, evidence),
            revocation=run("revocation", checks.check_revocation, evidence),
            timing=run("timing", checks.check_timing, evidence, policy),
            registration=run("seal", checks.check_registration, evidence, seal, policy),
            licence_check=licence_check,
            seed_values=run("seed-values", checks.check_seed_values, evidence),
            warnings=checks.change_warnings(evidence, policy, context),
        )
