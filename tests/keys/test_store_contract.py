"""The KeyStore contract, run on every backend and every algorithm it supports.

Each test asking for ``store`` runs on the software store and on a SoftHSM2 token; with
``algorithm`` too, once per algorithm of that backend (see ``conftest.py``). Signatures
are checked with ``cryptography`` against the store's public key, never by the store.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from zhengyin.keys import (
    KeyAlgorithm,
    KeyDisabledError,
    KeyHandle,
    KeyNotFoundError,
    KeyStore,
    PublicKey,
    UnsupportedAlgorithmError,
)

NewKey = Callable[[KeyAlgorithm], KeyHandle]
DATA = "证印 contract test: 营业执照 №42".encode()
HASHES: dict[str, hashes.HashAlgorithm] = {
    "sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512(),
}


def verify(public: PublicKey, signature: bytes, data: bytes, digest: str = "sha256") -> None:
    """Verify the way CMS/X.509 consumers do; raises InvalidSignature."""
    if isinstance(public, ec.EllipticCurvePublicKey):
        public.verify(signature, data, ec.ECDSA(HASHES[digest]))
    elif isinstance(public, rsa.RSAPublicKey):
        public.verify(signature, data, padding.PKCS1v15(), HASHES[digest])
    else:
        public.verify(signature, data)


# --------------------------------------------------------------------------- KeyAlgorithm


@pytest.mark.parametrize(("algorithm", "pdf_verifiable"), [
    (KeyAlgorithm.EC_P256, True),
    (KeyAlgorithm.RSA_2048, True),
    (KeyAlgorithm.RSA_3072, True),
    (KeyAlgorithm.ED25519, False),
], ids=str)
def test_only_ed25519_is_flagged_as_not_pdf_verifiable(algorithm: KeyAlgorithm,
                                                        pdf_verifiable: bool) -> None:
    assert algorithm.pdf_verifiable is pdf_verifiable


def test_ec_p256_is_the_first_and_default_algorithm() -> None:
    assert next(iter(KeyAlgorithm)) is KeyAlgorithm.EC_P256


@pytest.mark.parametrize("algorithm", list(KeyAlgorithm), ids=str)
def test_algorithm_parses_from_its_value(algorithm: KeyAlgorithm) -> None:
    assert KeyAlgorithm.parse(algorithm.value) is algorithm


@pytest.mark.parametrize("name", ["dsa-1024", "EC-P256", "ec-p384", "rsa-4096", ""])
def test_unknown_algorithm_name_is_unsupported(name: str) -> None:
    with pytest.raises(UnsupportedAlgorithmError, match="unknown key algorithm"):
        KeyAlgorithm.parse(name)


@pytest.mark.parametrize(("make_key", "expected"), [
    (lambda: ec.generate_private_key(ec.SECP256R1()), KeyAlgorithm.EC_P256),
    (lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
     KeyAlgorithm.RSA_2048),
    (lambda: rsa.generate_private_key(public_exponent=65537, key_size=3072),
     KeyAlgorithm.RSA_3072),
    (ed25519.Ed25519PrivateKey.generate, KeyAlgorithm.ED25519),
], ids=["ec-p256", "rsa-2048", "rsa-3072", "ed25519"])
def test_algorithm_of_a_public_key(make_key: Callable[[], Any],
                                   expected: KeyAlgorithm) -> None:
    assert KeyAlgorithm.of_public_key(make_key().public_key()) is expected


@pytest.mark.parametrize("make_key", [
    lambda: ec.generate_private_key(ec.SECP384R1()),
    lambda: rsa.generate_private_key(public_exponent=65537, key_size=1024),
], ids=["ec-p384", "rsa-1024"])
def test_algorithm_of_an_unsupported_public_key_is_refused(
        make_key: Callable[[], Any]) -> None:
    with pytest.raises(UnsupportedAlgorithmError, match="unsupported public key type"):
        KeyAlgorithm.of_public_key(make_key().public_key())


# --------------------------------------------------------------------------- KeyHandle


@pytest.mark.parametrize("text", [
    "software:0123abcd",
    "pkcs11:00ff",
    "pkcs11:a:b",  # Only the first colon separates; the key id keeps the rest.
])
def test_handle_text_round_trips(text: str) -> None:
    assert str(KeyHandle.parse(text)) == text


@pytest.mark.parametrize("text", ["", "software", "software:", ":abc", ":"],
                         ids=["empty", "no-colon", "no-key-id", "no-backend", "colon-only"])
def test_malformed_handle_text_names_no_key(text: str) -> None:
    with pytest.raises(KeyNotFoundError, match="malformed key handle"):
        KeyHandle.parse(text)


@pytest.mark.parametrize(("backend", "key_id"), [("", "ab"), ("soft:ware", "ab"),
                                                 ("software", "")],
                         ids=["empty-backend", "colon-in-backend", "empty-key-id"])
def test_handle_that_could_not_round_trip_is_refused(backend: str, key_id: str) -> None:
    with pytest.raises(KeyNotFoundError, match="malformed key handle"):
        KeyHandle(backend, key_id)


# --------------------------------------------------------------------------- generate


def test_generate_returns_a_handle_of_this_backend(store: KeyStore, algorithm: KeyAlgorithm,
                                                   new_key: NewKey) -> None:
    handle = new_key(algorithm)

    assert handle.backend == store.backend


def test_generated_keys_have_distinct_handles(store: KeyStore, new_key: NewKey) -> None:
    assert new_key(KeyAlgorithm.EC_P256) != new_key(KeyAlgorithm.EC_P256)


def test_public_key_is_of_the_generated_algorithm(store: KeyStore, algorithm: KeyAlgorithm,
                                                  new_key: NewKey) -> None:
    handle = new_key(algorithm)

    assert KeyAlgorithm.of_public_key(store.public_key(handle)) is algorithm


def test_generate_accepts_the_algorithm_value_as_text(store: KeyStore) -> None:
    handle = store.generate("ec-p256", "by value")  # type: ignore[arg-type]

    assert store.algorithm(handle) is KeyAlgorithm.EC_P256


def test_generate_refuses_an_unknown_algorithm_name(store: KeyStore) -> None:
    with pytest.raises(UnsupportedAlgorithmError, match="unknown key algorithm 'dsa-1024'"):
        store.generate("dsa-1024", "never")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- sign


def test_signature_verifies_with_the_public_key(store: KeyStore, algorithm: KeyAlgorithm,
                                                new_key: NewKey) -> None:
    handle = new_key(algorithm)

    signature = store.sign(handle, DATA)

    verify(store.public_key(handle), signature, DATA)


def test_signature_does_not_verify_other_data(store: KeyStore, algorithm: KeyAlgorithm,
                                              new_key: NewKey) -> None:
    handle = new_key(algorithm)
    signature = store.sign(handle, DATA)

    with pytest.raises(InvalidSignature):
        verify(store.public_key(handle), signature, DATA + b"!")


def test_signature_verifies_for_each_digest(store: KeyStore, algorithm: KeyAlgorithm,
                                            new_key: NewKey) -> None:
    # Ed25519 hashes internally and ignores the digest; the others must honour it.
    handle = new_key(algorithm)
    public = store.public_key(handle)

    for digest in HASHES:
        signature = store.sign(handle, DATA, digest=digest)
        try:
            verify(public, signature, DATA, digest)
        except InvalidSignature:
            pytest.fail(f"{algorithm.value} signature with {digest} does not verify")


def test_signature_has_the_encoding_consumers_expect(store: KeyStore, algorithm: KeyAlgorithm,
                                                     new_key: NewKey) -> None:
    handle = new_key(algorithm)

    signature = store.sign(handle, DATA)

    if algorithm is KeyAlgorithm.EC_P256:
        r, s = decode_dss_signature(signature)  # DER ECDSA-Sig-Value, not raw r || s.
        assert r > 0 and s > 0
    elif algorithm.is_rsa:
        assert len(signature) == algorithm.rsa_bits // 8
    else:
        assert len(signature) == 64


@pytest.mark.parametrize("digest", ["md5", "sha1", "sha3-256", ""])
def test_unsupported_digest_is_refused(store: KeyStore, new_key: NewKey, digest: str) -> None:
    for algorithm in (KeyAlgorithm.EC_P256, KeyAlgorithm.RSA_2048):
        handle = new_key(algorithm)
        with pytest.raises(UnsupportedAlgorithmError, match="unsupported digest"):
            store.sign(handle, DATA, digest=digest)


# --------------------------------------------------------------------------- info and list


def test_info_describes_the_new_key(store: KeyStore, algorithm: KeyAlgorithm) -> None:
    label = f"营业执照签章 {secrets.token_hex(4)}"
    handle = store.generate(algorithm, label)

    info = store.info(handle)

    assert (info.handle, info.label, info.algorithm, info.disabled) == (
        handle, label, algorithm, False)


def test_algorithm_of_a_stored_key(store: KeyStore, algorithm: KeyAlgorithm,
                                   new_key: NewKey) -> None:
    assert store.algorithm(new_key(algorithm)) is algorithm


def test_list_contains_each_new_key_as_info_describes_it(store: KeyStore,
                                                         new_key: NewKey) -> None:
    handles = [new_key(KeyAlgorithm.EC_P256), new_key(KeyAlgorithm.RSA_2048)]

    listed = {info.handle: info for info in store.list()}

    assert [listed.get(handle) for handle in handles] == [store.info(h) for h in handles]


def test_handle_round_trips_through_its_text(store: KeyStore, new_key: NewKey) -> None:
    handle = new_key(KeyAlgorithm.EC_P256)

    parsed = KeyHandle.parse(str(handle))

    assert parsed == handle
    assert store.info(parsed).handle == handle


# --------------------------------------------------------------------------- disable


def test_disabled_key_refuses_to_sign(store: KeyStore, algorithm: KeyAlgorithm,
                                      new_key: NewKey) -> None:
    handle = new_key(algorithm)
    store.sign(handle, DATA)  # Loaded (and cached) before it is disabled.

    store.disable(handle)

    with pytest.raises(KeyDisabledError, match=f"key {handle} is disabled"):
        store.sign(handle, DATA)


def test_disabled_key_keeps_its_public_key(store: KeyStore, new_key: NewKey) -> None:
    handle = new_key(KeyAlgorithm.EC_P256)
    before = store.public_key(handle)

    store.disable(handle)

    assert store.public_key(handle) == before


def test_disabled_key_is_reported_disabled(store: KeyStore, new_key: NewKey) -> None:
    handle = new_key(KeyAlgorithm.EC_P256)

    store.disable(handle)

    listed = {info.handle: info for info in store.list()}
    assert (store.info(handle).disabled, listed[handle].disabled) == (True, True)


def test_disabling_twice_is_harmless(store: KeyStore, new_key: NewKey) -> None:
    handle = new_key(KeyAlgorithm.EC_P256)
    store.disable(handle)

    store.disable(handle)

    assert store.info(handle).disabled


def test_disabling_one_key_leaves_others_signing(store: KeyStore, new_key: NewKey) -> None:
    kept, dropped = new_key(KeyAlgorithm.EC_P256), new_key(KeyAlgorithm.EC_P256)

    store.disable(dropped)

    verify(store.public_key(kept), store.sign(kept, DATA), DATA)


# --------------------------------------------------------------------------- unknown keys

OPERATIONS: dict[str, Callable[[KeyStore, KeyHandle], object]] = {
    "sign": lambda store, handle: store.sign(handle, DATA),
    "public_key": lambda store, handle: store.public_key(handle),
    "info": lambda store, handle: store.info(handle),
    "disable": lambda store, handle: store.disable(handle),
}


@pytest.mark.parametrize("operation", OPERATIONS)
def test_handle_of_another_backend_is_refused(store: KeyStore, new_key: NewKey,
                                              operation: str) -> None:
    handle = new_key(KeyAlgorithm.EC_P256)
    other = "pkcs11" if store.backend == "software" else "software"
    foreign = KeyHandle(other, handle.key_id)

    with pytest.raises(KeyNotFoundError, match=f"belongs to the '{other}' store") as caught:
        OPERATIONS[operation](store, foreign)

    assert caught.value.hint == "set ZHENGYIN_KEYSTORE to the backend that holds the key"


@pytest.mark.parametrize("operation", OPERATIONS)
def test_unknown_key_is_not_found(store: KeyStore, operation: str) -> None:
    handle = KeyHandle(store.backend, secrets.token_hex(16))

    with pytest.raises(KeyNotFoundError, match=f"no key {handle} "):
        OPERATIONS[operation](store, handle)


@pytest.mark.parametrize("key_id", ["../../etc/passwd", "kek-check", "0A1B", "xyz", "abc"],
                         ids=["path-traversal", "check-file", "upper-case", "not-hex",
                              "odd-length"])
@pytest.mark.parametrize("operation", OPERATIONS)
def test_malformed_key_id_is_not_found(store: KeyStore, operation: str, key_id: str) -> None:
    with pytest.raises(KeyNotFoundError, match="malformed key id"):
        OPERATIONS[operation](store, KeyHandle(store.backend, key_id))


# --------------------------------------------------------------------------- secrecy


def test_repr_and_info_hold_no_private_key_material(store: KeyStore,
                                                    algorithm: KeyAlgorithm,
                                                    new_key: NewKey) -> None:
    handle = new_key(algorithm)

    texts = [repr(store), str(store), repr(store.info(handle)), repr(store.list()),
             str(handle)]

    assert not [text for text in texts if "PRIVATE" in text.upper() or "BEGIN" in text]
