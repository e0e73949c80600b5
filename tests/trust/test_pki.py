"""The certificate authorities and the certificates they issue, read back with openssl."""

from __future__ import annotations

import hashlib
import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select

from zhengyin.api.runtime import Runtime
from zhengyin.core.clock import utcnow
from zhengyin.core.errors import InvalidCodeError, InvalidCreditCodeError, InvalidIDNumberError
from zhengyin.core.models import AuditEntry
from zhengyin.keys import KeyAlgorithm
from zhengyin.trust.errors import CertificateNotFoundError, RevocationError, TrustError
from zhengyin.trust.models import (
    CertificateRecord,
    CertificateRole,
    RevocationReason,
    ServiceIdentity,
)
from zhengyin.trust.pki import IssuedCertificate

from ..support import ORG_CODE, ORG_NAME
from .conftest import PUBLIC_ROOT, IssueSeal, OpenSSL, write_pem

pytestmark = pytest.mark.openssl

ROOT_SUBJECT = {"countryName": "CN", "organizationName": "Zhengyin Development PKI",
                "commonName": "Zhengyin Development PKI Root CA"}
ISSUING_SUBJECT = {**ROOT_SUBJECT, "commonName": "Zhengyin Development PKI Issuing CA"}


def subject_of(openssl: OpenSSL, path: Path, which: str = "subject") -> dict[str, str]:
    """The certificate's subject (or issuer) as openssl reads it, attribute by attribute."""
    text = openssl("x509", "-in", path.name, "-noout", f"-{which}",
                   "-nameopt", "multiline,-esc_msb,utf8").stdout
    fields = {}
    for line in text.splitlines()[1:]:
        name, _, value = line.strip().partition(" = ")
        assert name.strip() not in fields, f"{name} appears twice"
        fields[name.strip()] = value.strip()
    return fields


def extensions_of(openssl: OpenSSL, path: Path, names: str) -> str:
    """openssl's rendering of the named extensions (comma-separated openssl names)."""
    return openssl("x509", "-in", path.name, "-noout", "-ext", names).stdout


def verify(openssl: OpenSSL, *names: str, purpose: str | None = None) -> list[str]:
    """``openssl verify`` against root.pem with issuing.pem as intermediate."""
    extra = ["-purpose", purpose] if purpose else []
    return openssl("verify", "-x509_strict", *extra, "-CAfile", "root.pem",
                   "-untrusted", "issuing.pem", *names).stdout.splitlines()


def issue_person(runtime: Runtime, tmp_path: Path, *, name: str = "张三",
                 id_number: str = "11010519491231002X") -> IssuedCertificate:
    at = utcnow()
    handle = runtime.keystore.generate(KeyAlgorithm.EC_P256, "person")
    with runtime.unit_of_work() as services:
        issued = services.pki.issue_person_certificate(
            handle=handle, name=name, id_number=id_number, not_before=at, not_after=None,
            at=at, actor="test",
        )
    write_pem(tmp_path / "person.pem", issued.der)
    return issued


def certificate_count(runtime: Runtime) -> int:
    with runtime.unit_of_work(readonly=True) as services:
        return int(services.session.scalar(select(func.count()).select_from(CertificateRecord))
                   or 0)


# --------------------------------------------------------------------------- pki init


def test_init_creates_issuing_ocsp_and_tsa_certificates_that_verify_to_the_root(
    openssl: OpenSSL, ca_files: dict[str, Path]
) -> None:
    assert verify(openssl, "issuing.pem", "ocsp.pem", "tsa.pem") == [
        "issuing.pem: OK", "ocsp.pem: OK", "tsa.pem: OK",
    ]


def test_root_is_a_self_signed_ca_for_certificates_and_crls(
    openssl: OpenSSL, ca_files: dict[str, Path]
) -> None:
    assert subject_of(openssl, ca_files["root"]) == ROOT_SUBJECT
    assert subject_of(openssl, ca_files["root"], "issuer") == ROOT_SUBJECT
    assert openssl("verify", "-x509_strict", "-CAfile", "root.pem", "root.pem").stdout \
        == "root.pem: OK\n"
    assert extensions_of(openssl, ca_files["root"], "basicConstraints,keyUsage") == (
        "X509v3 Basic Constraints: critical\n    CA:TRUE\n"
        "X509v3 Key Usage: critical\n    Certificate Sign, CRL Sign\n"
    )


