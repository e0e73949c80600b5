"""Examining a PDF: every signature's integrity, coverage, later changes, time and chain.

The :class:`Examiner` turns bytes into :class:`~.evidence.DocumentEvidence` and never
judges. It is built once per process over the trust material (anchors, CRLs) and runs the
steps below for each document, treating the input as hostile throughout: decode limits
on every stream, a cap on signatures and revisions, and every failure to parse recorded
as a format problem of that signature instead of an exception.

1. Size and header; the document's SHA-256.
2. Open with pyHanko (strict, with decode limits); count revisions.
3. Enumerate the signature fields of the AcroForm ourselves: pyHanko's own list skips
   signatures with an unknown /SubFilter, which would hide them from the verdict.
4. Per signature:
   a. frame check: /ByteRange is ``[0 a b c]`` and the gap holds exactly this signature
      dictionary's /Contents (signature wrapping moves the ranges);
   b. coverage and difference analysis of every later revision (pyHanko), with a
      summary of the objects each later revision added or changed, and what each later
      revision did structure by structure (:mod:`.modifications`, once per document);
   c. the signature time-stamp: validated at its own time; when trusted, its time is the
      proven signing time;
   d. integrity (digest, signature value) and the signer's chain, validated at the
      proven signing time (else now), with revocation data from the document's DSS first
      and our own CRLs; then our CRLs' revocation index, the authoritative answer for
      certificates we issued;
   e. the licence identifier (/ZZBS) of the document information in the signed revision
      (named when the registry cannot be asked; which licence a document is follows from
      the signed revision's digest alone).
5. Every licence identifier the document claims, in any revision (:mod:`.claims`).
6. The file layout after the earliest signed revision (:mod:`.layout`): every byte
   belongs to a well-formed incremental update.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, replace
from datetime import datetime
from io import BytesIO
from typing import Any, TypeVar

from asn1crypto import cms, crl, ocsp, tsp, x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.crypt import AuthStatus, StandardSecurityHandler
from pyhanko.pdf_utils.decode_limits import (
    DecodeLimits,
    DecodePurpose,
    DocumentDecodeBudget,
    StreamDecodeLimits,
)
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import DEFAULT_DIFF_POLICY, DiffResult, SuspiciousModification
from pyhanko.sign.fields import enumerate_sig_fields
from pyhanko.sign.general import extract_signer_info
from pyhanko.sign.validation import generic_cms
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.errors import NoDSSFoundError
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import PdfSignatureStatus, TimestampSignatureStatus
from pyhanko.sign.validation.utils import CMSAlgorithmUsagePolicy
from pyhanko_certvalidator import ValidationContext

from .. import _asn1fix
from . import _speedups
from .cadesattrs import signed_attribute_problem
from .changes import describe_changes
from .claims import licence_claims, trailer_entry
from .errors import DocumentTooLargeError, EncryptedDocumentError, NotAPDFError
from .evidence import (
    CertificateFacts,
    ChainFacts,
    ChangeFacts,
    DocumentEvidence,
    LicenceClaim,
    SignatureEvidence,
    TimestampFacts,
)
from .layout import LayoutFacts, account, hybrid_reference
from .material import PreparedMaterial, TrustMaterial
from .modifications import RevisionHistory
from .policy import ChangeLevel, ExaminationLimits
from .seedvalues import seed_value_facts

__all__ = ["Examiner", "is_pdf"]

_asn1fix.apply()
_speedups.apply()

# pyHanko logs every failed validation as a warning with a traceback; the verdict says it.
for _name in ("pyhanko", "pyhanko_certvalidator", "pyhanko.sign.validation"):
    logging.getLogger(_name).setLevel(logging.ERROR)

_HEADER_WINDOW = 1024
_WHITESPACE = b"\x00\t\n\x0c\r "
_SIG_SUBFILTERS = ("/adbe.pkcs7.detached", "/ETSI.CAdES.detached")
_TS_SUBFILTERS = ("/ETSI.RFC3161",)
_T = TypeVar("_T")
_TRUSTED_PATHS = 10_000


def is_pdf(data: bytes) -> bool:
    """Whether ``data`` starts like a PDF (ISO 32000-1 §7.5.2 allows leading bytes)."""
    return b"%PDF-" in data[:_HEADER_WINDOW]


class _Format(Exception):  # noqa: N818 - internal signal
    """A signature cannot be read; the message goes into its evidence."""


class _AttributeProblem(_Format):
    """The CMS signed attributes are not a valid CAdES set (:mod:`.cadesattrs`)."""


_loops = threading.local()


def _run(coroutine: Coroutine[Any, Any, _T]) -> _T:
    loop = getattr(_loops, "loop", None)
    if loop is None:
        loop = _loops.loop = asyncio.new_event_loop()
    return loop.run_until_complete(coroutine)


def _name_attr(name: x509.Name, attribute: str) -> str | None:
    for rdn in name.chosen:
        for item in rdn:
            if item["type"].native == attribute:
                value = item["value"].native
                return str(value) if value is not None else None
    return None


def certificate_facts(certificate: x509.Certificate) -> CertificateFacts:
    """What people and registries need to know about a certificate."""
    der = bytes(certificate.dump())
    subject = certificate.subject
    return CertificateFacts(
        der=der,
        sha256=hashlib.sha256(der).hexdigest(),
        serial_hex=format(certificate.serial_number, "x"),
        subject=subject.human_friendly,
        common_name=_name_attr(subject, "common_name"),
        organisation=_name_attr(subject, "organization_name"),
        organisation_identifier=_name_attr(subject, "organization_identifier"),
        serial_number=_name_attr(subject, "serial_number"),
        issuer=certificate.issuer.human_friendly,
        not_before=certificate.not_valid_before,
        not_after=certificate.not_valid_after,
        self_issued=certificate.self_issued,
    )


class _DocumentRevinfo:
    """Certificates and revocation data of the document's DSS (read once per document)."""

    def __init__(self, reader: PdfFileReader) -> None:
        self.certs: list[x509.Certificate] = []
        self.crls: list[crl.CertificateList] = []
        self.ocsps: list[ocsp.OCSPResponse] = []
        self.problem: str | None = None
        try:
            dss = DocumentSecurityStore.read_dss(reader)
        except NoDSSFoundError:
            return
        except Exception as exc:
            self.problem = f"the document security store cannot be read ({_describe(exc)})"
            return
        try:
            self.certs = list(dss.load_certs())
            for ref in dss.crls:
                self.crls.append(crl.CertificateList.load(
                    ref.get_object().read_data(DecodePurpose.CRL)))
            for ref in dss.ocsps:
                self.ocsps.append(ocsp.OCSPResponse.load(
                    ref.get_object().read_data(DecodePurpose.OCSP_RESPONSE)))
        except Exception as exc:
            self.certs, self.crls, self.ocsps = [], [], []
            self.problem = f"the validation data cannot be read ({_describe(exc)})"

    def crls_for(self, prepared: PreparedMaterial) -> list[crl.CertificateList]:
        """The DSS CRLs of other CAs than ours, without any that reuse the signature
        value of another CRL with other content (certvalidator recognises a known CRL
        issuer by signature value, and we tell it the issuers of our CRLs).

        Our current CRLs are the authority on our certificates, and an older one can
        list a hold since lifted (a seal suspended, then resumed): anyone could add it
        to a document sealed after the resumption and fail it. So ours are left out."""
        if not self.crls:
            return []
        by_signature: dict[bytes, bytes] = {
            bytes(item["signature"].native): bytes(item.dump())
            for item, _issuer in prepared.crl_issuers}
        kept = []
        for item in self.crls:
            if prepared.is_our_authority(item.issuer):
                continue
            signature, encoded = bytes(item["signature"].native), bytes(item.dump())
            if by_signature.setdefault(signature, encoded) == encoded:
                kept.append(item)
        return kept

    def ocsps_for(self, prepared: PreparedMaterial) -> list[ocsp.OCSPResponse]:
        """The DSS OCSP responses about other CAs' certificates (see :meth:`crls_for`:
        an old answer of our responder can report a lifted hold)."""
        return [item for item in self.ocsps if not prepared.answers_for_ours(item)]

    def used(self, prepared: PreparedMaterial) -> bool:
        """Whether validation takes any revocation data from the DSS."""
        return bool(self.crls_for(prepared) or self.ocsps_for(prepared))


