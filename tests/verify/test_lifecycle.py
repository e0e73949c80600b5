"""Revocation and status over time: what was sealed before stays valid, after does not.

* sealed, then the seal (and its certificate) revoked: still TOTAL-PASSED, because the
  time-stamp proves the signature came first (the reason says so);
* signed after the revocation (a stolen key used anyway, bypassing the service):
  TOTAL-FAILED / REVOKED;
* signed while the seal was suspended: TOTAL-FAILED / REVOKED;
* no time-stamp and a revoked certificate: INDETERMINATE / REVOKED_NO_POE;
* a licence revoked, suspended or superseded: TOTAL-FAILED with its status; a PDF that
  is not the file issued for the licence: TOTAL-FAILED / HASH_FAILURE.
"""

from __future__ import annotations

from zhengyin.core.clock import utcnow
from zhengyin.signing.models import Seal, SealType, SignatureLevel
from zhengyin.signing.placement import AnchorPlacement, Placement
from zhengyin.signing.stamper import SealStamper, StampOptions
from zhengyin.trust.validation import Indication, SubIndication

from ..signing.documents import ANCHOR, approval_pdf
from .conftest import VerifyEnv, checks_of, codes, verify_env

__all__ = ["verify_env"]


def _sign_directly(env: VerifyEnv, seal: Seal, level: SignatureLevel = SignatureLevel.B_T
                   ) -> bytes:
    """Sign with the seal's key without asking the seal registry (as a thief would)."""
    runtime = env.runtime
    with runtime.unit_of_work(readonly=True) as services:
        material = services.stamping.material(services.seals.get(seal.id))
    stamper = SealStamper(runtime.keystore, material)
    result = stamper.stamp(
        approval_pdf(1), StampOptions(Placement(AnchorPlacement(ANCHOR)), level=level),
        timestamper=None if level is SignatureLevel.B_B else runtime.pdf_timestamper(),
        validation_context=None, max_bytes=10_000_000)
    return result.pdf


def _revoke(env: VerifyEnv, seal: Seal) -> None:
    with env.runtime.unit_of_work() as services:
        services.seals.revoke(seal.id, reason="印章遗失", at=utcnow(), actor="test",
                              key_compromised=True)


def _next_second() -> None:
    """Time-stamps and CRLs carry whole seconds: an event in the same second as a
    signature does not count against it, so a test that signs *after* one waits."""
    import time

    time.sleep(1.05)


def test_sealed_before_the_revocation_stays_valid(verify_env: VerifyEnv) -> None:
    seal = verify_env.new_seal(SealType.APPROVAL)
    pdf = verify_env.stamp(seal=seal)
    assert verify_env.verify(pdf).verdict.passed
    _revoke(verify_env, seal)
    report = verify_env.verify(pdf)
    assert report.verdict.indication is Indication.TOTAL_PASSED, \
        [reason.en for reason in report.verdict.reasons]
    checks = checks_of(report)
    assert "after the signing time" in checks["revocation"].reason.en
    assert "revoked on" in checks["seal"].reason.en
    assert report.signatures[0].seal is not None
    assert report.signatures[0].seal.state_now.value == "revoked"


def test_signed_after_the_revocation_fails_revoked(verify_env: VerifyEnv) -> None:
    seal = verify_env.new_seal(SealType.APPROVAL)
    _revoke(verify_env, seal)
    _next_second()
    report = verify_env.verify(_sign_directly(verify_env, seal))
    assert report.verdict.indication is Indication.TOTAL_FAILED
    assert report.verdict.sub_indication is SubIndication.REVOKED
    assert {"revocation.revoked", "seal.revoked_at_signing"} <= codes(report)


def test_signed_while_suspended_fails_and_earlier_documents_stay_valid(
        verify_env: VerifyEnv) -> None:
    seal = verify_env.new_seal(SealType.APPROVAL)
    before = verify_env.stamp(seal=seal)
    with verify_env.runtime.unit_of_work() as services:
        services.seals.suspend(seal.id, reason="内部核查", at=utcnow(), actor="test")
    _next_second()
    during = _sign_directly(verify_env, seal)
    with verify_env.runtime.unit_of_work() as services:
        services.seals.resume(seal.id, reason="核查完毕", at=utcnow(), actor="test")
    report = verify_env.verify(during)
    assert report.verdict.indication is Indication.TOTAL_FAILED
    assert report.verdict.sub_indication is SubIndication.REVOKED
    assert checks_of(report)["seal"].reason.code == "seal.suspended_at_signing"
    assert verify_env.verify(before).verdict.passed


