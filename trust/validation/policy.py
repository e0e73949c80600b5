"""What verification accepts, and the limits it runs under: policies are data (STYLE §3).

:data:`DEFAULT_POLICY` is what the service, the CLI and the public page use. It follows
STANDARDS §5: a certified document (DocMDP) may afterwards only receive what its
certification level allows, and any sealed document only time-stamps, validation data and
further signatures in fields — never annotations or changed form values, which are how
evil-annotation and shadow attacks show a reader something the signer never saw.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_POLICY",
    "FINAL_POLICY",
    "ChangeLevel",
    "ChangeRule",
    "ExaminationLimits",
    "ValidationPolicy",
]


class ChangeLevel(enum.IntEnum):
    """How far a document changed after a signature (pyHanko's ModificationLevel)."""

    NONE = 0
    LTA_UPDATES = 1     # time-stamps and validation data (DSS)
    FORM_FILLING = 2    # filling fields, including signature fields
    ANNOTATIONS = 3     # comments and other annotations
    OTHER = 4           # anything else: content, pages, objects

    @property
    def zh(self) -> str:
        """The level in Chinese, for reasons."""
        return {ChangeLevel.NONE: "无改动", ChangeLevel.LTA_UPDATES: "仅追加时间戳和验证数据",
                ChangeLevel.FORM_FILLING: "填写表单或签名域", ChangeLevel.ANNOTATIONS: "添加批注",
                ChangeLevel.OTHER: "其他改动"}[self]

    @property
    def en(self) -> str:
        """The level in English, for reasons."""
        return {ChangeLevel.NONE: "no change", ChangeLevel.LTA_UPDATES:
                "time-stamps and validation data only", ChangeLevel.FORM_FILLING:
                "form filling or signing", ChangeLevel.ANNOTATIONS: "annotations",
                ChangeLevel.OTHER: "other changes"}[self]


class ChangeRule(enum.StrEnum):
    """What a signature permits afterwards."""

    CERTIFICATION = "certification"
    """ISO 32000-1 §12.8.2.2: the DocMDP level (P=1, 2, 3); an approval signature without
    certification permits :attr:`ValidationPolicy.max_change_uncertified`."""
    FINAL = "final"
    """Only validation data, document time-stamps and a registered seal in a field
    reserved before the signature (what this service's own seals always get)."""


@dataclass(frozen=True)
class ValidationPolicy:
    """What a signature must satisfy to pass."""

    max_change_uncertified: ChangeLevel
    """Most a document sealed elsewhere may change after an approval (uncertified)
    signature under the CERTIFICATION rule."""
    require_timestamp: bool
    """Whether a signature without a trusted signature time-stamp is INDETERMINATE
    (NO_POE) rather than checked at the validation time."""
    require_registered_seal: bool
    """Whether a signer certified by our own root must be a seal in our registry."""
    check_licences: bool
    """Whether a licence identifier (/ZZBS) in the signed revision is checked against the
    registry: status now and at signing time, and the issued file's hash."""
    foreign_changes: ChangeRule = ChangeRule.CERTIFICATION
    """The rule for documents sealed elsewhere (this service's own seals are always
    FINAL)."""


DEFAULT_POLICY = ValidationPolicy(
    max_change_uncertified=ChangeLevel.FORM_FILLING,
    require_timestamp=False,
    require_registered_seal=True,
    check_licences=True,
)

FINAL_POLICY = replace(DEFAULT_POLICY, foreign_changes=ChangeRule.FINAL)
"""Every sealed document held to the final rule, wherever it was sealed."""


@dataclass(frozen=True)
class ExaminationLimits:
    """Bounds on the work one document may cause (hostile input)."""

    max_bytes: int
    """Largest document accepted."""
    max_signatures: int
    """Most signature fields examined; beyond, the document is a FORMAT_FAILURE."""
    max_revisions: int
    """Most incremental updates; beyond, the document is a FORMAT_FAILURE."""
    max_stream_bytes: int
    """Largest decoded stream (decompression bombs)."""
    max_decoded_total: int
    """Most bytes all streams of one document may decode to."""
    timeout_seconds: float
    """Wall time per document in a worker; beyond, the worker is replaced."""
    memory_bytes: int
    """Address-space limit of a worker process."""


DEFAULT_LIMITS = ExaminationLimits(
    max_bytes=32 * 1024 * 1024,
    max_signatures=50,
    max_revisions=100,
    max_stream_bytes=64 * 1024 * 1024,
    max_decoded_total=256 * 1024 * 1024,
    timeout_seconds=20.0,
    memory_bytes=1536 * 1024 * 1024,
)