def test_issuing_ca_certifies_only_end_entities_and_names_the_root_crl(
    openssl: OpenSSL, ca_files: dict[str, Path]
) -> None:
    assert subject_of(openssl, ca_files["issuing"]) == ISSUING_SUBJECT
    assert subject_of(openssl, ca_files["issuing"], "issuer") == ROOT_SUBJECT
    assert extensions_of(openssl, ca_files["issuing"],
                         "basicConstraints,keyUsage,crlDistributionPoints") == (
        "X509v3 Basic Constraints: critical\n    CA:TRUE, pathlen:0\n"
        "X509v3 Key Usage: critical\n    Certificate Sign, CRL Sign\n"
        "X509v3 CRL Distribution Points: \n    Full Name:\n"
        f"      URI:{PUBLIC_ROOT}/pki/crl/root.crl\n"
    )


def test_tsa_certificate_has_only_the_critical_time_stamping_eku(
    openssl: OpenSSL, ca_files: dict[str, Path]
) -> None:
    assert extensions_of(openssl, ca_files["tsa"],
                         "basicConstraints,keyUsage,extendedKeyUsage") == (
        "X509v3 Basic Constraints: critical\n    CA:FALSE\n"
        "X509v3 Key Usage: critical\n    Digital Signature, Non Repudiation\n"
        "X509v3 Extended Key Usage: critical\n    Time Stamping\n"
    )
    assert verify(openssl, "tsa.pem", purpose="timestampsign") == ["tsa.pem: OK"]


def test_ocsp_certificate_is_a_delegated_responder_exempt_from_checking(
    openssl: OpenSSL, ca_files: dict[str, Path]
) -> None:
    assert extensions_of(openssl, ca_files["ocsp"],
                         "basicConstraints,keyUsage,extendedKeyUsage,noCheck") == (
        "X509v3 Basic Constraints: critical\n    CA:FALSE\n"
        "X509v3 Key Usage: critical\n    Digital Signature\n"
        "X509v3 Extended Key Usage: \n    OCSP Signing\n"
        "OCSP No Check: \n\n"
    )
    assert subject_of(openssl, ca_files["ocsp"], "issuer") == ISSUING_SUBJECT


def test_init_again_keeps_every_existing_certificate(pki_runtime: Runtime) -> None:
    purposes = ("root", "issuing", "ocsp", "tsa", "audit")
    with pki_runtime.unit_of_work(readonly=True) as services:
        before = {p: services.pki.identity(p).serial_hex for p in purposes}
    with pki_runtime.unit_of_work() as services:
        services.pki.init(at=utcnow() + timedelta(days=1), actor="test")
    with pki_runtime.unit_of_work(readonly=True) as services:
        assert {p: services.pki.identity(p).serial_hex for p in purposes} == before


def test_init_adds_an_identity_missing_from_an_older_installation(
    pki_runtime: Runtime,
) -> None:
    with pki_runtime.unit_of_work() as services:
        root = services.pki.identity("root").serial_hex
        old_audit = services.pki.identity("audit").serial_hex
        services.session.execute(
            delete(ServiceIdentity).where(ServiceIdentity.purpose == "audit"))
    pki_runtime.ensure_pki()
    with pki_runtime.unit_of_work(readonly=True) as services:
        assert services.pki.identity("root").serial_hex == root
        new_audit = services.pki.identity("audit")
    assert new_audit.serial_hex != old_audit
    assert new_audit.role is CertificateRole.SERVICE


