"""Certificate, time and seal checks on signatures made outside the seal registry.

What a key holder could produce by signing directly with pyHanko (bypassing the
service's authorisation): a certificate of our CA that is no registered seal, a
signature made before its certificate became valid or after it expired, and a
time-stamp from an authority nobody trusts. None may pass; each gets its own reason.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID
from pyhanko.sign.timestamps import TimeStamper
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

from zhengyin.core.clock import utcnow
from zhengyin.keys import KeyAlgorithm
from zhengyin.signing.models import Seal, SealType, SignatureLevel
from zhengyin.signing.placement import AnchorPlacement, Placement
from zhengyin.signing.stamper import SealMaterial, SealStamper, StampOptions
from zhengyin.trust.validation import Indication, SubIndication

from ..registry.conftest import seal_png
from ..signing.documents import ANCHOR, approval_pdf
from ..support import ORG_CODE, ORG_NAME
from .conftest import VerifyEnv, checks_of, codes, verify_env

__all__ = ["verify_env"]


def _sign(env: VerifyEnv, material: SealMaterial, timestamper: TimeStamper | None = None
          ) -> bytes:
    """Sign with pyHanko (through the stamper) and our TSA, asking no registry."""
    stamper = SealStamper(env.runtime.keystore, material)
    return stamper.stamp(
        approval_pdf(1), StampOptions(Placement(AnchorPlacement(ANCHOR)),
                                      level=SignatureLevel.B_T),
        timestamper=timestamper or env.runtime.pdf_timestamper(), validation_context=None,
        max_bytes=10_000_000).pdf


def _registered(env: VerifyEnv, seal: Seal) -> SealMaterial:
    with env.runtime.unit_of_work(readonly=True) as services:
        return services.stamping.material(services.seals.get(seal.id))


def _unregistered(env: VerifyEnv) -> SealMaterial:
    """A seal certificate issued by our PKI directly, never entered in the registry."""
    runtime = env.runtime
    handle = runtime.keystore.generate(KeyAlgorithm.EC_P256, "unregistered seal")
    at = utcnow()
    with runtime.unit_of_work() as services:
        issued = services.pki.issue_seal_certificate(
            handle=handle, org_name=ORG_NAME, credit_code=ORG_CODE, seal_name="未登记专用章",
            seal_code=None, not_before=at, not_after=at + timedelta(days=30), at=at,
            actor="test")
        chain = services.pki.chain(issued)[1:]
    return SealMaterial(seal_id="unregistered", seal_code="", key_handle=str(handle),
                        algorithm=KeyAlgorithm.EC_P256, certificate_der=issued.der,
                        chain_der=tuple(bytes(ca.dump()) for ca in chain),
                        image_png=seal_png())


def _untrusted_tsa() -> DummyTimeStamper:
    """A time-stamp authority of the attacker's own (self-signed, EKU timeStamping; RSA,
    as pyHanko's dummy TSA requires)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name.from_rfc4514_string("CN=Own TSA,O=Nobody,C=CN")
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]),
                       critical=True)
        .sign(key, hashes.SHA256()))
    der = serialization.Encoding.DER
    return DummyTimeStamper(
        tsa_cert=asn1_x509.Certificate.load(certificate.public_bytes(der)),
        tsa_key=asn1_keys.PrivateKeyInfo.load(key.private_bytes(
            der, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())))


def test_a_certificate_of_our_ca_that_is_no_registered_seal_is_not_accepted(
        verify_env: VerifyEnv) -> None:
    report = verify_env.verify(_sign(verify_env, _unregistered(verify_env)))
    assert report.verdict.indication is Indication.INDETERMINATE
    assert report.verdict.sub_indication is SubIndication.SIG_CONSTRAINTS_FAILURE
    checks = checks_of(report)
    assert checks["certificate"].reason.code == "certificate.trusted"
    assert checks["seal"].reason.code == "seal.unregistered"
    assert "issued here but is not a registered seal" in checks["seal"].reason.en


def test_signed_before_the_certificate_became_valid_fails_not_yet_valid(
        verify_env: VerifyEnv) -> None:
    seal = verify_env.new_seal(SealType.APPROVAL, valid_from=utcnow() + timedelta(days=1))
    report = verify_env.verify(_sign(verify_env, _registered(verify_env, seal)))
    assert report.verdict.indication is Indication.TOTAL_FAILED
    assert report.verdict.sub_indication is SubIndication.NOT_YET_VALID
    assert checks_of(report)["timing"].reason.code == "timing.not_yet_valid"
    assert "before the certificate became valid" in checks_of(report)["timing"].reason.en


def test_signed_after_the_certificate_expired_fails_expired(verify_env: VerifyEnv) -> None:
    seal = verify_env.new_seal(SealType.APPROVAL, valid_until=utcnow() + timedelta(seconds=1))
    material = _registered(verify_env, seal)
    time.sleep(2.1)  # time-stamps carry whole seconds
    report = verify_env.verify(_sign(verify_env, material))
    assert report.verdict.indication is Indication.TOTAL_FAILED
    assert report.verdict.sub_indication is SubIndication.EXPIRED
    assert checks_of(report)["timing"].reason.code == "timing.expired"
    assert "after the certificate expired" in checks_of(report)["timing"].reason.en


def test_a_time_stamp_from_an_untrusted_authority_proves_nothing(
        verify_env: VerifyEnv) -> None:
    pdf = _sign(verify_env, _registered(verify_env, verify_env.approval_seal),
                timestamper=_untrusted_tsa())
    report = verify_env.verify(pdf)
    assert report.verdict.indication is Indication.INDETERMINATE
    assert report.verdict.sub_indication is SubIndication.NO_POE
    assert checks_of(report)["timing"].reason.code == "timing.timestamp_untrusted"
    assert "Own TSA" in checks_of(report)["timing"].reason.en
    assert not report.signatures[0].signing_time_proven
    assert "seal.registered" in codes(report)
