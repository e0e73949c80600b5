"""Conformance pyHanko checks and the verifier used to skip (issue 13 §8).

Signed attributes that break CAdES are FORMAT_FAILURE with their own reason; a
signature that violates its field's required seed values (/SV) is INDETERMINATE /
SIG_CONSTRAINTS_FAILURE, one case per constraint. Every signature here is made by
another authority (trusted as an external anchor) and would otherwise pass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from asn1crypto import cms
from pyhanko.sign.ades.cades_asn1 import SignerAttributesV2
from pyhanko.sign.fields import (
    SigCertConstraintFlags,
    SigCertConstraints,
    SigSeedSubFilter,
    SigSeedValFlags,
    SigSeedValueSpec,
)

from zhengyin.core.clock import utcnow
from zhengyin.trust.validation import Indication, SubIndication

from .conftest import VerifyEnv, checks_of, verify_env
from .foreign import ForeignPKI, form_pdf, with_seed_values

__all__ = ["verify_env"]

POLICY = "1.2.156.112559.1.1.4"


@pytest.fixture(scope="module")
def other(verify_env: VerifyEnv) -> ForeignPKI:
    """Another authority, its signer certificate asserting :data:`POLICY`."""
    authority = ForeignPKI.create(name="Conformance Authority", policy=POLICY)
    with verify_env.runtime.unit_of_work() as services:
        services.anchors.add(authority.root_pem, note="test: conformance", at=utcnow(),
                             actor="test")
    return authority


def _role(uri: str) -> SignerAttributesV2:
    """A claimed role (ETSI EN 319 122-1 §5.2.6.1)."""
    return SignerAttributesV2({"claimed_attributes": [{"type": "role", "values": [
        {"role_name": {"uniform_resource_identifier": uri}}]}]})


def _attribute(name: str, values: list[object]) -> cms.CMSAttribute:
    return cms.CMSAttribute({"type": name, "values": values})


def _with(attributes: cms.CMSAttributes, *extra: cms.CMSAttribute) -> cms.CMSAttributes:
    return cms.CMSAttributes([*attributes, *extra])


def _without(attributes: cms.CMSAttributes, name: str) -> cms.CMSAttributes:
    return cms.CMSAttributes([item for item in attributes if item["type"].native != name])


def _values(attributes: cms.CMSAttributes, name: str) -> list[object]:
    return next(list(item["values"]) for item in attributes if item["type"].native == name)


def _doubled(name: str) -> Callable[[cms.CMSAttributes], cms.CMSAttributes]:
    def tamper(attributes: cms.CMSAttributes) -> cms.CMSAttributes:
        values = _values(attributes, name)
        return _with(_without(attributes, name), _attribute(name, values + values))
    return tamper


def _repeated(name: str) -> Callable[[cms.CMSAttributes], cms.CMSAttributes]:
    def tamper(attributes: cms.CMSAttributes) -> cms.CMSAttributes:
        return _with(attributes, _attribute(name, _values(attributes, name)))
    return tamper


@dataclass(frozen=True)
class Defect:
    """A signed-attribute defect and what the reason must say."""

    name: str
    tamper: Callable[[cms.CMSAttributes], cms.CMSAttributes]
    says: str


DEFECTS = [
    Defect("multi_valued_signer_attributes_v2", lambda attributes: _with(
        attributes, _attribute("signer_attributes_v2",
                               [_role("urn:role:clerk"), _role("urn:role:director")])),
        "signer-attributes-v2 holds 2 values"),
    Defect("signing_certificate_v2_twice", _repeated("signing_certificate_v2"),
           "appear more than once: signing-certificate-v2"),
    Defect("signing_certificate_v2_with_two_values", _doubled("signing_certificate_v2"),
           "signing-certificate-v2 holds 2 values"),
    Defect("signing_certificate_v2_missing",
           lambda attributes: _without(attributes, "signing_certificate_v2"),
           "without a signing-certificate-v2 attribute"),
    Defect("content_type_twice", _repeated("content_type"),
           "appear more than once: content-type"),
    Defect("content_type_mismatch", lambda attributes: _with(
        _without(attributes, "content_type"), _attribute("content_type", ["signed_data"])),
        "is not the encapsulated content's type"),
    Defect("message_digest_missing", lambda attributes: _without(attributes,
                                                                 "message_digest"),
           "message-digest is missing"),
]


@pytest.mark.parametrize("defect", DEFECTS, ids=[defect.name for defect in DEFECTS])
def test_signed_attributes_that_break_cades_are_a_format_failure(
        verify_env: VerifyEnv, other: ForeignPKI, defect: Defect) -> None:
    report = verify_env.verify(other.sign(form_pdf(), tamper=defect.tamper))
    assert report.verdict.indication is Indication.TOTAL_FAILED
    assert report.verdict.sub_indication is SubIndication.FORMAT_FAILURE
    reason = checks_of(report)["format"].reason
    assert reason.code == "signature.signed_attributes"
    assert defect.says in reason.en


def test_the_same_signer_without_defects_passes(verify_env: VerifyEnv,
                                                other: ForeignPKI) -> None:
    report = verify_env.verify(other.sign(form_pdf()))
    assert report.verdict.passed, [reason.en for reason in report.verdict.reasons]
    assert checks_of(report)["seed-values"].reason.code == "seed_values.none"


# ---------------------------------------------------------------------- seed values


@dataclass(frozen=True)
class Seed:
    """A field's required seed values, how the signer signs, and the verdict's text."""

    name: str
    spec: Callable[[ForeignPKI], SigSeedValueSpec]
    says: str
    md_algorithm: str = "sha256"
    policies: tuple[str, ...] = ()


VIOLATED = [
    Seed("sub_filter", lambda _pki: SigSeedValueSpec(
        flags=SigSeedValFlags.SUBFILTER, subfilters=[SigSeedSubFilter.ADOBE_PKCS7_DETACHED]),
        "mandates subfilter '/adbe.pkcs7.detached'"),
    Seed("digest_method", lambda _pki: SigSeedValueSpec(
        flags=SigSeedValFlags.DIGEST_METHOD, digest_methods=["sha512"]),
        "message digest sha256 is not allowed"),
    Seed("revocation_info", lambda _pki: SigSeedValueSpec(
        flags=SigSeedValFlags.ADD_REV_INFO, add_rev_info=True),
        "revocation info be added"),
    Seed("certificate_subject", lambda _pki: SigSeedValueSpec(cert=SigCertConstraints(
        flags=SigCertConstraintFlags.SUBJECT,
        subjects=[ForeignPKI.create(name="Somebody Else").signer_asn1()])),
        "not on SVCert whitelist"),
    Seed("certificate_issuer", lambda _pki: SigSeedValueSpec(cert=SigCertConstraints(
        flags=SigCertConstraintFlags.ISSUER,
        issuers=[ForeignPKI.create(name="Another Issuer").root_asn1()])),
        "cannot be traced back to approved issuer"),
    Seed("certificate_policy", lambda _pki: SigSeedValueSpec(),
         "asserts none of the required certificate policies (1.2.3.4)",
         policies=("1.2.3.4",)),
]


@pytest.mark.parametrize("seed", VIOLATED, ids=[seed.name for seed in VIOLATED])
def test_a_violated_required_seed_value_is_a_constraints_failure(
        verify_env: VerifyEnv, other: ForeignPKI, seed: Seed) -> None:
    unsigned = with_seed_values(seed.spec(other), policies=seed.policies)
    report = verify_env.verify(other.sign(unsigned, field="Sealed", ignore_seed_values=True,
                                          md_algorithm=seed.md_algorithm))
    assert report.verdict.indication is Indication.INDETERMINATE
    assert report.verdict.sub_indication is SubIndication.SIG_CONSTRAINTS_FAILURE
    reason = checks_of(report)["seed-values"].reason
    assert reason.code == "seed_values.violated"
    assert seed.says in reason.en, reason.en


def test_met_seed_values_are_reported_and_pass(verify_env: VerifyEnv,
                                               other: ForeignPKI) -> None:
    spec = SigSeedValueSpec(flags=SigSeedValFlags.DIGEST_METHOD | SigSeedValFlags.SUBFILTER,
                            digest_methods=["sha256"], subfilters=[SigSeedSubFilter.PADES])
    unsigned = with_seed_values(spec, policies=(POLICY,))
    report = verify_env.verify(other.sign(unsigned, field="Sealed", ignore_seed_values=True))
    assert report.verdict.passed, [reason.en for reason in report.verdict.reasons]
    reason = checks_of(report)["seed-values"].reason
    assert reason.code == "seed_values.met"
    assert "sub-filter, digest method, certificate policy" in reason.en
