"""The checks: each judges one aspect of a signature's evidence and raises on a problem.

A check returns the reason it passed (what was verified, for the report) or raises
:class:`~.errors.CheckFailedError` with the ETSI sub-indication and a reason in Chinese and
English, or :class:`~.errors.NotApplicable`. :func:`run` turns either into a
:class:`~.verdict.CheckResult`. Checks never return False (STYLE §2).

Sub-indications beyond signatures (ETSI EN 319 102-1 has none for a seal not in a
registry or a licence's status) map to the closest one:

* changes after signing that the signature's rule does not permit (a content change,
  an added field or annotation, a filled value after a final seal): TOTAL-FAILED /
  FORMAT_FAILURE. The digest is intact, so never HASH_FAILURE: ETSI EN 319 102-1 §5.2.2
  (format checking) fails a signature whose container does not conform with
  FORMAT_FAILURE, and the EU DSS validator does exactly this for PDF modification
  detection — its format-checking building block (``process.bbb.fc.checks``
  DocMDPCheck, FieldMDPCheck, FormFillChangesCheck, AnnotationChangesCheck,
  UndefinedChangesCheck) concludes FAILED / FORMAT_FAILURE;
* /ByteRange and coverage games, unreadable signatures, CMS signed attributes that break
  CAdES, bytes after the signed revisions that are no well-formed incremental update:
  TOTAL-FAILED / FORMAT_FAILURE;
* a document claiming a licence its signed revisions are not: TOTAL-FAILED /
  FORMAT_FAILURE (:mod:`.licencecheck`, which checks licences);
* a seal suspended or revoked at the signing time, a licence revoked, suspended or
  reported lost: TOTAL-FAILED / REVOKED; a licence expired or superseded: TOTAL-FAILED /
  EXPIRED;
* a certificate of our CA that is not a registered seal, an unknown licence identifier
  asked for by itself, a signature violating its field's seed values (/SV):
  INDETERMINATE / SIG_CONSTRAINTS_FAILURE.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import ParamSpec

from zhengyin.core.clock import beijing_time

from . import changepolicy, changetext
from .changepolicy import ChangeContext
from .directories import SealRecord, SealState
from .errors import CheckFailedError, NotApplicable
from .evidence import DocumentEvidence, SignatureEvidence
from .policy import ChangeLevel, ChangeRule, ValidationPolicy
from .verdict import CheckResult, Reason, SubIndication

__all__ = [
    "change_warnings",
    "check_certificate",
    "check_changes",
    "check_document_readable",
    "check_document_signed",
    "check_format",
    "check_integrity",
    "check_layout",
    "check_registration",
    "check_revocation",
    "check_seed_values",
    "check_timing",
    "run",
]

_P = ParamSpec("_P")
_ACCURACY = timedelta(seconds=1)
S = SubIndication


def _when(moment: datetime | None) -> str:
    # Shown to people on pages and reports: Beijing time, zone named (trust/clock.py).
    return beijing_time(moment, zone="UTC+8") if moment is not None else "?"


def _fail(sub: SubIndication, code: str, zh: str, en: str) -> CheckFailedError:
    return CheckFailedError(sub, Reason(code, zh, en))


def run(check: str, function: Callable[_P, Reason], *args: _P.args,
        **kwargs: _P.kwargs) -> CheckResult:
    """Run one check and record its outcome."""
    try:
        reason = function(*args, **kwargs)
    except NotApplicable as skipped:
        return CheckResult.not_applicable(check, skipped.reason)
    except CheckFailedError as failure:
        return CheckResult.problem(check, failure.sub_indication, failure.reason)
    return CheckResult.passed(check, reason)


# ---------------------------------------------------------------------- document


def check_document_readable(evidence: DocumentEvidence) -> Reason:
    """The file could be read as a PDF within the limits."""
    if evidence.problem is not None:
        raise _fail(S.FORMAT_FAILURE, "document.unreadable", f"文件无法解析：{evidence.problem}",
                    f"the document cannot be verified: {evidence.problem}")
    return Reason("document.readable", f"PDF 文件可解析（{evidence.revisions} 个版本）",
                  f"the PDF can be read ({evidence.revisions} revision(s))")


def check_document_signed(evidence: DocumentEvidence) -> Reason:
    """At least one signature (a document time-stamp alone seals nothing, but says when
    the document existed as it is: the reason says so, and the verdict is undecided
    rather than failed, since nothing was found wrong)."""
    signatures = [item for item in evidence.signatures if item.kind == "signature"]
    stamps = [item for item in evidence.signatures if item.kind == "document-timestamp"]
    if evidence.problem is None and not signatures and stamps:
        raise _fail(S.SIG_CONSTRAINTS_FAILURE, "document.timestamped_only",
                    *_timestamped_only(stamps))
    if evidence.problem is None and not signatures:
        raise _fail(S.FORMAT_FAILURE, "document.unsigned", "文件中没有电子印章或电子签名",
                    "the document carries no electronic seal or signature")
    if evidence.problem is not None:
        raise NotApplicable(Reason("document.unsigned.skipped", "文件无法解析，未查找签名",
                                   "not checked: the document cannot be read"))
    return Reason("document.signed", f"文件含 {len(signatures)} 个电子印章或签名",
                  f"the document carries {len(signatures)} seal(s) or signature(s)")


def _timestamped_only(stamps: list[SignatureEvidence]) -> tuple[str, str]:
    """What document time-stamps prove (RFC 3161 §2.4.2; ISO 32000-2 §12.8.5): that the
    bytes they cover existed at their time; not who issued the document."""
    trusted = [item.timestamp for item in stamps
               if item.timestamp is not None and item.timestamp.trusted
               and item.timestamp.intact and item.timestamp.valid]
    if trusted:
        first = min(trusted, key=lambda stamp: stamp.time)
        return (f"仅有时间戳，没有电子印章：时间戳机构“{first.tsa}”证明文件在 "
                f"{_when(first.time)} 时已是签名所覆盖的内容，但不证明谁出具了文件",
                f"time-stamped, no seal: the time-stamp of {first.tsa} proves the document "
                f"existed as time-stamped at {_when(first.time)}, not who issued it; no "
                "electronic seal or signature seals it")
    return ("仅有时间戳，没有电子印章：文件中的文档时间戳不可信，不能证明任何时间",
            "time-stamped, no seal: the document's time-stamps are not trusted, so they "
            "prove no time; no electronic seal or signature seals it")


def check_layout(evidence: DocumentEvidence) -> Reason:
    """Every byte after the signed revisions belongs to a well-formed incremental update
    (:mod:`.layout`): readers that rebuild the cross-reference table would show anything
    else, and the signatures' coverage would not say so."""
    layout = evidence.layout
    if layout is None:
        raise NotApplicable(Reason("document.layout_not_checked",
                                   "文件中没有可读取的签名，未检查签名后的文件结构",
                                   "not checked: no readable signature marks where the "
                                   "signed bytes end"))
    defect = layout.defect
    if defect is not None:
        raise _fail(S.FORMAT_FAILURE, "document.unaccounted_bytes",
                    f"签名覆盖范围之后的内容不是规范的增量更新（偏移 {defect.offset}）："
                    f"{defect.zh}",
                    f"the bytes after the signed revision are not well-formed incremental "
                    f"updates (offset {defect.offset}): {defect.en}")
    count = len(layout.updates)
    if count == 0:
        return Reason("document.bytes_accounted", "签名覆盖到文件末尾，其后没有任何内容",
                      "the signed bytes run to the end of the file")
    return Reason("document.bytes_accounted",
                  f"签名之后的全部内容是 {count} 个结构完整的增量更新",
                  f"every byte after the signed revision belongs to {count} well-formed "
                  "incremental update(s)")


