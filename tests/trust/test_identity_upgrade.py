"""An installation whose registry identity predates per-purpose EKUs.

The previous release certified the registry's key with key usage only. Start-up
re-issues it for the same key with its EKUs (once, audited, also when several processes
start at once), and receipts signed before stay verifiable where the old certificate is
pinned (this installation, the trust list), never by our root alone.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from sqlalchemy import func, select

from zhengyin.api.runtime import Runtime
from zhengyin.core.clock import utcnow
from zhengyin.core.jose import JWSError
from zhengyin.core.models import AuditEntry
from zhengyin.keys import KeyAlgorithm, KeyHandle
from zhengyin.registry.receipts import verify_receipt
from zhengyin.trust.asn1sign import public_key_info
from zhengyin.trust.jws import SignerTrust
from zhengyin.trust.models import (
    CertificateRecord,
    CertificateRole,
    CertificateStatus,
    RevocationReason,
    ServiceIdentity,
)
from zhengyin.trust.purposes import RECEIPT, ekus_of_identity
from zhengyin.trust.trustlist import read_trust_list

from .tokenpki import certify, der, receipt_claims, stored_issuer, token_with_stored_key

ZHENGYIN = str(Path(sys.executable).with_name("zhengyin"))


@dataclass(frozen=True)
class Legacy:
    """The registry identity as the previous release left it."""

    handle: KeyHandle
    serial: str
    der: bytes
    key_sha1: str
    chain: list[bytes]


def _previous_release_registry(runtime: Runtime) -> Legacy:
    """A registry key certified without EKUs, current in service_identities."""
    keystore = runtime.keystore
    handle = keystore.generate(KeyAlgorithm.EC_P256, "zhengyin registry")
    public = keystore.public_key(handle)
    at = utcnow()
    with runtime.unit_of_work() as services:
        issuing = services.pki.identity("issuing")
        certificate = certify(stored_issuer(keystore, issuing.key_handle, issuing.der),
                              public, name="Zhengyin Development PKI Licence Registry",  # type: ignore[arg-type]
                              not_before=at, not_after=at + timedelta(days=5 * 365))
        key_sha1 = public_key_info(public).sha1.hex()
        record = CertificateRecord(
            serial_hex=format(certificate.serial_number, "x"), role=CertificateRole.SERVICE,
            issuer_id=issuing.record_id, subject=certificate.subject.rfc4514_string(),
            key_handle=str(handle), key_sha1=key_sha1,
            not_before=certificate.not_valid_before_utc,
            not_after=certificate.not_valid_after_utc, der=der(certificate),
            status=CertificateStatus.VALID, created_at=at)
        services.session.add(record)
        services.session.flush()
        services.session.add(ServiceIdentity(purpose="registry", certificate_id=record.id))
        chain = [der(certificate), issuing.der]
    return Legacy(handle, record.serial_hex, chain[0], key_sha1, chain)


def _certificates_of_key(runtime: Runtime, key_sha1: str) -> int:
    with runtime.unit_of_work(readonly=True) as services:
        return int(services.session.scalar(
            select(func.count()).select_from(CertificateRecord)
            .where(CertificateRecord.key_sha1 == key_sha1)) or 0)


def _reissue_entries(runtime: Runtime) -> list[AuditEntry]:
    with runtime.unit_of_work(readonly=True) as services:
        return list(services.session.scalars(
            select(AuditEntry).where(AuditEntry.action == "service_identity.reissued")))


def _legacy_receipt(runtime: Runtime, legacy: Legacy) -> str:
    """A receipt the previous release signed: the old certificate in x5c."""
    return token_with_stored_key(runtime.keystore, legacy.handle, legacy.chain,
                                 receipt_claims(), typ=RECEIPT.typ)


def test_start_up_reissues_an_identity_without_its_ekus_for_the_same_key_once(
        runtime: Runtime) -> None:
    legacy = _previous_release_registry(runtime)
    runtime.upgrade_service_identities()
    runtime.upgrade_service_identities()
    with runtime.unit_of_work(readonly=True) as services:
        current = services.pki.identity("registry")
    certificate = x509.load_der_x509_certificate(current.der)
    usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert {oid.dotted_string for oid in usage} == set(ekus_of_identity("registry"))
    assert current.serial_hex != legacy.serial
    assert current.key_handle == legacy.handle
    assert _certificates_of_key(runtime, legacy.key_sha1) == 2
    [entry] = _reissue_entries(runtime)
    assert (entry.object_id, entry.details["replaces"], entry.details["purpose"]) \
        == (current.serial_hex, legacy.serial, "registry")


def test_a_receipt_signed_before_the_upgrade_verifies_where_its_certificate_is_pinned(
        runtime: Runtime) -> None:
    legacy = _previous_release_registry(runtime)
    receipt = _legacy_receipt(runtime, legacy)
    runtime.upgrade_service_identities()
    with runtime.unit_of_work() as services:
        installation = services.identities.signer_trust()
        root = services.pki.identity("root").der
        listed = read_trust_list(runtime.verification.trust_list(services), [root],
                                 now=utcnow())
    assert verify_receipt(receipt, installation)["check_id"] == "forged"
    assert verify_receipt(receipt, listed.signer_trust())["check_id"] == "forged"
    pins = listed.payload["service_pins"]["receipt"]["certificates"]
    assert [(pin["serial"], pin["legacy"]) for pin in pins][1:] == [(legacy.serial, True)]
    with pytest.raises(JWSError, match=r"^not a receipt signer$"):
        verify_receipt(receipt, SignerTrust.roots_only([root]))


def test_the_legacy_certificate_is_not_pinned_for_purposes_it_never_signed(
        runtime: Runtime) -> None:
    legacy = _previous_release_registry(runtime)
    runtime.upgrade_service_identities()
    with runtime.unit_of_work(readonly=True) as services:
        pins = services.identities.pins()
    assert legacy.der in {pin.der for pin in pins["receipt"]}
    assert legacy.der not in {pin.der for pin in pins["status-list"]}


def test_revoking_the_legacy_certificate_unpins_it(runtime: Runtime) -> None:
    legacy = _previous_release_registry(runtime)
    receipt = _legacy_receipt(runtime, legacy)
    runtime.upgrade_service_identities()
    with runtime.unit_of_work() as services:
        services.pki.revoke(legacy.serial, reason=RevocationReason.KEY_COMPROMISE,
                            at=utcnow(), actor="test")
    with runtime.unit_of_work(readonly=True) as services:
        installation = services.identities.signer_trust()
    with pytest.raises(JWSError, match=r"^the signer is not the service identity this "
                                       r"installation names for a receipt$"):
        verify_receipt(receipt, installation)


def test_a_process_meeting_the_legacy_identity_first_reissues_it_before_signing(
        runtime: Runtime) -> None:
    legacy = _previous_release_registry(runtime)
    fresh = Runtime(runtime.settings)  # a worker that has not started up the usual way
    try:
        with fresh.unit_of_work() as services:
            signer = services.registry_signer()
            root = services.pki.identity("root").der
        receipt = signer.sign(receipt_claims(), typ=RECEIPT.typ)
    finally:
        fresh.close()
    assert signer.serial != legacy.serial
    assert verify_receipt(receipt, SignerTrust.roots_only([root]))["check_id"] == "forged"


def test_processes_starting_at_once_reissue_the_identity_once(runtime: Runtime) -> None:
    legacy = _previous_release_registry(runtime)
    settings = runtime.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHENGYIN_")}
    env.update(ZHENGYIN_DATA_DIR=str(settings.data_dir),
               ZHENGYIN_DATABASE_URL=settings.effective_database_url,
               ZHENGYIN_KEK=settings.kek.get_secret_value(),  # type: ignore[union-attr]
               ZHENGYIN_LOG_JSON="false")
    processes = [subprocess.Popen([ZHENGYIN, "pki", "init"], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outcomes = [(process.wait(timeout=120), process.stderr.read() if process.stderr else "")
                for process in processes]
    for process in processes:
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
    assert [code for code, _ in outcomes] == [0, 0, 0], outcomes
    assert _certificates_of_key(runtime, legacy.key_sha1) == 2
    assert len(_reissue_entries(runtime)) == 1


def test_receipt_verify_accepts_a_legacy_receipt_with_the_trust_list_not_with_the_root_alone(
        runtime: Runtime, tmp_path: Path) -> None:
    from asn1crypto import pem

    legacy = _previous_release_registry(runtime)
    receipt = tmp_path / "receipt.jws"
    receipt.write_text(_legacy_receipt(runtime, legacy), encoding="ascii")
    runtime.upgrade_service_identities()
    with runtime.unit_of_work() as services:
        (tmp_path / "root.pem").write_bytes(
            pem.armor("CERTIFICATE", services.pki.identity("root").der))
        (tmp_path / "list.jws").write_text(runtime.verification.trust_list(services),
                                           encoding="ascii")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHENGYIN_")}

    def receipt_verify(*options: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([ZHENGYIN, "receipt", "verify", str(receipt), *options],
                              env=env, cwd=tmp_path, capture_output=True, text=True,
                              timeout=120, check=False)

    listed = receipt_verify("--trust-list", "list.jws", "--root", "root.pem")
    assert listed.returncode == 0, listed.stderr
    assert "receipt verified: check forged" in listed.stdout
    by_root = receipt_verify("--root", "root.pem")
    assert by_root.returncode == 1
    assert by_root.stderr.strip().splitlines() == ["error: not a receipt signer"]
