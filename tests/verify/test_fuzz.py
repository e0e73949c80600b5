"""Fuzzing: mutated sealed PDFs never pass and never break the verifier.

Hypothesis mutates a sealed licence and a stamped approval (bytes changed, deleted,
inserted, truncated), anywhere or next to the structure a verifier relies on (/ByteRange,
/Contents, the cross-reference table, the trailer, stream lengths), and verifies each
result in-process. Every outcome must be a report or a :class:`VerificationError`; a
report may be TOTAL-PASSED only if every mutation left the signed bytes alone (the
padding inside /Contents is not signed).

Bounded for CI: each example must be answered within ``DEADLINE`` (a verification that
takes longer is a hang to report, not to wait for), and the whole run per database
backend within ``TIME_BOUND`` seconds (pytest-timeout), so the fuzz stays under a minute
for both. ``ZHENGYIN_FUZZ_EXAMPLES`` and ``ZHENGYIN_FUZZ_SECONDS`` raise them for a
longer local run.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from typing import TypeAlias

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zhengyin.core.clock import utcnow
from zhengyin.trust.validation import VerificationError

from .conftest import VerifyEnv, verify_env

__all__ = ["verify_env"]

EXAMPLES = int(os.environ.get("ZHENGYIN_FUZZ_EXAMPLES", "600"))
TIME_BOUND = float(os.environ.get("ZHENGYIN_FUZZ_SECONDS", "25"))
# A mutated document is answered in milliseconds; seconds mean the verifier is stuck.
DEADLINE = timedelta(seconds=3)
STRUCTURE = (b"/ByteRange", b"/Contents", b"xref", b"startxref", b"trailer", b"/Length",
             b"endobj", b"%%EOF")


@pytest.fixture(scope="module")
def documents(verify_env: VerifyEnv) -> list[tuple[bytes, range]]:
    """Sealed documents and, for each, the unsigned padding inside its /Contents. Each
    passes unmutated (else "never passes" would prove nothing), which also warms the
    verifier before the per-example deadline applies."""
    result = []
    for pdf in (verify_env.issue()[1], verify_env.stamp(certify=False)):
        with verify_env.runtime.unit_of_work(readonly=True) as services:
            assert services.verifier.verify_pdf(pdf, at=utcnow()).verdict.passed
        match = re.search(rb"/ByteRange\s*\[\s*0\s+(\d+)\s+(\d+)", pdf)
        assert match is not None
        start, end = int(match.group(1)), int(match.group(2))
        digits = pdf[start + 1:end - 1]
        used = len(digits.rstrip(b"0"))
        # Trailing zeros after the DER are padding; keep a byte of margin for an odd end.
        result.append((pdf, range(start + 1 + used + 2, end - 1)))
    return result


Where: TypeAlias = float | tuple[bytes, int, int]
"""A fraction of the file, or (token, which occurrence, offset after it)."""

where = st.one_of(
    st.floats(min_value=0.0, max_value=1.0, allow_nan=False),
    st.tuples(st.sampled_from(STRUCTURE), st.integers(min_value=0, max_value=7),
              st.integers(min_value=0, max_value=40)),
)
mutation = st.tuples(
    st.sampled_from(["replace", "delete", "insert", "truncate"]),
    where,
    st.binary(min_size=1, max_size=16),
)


def _position(data: bytearray, at: Where) -> int:
    if not data:
        return 0
    if isinstance(at, float):
        return min(len(data) - 1, int(at * len(data)))
    token, occurrence, offset = at
    found = [match.start() for match in re.finditer(re.escape(token), data)]
    if not found:
        return len(data) // 2
    return min(len(data) - 1, found[occurrence % len(found)] + offset)


def _apply(pdf: bytes, edits: list[tuple[str, Where, bytes]]) -> tuple[bytes, list[int]]:
    data = bytearray(pdf)
    touched: list[int] = []
    for kind, at, payload in edits:
        position = _position(data, at)
        touched.extend(range(position, position + (1 if kind == "insert" else len(payload))))
        if kind == "replace":
            data[position:position + len(payload)] = payload
        elif kind == "delete":
            del data[position:position + len(payload)]
        elif kind == "insert":
            data[position:position] = payload
        else:
            del data[position:]
    return bytes(data), touched


@pytest.mark.timeout(TIME_BOUND)
@settings(max_examples=EXAMPLES, deadline=DEADLINE, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(choice=st.integers(min_value=0, max_value=1),
       edits=st.lists(mutation, min_size=1, max_size=3))
def test_mutated_sealed_pdfs_never_pass_and_never_crash(
        verify_env: VerifyEnv, documents: list[tuple[bytes, range]], choice: int,
        edits: list[tuple[str, Where, bytes]]) -> None:
    original, padding = documents[choice]
    mutated, touched = _apply(original, edits)
    try:
        with verify_env.runtime.unit_of_work(readonly=True) as services:
            report = services.verifier.verify_pdf(mutated, at=utcnow())
    except VerificationError:
        return
    if report.verdict.passed:
        only_padding = len(mutated) == len(original) and all(
            position in padding for position in touched)
        assert mutated == original or only_padding, (edits, report.verdict.reasons)