# ---------------------------------------------------------------------- signature


def check_format(evidence: SignatureEvidence) -> Reason:
    """The signature could be read: frame, CMS, supported filter."""
    if evidence.attribute_problem is not None:
        # ETSI EN 319 102-1 §5.2.2: not a conforming CAdES signature (see cadesattrs).
        raise _fail(S.FORMAT_FAILURE, "signature.signed_attributes",
                    f"签名“{evidence.field}”的签名属性不符合 CAdES："
                    f"{evidence.attribute_problem}",
                    f"the signed attributes of signature {evidence.field!r} break CAdES: "
                    f"{evidence.attribute_problem}")
    if evidence.format_problem is not None:
        raise _fail(S.FORMAT_FAILURE, "signature.unreadable",
                    f"签名“{evidence.field}”的结构无效：{evidence.format_problem}",
                    f"signature {evidence.field!r} is malformed: {evidence.format_problem}")
    return Reason("signature.well_formed", "签名结构完整（签名范围恰好框住签名值）",
                  "the signature is well formed (its byte range frames exactly its value)")


def _readable(evidence: SignatureEvidence) -> None:
    if evidence.format_problem is not None:
        raise NotApplicable(Reason("signature.not_checked", "签名无法读取，未核验",
                                   "not checked: the signature cannot be read"))


