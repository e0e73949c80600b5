"""Verdicts: ETSI EN 319 102-1 indications, sub-indications, and readable reasons.

A verdict is never stored: it is derived from the outcome of each check (STYLE §3,
pyHanko ``PdfSignatureStatus.bottom_line``). Every check ends in one :class:`CheckResult`
that says what was checked and, in Chinese and English, what was found. The worst outcome
wins: any failed check fails the signature, else any indeterminate check makes it
indeterminate; only when every applicable check passed is the verdict TOTAL-PASSED.
Nothing defaults to passed: an empty set of checks is indeterminate.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "CheckResult",
    "CheckStatus",
    "Indication",
    "Reason",
    "SubIndication",
    "Verdict",
]


class Indication(enum.StrEnum):
    """The main status of ETSI EN 319 102-1 §5.1.3."""

    TOTAL_PASSED = "TOTAL-PASSED"
    TOTAL_FAILED = "TOTAL-FAILED"
    INDETERMINATE = "INDETERMINATE"

    @property
    def rank(self) -> int:
        """Severity: passed < indeterminate < failed."""
        return {Indication.TOTAL_PASSED: 0, Indication.INDETERMINATE: 1,
                Indication.TOTAL_FAILED: 2}[self]


class SubIndication(enum.StrEnum):
    """ETSI EN 319 102-1 sub-indications (Table 5), by the indication they belong to."""

    # TOTAL-FAILED
    FORMAT_FAILURE = "FORMAT_FAILURE"
    HASH_FAILURE = "HASH_FAILURE"
    SIG_CRYPTO_FAILURE = "SIG_CRYPTO_FAILURE"
    REVOKED = "REVOKED"
    EXPIRED = "EXPIRED"
    NOT_YET_VALID = "NOT_YET_VALID"
    # INDETERMINATE
    SIG_CONSTRAINTS_FAILURE = "SIG_CONSTRAINTS_FAILURE"
    CHAIN_CONSTRAINTS_FAILURE = "CHAIN_CONSTRAINTS_FAILURE"
    CERTIFICATE_CHAIN_GENERAL_FAILURE = "CERTIFICATE_CHAIN_GENERAL_FAILURE"
    CRYPTO_CONSTRAINTS_FAILURE = "CRYPTO_CONSTRAINTS_FAILURE"
    POLICY_PROCESSING_ERROR = "POLICY_PROCESSING_ERROR"
    TIMESTAMP_ORDER_FAILURE = "TIMESTAMP_ORDER_FAILURE"
    NO_SIGNING_CERTIFICATE_FOUND = "NO_SIGNING_CERTIFICATE_FOUND"
    NO_CERTIFICATE_CHAIN_FOUND = "NO_CERTIFICATE_CHAIN_FOUND"
    REVOKED_NO_POE = "REVOKED_NO_POE"
    REVOKED_CA_NO_POE = "REVOKED_CA_NO_POE"
    OUT_OF_BOUNDS_NO_POE = "OUT_OF_BOUNDS_NO_POE"
    OUT_OF_BOUNDS_NOT_REVOKED = "OUT_OF_BOUNDS_NOT_REVOKED"
    CRYPTO_CONSTRAINTS_FAILURE_NO_POE = "CRYPTO_CONSTRAINTS_FAILURE_NO_POE"
    NO_POE = "NO_POE"
    TRY_LATER = "TRY_LATER"
    SIGNED_DATA_NOT_FOUND = "SIGNED_DATA_NOT_FOUND"

    @property
    def indication(self) -> Indication:
        """The indication this sub-indication belongs to."""
        if self in _FAILED:
            return Indication.TOTAL_FAILED
        return Indication.INDETERMINATE


_FAILED = frozenset({
    SubIndication.FORMAT_FAILURE, SubIndication.HASH_FAILURE,
    SubIndication.SIG_CRYPTO_FAILURE, SubIndication.REVOKED, SubIndication.EXPIRED,
    SubIndication.NOT_YET_VALID,
})


@dataclass(frozen=True)
class Reason:
    """What a check found, with a stable code, in Chinese and in English."""

    code: str
    zh: str
    en: str


class CheckStatus(enum.StrEnum):
    """The outcome of one check."""

    PASSED = "passed"
    FAILED = "failed"
    INDETERMINATE = "indeterminate"
    NOT_APPLICABLE = "not-applicable"


@dataclass(frozen=True)
class CheckResult:
    """One check: its name, outcome, sub-indication (when not passed) and reason."""

    check: str
    status: CheckStatus
    sub_indication: SubIndication | None
    reason: Reason

    def __post_init__(self) -> None:
        # Self-validating: a failing outcome names its sub-indication, a passing one none.
        failing = self.status in (CheckStatus.FAILED, CheckStatus.INDETERMINATE)
        if failing != (self.sub_indication is not None):
            raise ValueError(f"check {self.check}: {self.status} with {self.sub_indication}")
        if self.sub_indication is not None:
            expected = (CheckStatus.FAILED if self.sub_indication.indication
                        is Indication.TOTAL_FAILED else CheckStatus.INDETERMINATE)
            if self.status is not expected:
                raise ValueError(f"check {self.check}: {self.sub_indication} is not {self.status}")

    @classmethod
    def passed(cls, check: str, reason: Reason) -> CheckResult:
        """A check that found nothing wrong."""
        return cls(check, CheckStatus.PASSED, None, reason)

    @classmethod
    def not_applicable(cls, check: str, reason: Reason) -> CheckResult:
        """A check that does not apply (e.g. no licence identifier in the document)."""
        return cls(check, CheckStatus.NOT_APPLICABLE, None, reason)

    @classmethod
    def problem(cls, check: str, sub_indication: SubIndication, reason: Reason) -> CheckResult:
        """A failed or indeterminate check, by its sub-indication."""
        status = (CheckStatus.FAILED if sub_indication.indication is Indication.TOTAL_FAILED
                  else CheckStatus.INDETERMINATE)
        return cls(check, status, sub_indication, reason)

    @property
    def indication(self) -> Indication | None:
        """The indication this outcome contributes (None when not applicable)."""
        if self.status is CheckStatus.PASSED:
            return Indication.TOTAL_PASSED
        if self.sub_indication is None:
            return None
        return self.sub_indication.indication


_NOTHING_CHECKED = Reason("verdict.nothing_checked", "没有可核验的内容", "nothing was checked")


@dataclass(frozen=True)
class Verdict:
    """An indication, the sub-indication of the first worst check, and every reason."""

    indication: Indication
    sub_indication: SubIndication | None
    reasons: tuple[Reason, ...]

    @property
    def passed(self) -> bool:
        """TOTAL-PASSED."""
        return self.indication is Indication.TOTAL_PASSED

    @classmethod
    def of(cls, results: Iterable[CheckResult]) -> Verdict:
        """The worst outcome of ``results``; reasons of the problems, or of every check
        when all passed. No applicable check at all is INDETERMINATE (fail closed)."""
        applicable = [r for r in results if r.indication is not None]
        if not applicable:
            return cls(Indication.INDETERMINATE, SubIndication.SIGNED_DATA_NOT_FOUND,
                       (_NOTHING_CHECKED,))
        worst = max(applicable, key=lambda r: r.indication.rank if r.indication else -1)
        if worst.indication is Indication.TOTAL_PASSED:
            return cls(Indication.TOTAL_PASSED, None, tuple(r.reason for r in applicable))
        problems = [r for r in applicable if r.status is not CheckStatus.PASSED]
        problems.sort(key=lambda r: -(r.indication.rank if r.indication else 0))
        return cls(worst.indication or Indication.INDETERMINATE, worst.sub_indication,
                   tuple(r.reason for r in problems))

    @classmethod
    def combine(cls, verdicts: Iterable[Verdict]) -> Verdict:
        """The worst of several verdicts (a document's signatures); fail closed if none."""
        items = list(verdicts)
        if not items:
            return cls(Indication.INDETERMINATE, SubIndication.SIGNED_DATA_NOT_FOUND,
                       (_NOTHING_CHECKED,))
        worst = max(items, key=lambda v: v.indication.rank)
        if worst.indication is Indication.TOTAL_PASSED:
            return cls(Indication.TOTAL_PASSED, None,
                       tuple(dict.fromkeys(r for v in items for r in v.reasons)))
        ordered = sorted((v for v in items if not v.passed), key=lambda v: -v.indication.rank)
        return cls(worst.indication, worst.sub_indication,
                   tuple(dict.fromkeys(r for v in ordered for r in v.reasons)))