class Examiner:
    """Examines documents against one set of trust material; one per process."""

    def __init__(self, material: TrustMaterial, limits: ExaminationLimits) -> None:
        self.material = material
        self.prepared = PreparedMaterial.of(material)
        self.limits = limits
        self._trusted: dict[tuple[bytes, Any], _TrustedPath] = {}
        self._algorithms = CMSAlgorithmUsagePolicy.lift_policy(
            ValidationContext(trust_roots=[], allow_fetching=False).algorithm_policy)
        self._decode_limits = DecodeLimits(
            per_stream=StreamDecodeLimits(max_output_size=limits.max_stream_bytes),
            document_budget=DocumentDecodeBudget(base_allowance=limits.max_decoded_total,
                                                 max_ratio=0),
        )

    @property
    def fingerprint(self) -> str:
        """The trust material's fingerprint."""
        return self.prepared.fingerprint

    # ------------------------------------------------------------------ document

    def examine(self, data: bytes, *, at: datetime) -> DocumentEvidence:
        """Examine one document (steps 1 to 4 of the module docstring)."""
        if len(data) > self.limits.max_bytes:
            raise DocumentTooLargeError(
                f"the document is {len(data)} bytes; the limit is {self.limits.max_bytes}",
                hint="verify a smaller file, or ask an administrator to raise the limit")
        if not is_pdf(data):
            raise NotAPDFError("the file is not a PDF document",
                               hint="upload the sealed PDF itself, not a scan or a picture")
        digest = hashlib.sha256(data).hexdigest()

        def finding(problem: str, *, revisions: int = 0,
                    signatures: tuple[SignatureEvidence, ...] = (),
                    empty: tuple[str, ...] = (), layout: LayoutFacts | None = None,
                    claims: tuple[LicenceClaim, ...] = ()) -> DocumentEvidence:
            return DocumentEvidence(
                sha256=digest, size=len(data), revisions=revisions, signatures=signatures,
                empty_fields=empty, problem=problem or None, layout=layout,
                examined_at=at, material=self.fingerprint, licence_claims=claims)

        try:
            reader = PdfFileReader(BytesIO(data), strict=True,
                                   decode_limits=self._decode_limits)
            locked = reader.encrypted and not _opens_without_password(reader)
            revisions = reader.xrefs.total_revisions
        except RecursionError:
            return finding("the document's objects are nested too deeply to read")
        except Exception as exc:
            return finding(f"the document cannot be read as PDF ({_describe(exc)})")
        if locked:
            raise EncryptedDocumentError(
                "the document is encrypted with a password (or for named recipients), so "
                "its content cannot be read and its signatures cannot be verified",
                hint="ask the sender for the document as sealed, without a password")
        if revisions > self.limits.max_revisions:
            return finding(f"the document has {revisions} revisions; at most "
                           f"{self.limits.max_revisions} are examined", revisions=revisions)
        try:
            fields = self._fields(reader)
        except _Format as problem:
            return finding(str(problem), revisions=revisions)
        filled = [(name, ref) for name, value, ref in fields if value is not None]
        empty = tuple(name for name, value, _ref in fields if value is None)
        if len(filled) > self.limits.max_signatures:
            return finding(f"the document has {len(filled)} signatures; at most "
                           f"{self.limits.max_signatures} are examined",
                           revisions=revisions, empty=empty)
        revinfo = _DocumentRevinfo(reader) if filled else None
        history = RevisionHistory(reader)
        signatures = []
        for name, ref in filled:
            assert revinfo is not None
            signatures.append(self._signature(reader, data, name, ref, revinfo=revinfo,
                                              history=history, at=at))
        signatures.sort(key=lambda item: (item.signed_revision is None,
                                          item.signed_revision or 0))
        # Unreadable validation data (a decompression bomb in the DSS, say) makes the
        # document malformed, whatever the signatures say.
        dss_problem = revinfo.problem if revinfo is not None else None
        return finding(dss_problem or "", revisions=revisions, signatures=tuple(signatures),
                       empty=empty, layout=_layout(data, reader, signatures),
                       claims=licence_claims(reader))

    @staticmethod
    def _fields(reader: PdfFileReader) -> list[tuple[str, Any, Any]]:
        try:
            return [(str(name), value, ref)
                    for name, value, ref in enumerate_sig_fields(reader, filled_status=None)]
        except RecursionError:
            raise _Format("the form fields are nested too deeply") from None
        except Exception as exc:
            raise _Format(f"the signature fields cannot be read ({_describe(exc)})") from None

    # ------------------------------------------------------------------ signature

    def _signature(self, reader: PdfFileReader, data: bytes, name: str, ref: Any, *,
                   revinfo: _DocumentRevinfo, history: RevisionHistory, at: datetime
                   ) -> SignatureEvidence:
        kind, subfilter = "signature", None
        try:
            sig_object = ref.get_object()["/V"].get_object()
            kind = "document-timestamp" if sig_object.get("/Type") == "/DocTimeStamp" \
                else "signature"
            raw_subfilter = sig_object.get("/SubFilter")
            subfilter = str(raw_subfilter) if raw_subfilter is not None else None
            accepted = _TS_SUBFILTERS if kind == "document-timestamp" else _SIG_SUBFILTERS
            if subfilter not in accepted:
                raise _Format(f"unsupported /SubFilter {subfilter or '(none)'}")
            assert subfilter is not None
            _refuse_hybrid(reader)
            embedded = EmbeddedPdfSignature(reader, ref.get_object(), name)
            byte_range = _check_frame(data, embedded)
            return self._examine_signature(reader, embedded, kind=kind, subfilter=subfilter,
                                           byte_range=byte_range, data=data, revinfo=revinfo,
                                           history=history, at=at)
        except _AttributeProblem as problem:
            return replace(_unreadable(name, kind, subfilter, str(problem)),
                           attribute_problem=str(problem))
        except _Format as problem:
            return _unreadable(name, kind, subfilter, str(problem))
        except RecursionError:
            return _unreadable(name, kind, subfilter, "the signature's objects are nested "
                               "too deeply to read")
        except Exception as exc:
            return _unreadable(name, kind, subfilter,
                               f"the signature cannot be read ({_describe(exc)})")

    def _examine_signature(self, reader: PdfFileReader, embedded: EmbeddedPdfSignature, *,
                           kind: str, subfilter: str, byte_range: tuple[int, ...],
                           data: bytes, revinfo: _DocumentRevinfo, history: RevisionHistory,
                           at: datetime) -> SignatureEvidence:
        signed_revision = int(embedded.signed_revision)
        changes = self._changes(reader, embedded, signed_revision, history)
        signed_end = byte_range[2] + byte_range[3]
        signed_sha = hashlib.sha256(data[:signed_end]).hexdigest()
        certifies = _certifies(reader, embedded)
        docmdp = embedded.docmdp_level
        identifier, metadata = _licence_metadata(reader, signed_revision)
        timestamp: TimestampFacts | None
        seed_values = None
        if kind == "document-timestamp":
            timestamp, chain, signer, intact, valid, detail = self._document_timestamp(
                embedded, revinfo)
            claimed = None
        else:
            attributes = signed_attribute_problem(embedded.signed_data, subfilter=subfilter)
            if attributes is not None:
                raise _AttributeProblem(attributes)
            timestamp = self._timestamp(embedded.signer_info, revinfo)
            proven = timestamp.time if timestamp is not None and timestamp.trusted else None
            moment = proven or at
            status = self._signer(embedded.signed_data, embedded.compute_digest(), revinfo,
                                  moment, PdfSignatureStatus)
            intact, valid, detail = status["intact"], status["valid"], None
            signer = certificate_facts(status["signing_cert"])
            chain = self._chain(status, moment, revinfo)
            claimed = embedded.self_reported_timestamp
            seed_values = seed_value_facts(embedded, status.get("validation_path"),
                                           proven is not None)
        return SignatureEvidence(
            field=embedded.field_name, kind=kind, subfilter=subfilter, format_problem=None,
            byte_range=byte_range, signed_revision=signed_revision,
            signed_bytes_sha256=signed_sha,
            docmdp=int(docmdp.value) if docmdp is not None else None, certifies=certifies,
            intact=intact, valid=valid, crypto_detail=detail, signer=signer, chain=chain,
            timestamp=timestamp, claimed_time=claimed, changes=changes,
            licence_identifier=identifier, licence_metadata=metadata,
            seed_values=seed_values,
        )

    def _changes(self, reader: PdfFileReader, embedded: EmbeddedPdfSignature,
                 signed_revision: int, history: RevisionHistory) -> ChangeFacts:
        try:
            embedded.compute_integrity_info(  # type: ignore[no-untyped-call]
                diff_policy=DEFAULT_DIFF_POLICY)
            coverage = embedded.coverage.name if embedded.coverage is not None else "UNCLEAR"
            result = embedded.diff_result
        except RecursionError:
            raise
        except Exception as exc:
            coverage = embedded.coverage.name if embedded.coverage is not None else "UNCLEAR"
            result = SuspiciousModification(f"the changes cannot be analysed "
                                            f"({_describe(exc)})")
        suspicious = None
        changed: tuple[str, ...] = ()
        if isinstance(result, DiffResult):
            level: ChangeLevel | None = ChangeLevel(result.modification_level.value)
            if result.changed_form_fields:
                signature_fields = {name for name, _value, _ref in _safe_fields(reader)}
                changed = tuple(sorted(str(name) for name in result.changed_form_fields
                                       if str(name) not in signature_fields))
        else:
            level = ChangeLevel.OTHER
            suspicious = str(result) if result is not None else "the coverage is unclear"
        later = max(0, reader.xrefs.total_revisions - 1 - signed_revision)
        summary = describe_changes(reader, signed_revision) if later else ()
        modifications = history.after(signed_revision) if later else ()
        return ChangeFacts(coverage=coverage, level=level, later_revisions=later,
                           changed_fields=changed, suspicious=suspicious, summary=summary,
                           modifications=modifications)

    # ------------------------------------------------------------------ time and trust

    def _context(self, moment: datetime, revinfo: _DocumentRevinfo,
                 extra_certs: list[x509.Certificate]) -> ValidationContext:
        prepared = self.prepared
        document_crls = revinfo.crls_for(prepared)
        context = ValidationContext(
            trust_roots=prepared.trust_roots,
            other_certs=[*prepared.intermediates, *revinfo.certs, *extra_certs],
            crls=[*document_crls, *prepared.crls],
            ocsps=revinfo.ocsps_for(prepared),
            moment=moment,
            allow_fetching=False,
            revocation_mode="require",
            # Revocation data newer than the moment is evidence for the moment: "not on
            # today's CRL" means "not revoked at the signing time", and a revocation after
            # it does not count. The one exception, a hold since lifted (a seal that was
            # suspended, then resumed), leaves the CRL: whether the seal was suspended at
            # the signing time is the seal registry's state history to say
            # (checks.check_registration), which fails such a signature whatever the CRL.
            retroactive_revinfo=True,
        )
        # Our CRLs' issuers were verified once per process (PreparedMaterial): tell
        # certvalidator, so it does not re-validate the CRL issuer's path per document.
        for certificate_list, issuer in prepared.crl_issuers:
            context.revinfo_manager.record_crl_issuer(  # type: ignore[no-untyped-call]
                certificate_list, issuer)
        return context

    def _timestamp(self, signer_info: cms.SignerInfo, revinfo: _DocumentRevinfo
                   ) -> TimestampFacts | None:
        tokens = list(generic_cms.extract_tst_data_iter(signer_info, signed=False))
        if not tokens:
            return None
        try:
            status = self._tst_status(tokens[0], generic_cms.message_imprint_checker(
                signer_info), revinfo)
        except _Format:
            raise
        except Exception as exc:
            raise _Format(f"the signature time-stamp cannot be read ({_describe(exc)})"
                          ) from None
        return _timestamp_facts(status, self.prepared)

    def _tst_status(self, token: cms.SignedData, imprint: Any, revinfo: _DocumentRevinfo
                    ) -> dict[str, Any]:
        """pyHanko's ``validate_tst_signed_data``, at the token's own time, through the
        trusted-path cache."""
        info = token["encap_content_info"]["content"].parsed
        if not isinstance(info, tsp.TSTInfo):
            raise _Format("the time-stamp holds no TSTInfo")
        moment = info["gen_time"].native
        status = self._basic(token, None, revinfo, moment, TimestampSignatureStatus)
        status["timestamp"] = moment
        expected = imprint(info["message_imprint"]["hash_algorithm"]["algorithm"].native)
        if expected != info["message_imprint"]["hashed_message"].native:
            status["intact"] = False
        return status

    def _signer(self, signed_data: cms.SignedData, digest: bytes, revinfo: _DocumentRevinfo,
                moment: datetime, status_class: Any) -> dict[str, Any]:
        return self._basic(signed_data, digest, revinfo, moment, status_class)

    def _basic(self, signed_data: cms.SignedData, digest: bytes | None,
               revinfo: _DocumentRevinfo, moment: datetime, status_class: Any
               ) -> dict[str, Any]:
        """Integrity and trust of a CMS signature at ``moment`` (pyHanko's
        ``cms_basic_validation``), skipping path validation for a certificate whose
        whole path was validated before (see :class:`_TrustedPath`)."""
        try:
            fast = self._cached_basic(signed_data, digest, moment, status_class)
            if fast is not None:
                return fast
            result: dict[str, Any] = _run(generic_cms.cms_basic_validation(
                signed_data, raw_digest=digest,
                validation_context=self._context(moment, revinfo, []),
                key_usage_settings=status_class.default_usage_constraints()))
        except _Format:
            raise
        except Exception as exc:
            raise _Format(f"the signature's CMS structure is invalid ({_describe(exc)})"
                          ) from None
        self._remember(result, moment, status_class)
        return result

    def _cached_basic(self, signed_data: cms.SignedData, digest: bytes | None,
                      moment: datetime, status_class: Any) -> dict[str, Any] | None:
        certificate = generic_cms.extract_certs_for_validation(signed_data).signer_cert
        trusted = self._trusted.get((certificate.sha256, status_class))
        if trusted is None or not trusted.covers(moment):
            return None
        signer_info = extract_signer_info(signed_data)
        try:
            generic_cms._enforce_algorithm_usage(  # as cms_basic_validation does
                signer_info, certificate, self._algorithms, moment)
        except Exception:
            return None  # the full validation reports it
        content = signed_data["encap_content_info"]
        md_algorithm = signer_info["digest_algorithm"]["algorithm"].native
        if digest is None:
            digest = hashlib.new(md_algorithm, bytes(content["content"])).digest()
        intact, valid = generic_cms.validate_sig_integrity(
            signer_info, certificate, expected_content_type=content["content_type"].native,
            actual_digest=digest)
        return {
            "intact": intact, "valid": valid, "signing_cert": certificate,
            "md_algorithm": md_algorithm,
            "pkcs7_signature_mechanism": signer_info["signature_algorithm"]["algorithm"].native,
            "trust_problem_indic": None, "validation_path": trusted.path if valid else None,
            "revocation_details": None, "error_time_horizon": None,
            "qualification_result": None, "validation_time": moment,
        }

    def _remember(self, status: dict[str, Any], moment: datetime, status_class: Any) -> None:
        """Cache a path that validated, when every certificate on it is ours and none
        is on our CRLs (our CRLs are authoritative for those; a revocation changes the
        material, which starts a fresh examiner)."""
        path = status.get("validation_path")
        if path is None or status.get("trust_problem_indic") is not None \
                or status.get("revocation_details") is not None \
                or not (status.get("intact") and status.get("valid")):
            return
        prepared = self.prepared
        certs = list(path.iter_certs(include_root=True))
        if hashlib.sha256(certs[0].dump()).hexdigest() not in prepared.own_root_sha256:
            return
        if not all(prepared.issued_by_us(item) and prepared.revocation(item) is None
                   for item in certs[1:]):
            return
        if len(self._trusted) >= _TRUSTED_PATHS:
            self._trusted.clear()
        self._trusted[(certs[-1].sha256, status_class)] = _TrustedPath(
            path=path, not_before=max(item.not_valid_before for item in certs),
            not_after=min(item.not_valid_after for item in certs))

    def _chain(self, status: dict[str, Any], moment: datetime, revinfo: _DocumentRevinfo
               ) -> ChainFacts:
        prepared = self.prepared
        certificate: x509.Certificate = status["signing_cert"]
        path = status.get("validation_path")
        problem = status.get("trust_problem_indic")
        certs: list[x509.Certificate] = list(path.iter_certs(include_root=True)) \
            if path is not None else [certificate]
        anchor = certs[0] if path is not None else None
        anchor_sha = hashlib.sha256(anchor.dump()).hexdigest() if anchor is not None else None
        revoked_at = reason = None
        ca_revoked = False
        details = status.get("revocation_details")
        if details is not None:
            revoked_at = details.revocation_date
            reason = details.revocation_reason.native \
                if details.revocation_reason is not None else None
            ca_revoked = bool(details.ca_revoked)
        # Our own CRLs are authoritative for what we issued, whatever a DSS says.
        revoked_later = revoked_later_reason = None
        for item in certs if path is not None else [certificate]:
            if not prepared.issued_by_us(item):
                continue
            entry = prepared.revocation(item)
            if entry is None:
                continue
            is_leaf = item.dump() == certificate.dump()
            # As certvalidator: revoked only if strictly before the moment. CRLs and
            # time-stamps carry whole seconds, so within the same second the order is
            # unknown and the signature gets the benefit of the doubt.
            if entry.revoked_at >= moment:
                if is_leaf:
                    revoked_later, revoked_later_reason = entry.revoked_at, entry.reason
                continue
            if revoked_at is None or entry.revoked_at < revoked_at:
                revoked_at, reason, ca_revoked = entry.revoked_at, entry.reason, not is_leaf
        source = [name for name, used in (("dss", revinfo.used(prepared)),
                                          ("service", prepared.issued_by_us(certificate)))
                  if used]
        trusted = path is not None and problem is None and revoked_at is None \
            and bool(status.get("intact")) and bool(status.get("valid"))
        problem_name = problem.standard_name if problem is not None else None
        if revoked_at is not None and problem_name in (None, "CERTIFICATE_CHAIN_GENERAL_FAILURE"):
            problem_name = "REVOKED_CA_NO_POE" if ca_revoked else "REVOKED_NO_POE"
        if problem_name == "CERTIFICATE_CHAIN_GENERAL_FAILURE" and path is not None and any(
                not prepared.issued_by_us(item) for item in certs[1:]):
            # We never fetch: for a chain of an external CA, a general failure means the
            # document carried no (or no usable) revocation data for it.
            problem_name = "TRY_LATER"
        return ChainFacts(
            moment=moment, trusted=trusted, problem=problem_name,
            detail=None, anchor=anchor.subject.human_friendly if anchor is not None else None,
            anchor_sha256=anchor_sha,
            anchor_is_ours=anchor_sha is not None and anchor_sha in prepared.own_root_sha256,
            path=tuple(item.subject.human_friendly for item in certs),
            revoked_at=revoked_at, revocation_reason=reason, ca_revoked=ca_revoked,
            revocation_source="+".join(source) or None, revoked_later_at=revoked_later,
            issued_here=prepared.signed_by_us(certificate),
            revoked_later_reason=revoked_later_reason,
        )

    def _document_timestamp(self, embedded: EmbeddedPdfSignature, revinfo: _DocumentRevinfo
                            ) -> tuple[TimestampFacts, ChainFacts, CertificateFacts, bool, bool,
                                       str | None]:
        status = self._tst_status(embedded.signed_data, embedded.compute_digest, revinfo)
        facts = _timestamp_facts(status, self.prepared)
        return (facts, self._chain(status, facts.time, revinfo),
                certificate_facts(status["signing_cert"]), bool(status["intact"]),
                bool(status["valid"]), None)


