"""How verdicts follow from check results (ETSI EN 319 102-1): specifications as tables."""

from __future__ import annotations

import pytest

from zhengyin.trust.validation import (
    CheckResult,
    CheckStatus,
    Indication,
    Reason,
    SubIndication,
    Verdict,
)

OK = CheckResult.passed("integrity", Reason("ok", "通过", "passed"))
SKIPPED = CheckResult.not_applicable("licence", Reason("none", "不适用", "not applicable"))
REVOKED = CheckResult.problem("revocation", SubIndication.REVOKED,
                              Reason("revoked", "已吊销", "revoked"))
NO_CHAIN = CheckResult.problem("certificate", SubIndication.NO_CERTIFICATE_CHAIN_FOUND,
                               Reason("untrusted", "不受信任", "untrusted"))
NO_POE = CheckResult.problem("timing", SubIndication.NO_POE, Reason("no_poe", "无", "no"))


@pytest.mark.parametrize(("results", "indication", "sub"), [
    ([OK], Indication.TOTAL_PASSED, None),
    ([OK, SKIPPED], Indication.TOTAL_PASSED, None),
    ([OK, NO_CHAIN], Indication.INDETERMINATE, SubIndication.NO_CERTIFICATE_CHAIN_FOUND),
    ([NO_POE, NO_CHAIN], Indication.INDETERMINATE, SubIndication.NO_POE),
    ([NO_CHAIN, OK, REVOKED], Indication.TOTAL_FAILED, SubIndication.REVOKED),
    ([], Indication.INDETERMINATE, SubIndication.SIGNED_DATA_NOT_FOUND),
    ([SKIPPED], Indication.INDETERMINATE, SubIndication.SIGNED_DATA_NOT_FOUND),
], ids=["one-pass", "pass-and-skip", "indeterminate", "first-worst-sub", "failed-wins",
        "nothing-checked", "only-skipped"])
def test_the_worst_check_decides_and_nothing_defaults_to_passed(
        results: list[CheckResult], indication: Indication, sub: SubIndication | None) -> None:
    verdict = Verdict.of(results)
    assert verdict.indication is indication
    assert verdict.sub_indication is sub


def test_a_failed_verdict_lists_failures_before_undecided_checks() -> None:
    verdict = Verdict.of([NO_CHAIN, OK, REVOKED])
    assert [reason.code for reason in verdict.reasons] == ["revoked", "untrusted"]


def test_a_document_is_as_bad_as_its_worst_signature() -> None:
    passed, failed = Verdict.of([OK]), Verdict.of([REVOKED])
    assert Verdict.combine([passed, failed]).indication is Indication.TOTAL_FAILED
    assert Verdict.combine([passed, passed]).passed
    assert Verdict.combine([]).indication is Indication.INDETERMINATE


@pytest.mark.parametrize("sub", list(SubIndication), ids=[item.value for item in SubIndication])
def test_each_sub_indication_belongs_to_one_indication(sub: SubIndication) -> None:
    failed = {"FORMAT_FAILURE", "HASH_FAILURE", "SIG_CRYPTO_FAILURE", "REVOKED", "EXPIRED",
              "NOT_YET_VALID"}
    expected = Indication.TOTAL_FAILED if sub.value in failed else Indication.INDETERMINATE
    assert sub.indication is expected
    result = CheckResult.problem("x", sub, Reason("x", "x", "x"))
    assert result.status is (CheckStatus.FAILED if sub.value in failed
                             else CheckStatus.INDETERMINATE)


def test_a_check_result_refuses_contradictions() -> None:
    with pytest.raises(ValueError, match="passed"):
        CheckResult("x", CheckStatus.PASSED, SubIndication.REVOKED, Reason("x", "x", "x"))
    with pytest.raises(ValueError, match="is not"):
        CheckResult("x", CheckStatus.INDETERMINATE, SubIndication.REVOKED,
                    Reason("x", "x", "x"))
