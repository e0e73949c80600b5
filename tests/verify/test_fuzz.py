"""Fuzzing: mutated sealed PDFs never pass and never break the verifier.

Hypothesis mutates a sealed licence and a stamped approval (bytes changed, deleted,
inserted, truncated) and verifies each result in-process. Every outcome must be a report
or a :class:`VerificationError`; a report may be TOTAL-PASSED only if every mutation
left the signed bytes alone (the padding inside /Contents is not signed). Bounded: a
fixed number of examples per database backend, well under a minute in CI.
"""

from __future__ import annotations

import os
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trust.db import utcnow
from trust.validation import VerificationError

from .conftest import VerifyEnv, verify_env

__all__ = ["verify_env"]

# ZHENGYIN_FUZZ_EXAMPLES raises it for a longer local run.
EXAMPLES = int(os.environ.get("ZHENGYIN_FUZZ_EXAMPLES", "300"))


@pytest.fixture(scope="module")
def documents(verify_env: VerifyEnv) -> list[tuple[bytes, range]]:
    """Sealed documents and, for each, the unsigned padding inside its /Contents."""
    result = []
    for pdf in (verify_env.issue()[1], verify_env.stamp(certify=False)):
        match = re.search(rb"/ByteRange\s*\[\s*0\s+(\d+)\s+(\d+)", pdf)
        assert match is not None
        start, end = int(match.group(1)), int(match.group(2))
        digits = pdf[start + 1:end - 1]
        used = len(digits.rstrip(b"0"))
        # Trailing zeros after the DER are padding; keep a byte of margin for an odd end.
        result.append((pdf, range(start + 1 + used + 2, end - 1)))
    return result


mutation = st.tuples(
    st.sampled_from(["replace", "delete", "insert", "truncate"]),
    st.floats(min_value=0.0, max_value=1.0, allow_nan=False),
    st.binary(min_size=1, max_size=16),
)


def _apply(pdf: bytes, edits: list[tuple[str, float, bytes]]) -> tuple[bytes, list[int]]:
    data = bytearray(pdf)
    touched = []
    for kind, where, payload in edits:
        position = min(len(data) - 1, int(where * len(data))) if data else 0
        touched.append(position)
        if kind == "replace":
            data[position:position + len(payload)] = payload
        elif kind == "delete":
            del data[position:position + len(payload)]
        elif kind == "insert":
            data[position:position] = payload
        else:
            del data[position:]
    return bytes(data), touched


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(choice=st.integers(min_value=0, max_value=1),
       edits=st.lists(mutation, min_size=1, max_size=3))
def test_mutated_sealed_pdfs_never_pass_and_never_crash(
        verify_env: VerifyEnv, documents: list[tuple[bytes, range]], choice: int,
        edits: list[tuple[str, float, bytes]]) -> None:
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
