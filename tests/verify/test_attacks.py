"""Attack files built from our own sealed PDFs: none may pass, each names what changed.

Table-driven (STYLE §6): each case is an attack (tests/verify/attacks.py, named for what
it does) on one of our sealed documents, with the verdict and the reason it must get.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from zhengyin.signing.models import SealType
from zhengyin.signing.placement import BoxPlacement, CrossPage, Placement, ReservedField
from zhengyin.trust.validation import Indication, SubIndication, VerificationReport

from ..signing.documents import approval_pdf
from .attacks import ATTACKS, NotApplicableAttack, shadow_document
from .conftest import CO_SEAL_BOX, VerifyEnv, checks_of, codes, verify_env
from .foreign import form_pdf

__all__ = ["verify_env"]

F, IND = Indication.TOTAL_FAILED, Indication.INDETERMINATE
CROSS_PAGE = Placement(BoxPlacement(page=-1, box=(360, 140, 479, 259)), CrossPage())


@dataclass(frozen=True)
class Case:
    """An attack on a base document and what the verifier must say."""

    attack: str
    base: str
    indication: Indication
    sub: SubIndication | None
    code: str
    says: str
    """A fragment the English reasons must contain (what changed)."""


CASES = [
    Case("byte_flipped_in_content", "approval", F, SubIndication.HASH_FAILURE,
         "signature.digest_mismatch", "digest mismatch"),
    Case("byte_flipped_in_content", "certified", F, SubIndication.HASH_FAILURE,
         "signature.digest_mismatch", "digest mismatch"),
    Case("byte_flipped_in_content", "licence", F, SubIndication.HASH_FAILURE,
         "signature.digest_mismatch", "digest mismatch"),
    Case("signature_value_corrupted", "approval", F, SubIndication.SIG_CRYPTO_FAILURE,
         "signature.invalid_value", "does not verify with the signing certificate"),
    Case("signature_value_corrupted", "licence", F, SubIndication.SIG_CRYPTO_FAILURE,
         "signature.invalid_value", "does not verify with the signing certificate"),
    Case("timestamp_value_corrupted", "approval", IND, SubIndication.NO_POE,
         "timing.timestamp_invalid", "the signature time-stamp is invalid"),
    Case("incremental_saving_new_content", "certified", F, SubIndication.FORMAT_FAILURE,
         "changes.forbidden", "page 1"),
    Case("incremental_saving_new_content", "approval", F, SubIndication.FORMAT_FAILURE,
         "changes.forbidden", "page 1"),
    Case("incremental_saving_new_content", "licence", F, SubIndication.FORMAT_FAILURE,
         "changes.forbidden", "page 1"),
    Case("appended_objects_without_xref", "licence", F, SubIndication.FORMAT_FAILURE,
         "document.unaccounted_bytes", "object 4 0"),
    Case("usf_contents_zeroed", "certified", F, SubIndication.FORMAT_FAILURE,
         "signature.unreadable", "malformed"),
    Case("usf_contents_removed", "licence", F, SubIndication.FORMAT_FAILURE,
         "signature.unreadable", "/Contents"),
    Case("usf_contents_emptied", "approval", F, SubIndication.FORMAT_FAILURE,
         "signature.unreadable", "malformed"),
    Case("usf_byterange_zeroed", "licence", F, SubIndication.FORMAT_FAILURE,
         "signature.unreadable", "ByteRange"),
    Case("usf_byterange_removed", "certified", F, SubIndication.FORMAT_FAILURE,
         "signature.unreadable", "ByteRange"),
    Case("swa_signature_dictionary_moved", "certified", F, SubIndication.FORMAT_FAILURE,
         "changes.coverage", "signed range does not cover"),
    Case("swa_byterange_moved", "licence", F, SubIndication.FORMAT_FAILURE,
         "signature.unreadable", "ByteRange"),
    Case("shadow_hide", "shadow-approval", F, SubIndication.FORMAT_FAILURE,
         "changes.forbidden", "Form XObject changed"),
    Case("shadow_hide", "shadow-certified", F, SubIndication.FORMAT_FAILURE,
         "changes.forbidden", "Form XObject changed"),
    Case("shadow_replace", "shadow-approval", F, SubIndication.FORMAT_FAILURE,
         "changes.forbidden", "changed"),
    Case("shadow_hide_and_replace", "shadow-approval", F, SubIndication.FORMAT_FAILURE,
         "changes.forbidden", "page 1"),
    Case("evil_annotation", "certified", F, SubIndication.FORMAT_FAILURE,
         "changes.forbidden", "FreeText annotation on page 1 added"),
    Case("evil_annotation", "co-sealed", F, SubIndication.FORMAT_FAILURE,
         "changes.forbidden", "FreeText annotation on page 1 added"),
    Case("evil_annotation", "approval", F, SubIndication.FORMAT_FAILURE,
         "changes.forbidden", "FreeText annotation on page 1 added"),
    Case("sneaky_signature", "certified", F, SubIndication.FORMAT_FAILURE,
         "changes.forbidden", "signature field 'Approval2'"),
    Case("sneaky_signature", "co-sealed", F, SubIndication.FORMAT_FAILURE,
         "changes.forbidden", "signature field 'Approval2'"),
    Case("sneaky_signature", "approval", F, SubIndication.FORMAT_FAILURE,
         "changes.not_permitted", "a signed signature field 'Approval2' added on page 1 "
         "(visible"),
    Case("page_added", "certified", F, SubIndication.FORMAT_FAILURE, "changes.forbidden",
         "a page was added"),
    Case("page_added", "co-sealed", F, SubIndication.FORMAT_FAILURE, "changes.forbidden",
         "a page was added"),
    Case("impostor_second_signature", "approval", F, SubIndication.FORMAT_FAILURE,
         "changes.not_permitted", "a signed signature field 'Seal_impostor' added"),
    # Issue 13 §3: what was measured passing after an approval seal, and the rest of
    # what a final seal of this service must refuse, each named with its page.
    Case("empty_signature_field_visible", "approval", F, SubIndication.FORMAT_FAILURE,
         "changes.not_permitted", "an empty signature field 'Banner' added on page 1 "
         "(visible, rect [72 560 522 620])"),
    Case("empty_signature_field_visible", "co-sealed", F, SubIndication.FORMAT_FAILURE,
         "changes.not_permitted", "an empty signature field 'Banner' added on page 1"),
    Case("empty_signature_field_invisible", "approval", F, SubIndication.FORMAT_FAILURE,
         "changes.not_permitted", "an empty signature field 'Spare' added on page 1 "
         "(invisible"),
    Case("empty_signature_field_invisible", "certified", F, SubIndication.FORMAT_FAILURE,
         "changes.not_permitted", "an empty signature field 'Spare' added"),
    Case("empty_signature_field_invisible", "reserved", F, SubIndication.FORMAT_FAILURE,
         "changes.not_permitted", "an empty signature field 'Spare' added"),
    Case("empty_signature_fields_eighty", "approval", F, SubIndication.FORMAT_FAILURE,
         "changes.not_permitted", "an empty signature field 'Spare0' added on page 1 "
         "(invisible"),
    Case("widget_without_field", "approval", F, SubIndication.FORMAT_FAILURE,
         "changes.forbidden", "a widget annotation with no field added on page 1 (visible"),
    Case("note_annotation", "approval", F, SubIndication.FORMAT_FAILURE,
         "changes.forbidden", "Text annotation on page 1 added"),
    Case("note_annotation", "co-sealed", F, SubIndication.FORMAT_FAILURE,
         "changes.forbidden", "Text annotation on page 1 added"),
    Case("open_action_added", "licence", F, SubIndication.FORMAT_FAILURE,
         "changes.forbidden", "an action /OpenAction added or changed"),
    Case("page_cropped", "approval", F, SubIndication.FORMAT_FAILURE,
         "changes.forbidden", "page 1 redefined (/CropBox)"),
    Case("shadow_hide_and_replace", "certified", F, SubIndication.FORMAT_FAILURE,
         "changes.forbidden", "page 1 content changed"),
    Case("info_title_changed", "licence", F, SubIndication.FORMAT_FAILURE,
         "changes.not_permitted", "document metadata changed (/Info: /Title)"),
    Case("xmp_title_added", "approval", F, SubIndication.FORMAT_FAILURE,
         "changes.not_permitted", "document metadata changed (XMP)"),
    Case("form_value_changed", "form", F, SubIndication.FORMAT_FAILURE,
         "changes.field_values", "text field 'applicant' on page 1 filled"),
    Case("form_value_changed", "form-p2", F, SubIndication.FORMAT_FAILURE,
         "changes.field_values", "text field 'applicant' on page 1 filled"),
    Case("impostor_in_reserved_field", "reserved", F, SubIndication.FORMAT_FAILURE,
         "changes.not_permitted", "signature field 'CoSeal1' on page 2 signed"),
    Case("impostor_second_signature", "certified", F, SubIndication.FORMAT_FAILURE,
         "changes.not_permitted", "signature field 'Seal_impostor'"),
]


# Bytes after the signed revisions that are no well-formed update, on every kind of
# sealed file (the update-based ones name the offset of the update they break).
UNACCOUNTED = {
    "object_redefined_after_last_revision": "appended after the last revision without a "
                                            "cross-reference section",
    "object_redefined_with_repeated_startxref": "is appended without a cross-reference "
                                                "section; the startxref at offset",
    "appended_objects_without_xref": "object 4 0",
    "text_appended": "bytes that are no PDF object",
    "comment_appended": "a comment ('%ZZBS",
    "object_hidden_in_update": "but not in its cross-reference",
    "update_prev_skips_an_update": "a later /Prev or startxref skips it",
    "update_startxref_points_back": "but this update's cross-reference is at",
}
LAYOUT_BASES = ("licence", "certified", "co-sealed", "cross-page", "b-lta")
CASES += [Case(attack, base, F, SubIndication.FORMAT_FAILURE, "document.unaccounted_bytes",
               says)
          for attack, says in UNACCOUNTED.items() for base in LAYOUT_BASES
          if (attack, base) != ("appended_objects_without_xref", "licence")]

# A hybrid-reference file shows different objects to PDF 1.4 readers and later ones: no
# signature in it is verified, and the reason says why (not "the byte range moved").
CASES += [Case("hybrid_reference_update", base, F, SubIndication.FORMAT_FAILURE,
               "signature.unreadable", "uses a hybrid cross-reference") for base in LAYOUT_BASES]


@pytest.fixture(scope="module")
def bases(verify_env: VerifyEnv) -> dict[str, bytes]:
    """The sealed documents attacked (each genuine one passes; asserted once)."""
    second = verify_env.new_seal(SealType.CONTRACT)
    reserve = (ReservedField("CoSeal1", -1, CO_SEAL_BOX),)
    documents = {
        "certified": verify_env.stamp(),
        "approval": verify_env.stamp(certify=False),
        "co-sealed": verify_env.co_sealed(second),
        "reserved": verify_env.stamp(reserve=reserve),
        "licence": verify_env.issue()[1],
        "cross-page": verify_env.stamp(approval_pdf(3), placement=CROSS_PAGE),
        "b-lta": verify_env.stamp(level="B-LTA"),
        "shadow-approval": verify_env.stamp(shadow_document(), certify=False),
        "shadow-certified": verify_env.stamp(shadow_document()),
        "form": verify_env.stamp(form_pdf()),
        "form-p2": verify_env.stamp(form_pdf(), reserve=reserve),
    }
    for name, pdf in documents.items():
        verdict = verify_env.verify(pdf).verdict
        assert verdict.passed, (name, [reason.en for reason in verdict.reasons])
    return documents


def _reasons(report: VerificationReport) -> str:
    texts = [check.reason.en for check in report.document]
    for signature in report.signatures:
        texts += [check.reason.en for check in signature.checks]
    return " | ".join(texts)


@pytest.mark.parametrize("case", CASES, ids=[f"{c.attack}-{c.base}" for c in CASES])
def test_attack_is_caught_and_named(verify_env: VerifyEnv, bases: dict[str, bytes],
                                    case: Case) -> None:
    attack: Callable[[bytes], bytes] = ATTACKS[case.attack]
    report = verify_env.verify(attack(bases[case.base]))
    verdict = report.verdict
    assert verdict.indication is not Indication.TOTAL_PASSED
    assert verdict.indication is case.indication, _reasons(report)
    assert verdict.sub_indication is case.sub, _reasons(report)
    assert case.code in codes(report), _reasons(report)
    assert case.says in _reasons(report), _reasons(report)


def test_every_attack_is_in_the_table() -> None:
    assert {case.attack for case in CASES} == set(ATTACKS)


def test_a_corrupted_signature_value_is_not_blamed_on_the_certificate(
        verify_env: VerifyEnv, bases: dict[str, bytes]) -> None:
    report = verify_env.verify(ATTACKS["signature_value_corrupted"](bases["approval"]))
    checks = checks_of(report)
    assert checks["integrity"].reason.code == "signature.invalid_value"
    assert checks["certificate"].reason.code == "certificate.not_checked"
    assert checks["revocation"].reason.code == "revocation.not_checked"
    assert "certificate.untrusted" not in codes(report)


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_no_attack_passes_on_any_sealed_document(verify_env: VerifyEnv,
                                                 bases: dict[str, bytes], attack: str) -> None:
    applied = 0
    for name, pdf in bases.items():
        try:
            attacked = ATTACKS[attack](pdf)
        except NotApplicableAttack:
            continue
        applied += 1
        report = verify_env.verify(attacked)
        assert not report.verdict.passed, (attack, name, _reasons(report))
    assert applied, f"{attack} applies to no base document"