def check_integrity(evidence: SignatureEvidence) -> Reason:
    """The digest of the signed ranges and the signature value."""
    _readable(evidence)
    if not evidence.intact:
        raise _fail(S.HASH_FAILURE, "signature.digest_mismatch",
                    "签名后文件内容被修改（摘要不一致）",
                    "the signed bytes were changed after signing (digest mismatch)")
    if not evidence.valid:
        raise _fail(S.SIG_CRYPTO_FAILURE, "signature.invalid_value", "签名值无法用签名证书验证",
                    "the signature value does not verify with the signing certificate")
    return Reason("signature.intact", "签名值有效，签名覆盖的内容未被篡改",
                  "the signature value is valid and the signed content is intact")


def check_changes(evidence: SignatureEvidence, policy: ValidationPolicy,
                  context: ChangeContext) -> Reason:
    """Coverage, and every change after signing judged by the signature's rule
    (:mod:`.changepolicy`): final for this service's seals, the certification level for
    documents sealed elsewhere. pyHanko's difference analysis is a floor."""
    _readable(evidence)
    changes = evidence.changes
    if changes is None:
        raise _fail(S.FORMAT_FAILURE, "changes.unknown", "无法分析签名后的改动",
                    "the changes after signing could not be analysed")
    if changes.coverage in ("UNCLEAR", "CONTIGUOUS_BLOCK_FROM_START"):
        raise _fail(S.FORMAT_FAILURE, "changes.coverage",
                    "签名范围没有完整覆盖签名所在的版本（签名范围被移动或签名字典被替换）",
                    "the signed range does not cover the signature's own revision (the byte "
                    "range was moved or the signature dictionary replaced)")
    judgement = changepolicy.judge(evidence, policy, context)
    forbidden = [item for item in judgement.refused if item.level is ChangeLevel.OTHER]
    # pyHanko has no rule for annotations (its diff analysis calls any annotation
    # "other"): where a P=3 certification permits the annotations found, the facts decide.
    annotated = judgement.allowed is ChangeLevel.ANNOTATIONS and any(
        item.level is ChangeLevel.ANNOTATIONS for item in changes.modifications)
    if forbidden or (changes.level in (None, ChangeLevel.OTHER) and not annotated):
        zh, en = changetext.tell(judgement.refused)
        first = (changes.suspicious or "").strip().splitlines()
        detail = f" (pyHanko: {first[0][:300]})" if first else ""
        raise _fail(S.FORMAT_FAILURE, "changes.forbidden",
                    f"签名后文件被修改，改动不属于任何签名允许的类型：{zh or '见差异分析'}",
                    f"the document was changed after signing in a way no signature allows: "
                    f"{en or 'see the difference analysis'}{detail}")
    if judgement.refused:
        zh, en = changetext.tell(judgement.refused)
        code = "changes.field_values" if all(
            item.kind == "field-filled" for item in judgement.refused) else \
            "changes.not_permitted"
        raise _fail(S.FORMAT_FAILURE, code,
                    f"签名后文件有改动，但{_rule_zh(judgement, evidence)}：{zh}",
                    f"the document was changed after signing, but "
                    f"{_rule_en(judgement, evidence)}: {en}")
    allowed = judgement.allowed
    level = changes.level if changes.level is not None else ChangeLevel.OTHER
    if allowed is not None and level > allowed and not annotated:
        # pyHanko saw more than the facts show: refuse on its word.
        raise _fail(S.FORMAT_FAILURE, "changes.not_permitted",
                    f"签名后文件有{level.zh}，但{_rule_zh(judgement, evidence)}",
                    f"the document received {level.en} after signing, but "
                    f"{_rule_en(judgement, evidence)}")
    if changes.later_revisions == 0 or not changes.modifications:
        return Reason("changes.none", "签名覆盖整个文件，签名后没有任何改动",
                      "the signature covers the whole document; nothing changed after it")
    zh, en = changetext.tell(changes.modifications)
    return Reason("changes.allowed", f"签名后仅有允许的改动：{zh}",
                  f"only changes its rule permits were made after signing: {en}")


