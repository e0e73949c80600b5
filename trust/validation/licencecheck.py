"""The licence check: which licence a document is, and that licence's status.

A document is a licence when the digest of a signed revision (the bytes one of its
signatures covers) is one the registry recorded when it sealed that licence's PDF or a
use-copy (加注件) of it (:meth:`~.directories.LicenceDirectory.licence_by_signed_digest`).
Nothing else decides it: metadata can be rewritten by any later revision, so the
identifiers a document claims (:mod:`.claims`) can only contradict the digest, never
choose the licence (issue 13 §1). Then:

* a signature whose signed revision is a licence: that licence valid when sealed and
  now, and every claim in the document naming it;
* a document no signed revision of which is a licence but which claims an identifier
  anywhere: a failure naming the claims.

A claim the signed bytes do not bear out fails as FORMAT_FAILURE. ETSI EN 319 102-1
§5.2.2 (format checking) fails a signature whose container does not conform to the
format it claims with FORMAT_FAILURE, a TOTAL-FAILED sub-indication: a PDF presenting
itself as a GB/T 36904 licence (its GB/T 36903 metadata) whose signed content is not the
registry's file is such a document. INDETERMINATE (SIG_CONSTRAINTS_FAILURE, §5.1.3
Table 5) would say that more information could let it pass, which none can: the digest
is all there is to know. The EU DSS validator reports its PDF modification and
"undefined changes" findings the same way (trust.validation.checks).
"""

from __future__ import annotations

from dataclasses import dataclass

from .directories import LicenceRecord, LicenceState
from .errors import CheckFailedError, NotApplicable
from .evidence import LicenceClaim, SignatureEvidence
from .policy import ValidationPolicy
from .verdict import Reason, SubIndication

__all__ = ["LicenceIdentity", "check_licence", "check_licence_status"]

S = SubIndication
_LISTED = 5

_STATUS_SUB = {
    LicenceState.REVOKED: S.REVOKED, LicenceState.SUSPENDED: S.REVOKED,
    LicenceState.LOST: S.REVOKED, LicenceState.EXPIRED: S.EXPIRED,
    LicenceState.SUPERSEDED: S.EXPIRED,
}


@dataclass(frozen=True)
class LicenceIdentity:
    """What the registry says a document is, and what the document says it is."""

    matches: tuple[tuple[str, LicenceRecord], ...]
    """(signature field, licence) for every signature whose signed revision the registry
    recorded, in the order of the signed revisions."""
    claims: tuple[LicenceClaim, ...]

    @property
    def record(self) -> LicenceRecord | None:
        """The licence the document is (the earliest signed revision the registry knows)."""
        return self.matches[0][1] if self.matches else None

    def of(self, field: str) -> LicenceRecord | None:
        """The licence this signature's signed revision is, if any."""
        return next((record for name, record in self.matches if name == field), None)


def _fail(sub: SubIndication, code: str, zh: str, en: str) -> CheckFailedError:
    return CheckFailedError(sub, Reason(code, zh, en))


def _where(claim: LicenceClaim) -> tuple[str, str]:
    place_zh = "文档信息" if claim.source == "info" else "XMP 元数据"
    place_en = "document information" if claim.source == "info" else "XMP metadata"
    if claim.revision == 0:
        return f"原始文件的{place_zh}", f"the {place_en} of the file as first written"
    return (f"第 {claim.revision} 次增量更新的{place_zh}",
            f"the {place_en} of update {claim.revision}")


def _claims(claims: list[LicenceClaim]) -> tuple[str, str]:
    """The claims, named for a reason (bounded)."""
    zh, en = [], []
    for claim in claims[:_LISTED]:
        where_zh, where_en = _where(claim)
        if claim.identifier is None:
            zh.append(f"{where_zh}中格式错误的证照标识（{claim.found}）")
            en.append(f"a malformed licence identifier in {where_en} ({claim.found})")
        else:
            zh.append(f"{where_zh}中的 {claim.identifier}")
            en.append(f"{claim.identifier} in {where_en}")
    if len(claims) > _LISTED:
        zh.append(f"另有 {len(claims) - _LISTED} 处")
        en.append(f"{len(claims) - _LISTED} more")
    return "、".join(zh), "; ".join(en)


