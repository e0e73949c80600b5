"""Token signers' certificate paths: receipts, trust lists, display codes and status lists.

Each bad token is named for its defect and made with keys of our own PKI, as someone
holding one of them (a seal's key, a service identity, a careless issuing CA) could.
Verified three ways: by our root alone (the purpose's EKU binds the signer), against this
installation's pins, and against the published trust list's pins.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from asn1crypto import pem
from cryptography import x509

from zhengyin.api.runtime import Runtime
from zhengyin.core.clock import utcnow
from zhengyin.core.jose import JWSError
from zhengyin.registry.receipts import verify_receipt
from zhengyin.trust.jws import SignerTrust, verify_compact
from zhengyin.trust.pki import IssuedCertificate
from zhengyin.trust.purposes import (
    AUDIT_CHECKPOINT,
    DISPLAY_CODE,
    RECEIPT,
    STATUS_LIST,
    TRUST_LIST,
    ekus_of_identity,
)
from zhengyin.trust.trustlist import read_trust_list

from .conftest import CommandResult, IssueSeal, OpenSSL, write_pem
from .tokenpki import (
    backdated_ca,
    certify,
    der,
    fresh_key,
    key_issuer,
    receipt_claims,
    stored_issuer,
    token_with_key,
    token_with_stored_key,
)

ZHENGYIN = str(Path(sys.executable).with_name("zhengyin"))


@dataclass(frozen=True)
class Ours:
    """The module's installation: its runtime and service identities."""

    runtime: Runtime
    root: IssuedCertificate
    issuing: IssuedCertificate
    identities: dict[str, IssuedCertificate]

    def chain(self, identity: str) -> list[bytes]:
        """An identity's certificate and the issuing CA, as its tokens carry them."""
        return [self.identities[identity].der, self.issuing.der]

    def sign(self, identity: str, payload: dict[str, Any], *, typ: str) -> str:
        """A token signed by one of our service identities, chain in x5c."""
        return token_with_stored_key(self.runtime.keystore,
                                     self.identities[identity].key_handle,
                                     self.chain(identity), payload, typ=typ)

    @property
    def by_root(self) -> SignerTrust:
        """Trust by our root alone."""
        return SignerTrust.roots_only([self.root.der])

    def installation(self) -> SignerTrust:
        """This installation's pins."""
        with self.runtime.unit_of_work(readonly=True) as services:
            return services.identities.signer_trust()

    def trust_list(self) -> SignerTrust:
        """The pins of the trust list the service publishes, verified against our root."""
        return read_trust_list(self.trust_list_token(), [self.root.der],
                               now=utcnow()).signer_trust()

    def trust_list_token(self) -> str:
        """The published trust list."""
        with self.runtime.unit_of_work() as services:
            return self.runtime.verification.trust_list(services)

    @property
    def issuing_ca(self) -> Any:
        """Our issuing CA, certifying whatever a test asks (a careless CA)."""
        return stored_issuer(self.runtime.keystore, self.issuing.key_handle, self.issuing.der)


@pytest.fixture(scope="module")
def ours(pki_runtime: Runtime) -> Ours:
    """The registry and trust-list identities made, as the service makes them on first use."""
    with pki_runtime.unit_of_work() as services:
        services.registry_signer()
        services.identities.ensure_chain("trustlist", at=utcnow(), actor="system",
                                         label="Trust List")
        pki = services.pki
        return Ours(pki_runtime, pki.identity("root"), pki.identity("issuing"),
                    {name: pki.identity(name) for name in ("registry", "trustlist", "audit")})


def _load(der_bytes: bytes) -> x509.Certificate:
    return x509.load_der_x509_certificate(der_bytes)


def _ekus(certificate: IssuedCertificate) -> set[str]:
    usage = _load(certificate.der).extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    return {oid.dotted_string for oid in usage.value}


# ------------------------------------------------------------------ identities and EKUs


def test_each_service_identity_carries_one_eku_per_purpose_it_signs(ours: Ours) -> None:
    assert _ekus(ours.identities["registry"]) == {RECEIPT.eku, DISPLAY_CODE.eku,
                                                  STATUS_LIST.eku}
    assert _ekus(ours.identities["trustlist"]) == {TRUST_LIST.eku}
    assert _ekus(ours.identities["audit"]) == {AUDIT_CHECKPOINT.eku}
    assert len({RECEIPT.eku, DISPLAY_CODE.eku, STATUS_LIST.eku, TRUST_LIST.eku,
                AUDIT_CHECKPOINT.eku}) == 5
    assert ekus_of_identity("registry") == (RECEIPT.eku, DISPLAY_CODE.eku, STATUS_LIST.eku)