def _rule_zh(judgement: changepolicy.ChangeJudgement, evidence: SignatureEvidence) -> str:
    if judgement.rule is ChangeRule.FINAL:
        return ("本平台加盖的印章（及按要求核验的文件）签章后只允许追加验证数据、文档时间戳，"
                "以及已登记印章签署签章时预留的签名域")
    if evidence.docmdp is not None:
        return f"认证签名（DocMDP P={evidence.docmdp}）只允许{_level_zh(judgement)}"
    return f"签名后只允许{_level_zh(judgement)}"


def _rule_en(judgement: changepolicy.ChangeJudgement, evidence: SignatureEvidence) -> str:
    if judgement.rule is ChangeRule.FINAL:
        return ("after a seal of this service (or under the final policy) only validation "
                "data, document time-stamps and a registered seal in a signature field "
                "reserved when it sealed are accepted")
    if evidence.docmdp is not None:
        return f"the certification (DocMDP P={evidence.docmdp}) permits no more than " \
            f"{_level_en(judgement)}"
    return f"an approval signature permits no more than {_level_en(judgement)}"


def _level_zh(judgement: changepolicy.ChangeJudgement) -> str:
    return judgement.allowed.zh if judgement.allowed is not None else ""


def _level_en(judgement: changepolicy.ChangeJudgement) -> str:
    return judgement.allowed.en if judgement.allowed is not None else ""


def change_warnings(evidence: SignatureEvidence, policy: ValidationPolicy,
                    context: ChangeContext) -> tuple[Reason, ...]:
    """What the signature's rule permitted but a relying party should know: every
    filled value, added field and annotation, with its page (CERTIFICATION rule)."""
    if evidence.format_problem is not None or evidence.changes is None \
            or evidence.changes.coverage in ("UNCLEAR", "CONTIGUOUS_BLOCK_FROM_START"):
        return ()
    judgement = changepolicy.judge(evidence, policy, context)
    if judgement.refused:
        return ()
    reasons = []
    for item in judgement.warnings:
        zh, en = changetext.describe(item)
        reasons.append(Reason(f"changes.permitted.{item.kind}",
                              f"签名“{evidence.field}”之后（第 {item.revision} 次增量更新）：{zh}",
                              f"after signature {evidence.field!r} (update {item.revision}): "
                              f"{en}"))
    return tuple(reasons)


def check_seed_values(evidence: SignatureEvidence) -> Reason:
    """The signature meets what its field's seed values (/SV) require (ISO 32000-1
    §12.7.4.5): a violated required entry is INDETERMINATE / SIG_CONSTRAINTS_FAILURE,
    the ETSI sub-indication for a signature outside the constraints it must meet."""
    _readable(evidence)
    facts = evidence.seed_values
    if facts is None:
        raise NotApplicable(Reason("seed_values.none", "签名域没有种子值（/SV）要求",
                                   "the signature field sets no seed values (/SV)"))
    required_zh = "、".join(facts.required) or "无强制项"
    required_en = ", ".join(facts.required) or "none required"
    if facts.problem is not None:
        code = "seed_values.uncheckable" if facts.uncheckable else "seed_values.violated"
        raise _fail(S.SIG_CONSTRAINTS_FAILURE, code,
                    f"签名不满足签名域“{evidence.field}”的种子值要求（{required_zh}）："
                    f"{facts.problem}",
                    f"the signature does not meet the seed values of field "
                    f"{evidence.field!r} (required: {required_en}): {facts.problem}")
    return Reason("seed_values.met",
                  f"签名满足签名域的种子值要求（{required_zh}）",
                  f"the signature meets its field's seed values (required: {required_en})")


