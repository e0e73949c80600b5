"""Which modifications after a signature its rule permits, and which the report warns of.

Two rules (:class:`~.policy.ChangeRule`):

* FINAL, for every signature of this service (a signer under our root, or a registered
  seal) and, by option, for all: after the signature only validation data (/DSS, VRI),
  document time-stamps and a registered seal of ours filling a signature field that was
  present and empty in the signed revision. Stricter than ISO 32000 on purpose (see
  :mod:`.policy`).
* CERTIFICATION, for documents sealed elsewhere: the DocMDP level of ISO 32000-1
  §12.8.2.2 (Table 254) — P=1 nothing but validation data and document time-stamps
  (ISO 32000-2 §12.8.2.2.1), P=2 form filling and signing, P=3 also annotations; an
  approval signature without certification, the policy's ``max_change_uncertified``
  (form filling and signing). What it permits beyond validation data is a warning, with
  its page.

The facts come from :mod:`.modifications`; pyHanko's own level is a floor (a change it
refuses is refused here too), never the only ground.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .evidence import Modification, SignatureEvidence
from .policy import ChangeLevel, ChangeRule, ValidationPolicy

__all__ = ["ChangeContext", "ChangeJudgement", "judge"]

# What the final rule accepts without looking further.
_FINAL = frozenset({"validation-data", "document-timestamp"})
# Permitted modifications reported as warnings (validation data and time-stamps are not).
_WARN = frozenset({"field-added", "field-filled", "form", "widget-added", "annotation-added",
                   "annotation-changed", "annotation-removed", "metadata", "object-added",
                   "object-deleted"})


@dataclass(frozen=True)
class ChangeContext:
    """What judging one signature's later changes needs from the rest of the report."""

    ours: bool
    """The signer is this service's: a registered seal, or a certificate under our root."""
    registered_fields: frozenset[str]
    """Signature fields whose signature is a registered seal of this service."""

    @classmethod
    def of(cls, evidence: SignatureEvidence, *, registered: bool,
           registered_fields: Iterable[str]) -> ChangeContext:
        """For ``evidence``, whose seal lookup found a registered seal or not."""
        chain = evidence.chain
        ours = registered or (chain is not None and chain.anchor_is_ours)
        return cls(ours=ours, registered_fields=frozenset(registered_fields))


@dataclass(frozen=True)
class ChangeJudgement:
    """The rule applied and what it refused and permitted with a warning."""

    rule: ChangeRule
    allowed: ChangeLevel | None
    """The most the CERTIFICATION rule permits (None under FINAL)."""
    refused: tuple[Modification, ...]
    warnings: tuple[Modification, ...]


def allowed_level(docmdp: int | None, policy: ValidationPolicy) -> ChangeLevel:
    """ISO 32000-1 §12.8.2.2 (Table 254): the most a certification level permits."""
    if docmdp is None:
        return policy.max_change_uncertified
    return {1: ChangeLevel.LTA_UPDATES, 2: ChangeLevel.FORM_FILLING,
            3: ChangeLevel.ANNOTATIONS}.get(docmdp, ChangeLevel.LTA_UPDATES)


def judge(evidence: SignatureEvidence, policy: ValidationPolicy,
          context: ChangeContext) -> ChangeJudgement:
    """Apply the signature's rule to the modifications after its revision."""
    changes = evidence.changes
    found = changes.modifications if changes is not None else ()
    signed = evidence.signed_revision if evidence.signed_revision is not None else -1
    if context.ours or policy.foreign_changes is ChangeRule.FINAL:
        refused = tuple(item for item in found if not _final_permits(item, signed, context))
        return ChangeJudgement(ChangeRule.FINAL, None, refused, ())
    allowed = allowed_level(evidence.docmdp, policy)
    refused = tuple(item for item in found if item.level > allowed)
    warnings = tuple(item for item in found if item.level <= allowed and item.kind in _WARN)
    return ChangeJudgement(ChangeRule.CERTIFICATION, allowed, refused, warnings)


def _final_permits(item: Modification, signed_revision: int, context: ChangeContext) -> bool:
    if item.kind in _FINAL:
        return True
    if item.kind != "signature":
        return False
    # A field the signature's own revision already held empty: the signer saw it and
    # left it for a co-sealer (the certifying seal reserves co-sealers' fields).
    reserved = item.reserved_in is not None and item.reserved_in <= signed_revision
    return reserved and (item.name in context.registered_fields
                         or item.field_type == "DocTimeStamp")