def test_without_a_time_stamp_a_revoked_certificate_is_indeterminate(
        verify_env: VerifyEnv) -> None:
    seal = verify_env.new_seal(SealType.APPROVAL)
    pdf = verify_env.stamp(seal=seal, level="B-B")
    report = verify_env.verify(pdf)
    assert report.verdict.passed, [reason.en for reason in report.verdict.reasons]
    assert checks_of(report)["timing"].reason.code == "timing.claimed_only"
    _revoke(verify_env, seal)
    report = verify_env.verify(pdf)
    assert report.verdict.indication is Indication.INDETERMINATE
    assert report.verdict.sub_indication is SubIndication.REVOKED_NO_POE


def test_a_revoked_licence_fails_revoked_now_but_was_valid_when_sealed(
        verify_env: VerifyEnv) -> None:
    identifier, pdf = verify_env.issue()
    verify_env.revoke(identifier)
    report = verify_env.verify(pdf)
    assert report.verdict.indication is Indication.TOTAL_FAILED
    assert report.verdict.sub_indication is SubIndication.REVOKED
    assert report.licence is not None and report.licence.state_now.value == "revoked"
    assert report.licence.state_at_signing is not None
    assert report.licence.state_at_signing.value == "valid"
    assert checks_of(report)["licence"].reason.code == "licence.revoked"
    assert verify_env.verify_identifier(identifier).verdict.sub_indication \
        is SubIndication.REVOKED


def test_a_superseded_version_fails_and_names_its_successor(verify_env: VerifyEnv) -> None:
    from zhengyin.registry.issuance import IssuingParty
    from zhengyin.registry.licences import Reader
    from zhengyin.registry.lifecycle import ChangeRequest

    from ..registry.conftest import MARKET

    identifier, pdf = verify_env.issue()
    with verify_env.runtime.unit_of_work() as services:
        licence = services.licences.get(identifier, Reader(everything=True))
        fields = dict(licence.fields, address="北京市朝阳区建国路99号")
        successor = services.lifecycle.change(
            licence, ChangeRequest(fields=fields), reason="住所变更",
            party=IssuingParty(org_code=MARKET, client_id=None, actor="test"), at=utcnow())
        new_identifier = successor.identifier
    report = verify_env.verify(pdf)
    assert report.verdict.indication is Indication.TOTAL_FAILED
    assert report.verdict.sub_indication is SubIndication.EXPIRED
    assert report.licence is not None and report.licence.superseded_by == new_identifier
    assert new_identifier in checks_of(report)["licence"].reason.en
    assert verify_env.verify_identifier(new_identifier).verdict.passed


def test_a_licence_pdf_that_is_not_the_issued_file_fails(verify_env: VerifyEnv) -> None:
    from zhengyin.registry.issuance import verify_url
    from zhengyin.registry.licences import Reader
    from zhengyin.registry.sealing import IssuerSeal, licence_view

    identifier, _pdf = verify_env.issue()
    runtime = verify_env.runtime
    with runtime.unit_of_work(readonly=True) as services:
        licence = services.licences.get(identifier, Reader(everything=True))
        view = licence_view(licence, services.licences.licence_type(licence),
                            verify_url=verify_url(runtime.settings.public_base_url, identifier))
        # The issuer's own seal on a page it never issued: a changed operator name.
        forged = runtime.sealer.seal(services.session, view.__class__(**{
            **view.__dict__, "holder": "北京某某冒名餐饮有限公司"}),
            IssuerSeal.of(services.seals.get(verify_env.market_seal.id)), at=utcnow()).pdf
    report = verify_env.verify(forged)
    assert report.verdict.indication is Indication.TOTAL_FAILED
    assert report.verdict.sub_indication is SubIndication.FORMAT_FAILURE
    assert checks_of(report)["licence"].reason.code == "licence.not_issued_file"
    # Every cryptographic check passes: only the registry knows this file was not issued.
    assert checks_of(report)["integrity"].status.value == "passed"