def check_licence_status(licence: LicenceRecord | None, identifier: str) -> Reason:
    """The licence exists and is valid now (the question a QR scan asks)."""
    if licence is None:
        raise _fail(S.SIG_CONSTRAINTS_FAILURE, "licence.unknown",
                    f"证照库中没有标识为 {identifier} 的电子证照",
                    f"the registry has no licence with identifier {identifier}")
    state = licence.state_now
    until = licence.valid_until.isoformat() if licence.valid_until else "长期"
    until_en = licence.valid_until.isoformat() if licence.valid_until else "no end date"
    if state is not LicenceState.VALID:
        extra_zh = f"，已由 {licence.superseded_by} 取代" if licence.superseded_by else ""
        extra_en = f", replaced by {licence.superseded_by}" if licence.superseded_by else ""
        raise _fail(_STATUS_SUB[state], f"licence.{state.value}",
                    f"电子证照“{licence.type_name}”当前状态：{state.zh}{extra_zh}",
                    f"the licence ({licence.type_name}) is {state.value} now{extra_en}")
    return Reason("licence.valid", f"电子证照“{licence.type_name}”当前有效（有效期至 {until}）",
                  f"the licence ({licence.type_name}) is valid now (until {until_en})")


def check_licence(evidence: SignatureEvidence, identity: LicenceIdentity,
                  policy: ValidationPolicy) -> Reason:
    """This signature's licence, by its signed revision's digest (module docstring)."""
    if evidence.format_problem is not None:
        raise NotApplicable(Reason("signature.not_checked", "签名无法读取，未核验",
                                   "not checked: the signature cannot be read"))
    if not policy.check_licences:
        raise NotApplicable(Reason("licence.none", "文件不含电子证照标识",
                                   "the document carries no licence identifier"))
    licence = identity.of(evidence.field)
    if licence is None:
        return _not_this_signature(evidence, identity)
    identifier = licence.identifier
    others = [claim for claim in identity.claims if claim.identifier != identifier]
    rivals = sorted({record.identifier for _field, record in identity.matches} - {identifier})
    if others or rivals:
        named_zh, named_en = _claims(others)
        if rivals:
            named_zh = "、".join([*rivals, named_zh] if named_zh else rivals)
            named_en = "; ".join([*rivals, named_en] if named_en else rivals)
        state = licence.state_now
        raise _fail(S.FORMAT_FAILURE, "licence.claim_mismatch",
                    f"签名所覆盖的内容是电子证照 {identifier}（当前状态：{state.zh}），"
                    f"但文件还声称：{named_zh}",
                    f"the signed revision is licence {identifier} ({state.value} now), but "
                    f"the document also claims {named_en}")
    at_signing = licence.state_at_signing
    if at_signing is not None and at_signing is not LicenceState.VALID:
        raise _fail(_STATUS_SUB[at_signing], "licence.invalid_when_sealed",
                    f"加盖印章时电子证照的状态为：{at_signing.zh}",
                    f"the licence was {at_signing.value} when it was sealed")
    status = check_licence_status(licence, identifier)
    if licence.use_copy:
        return Reason("licence.use_copy", f"此文件是证照库为电子证照 {identifier} 制作并登记的"
                      f"加注件；{status.zh}",
                      f"this document is a use-copy the registry made and recorded of licence "
                      f"{identifier}; {status.en}")
    return Reason(status.code, f"签名所覆盖的内容即证照库签发的电子证照 {identifier}；{status.zh}",
                  f"the signed revision is the file the registry issued for licence "
                  f"{identifier}; {status.en}")


def _not_this_signature(evidence: SignatureEvidence, identity: LicenceIdentity) -> Reason:
    """A signature whose signed revision no licence is: the document is the licence
    another one sealed, or, if it claims one, not what it claims."""
    record = identity.record
    if record is not None:
        field = identity.matches[0][0]
        raise NotApplicable(Reason(
            "licence.other_signature",
            f"文件为电子证照 {record.identifier}（由签名“{field}”所覆盖的内容认定），"
            "本签名不涉及证照",
            f"the document is licence {record.identifier} (identified by the revision "
            f"signature {field!r} covers); this signature is not the licence's"))
    if identity.claims:
        named_zh, named_en = _claims(list(identity.claims))
        raise _fail(S.FORMAT_FAILURE, "licence.not_issued_file",
                    f"文件声称为电子证照（{named_zh}），但签名“{evidence.field}”所覆盖的内容"
                    "不是证照库签发或登记的文件",
                    f"the document claims to be a licence ({named_en}), but the revision "
                    f"signature {evidence.field!r} covers is no file the registry issued or "
                    "recorded")
    raise NotApplicable(Reason("licence.none", "文件不含电子证照标识",
                               "the document carries no licence identifier"))
