"""CRLs of the root and issuing CAs, read and verified with ``openssl crl``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from zhengyin.api.runtime import Runtime
from zhengyin.core.clock import utcnow
from zhengyin.trust.errors import TrustError
from zhengyin.trust.models import RevocationReason

from .conftest import OPENSSL_TIME, IssueSeal, OpenSSL, openssl_time

pytestmark = pytest.mark.openssl



@dataclass(frozen=True)
class RevokedEntry:
    date: str
    reason: str | None


def write_crl(runtime: Runtime, path: Path, purpose: str = "issuing",
              at: datetime | None = None) -> Path:
    with runtime.unit_of_work() as services:
        path.write_bytes(services.crl.current(purpose, at=at or utcnow()))
    return path


def revoke(runtime: Runtime, serial_hex: str, reason: RevocationReason,
           at: datetime | None = None) -> None:
    with runtime.unit_of_work() as services:
        if reason is RevocationReason.CERTIFICATE_HOLD:  # a suspended seal's certificate
            services.pki.hold(serial_hex, at=at or utcnow(), actor="test")
        else:
            services.pki.revoke(serial_hex, reason=reason, at=at or utcnow(), actor="test")


def crl_fields(openssl: OpenSSL, crl: Path, ca_file: str = "chain.pem") -> dict[str, str]:
    """crlNumber, lastUpdate and nextUpdate, after openssl verified the signature."""
    result = openssl("crl", "-inform", "DER", "-in", crl.name, "-noout", "-CAfile", ca_file,
                     "-crlnumber", "-lastupdate", "-nextupdate")
    # openssl crl exits 0 even when the signature is bad; only stderr tells.
    assert result.stderr == "verify OK\n"
    return dict(line.split("=", 1) for line in result.stdout.splitlines())


def revoked_entries(openssl: OpenSSL, crl: Path) -> dict[int, RevokedEntry]:
    """Serial number → revocation date and reason, as ``openssl crl -text`` lists them."""
    lines = openssl("crl", "-inform", "DER", "-in", crl.name, "-noout", "-text").stdout
    entries: dict[int, RevokedEntry] = {}
    serial: int | None = None
    date = ""
    reason: str | None = None
    lines_list = [line.strip() for line in lines.splitlines()]
    for index, line in enumerate(lines_list):
        if line.startswith("Serial Number: "):
            if serial is not None:
                entries[serial] = RevokedEntry(date, reason)
            serial, date, reason = int(line.removeprefix("Serial Number: "), 16), "", None
        elif line.startswith("Revocation Date: "):
            date = line.removeprefix("Revocation Date: ")
        elif line == "X509v3 CRL Reason Code:":
            reason = lines_list[index + 1]
        elif line.startswith("Signature Algorithm") and serial is not None:
            break
    if serial is not None:
        entries[serial] = RevokedEntry(date, reason)
    return entries


def test_issuing_crl_verifies_against_its_ca(
    pki_runtime: Runtime, openssl: OpenSSL, ca_files: dict[str, Path], tmp_path: Path
) -> None:
    crl = write_crl(pki_runtime, tmp_path / "issuing.crl")
    assert int(crl_fields(openssl, crl)["crlNumber"], 16) >= 1


def test_root_crl_verifies_against_the_root_and_lists_nothing(
    pki_runtime: Runtime, openssl: OpenSSL, ca_files: dict[str, Path], tmp_path: Path
) -> None:
    crl = write_crl(pki_runtime, tmp_path / "root.crl", purpose="root")
    crl_fields(openssl, crl, ca_file="root.pem")
    text = openssl("crl", "-inform", "DER", "-in", "root.crl", "-noout", "-text").stdout
    assert "No Revoked Certificates." in text
    assert "Issuer: C = CN, O = Zhengyin Development PKI, " \
           "CN = Zhengyin Development PKI Root CA" in text


def test_crl_from_an_impostor_ca_with_the_same_name_fails_verification(
    pki_runtime: Runtime, openssl: OpenSSL, ca_files: dict[str, Path], tmp_path: Path
) -> None:
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "impostor.key", "-out", "impostor.pem", "-days", "1", "-subj",
            "/C=CN/O=Zhengyin Development PKI/CN=Zhengyin Development PKI Issuing CA")
    write_crl(pki_runtime, tmp_path / "issuing.crl")
    result = openssl("crl", "-inform", "DER", "-in", "issuing.crl", "-noout",
                     "-CAfile", "impostor.pem")
    assert result.stderr == "verify failure\n"


def test_crl_next_update_is_one_day_after_this_update(
    pki_runtime: Runtime, openssl: OpenSSL, ca_files: dict[str, Path], tmp_path: Path
) -> None:
    fields = crl_fields(openssl, write_crl(pki_runtime, tmp_path / "issuing.crl"))
    last = datetime.strptime(fields["lastUpdate"], OPENSSL_TIME)
    next_ = datetime.strptime(fields["nextUpdate"], OPENSSL_TIME)
    assert next_ - last == timedelta(days=1)


REASONS = [
    # RevocationReason → openssl's name for the CRLReason (RFC 5280 §5.3.1).
    pytest.param(RevocationReason.KEY_COMPROMISE, "Key Compromise", id="key-compromise"),
    pytest.param(RevocationReason.CA_COMPROMISE, "CA Compromise", id="ca-compromise"),
    pytest.param(RevocationReason.AFFILIATION_CHANGED, "Affiliation Changed",
                 id="affiliation-changed"),
    pytest.param(RevocationReason.SUPERSEDED, "Superseded", id="superseded"),
    pytest.param(RevocationReason.CESSATION_OF_OPERATION, "Cessation Of Operation",
                 id="cessation-of-operation"),
    pytest.param(RevocationReason.CERTIFICATE_HOLD, "Certificate Hold", id="certificate-hold"),
    pytest.param(RevocationReason.PRIVILEGE_WITHDRAWN, "Privilege Withdrawn",
                 id="privilege-withdrawn"),
]


@pytest.mark.parametrize(("reason", "shown"), REASONS)
def test_revoked_serial_is_listed_with_its_reason(
    pki_runtime: Runtime, openssl: OpenSSL, ca_files: dict[str, Path], issue_seal: IssueSeal,
    tmp_path: Path, reason: RevocationReason, shown: str,
) -> None:
    seal = issue_seal()
    revoke(pki_runtime, seal.serial_hex, reason)
    crl = write_crl(pki_runtime, tmp_path / "issuing.crl")
    crl_fields(openssl, crl)
    assert revoked_entries(openssl, crl)[int(seal.serial_hex, 16)].reason == shown


def test_unspecified_reason_is_listed_without_a_reason_code(
    pki_runtime: Runtime, openssl: OpenSSL, ca_files: dict[str, Path], issue_seal: IssueSeal,
    tmp_path: Path,
) -> None:
    # RFC 5280 §5.3.1: the reason code unspecified (0) SHOULD be absent.
    seal = issue_seal()
    revoke(pki_runtime, seal.serial_hex, RevocationReason.UNSPECIFIED)
    crl = write_crl(pki_runtime, tmp_path / "issuing.crl")
    assert revoked_entries(openssl, crl)[int(seal.serial_hex, 16)].reason is None


def test_revocation_date_is_the_second_of_revocation(
    pki_runtime: Runtime, openssl: OpenSSL, ca_files: dict[str, Path], issue_seal: IssueSeal,
    tmp_path: Path,
) -> None:
    seal = issue_seal()
    at = utcnow().replace(microsecond=987654)
    revoke(pki_runtime, seal.serial_hex, RevocationReason.SUPERSEDED, at=at)
    crl = write_crl(pki_runtime, tmp_path / "issuing.crl")
    assert revoked_entries(openssl, crl)[int(seal.serial_hex, 16)].date \
        == openssl_time(at)


def test_valid_certificate_is_not_listed(
    pki_runtime: Runtime, openssl: OpenSSL, ca_files: dict[str, Path], issue_seal: IssueSeal,
    tmp_path: Path,
) -> None:
    seal = issue_seal()
    crl = write_crl(pki_runtime, tmp_path / "issuing.crl")
    assert int(seal.serial_hex, 16) not in revoked_entries(openssl, crl)


def test_crl_number_increases_after_a_new_revocation(
    pki_runtime: Runtime, openssl: OpenSSL, ca_files: dict[str, Path], issue_seal: IssueSeal,
    tmp_path: Path,
) -> None:
    seal = issue_seal()
    before = crl_fields(openssl, write_crl(pki_runtime, tmp_path / "before.crl"))
    revoke(pki_runtime, seal.serial_hex, RevocationReason.KEY_COMPROMISE)
    after = crl_fields(openssl, write_crl(pki_runtime, tmp_path / "after.crl"))
    assert int(after["crlNumber"], 16) == int(before["crlNumber"], 16) + 1


def test_crl_is_reused_while_nothing_changed(pki_runtime: Runtime, tmp_path: Path) -> None:
    at = utcnow()
    first = write_crl(pki_runtime, tmp_path / "first.crl", at=at).read_bytes()
    again = write_crl(pki_runtime, tmp_path / "again.crl",
                      at=at + timedelta(hours=11)).read_bytes()
    assert again == first


def test_crl_is_signed_anew_half_way_to_its_next_update(
    pki_runtime: Runtime, openssl: OpenSSL, ca_files: dict[str, Path], tmp_path: Path
) -> None:
    at = utcnow()
    first = crl_fields(openssl, write_crl(pki_runtime, tmp_path / "first.crl", at=at))
    later = crl_fields(openssl, write_crl(pki_runtime, tmp_path / "later.crl",
                                          at=at + timedelta(hours=13)))
    assert int(later["crlNumber"], 16) > int(first["crlNumber"], 16)
    assert later["lastUpdate"] == openssl_time(at + timedelta(hours=13))


def test_crl_is_served_over_http_as_pkix_crl(
    live_server: str, openssl: OpenSSL, ca_files: dict[str, Path], tmp_path: Path
) -> None:
    response = httpx.get(f"{live_server}/pki/crl/issuing.crl", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pkix-crl"
    (tmp_path / "served.crl").write_bytes(response.content)
    crl_fields(openssl, tmp_path / "served.crl")


@pytest.mark.parametrize("purpose", ["ocsp", "tsa", "audit"])
def test_only_the_certificate_authorities_publish_crls(pki_runtime: Runtime,
                                                       purpose: str) -> None:
    with pytest.raises(TrustError, match=f"^'{purpose}' is not a certificate authority"), \
            pki_runtime.unit_of_work() as services:
        services.crl.current(purpose, at=utcnow())