# ---------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class _TrustedPath:
    """A certificate path validated once: reused for a later moment inside every
    certificate's validity. What a path validation establishes that does not depend on
    the moment (signatures on the certificates, name chaining, basic constraints, key
    usage, policies) cannot change; what does (validity, revocation) is re-checked for
    every signature: validity here, revocation from our CRLs in :meth:`Examiner._chain`.
    Only paths of our own certificates up to our root are cached; the cache lives in the
    examiner, which is rebuilt when the trust material (CRLs, anchors) changes."""

    path: Any
    not_before: datetime
    not_after: datetime

    def covers(self, moment: datetime) -> bool:
        """Whether every certificate of the path is valid at ``moment``."""
        return self.not_before <= moment <= self.not_after


def _timestamp_facts(status: dict[str, Any], prepared: PreparedMaterial) -> TimestampFacts:
    result = TimestampSignatureStatus(**status)
    authority = result.signing_cert
    return TimestampFacts(
        time=result.timestamp, intact=result.intact, valid=result.valid,
        trusted=result.trusted, tsa=authority.subject.human_friendly,
        problem=result.trust_problem_indic.standard_name
        if result.trust_problem_indic is not None else None,
        tsa_sha256=hashlib.sha256(authority.dump()).hexdigest(),
        tsa_issued_here=prepared.signed_by_us(authority))


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def _unreadable(name: str, kind: str, subfilter: str | None, problem: str
                ) -> SignatureEvidence:
    return SignatureEvidence(
        field=name, kind=kind, subfilter=subfilter, format_problem=problem, byte_range=None,
        signed_revision=None, signed_bytes_sha256=None, docmdp=None, certifies=False,
        intact=None, valid=None, crypto_detail=None, signer=None, chain=None, timestamp=None,
        claimed_time=None, changes=None, licence_identifier=None, licence_metadata=(),
    )