def test_pki_init_command_creates_the_certificate_authorities(
    tmp_path: Path, openssl: OpenSSL, monkeypatch: pytest.MonkeyPatch
) -> None:
    # In-process (a subprocess costs seconds of imports), on the command's own SQLite
    # database, in the environment of a fresh install.
    from typer.testing import CliRunner

    from zhengyin.api.cli import app, common
    from zhengyin.api.database import upgrade
    from zhengyin.core.db import make_engine

    for name in [n for n in os.environ if n.startswith("ZHENGYIN_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("ZHENGYIN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ZHENGYIN_LOG_JSON", "false")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    engine = make_engine(f"sqlite:///{tmp_path / 'data' / 'zhengyin.db'}")
    upgrade(engine)
    engine.dispose()
    common.runtime.cache_clear()
    try:
        runner = CliRunner()
        commands = [["pki", "init"]] + [["pki", "export", p, "--out", f"{p}.pem"]
                                        for p in ("root", "issuing", "ocsp", "tsa")]
        for command in commands:
            result = runner.invoke(app, command)
            assert result.exit_code == 0, (command, result.output)
    finally:
        if common.runtime.cache_info().currsize:
            common.runtime().close()
        common.runtime.cache_clear()
    assert verify(openssl, "issuing.pem", "ocsp.pem", "tsa.pem") == [
        "issuing.pem: OK", "ocsp.pem: OK", "tsa.pem: OK",
    ]
    assert verify(openssl, "tsa.pem", purpose="timestampsign") == ["tsa.pem: OK"]


# --------------------------------------------------------------------------- seals


def test_seal_certificate_subject_names_the_organisation_and_its_credit_code(
    openssl: OpenSSL, ca_files: dict[str, Path], issue_seal: IssueSeal
) -> None:
    issue_seal(seal_name="行政审批专用章", seal_code="1101050012345")
    assert subject_of(openssl, openssl.cwd / "seal.pem") == {
        "countryName": "CN",
        "organizationName": ORG_NAME,
        "organizationIdentifier": f"NTRCN-{ORG_CODE}",
        "commonName": "行政审批专用章",
        "serialNumber": "1101050012345",
    }


def test_seal_certificate_records_the_normalised_credit_code(
    pki_runtime: Runtime, ca_files: dict[str, Path], issue_seal: IssueSeal
) -> None:
    issued = issue_seal(credit_code=f" {ORG_CODE.lower()} ")
    with pki_runtime.unit_of_work(readonly=True) as services:
        record = services.pki.record(issued.serial_hex)
        assert record.org_credit_code == ORG_CODE
        assert record.role is CertificateRole.SEAL


@pytest.mark.parametrize("algorithm", [KeyAlgorithm.EC_P256, KeyAlgorithm.RSA_2048,
                                       KeyAlgorithm.ED25519])
def test_seal_certificate_for_each_key_algorithm_verifies_to_the_root(
    pki_runtime: Runtime, openssl: OpenSSL, ca_files: dict[str, Path], tmp_path: Path,
    algorithm: KeyAlgorithm,
) -> None:
    at = utcnow()
    handle = pki_runtime.keystore.generate(algorithm, "seal")
    with pki_runtime.unit_of_work() as services:
        issued = services.pki.issue_seal_certificate(
            handle=handle, org_name=ORG_NAME, credit_code=ORG_CODE, seal_name="合同专用章",
            seal_code=None, not_before=at, not_after=None, at=at, actor="test",
        )
    write_pem(tmp_path / "seal.pem", issued.der)
    assert verify(openssl, "seal.pem") == ["seal.pem: OK"]


def test_seal_certificate_verifies_to_the_root_as_a_signing_certificate(
    openssl: OpenSSL, ca_files: dict[str, Path], issue_seal: IssueSeal
) -> None:
    issue_seal()
    assert verify(openssl, "seal.pem") == ["seal.pem: OK"]
    assert extensions_of(openssl, openssl.cwd / "seal.pem", "basicConstraints,keyUsage") == (
        "X509v3 Basic Constraints: critical\n    CA:FALSE\n"
        "X509v3 Key Usage: critical\n    Digital Signature, Non Repudiation\n"
    )


def test_end_entity_crl_and_ocsp_urls_are_under_the_public_base_url(
    openssl: OpenSSL, ca_files: dict[str, Path], issue_seal: IssueSeal
) -> None:
    issue_seal()
    assert extensions_of(openssl, openssl.cwd / "seal.pem",
                         "crlDistributionPoints,authorityInfoAccess") == (
        "X509v3 CRL Distribution Points: \n    Full Name:\n"
        f"      URI:{PUBLIC_ROOT}/pki/crl/issuing.crl\n"
        "Authority Information Access: \n"
        f"    OCSP - URI:{PUBLIC_ROOT}/ocsp\n"
        f"    CA Issuers - URI:{PUBLIC_ROOT}/pki/ca/issuing.crt\n"
    )


def test_seal_with_a_bad_credit_code_is_refused_and_nothing_is_issued(
    pki_runtime: Runtime, issue_seal: IssueSeal
) -> None:
    before = certificate_count(pki_runtime)
    with pytest.raises(InvalidCreditCodeError,
                       match=r"^the unified social credit code fails its GB 32100 check"):
        issue_seal(credit_code="91110000600037341K")
    assert certificate_count(pki_runtime) == before


def test_seal_with_a_legacy_pilot_code_needs_the_legacy_flag(issue_seal: IssueSeal) -> None:
    with pytest.raises(InvalidCreditCodeError):
        issue_seal(credit_code="91350100M0001TGQXM")


def test_seal_with_a_legacy_pilot_code_is_issued_and_audited_when_allowed(
    pki_runtime: Runtime, issue_seal: IssueSeal
) -> None:
    issued = issue_seal(credit_code="91350100M0001TGQXM", allow_legacy_code=True)
    with pki_runtime.unit_of_work(readonly=True) as services:
        assert services.pki.record(issued.serial_hex).org_credit_code == "91350100M0001TGQXM"
        warnings = services.session.scalars(
            select(AuditEntry).where(AuditEntry.action == "certificate.legacy_credit_code")
            .where(AuditEntry.object_id == issued.serial_hex)
        ).all()
    assert [w.details["credit_code"] for w in warnings] == ["91350100M0001TGQXM"]


def test_seal_code_other_than_13_digits_is_refused(issue_seal: IssueSeal) -> None:
    with pytest.raises(InvalidCodeError, match=r"^a seal code is 13 digits$"):
        issue_seal(seal_code="11010500123")


def test_seal_without_a_name_is_refused(issue_seal: IssueSeal) -> None:
    with pytest.raises(TrustError, match=r"^the seal name is empty$"):
        issue_seal(seal_name="  ")


def test_validity_is_cut_at_the_issuing_ca_expiry(
    pki_runtime: Runtime, ca_files: dict[str, Path], issue_seal: IssueSeal
) -> None:
    at = utcnow()
    issued = issue_seal(not_before=at, not_after=at + timedelta(days=365 * 50))
    with pki_runtime.unit_of_work(readonly=True) as services:
        issuing = services.pki.identity("issuing").certificate
    assert issued.certificate.not_valid_after == issuing.not_valid_after


def test_validity_ending_before_it_starts_is_refused(issue_seal: IssueSeal) -> None:
    at = utcnow()
    with pytest.raises(TrustError, match=r"^a certificate's validity must end after it starts"):
        issue_seal(not_before=at, not_after=at - timedelta(seconds=1))


# --------------------------------------------------------------------------- persons


def test_person_certificate_subject_carries_name_and_a_random_pseudonym_only(
    pki_runtime: Runtime, openssl: OpenSSL, ca_files: dict[str, Path], tmp_path: Path
) -> None:
    issue_person(pki_runtime, tmp_path, name="张三", id_number="11010519491231002X")
    subject = subject_of(openssl, tmp_path / "person.pem")
    assert set(subject) == {"countryName", "commonName", "serialNumber"}
    assert (subject["countryName"], subject["commonName"]) == ("CN", "张三")
    assert re.fullmatch(r"IDCN-[0-9A-F]{16}", subject["serialNumber"])
    # Not derived from the number: a hash could be reversed by trying candidate numbers.
    digest = hashlib.sha256(b"11010519491231002X").hexdigest().upper()
    assert subject["serialNumber"][5:] not in digest
    assert verify(openssl, "person.pem") == ["person.pem: OK"]


def test_person_certificate_never_contains_the_id_number(
    pki_runtime: Runtime, ca_files: dict[str, Path], tmp_path: Path
) -> None:
    issued = issue_person(pki_runtime, tmp_path, id_number="440524188001010014")
    assert b"440524188001010014" not in issued.der
    with pki_runtime.unit_of_work(readonly=True) as services:
        assert "440524188001010014" not in services.pki.record(issued.serial_hex).subject


def test_person_with_a_bad_id_number_is_refused_without_repeating_it(
    pki_runtime: Runtime, tmp_path: Path
) -> None:
    before = certificate_count(pki_runtime)
    with pytest.raises(InvalidIDNumberError) as caught:
        issue_person(pki_runtime, tmp_path, id_number="110105194912310021")
    assert caught.value.message == "the ID number fails its GB 11643 check character"
    assert "110105194912310021" not in str(caught.value)
    assert certificate_count(pki_runtime) == before


def test_person_with_an_impossible_birth_date_is_refused(pki_runtime: Runtime,
                                                         tmp_path: Path) -> None:
    with pytest.raises(InvalidIDNumberError,
                       match=r"^the birth date inside the ID number does not exist$"):
        issue_person(pki_runtime, tmp_path, id_number="110105194902300020")


# --------------------------------------------------------------------------- revocation


def test_revoking_a_certificate_twice_is_refused(pki_runtime: Runtime,
                                                 issue_seal: IssueSeal) -> None:
    issued = issue_seal()
    with pki_runtime.unit_of_work() as services:
        services.pki.revoke(issued.serial_hex, reason=RevocationReason.SUPERSEDED,
                            at=utcnow(), actor="test")
    with pytest.raises(RevocationError, match=f"^certificate {issued.serial_hex} was already "
                                              "revoked at "), \
            pki_runtime.unit_of_work() as services:
        services.pki.revoke(issued.serial_hex, reason=RevocationReason.KEY_COMPROMISE,
                            at=utcnow(), actor="test")


def test_the_root_cannot_be_revoked(pki_runtime: Runtime) -> None:
    with pki_runtime.unit_of_work(readonly=True) as services:
        root = services.pki.identity("root").serial_hex
    with pytest.raises(RevocationError, match=r"^the root CA cannot be revoked"), \
            pki_runtime.unit_of_work() as services:
        services.pki.revoke(root, reason=RevocationReason.CA_COMPROMISE, at=utcnow(),
                            actor="test")


def test_certificate_is_found_by_the_serial_as_openssl_prints_it(
    pki_runtime: Runtime, openssl: OpenSSL, issue_seal: IssueSeal
) -> None:
    issued = issue_seal()
    printed = openssl("x509", "-in", "seal.pem", "-noout", "-serial").stdout.strip()
    padded = "0" + printed.removeprefix("serial=")  # an odd-length serial gets one anyway
    even = issued.serial_hex.upper().zfill(len(issued.serial_hex) + len(issued.serial_hex) % 2)
    colons = ":".join(even[i:i + 2] for i in range(0, len(even), 2))  # as browsers show it
    with pki_runtime.unit_of_work(readonly=True) as services:
        for shown in (printed.removeprefix("serial="), padded, colons):
            assert services.pki.record(shown).serial_hex == issued.serial_hex, shown


def test_revoking_an_unknown_serial_is_not_found(pki_runtime: Runtime) -> None:
    with pytest.raises(CertificateNotFoundError,
                       match=r"^no certificate with serial 1234abcd was issued here$"), \
            pki_runtime.unit_of_work() as services:
        services.pki.revoke("1234abcd", reason=RevocationReason.UNSPECIFIED, at=utcnow(),
                            actor="test")