def _value_verifies(evidence: SignatureEvidence, what: str) -> None:
    """A chain is only built for a signature value that verifies (pyHanko skips path
    validation otherwise): do not call the certificate untrusted for that."""
    if evidence.valid is False:
        raise NotApplicable(Reason(
            f"{what}.not_checked", "签名值无效，未验证签名证书",
            "not checked: the signature value does not verify, so the certificate was "
            "not validated"))


def check_certificate(evidence: SignatureEvidence) -> Reason:
    """The signer's certificate chains to a trust anchor, with valid usage."""
    _readable(evidence)
    chain, signer = evidence.chain, evidence.signer
    if chain is None or signer is None:
        raise _fail(S.FORMAT_FAILURE, "certificate.missing", "签名中没有签名证书",
                    "the signature holds no signing certificate")
    _value_verifies(evidence, "certificate")
    name = signer.common_name or signer.subject
    whose_zh = f"（主体 {signer.subject}，SHA-256 {signer.sha256}）"
    whose_en = f" (subject {signer.subject}, SHA-256 {signer.sha256})"
    if chain.anchor is None or chain.problem in ("NO_CERTIFICATE_CHAIN_FOUND",):
        how_zh = "（自签名证书）" if signer.self_issued else ""
        how_en = " (self-signed)" if signer.self_issued else ""
        raise _fail(S.NO_CERTIFICATE_CHAIN_FOUND, "certificate.untrusted",
                    f"签名证书“{name}”{how_zh}不是由受信任的证书机构签发的，也不是本平台 PKI "
                    f"签发的{whose_zh}",
                    f"the certificate claiming {name!r}{how_en} was not issued by a trusted "
                    f"certificate authority, nor by this service's PKI{whose_en}")
    if chain.anchor_is_ours and not chain.trusted and not chain.issued_here:
        # The path was built to our root by name only: a foreign CA carrying the name of
        # one of ours (ETSI EN 319 102-1 §5.2.6: no chain to a trust anchor).
        raise _fail(S.NO_CERTIFICATE_CHAIN_FOUND, "certificate.not_ours",
                    f"签名证书“{name}”不是本平台 PKI 签发的{whose_zh}，尽管其签发者与本平台"
                    "的证书机构同名",
                    f"the certificate claiming {name!r} was not issued by this service's "
                    f"PKI{whose_en}, although its issuer bears the name of one of our "
                    "certificate authorities")
    revocation_problems = ("REVOKED_NO_POE", "REVOKED_CA_NO_POE", "TRY_LATER")
    time_problems = ("OUT_OF_BOUNDS_NO_POE", "OUT_OF_BOUNDS_NOT_REVOKED", "NOT_YET_VALID",
                     "EXPIRED")
    if chain.problem is not None and chain.problem not in revocation_problems + time_problems:
        try:
            sub = SubIndication(chain.problem)
        except ValueError:
            sub = S.CERTIFICATE_CHAIN_GENERAL_FAILURE
        if sub.indication.value == "TOTAL-FAILED":
            sub = S.CERTIFICATE_CHAIN_GENERAL_FAILURE
        raise _fail(sub, "certificate.constraints",
                    f"签名证书“{name}”不满足证书链约束（{chain.problem}）",
                    f"the certificate of {name!r} fails the chain constraints "
                    f"({chain.problem})")
    anchor_zh = "本平台根证书" if chain.anchor_is_ours else f"外部信任锚“{chain.anchor}”"
    anchor_en = "this service's root" if chain.anchor_is_ours \
        else f"the external trust anchor {chain.anchor!r}"
    return Reason("certificate.trusted", f"签名证书“{name}”可验证至{anchor_zh}",
                  f"the certificate of {name!r} chains to {anchor_en}")