def _opens_without_password(reader: PdfFileReader) -> bool:
    """ISO 32000-1 §7.6.3.3: a document whose user password is empty opens for anyone.
    Its signatures cover the encrypted bytes as stored (§12.8.1), so once pyHanko holds
    the key it is verified like any other; a password or a certificate we lack keeps it
    closed."""
    if not isinstance(reader.security_handler, StandardSecurityHandler):
        return False
    try:
        result = reader.decrypt(b"")
    except Exception:
        return False
    return result.status is not AuthStatus.FAILED


def _refuse_hybrid(reader: PdfFileReader) -> None:
    """ISO 32000-1 §7.5.8.4: a hybrid-reference file's table hides from PDF 1.4 readers
    the objects its /XRefStm stream lists, so readers may see different documents;
    pyHanko refuses to validate signatures in such files. Say so, rather than let the
    refusal pass for a coverage problem."""
    hybrid = hybrid_reference(reader)
    if hybrid is not None:
        table, stream = hybrid
        raise _Format(f"the document uses a hybrid cross-reference (the table at offset "
                      f"{table} also points at a cross-reference stream at offset {stream} "
                      "with /XRefStm): readers that ignore the stream see other objects, so "
                      "no signature in it can be verified")


def _check_frame(data: bytes, embedded: EmbeddedPdfSignature) -> tuple[int, ...]:
    """/ByteRange must be [0 a b c] whose gap holds exactly this signature's /Contents."""
    raw = embedded.byte_range
    if not isinstance(raw, generic.ArrayObject) or len(raw) != 4 or \
            not all(isinstance(item, int) and not isinstance(item, bool) for item in raw):
        raise _Format("/ByteRange is not an array of four integers")
    start, first, second, length = (int(item) for item in raw)
    if start != 0 or first <= 0 or second <= first or length < 0 \
            or second + length > len(data):
        raise _Format(f"/ByteRange [{start} {first} {second} {length}] does not describe "
                      "two ranges of this file around the signature")
    contents = embedded.pkcs7_content
    if not contents or not contents.strip(b"\x00"):
        raise _Format("/Contents is empty")
    gap = data[first:second]
    if len(gap) < 2 or gap[:1] != b"<" or gap[-1:] != b">":
        raise _Format("the /ByteRange gap is not the signature's hex string")
    digits = gap[1:-1].translate(None, _WHITESPACE)
    try:
        framed = bytes.fromhex(digits.decode("ascii"))
    except ValueError:
        raise _Format("the /ByteRange gap is not the signature's hex string") from None
    if framed != contents:
        raise _Format("the /ByteRange gap does not hold this signature's /Contents")
    return start, first, second, length