def test_the_trust_list_pins_each_purposes_signers(ours: Ours) -> None:
    listed = read_trust_list(ours.trust_list_token(), [ours.root.der], now=utcnow())
    pins = listed.payload["service_pins"]
    assert set(pins) == {"receipt", "display-code", "trust-list", "status-list"}
    registry = ours.identities["registry"]
    assert pins["receipt"]["eku"] == RECEIPT.eku and pins["receipt"]["identity"] == "registry"
    assert [(pin["serial"], pin["legacy"]) for pin in pins["receipt"]["certificates"]] \
        == [(registry.serial_hex, False)]
    assert [pin["serial"] for pin in pins["trust-list"]["certificates"]] \
        == [ours.identities["trustlist"].serial_hex]


# ------------------------------------------------------------------ good paths


@pytest.mark.parametrize("trust", ["root", "installation", "trust list"])
def test_a_receipt_of_the_registry_verifies(ours: Ours, trust: str) -> None:
    token = ours.sign("registry", receipt_claims(), typ=RECEIPT.typ)
    trusts: dict[str, Callable[[], SignerTrust]] = {
        "root": lambda: ours.by_root, "installation": ours.installation,
        "trust list": ours.trust_list}
    assert verify_receipt(token, trusts[trust]())["check_id"] == "forged"


def test_a_status_list_signed_by_the_registry_verifies_as_a_status_list(ours: Ours) -> None:
    now = utcnow()
    claims = {"iat": int(now.timestamp()), "sub": "https://example.gov.cn/status/1",
              "status_list": {"bits": 1, "lst": "eNrbuRgAAhcBXQ"}}
    token = ours.sign("registry", claims, typ=STATUS_LIST.typ)
    for trust in (ours.by_root, ours.installation(), ours.trust_list()):
        _, payload = verify_compact(token, trust, purpose=STATUS_LIST, now=now)
        assert payload["sub"] == claims["sub"]
    forged = ours.sign("trustlist", claims, typ=STATUS_LIST.typ)
    with pytest.raises(JWSError, match=r"^not a status list signer$"):
        verify_compact(forged, ours.by_root, purpose=STATUS_LIST, now=now)


def test_a_short_lived_token_needs_a_signer_valid_now_a_receipt_only_at_its_iat() -> None:
    root, issuing = backdated_ca(days=7)
    key = fresh_key()
    start = utcnow() - timedelta(days=3)
    leaf = certify(issuing, key.public_key(), name="registry of last week",
                   ekus=(RECEIPT.eku, STATUS_LIST.eku), not_before=start,
                   not_after=start + timedelta(days=1))
    claims = receipt_claims(at=start + timedelta(hours=1))
    trust = SignerTrust.roots_only([der(root.certificate)])
    status_list = token_with_key(key, [leaf, issuing.certificate], claims, typ=STATUS_LIST.typ)
    with pytest.raises(JWSError, match=r"^a certificate of the signer's path was not valid "
                                       r"now$"):
        verify_compact(status_list, trust, purpose=STATUS_LIST, now=utcnow())
    receipt = token_with_key(key, [leaf, issuing.certificate], claims, typ=RECEIPT.typ)
    assert verify_receipt(receipt, trust)["check_id"] == "forged"


def test_a_receipt_signed_while_its_certificate_was_valid_verifies_after_it_expired() -> None:
    # Receipts are archived evidence, judged at their iat (a PKI made a week ago).
    root, issuing = backdated_ca(days=7)
    key = fresh_key()
    start = utcnow() - timedelta(days=3)
    leaf = certify(issuing, key.public_key(), name="short-lived receipt signer",
                   ekus=(RECEIPT.eku,), not_before=start, not_after=start + timedelta(days=1))
    token = token_with_key(key, [leaf, issuing.certificate],
                           receipt_claims(at=start + timedelta(hours=1)), typ=RECEIPT.typ)
    trust = SignerTrust.roots_only([der(root.certificate)])
    assert verify_receipt(token, trust)["check_id"] == "forged"
    late = token_with_key(key, [leaf, issuing.certificate], receipt_claims(), typ=RECEIPT.typ)
    with pytest.raises(JWSError, match=r"^a certificate of the signer's path was not valid at "
                                       r"the signing time "):
        verify_receipt(late, trust)


# ------------------------------------------------------------------ bad paths