def check_revocation(evidence: SignatureEvidence) -> Reason:
    """Not revoked at the signing time; with proof of time, a revocation is final."""
    _readable(evidence)
    chain = evidence.chain
    if chain is None:
        raise NotApplicable(Reason("revocation.not_checked", "无签名证书，未检查吊销状态",
                                   "not checked: no signing certificate"))
    proven = evidence.timestamp is not None and evidence.timestamp.trusted
    whose_zh = "上级证书机构证书" if chain.ca_revoked else "签名证书"
    whose_en = "a CA certificate of the chain" if chain.ca_revoked \
        else "the signing certificate"
    if chain.revoked_at is not None:
        # RFC 5280 certificateHold: our certificates are on hold while their seal is
        # suspended.
        held = chain.revocation_reason == "certificate_hold"
        revoked_zh = "暂停使用（印章停用）" if held else "吊销"
        revoked_en = "put on hold (its seal suspended)" if held else "revoked"
        if proven:
            raise _fail(S.REVOKED, "revocation.revoked",
                        f"{whose_zh}已于 {_when(chain.revoked_at)} {revoked_zh}，"
                        f"早于时间戳证明的签名时间 {_when(chain.moment)}",
                        f"{whose_en} was {revoked_en} on {_when(chain.revoked_at)}, before the "
                        f"signing time proven by the time-stamp ({_when(chain.moment)})")
        raise _fail(S.REVOKED_CA_NO_POE if chain.ca_revoked else S.REVOKED_NO_POE,
                    "revocation.revoked_no_poe",
                    f"{whose_zh}已于 {_when(chain.revoked_at)} {revoked_zh}，且没有时间戳证明签名"
                    f"早于{'暂停' if held else '吊销'}",
                    f"{whose_en} was {revoked_en} on {_when(chain.revoked_at)} and no "
                    "time-stamp proves the signature came before")
    _value_verifies(evidence, "revocation")
    if chain.problem == "TRY_LATER":
        raise _fail(S.TRY_LATER, "revocation.unknown", "无法获得证书的吊销状态信息",
                    "no revocation information is available for the certificate")
    if not chain.trusted and chain.anchor is None:
        raise NotApplicable(Reason("revocation.not_checked", "证书不受信任，未检查吊销状态",
                                   "not checked: the certificate is not trusted"))
    source = {"dss": "文件内嵌的验证数据", "service": "本平台的证书吊销列表",
              "dss+service": "文件内嵌的验证数据和本平台的证书吊销列表"}
    source_en = {"dss": "the document's validation data", "service": "this service's CRLs",
                 "dss+service": "the document's validation data and this service's CRLs"}
    key = chain.revocation_source or ""
    later = ""
    later_en = ""
    if chain.revoked_later_at is not None and chain.revoked_later_reason == "certificate_hold":
        later = (f"；证书自 {_when(chain.revoked_later_at)} 起暂停使用（印章停用），晚于签名时间，"
                 "签名仍然有效")
        later_en = (f"; the certificate was put on hold (its seal suspended) on "
                    f"{_when(chain.revoked_later_at)}, after the signing time, so the "
                    "signature stays valid")
    elif chain.revoked_later_at is not None:
        later = f"；证书已于 {_when(chain.revoked_later_at)} 吊销，晚于签名时间，签名仍然有效"
        later_en = (f"; the certificate was revoked on {_when(chain.revoked_later_at)}, "
                    "after the signing time, so the signature stays valid")
    when_zh = "签名时间" if proven else "核验时"
    when_en = "at the signing time" if proven else "at the time of verification"
    return Reason("revocation.good",
                  f"{when_zh}证书未被吊销（依据{source.get(key, '吊销信息')}）{later}",
                  f"the certificate was not revoked {when_en} (per "
                  f"{source_en.get(key, 'revocation data')}){later_en}")