def _certifies(reader: PdfFileReader, embedded: EmbeddedPdfSignature) -> bool:
    try:
        perms = reader.root["/Perms"]
        certification = perms.raw_get("/DocMDP")
        own = embedded.sig_field.raw_get("/V")
    except (KeyError, TypeError, AttributeError):
        return False
    return bool(isinstance(certification, generic.IndirectObject)
                and isinstance(own, generic.IndirectObject)
                and certification.reference == own.reference)


def _licence_metadata(reader: PdfFileReader, revision: int
                      ) -> tuple[str | None, tuple[tuple[str, str], ...]]:
    """GB/T 36903 entries of the document information in ``revision`` (STANDARDS §2),
    and our status-list entry (/ZYSL, /ZYSI: trust.statuslist)."""
    try:
        info = trailer_entry(reader.get_historical_resolver(revision), "/Info")
    except Exception:
        return None, ()
    if not isinstance(info, generic.DictionaryObject):
        return None, ()
    values = []
    for key in ("/ZZBS", "/ZZMC", "/ZZLXDM", "/ZZBH", "/ZZBFJG", "/ZZBFJGDM", "/ZZBFRQ",
                "/ZZYXQQSRQ", "/ZZYXQJZRQ", "/ZYSL", "/ZYSI"):
        try:
            value = info.get(key)
        except Exception:
            value = None
        if isinstance(value, str) and len(value) <= 200:
            values.append((key[1:], str(value)))
    found = dict(values)
    return found.get("ZZBS"), tuple(values)


def _layout(data: bytes, reader: PdfFileReader, signatures: list[SignatureEvidence]
            ) -> LayoutFacts | None:
    """Account for the bytes after the earliest readable signature's coverage."""
    ends = [item.byte_range[2] + item.byte_range[3] for item in signatures
            if item.byte_range is not None]
    return account(data, reader, min(ends)) if ends else None


def _safe_fields(reader: PdfFileReader) -> list[tuple[str, Any, Any]]:
    try:
        return list(enumerate_sig_fields(reader, filled_status=None))
    except Exception:
        return []