def test_a_receipt_whose_x5c_carries_a_non_ca_intermediate_fails(ours: Ours,
                                                                  issue_seal: IssueSeal) -> None:
    seal = issue_seal()  # a seal holder certifies a key of their own with the seal's key
    key = fresh_key()
    leaf = certify(stored_issuer(ours.runtime.keystore, seal.key_handle, seal.der),
                   key.public_key(), name="receipt signer", ekus=(RECEIPT.eku,))
    token = token_with_key(key, [leaf, _load(seal.der), _load(ours.issuing.der)],
                           receipt_claims(), typ=RECEIPT.typ)
    with pytest.raises(JWSError, match=r"^intermediate is not a CA$"):
        verify_receipt(token, ours.by_root)


def test_an_intermediate_beyond_the_issuing_cas_path_length_fails(ours: Ours) -> None:
    sub_key, key = fresh_key(), fresh_key()
    sub_ca = certify(ours.issuing_ca, sub_key.public_key(), name="rogue sub-CA", ca=True)
    leaf = certify(key_issuer(sub_key, sub_ca), key.public_key(), name="receipt signer",
                   ekus=(RECEIPT.eku,))
    token = token_with_key(key, [leaf, sub_ca, _load(ours.issuing.der)], receipt_claims(),
                           typ=RECEIPT.typ)
    with pytest.raises(JWSError, match=r"^path length exceeded$"):
        verify_receipt(token, ours.by_root)


def test_a_signer_without_digital_signature_fails(ours: Ours) -> None:
    key = fresh_key()
    leaf = certify(ours.issuing_ca, key.public_key(), name="receipt signer",
                   ekus=(RECEIPT.eku,), digital_signature=False)
    token = token_with_key(key, [leaf, _load(ours.issuing.der)], receipt_claims(),
                           typ=RECEIPT.typ)
    with pytest.raises(JWSError, match=r"^the signing certificate may not sign "
                                       r"\(its key usage lacks digitalSignature\)$"):
        verify_receipt(token, ours.by_root)


@pytest.mark.parametrize("who", ["seal", "audit", "trustlist"])
def test_a_certificate_of_ours_for_another_purpose_cannot_sign_a_receipt(
        ours: Ours, issue_seal: IssueSeal, who: str) -> None:
    if who == "seal":
        seal = issue_seal()
        token = token_with_stored_key(ours.runtime.keystore, seal.key_handle,
                                      [seal.der, ours.issuing.der], receipt_claims(),
                                      typ=RECEIPT.typ)
    else:
        token = ours.sign(who, receipt_claims(), typ=RECEIPT.typ)
    with pytest.raises(JWSError, match=r"^not a receipt signer$"):
        verify_receipt(token, ours.by_root)
    with pytest.raises(JWSError, match=r"^the signer is not the service identity this "
                                       r"installation names for a receipt$"):
        verify_receipt(token, ours.installation())
    with pytest.raises(JWSError, match=r"^the signer is not the service identity the trust "
                                       r"list names for a receipt$"):
        verify_receipt(token, ours.trust_list())


def test_an_x5c_cannot_replace_the_pinned_receipt_signer(ours: Ours) -> None:
    # Another valid certificate of our CA, even one with the receipt EKU, put first in x5c
    # (the pinned registry certificate follows it): by root alone the EKU binds it, but
    # where the signer is pinned nothing replaces the pin.
    key = fresh_key()
    other = certify(ours.issuing_ca, key.public_key(), name="another receipt signer",
                    ekus=(RECEIPT.eku,))
    token = token_with_key(key, [other, _load(ours.identities["registry"].der),
                                 _load(ours.issuing.der)], receipt_claims(), typ=RECEIPT.typ)
    assert verify_receipt(token, ours.by_root)["check_id"] == "forged"
    for trust in (ours.installation(), ours.trust_list()):
        with pytest.raises(JWSError, match=r"^the signer is not the service identity"):
            verify_receipt(token, trust)


def test_a_receipt_signed_after_its_certificate_expired_fails(ours: Ours) -> None:
    key = fresh_key()
    start = utcnow() - timedelta(days=3)
    leaf = certify(ours.issuing_ca, key.public_key(), name="expired receipt signer",
                   ekus=(RECEIPT.eku,), not_before=start, not_after=start + timedelta(days=1))
    token = token_with_key(key, [leaf, _load(ours.issuing.der)], receipt_claims(),
                           typ=RECEIPT.typ)
    with pytest.raises(JWSError, match=r"^a certificate of the signer's path was not valid at "
                                       r"the signing time "):
        verify_receipt(token, ours.by_root)