def check_timing(evidence: SignatureEvidence, policy: ValidationPolicy) -> Reason:
    """A trusted time-stamp proves the signing time, which is inside the validity."""
    _readable(evidence)
    signer, stamp = evidence.signer, evidence.timestamp
    if signer is None:
        raise NotApplicable(Reason("timing.not_checked", "无签名证书，未检查签名时间",
                                   "not checked: no signing certificate"))
    if stamp is not None and not (stamp.intact and stamp.valid):
        raise _fail(S.NO_POE, "timing.timestamp_invalid",
                    "签名时间戳无效（与签名值不符或时间戳签名无效）",
                    "the signature time-stamp is invalid (it does not match the signature "
                    "value or its own signature fails)")
    if stamp is not None and not stamp.trusted:
        if not stamp.tsa_issued_here:
            what_zh, what_en = ("文档时间戳", "document") \
                if evidence.kind == "document-timestamp" else ("签名时间戳", "signature")
            raise _fail(S.NO_POE, "timing.timestamp_untrusted",
                        f"{what_zh}的时间戳机构不是本平台 PKI 签发的，也不受信任（主体 "
                        f"{stamp.tsa}，SHA-256 {stamp.tsa_sha256}）",
                        f"the {what_en} time-stamp's authority was not issued by this "
                        f"service's PKI and is not trusted (subject {stamp.tsa}, SHA-256 "
                        f"{stamp.tsa_sha256})")
        raise _fail(S.NO_POE, "timing.timestamp_untrusted",
                    f"签名时间戳由不受信任的时间戳机构“{stamp.tsa}”签发",
                    f"the signature time-stamp comes from an untrusted authority "
                    f"({stamp.tsa})")
    if stamp is None:
        if evidence.kind == "document-timestamp":
            raise NotApplicable(Reason("timing.self", "文档时间戳", "a document time-stamp"))
        if policy.require_timestamp:
            raise _fail(S.NO_POE, "timing.no_timestamp", "签名没有时间戳，签名时间无法证明",
                        "the signature has no time-stamp; the signing time is not proven")
        moment = evidence.chain.moment if evidence.chain is not None else None
        if moment is not None and moment > signer.not_after:
            raise _fail(S.OUT_OF_BOUNDS_NO_POE, "timing.expired_no_poe",
                        f"签名证书已于 {_when(signer.not_after)} 过期，"
                        "且没有时间戳证明签名早于过期",
                        f"the signing certificate expired on {_when(signer.not_after)} and no "
                        "time-stamp proves the signature came before")
        claimed = _when(evidence.claimed_time) if evidence.claimed_time else "未声明"
        return Reason("timing.claimed_only",
                      f"签名没有时间戳，声称的签名时间 {claimed} 未经证明；已按核验时检查证书",
                      f"no time-stamp: the claimed signing time {_when(evidence.claimed_time)} "
                      "is not proven; the certificate was checked as of now")
    if stamp.time > signer.not_after:
        raise _fail(S.EXPIRED, "timing.expired",
                    f"签名时间 {_when(stamp.time)} 晚于签名证书有效期截止 "
                    f"{_when(signer.not_after)}",
                    f"signed at {_when(stamp.time)}, after the certificate expired "
                    f"({_when(signer.not_after)})")
    if stamp.time < signer.not_before:
        raise _fail(S.NOT_YET_VALID, "timing.not_yet_valid",
                    f"签名时间 {_when(stamp.time)} 早于签名证书生效 {_when(signer.not_before)}",
                    f"signed at {_when(stamp.time)}, before the certificate became valid "
                    f"({_when(signer.not_before)})")
    return Reason("timing.proven",
                  f"时间戳证明签名时间为 {_when(stamp.time)}，在证书有效期内",
                  f"a trusted time-stamp proves the signing time {_when(stamp.time)}, within "
                  "the certificate's validity")