def test_a_trust_list_signed_by_the_registry_identity_is_refused(ours: Ours) -> None:
    genuine = jwt.decode(ours.trust_list_token(), options={"verify_signature": False})
    forged = ours.sign("registry", genuine, typ=TRUST_LIST.typ)
    with pytest.raises(JWSError, match=r"^not a trust list signer$"):
        read_trust_list(forged, [ours.root.der], now=utcnow())


def test_a_trust_list_that_does_not_pin_its_own_signer_is_refused(ours: Ours) -> None:
    genuine = jwt.decode(ours.trust_list_token(), options={"verify_signature": False})
    genuine["service_pins"]["trust-list"]["certificates"] = []
    forged = ours.sign("trustlist", genuine, typ=TRUST_LIST.typ)
    with pytest.raises(JWSError, match=r"^the trust list's signer is not the trust list "
                                       r"signer it names$"):
        read_trust_list(forged, [ours.root.der], now=utcnow())


def test_a_display_code_names_a_pinned_signer_or_fails(ours: Ours) -> None:
    now = utcnow()
    claims = {"v": 1, "id": "x", "iat": int(now.timestamp()),
              "exp": int(now.timestamp()) + 300}
    by_kid = jwt.encode(claims, fresh_key(), algorithm="ES256",
                        headers={"typ": DISPLAY_CODE.typ, "kid": "abc"})
    with pytest.raises(JWSError, match=r"^the signer is not the service identity this "
                                       r"installation names for a display code$"):
        verify_compact(by_kid, ours.installation(), purpose=DISPLAY_CODE, now=now)
    with pytest.raises(JWSError, match=r"^the token names its signer by kid only"):
        verify_compact(by_kid, ours.by_root, purpose=DISPLAY_CODE, now=now)


@pytest.mark.openssl
def test_openssl_validates_a_receipts_path_as_the_readme_shows_and_refuses_a_rogue_one(
        ours: Ours, openssl: OpenSSL, tmp_path: Path) -> None:
    # docs/api.md "Verifying a receipt offline", step 2, with an independent validator.
    def check(token: str) -> CommandResult:
        header = jwt.get_unverified_header(token)
        paths = []
        for index, item in enumerate(header["x5c"]):
            paths.append(write_pem(tmp_path / f"c{index}.pem", base64.b64decode(item)))
        untrusted = tmp_path / "untrusted.pem"
        untrusted.write_bytes(b"".join(path.read_bytes() for path in paths[1:]))
        iat = jwt.decode(token, options={"verify_signature": False})["iat"]
        return openssl("verify", "-attime", str(iat), "-CAfile",
                       str(write_pem(tmp_path / "root.pem", ours.root.der)),
                       "-untrusted", str(untrusted), str(paths[0]), check=False)

    genuine = check(ours.sign("registry", receipt_claims(), typ=RECEIPT.typ))
    assert genuine.returncode == 0, genuine.stdout + genuine.stderr
    sub_key, key = fresh_key(), fresh_key()
    sub_ca = certify(ours.issuing_ca, sub_key.public_key(), name="rogue sub-CA", ca=True)
    leaf = certify(key_issuer(sub_key, sub_ca), key.public_key(), name="receipt signer",
                   ekus=(RECEIPT.eku,))
    rogue = check(token_with_key(key, [leaf, sub_ca, _load(ours.issuing.der)],
                                 receipt_claims(), typ=RECEIPT.typ))
    assert rogue.returncode != 0
    assert "path length" in rogue.stdout + rogue.stderr


def test_receipt_verify_with_a_root_prints_why_the_signer_is_refused_in_one_line(
        ours: Ours, issue_seal: IssueSeal, tmp_path: Path) -> None:
    seal = issue_seal()
    key = fresh_key()
    leaf = certify(stored_issuer(ours.runtime.keystore, seal.key_handle, seal.der),
                   key.public_key(), name="receipt signer", ekus=(RECEIPT.eku,))
    receipt = tmp_path / "receipt.jws"
    receipt.write_text(token_with_key(key, [leaf, _load(seal.der), _load(ours.issuing.der)],
                                      receipt_claims(), typ=RECEIPT.typ), encoding="ascii")
    root = tmp_path / "root.pem"
    root.write_bytes(pem.armor("CERTIFICATE", ours.root.der))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHENGYIN_")}
    result = subprocess.run([ZHENGYIN, "receipt", "verify", str(receipt), "--root", str(root)],
                            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
                            check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == ["error: intermediate is not a CA"]
    assert "receipt verified" not in result.stdout