def check_registration(evidence: SignatureEvidence, seal: SealRecord | None,
                       policy: ValidationPolicy) -> Reason:
    """The signer is a registered seal, active at the signing time."""
    _readable(evidence)
    chain, signer = evidence.chain, evidence.signer
    if evidence.kind == "document-timestamp":
        raise NotApplicable(Reason("seal.not_applicable", "文档时间戳不是印章",
                                   "a document time-stamp is not a seal"))
    if signer is None or chain is None:
        raise NotApplicable(Reason("seal.not_checked", "无签名证书，未查询印章登记",
                                   "not checked: no signing certificate"))
    name = signer.common_name or signer.subject
    if seal is None:
        if chain.anchor is None:
            raise NotApplicable(Reason(
                "seal.not_checked", f"证书“{name}”不受信任，不是本平台登记的印章",
                f"the certificate of {name!r} is not trusted and is not a registered seal"))
        if not chain.anchor_is_ours:
            raise NotApplicable(Reason(
                "seal.external", "签名证书由外部信任锚签发，不属于本平台印章登记",
                "signed under an external trust anchor; not a seal of this registry"))
        if not chain.issued_here:
            raise NotApplicable(Reason(
                "seal.not_ours", f"证书“{name}”不是本平台 PKI 签发的，不是本平台登记的印章",
                f"the certificate of {name!r} was not issued by this service's PKI and is "
                "not a registered seal"))
        if policy.require_registered_seal:
            raise _fail(S.SIG_CONSTRAINTS_FAILURE, "seal.unregistered",
                        f"签名证书“{name}”由本平台签发，但不是已登记的电子印章",
                        f"the certificate of {name!r} was issued here but is not a registered "
                        "seal")
        raise NotApplicable(Reason("seal.unregistered", "签名证书不是已登记的电子印章",
                                   "the certificate is not a registered seal"))
    moment = chain.moment
    label_zh = f"“{seal.name}”（印章编码 {seal.seal_code}，{seal.organisation}）"
    label_en = f"{seal.name!r} (seal code {seal.seal_code}, {seal.organisation})"
    proven = evidence.timestamp is not None and evidence.timestamp.trusted
    if not proven and (seal.state_at_signing in (SealState.REVOKED, SealState.SUSPENDED)
                       or moment > seal.valid_until):
        # Without a time-stamp the state "at signing" is the state now (ETSI: no POE).
        sub = S.OUT_OF_BOUNDS_NO_POE if moment > seal.valid_until else S.REVOKED_NO_POE
        raise _fail(sub, "seal.unusable_no_poe",
                    f"印章{label_zh}现已停用、注销或过期，且没有时间戳证明签章早于此",
                    f"the seal {label_en} is suspended, revoked or expired now, and no "
                    "time-stamp proves it signed before")
    # Time-stamps carry whole seconds (accuracy 1 s); registry times carry microseconds.
    if seal.state_at_signing is None or moment + _ACCURACY < seal.valid_from:
        raise _fail(S.NOT_YET_VALID, "seal.not_yet_valid",
                    f"签名时（{_when(moment)}）印章{label_zh}尚未生效",
                    f"the seal {label_en} was not yet valid when signing ({_when(moment)})")
    if moment > seal.valid_until:
        raise _fail(S.EXPIRED, "seal.expired",
                    f"签名时（{_when(moment)}）印章{label_zh}已过期",
                    f"the seal {label_en} had expired when signing ({_when(moment)})")
    if seal.state_at_signing is SealState.REVOKED:
        raise _fail(S.REVOKED, "seal.revoked_at_signing",
                    f"签名时（{_when(moment)}）印章{label_zh}已被注销",
                    f"the seal {label_en} was revoked when signing ({_when(moment)})")
    if seal.state_at_signing is SealState.SUSPENDED:
        raise _fail(S.REVOKED, "seal.suspended_at_signing",
                    f"签名时（{_when(moment)}）印章{label_zh}处于停用状态",
                    f"the seal {label_en} was suspended when signing ({_when(moment)})")
    now_zh = now_en = ""
    if seal.state_now is not SealState.ACTIVE:
        state_zh = {SealState.SUSPENDED: "停用", SealState.REVOKED: "注销"}[seal.state_now]
        now_zh = f"；该印章已于 {_when(seal.state_changed_at)} {state_zh}，不影响此前的签章"
        now_en = (f"; it was {seal.state_now.value} on {_when(seal.state_changed_at)}, which "
                  "does not affect what it sealed before")
    return Reason("seal.registered", f"签章为已登记的电子印章{label_zh}，签名时有效{now_zh}",
                  f"signed with the registered seal {label_en}, active when signing{now_en}")
