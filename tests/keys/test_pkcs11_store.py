"""The PKCS#11 store on a real SoftHSM2 token: opening, sharing the login, key attributes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from zhengyin.keys import (
    KeyAlgorithm,
    KeyDisabledError,
    KeyStore,
    KeyStoreConfig,
    KeyStoreError,
    KeyStoreUnavailableError,
    UnsupportedAlgorithmError,
    open_key_store,
)

from ..conftest import SoftHSMToken

pytestmark = pytest.mark.softhsm

DATA = b"pkcs11 store test"


def open_store(token: SoftHSMToken, *, pin: str | None = None,
               label: str | None = None, module: str | None = None) -> KeyStore:
    """Open a PKCS#11 store on the test token, optionally with one setting changed."""
    from zhengyin.keys.pkcs11 import PKCS11KeyStore

    return PKCS11KeyStore(module or token.module, label or token.label,
                          token.pin if pin is None else pin)


@contextmanager
def raw_session(token: SoftHSMToken) -> Iterator[Any]:
    """A session opened with python-pkcs11 directly, to look at what the store made.

    It does not log in: login state belongs to the process, so while a store is open
    this session sees the private objects too.
    """
    import pkcs11

    session = pkcs11.lib(token.module).get_token(token_label=token.label).open(rw=True)
    try:
        yield session
    finally:
        session.close()


def private_object(session: Any, key_id: str) -> Any:
    """The private key object with this handle's CKA_ID."""
    from pkcs11 import Attribute, ObjectClass

    [found] = session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY,
                                   Attribute.ID: bytes.fromhex(key_id)})
    return found


# --------------------------------------------------------------------------- opening


def test_processes_opening_the_token_at_once_all_open(softhsm_token: SoftHSMToken) -> None:
    # SoftHSM2's file store can fail a process that starts while another logs in
    # (SoftHSMv2 #757); serving and stamping workers start together.
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from .token_opener import open_at_barrier

    context = multiprocessing.get_context("spawn")
    processes, rounds = 4, 4
    outcomes: list[str] = []
    token = (softhsm_token.module, softhsm_token.label, softhsm_token.pin)
    with context.Manager() as manager:
        for _ in range(rounds):  # fresh processes each round: the race is at start-up
            barrier = manager.Barrier(processes)
            with ProcessPoolExecutor(processes, mp_context=context) as pool:
                outcomes += pool.map(open_at_barrier, [barrier] * processes,
                                     *zip(*[token] * processes, strict=True))

    assert [outcome for outcome in outcomes if outcome != "opened"] == []


def test_wrong_pin_is_unavailable_and_never_quoted(softhsm_token: SoftHSMToken) -> None:
    wrong = "wrong-pin-7f3a9c"

    with pytest.raises(KeyStoreUnavailableError, match="PinIncorrect") as caught:
        open_store(softhsm_token, pin=wrong)

    error = caught.value
    texts = [str(error), repr(error), error.hint or "", repr(error.__context__),
             repr(error.__cause__)]
    assert [text for text in texts if wrong in text or softhsm_token.pin in text] == []
    assert error.code == "keys.unavailable"


def test_wrong_pin_is_refused_while_the_token_is_logged_in(
        softhsm_token: SoftHSMToken, pkcs11_store: KeyStore) -> None:
    # The token itself would answer CKR_USER_ALREADY_LOGGED_IN to any PIN now.
    wrong = "wrong-pin-while-logged-in"

    with pytest.raises(KeyStoreUnavailableError, match="PinIncorrect") as caught:
        open_store(softhsm_token, pin=wrong)

    assert wrong not in str(caught.value) and softhsm_token.pin not in str(caught.value)


def test_unknown_token_label_is_unavailable(softhsm_token: SoftHSMToken) -> None:
    with pytest.raises(KeyStoreUnavailableError,
                       match=r"cannot open PKCS#11 token 'no-such-token'.*NoSuchToken"):
        open_store(softhsm_token, label="no-such-token")


def test_missing_module_is_unavailable(softhsm_token: SoftHSMToken) -> None:
    with pytest.raises(KeyStoreUnavailableError, match=r"with module /nonexistent/lib\.so") \
            as caught:
        open_store(softhsm_token, module="/nonexistent/lib.so")

    assert caught.value.hint == (
        "check ZHENGYIN_PKCS11_MODULE, ZHENGYIN_PKCS11_TOKEN and the PIN")


def test_repr_names_the_token_but_not_the_pin(softhsm_token: SoftHSMToken,
                                             pkcs11_store: KeyStore) -> None:
    assert repr(pkcs11_store) == f"PKCS11KeyStore(token={softhsm_token.label!r})"


def test_config_opens_the_pkcs11_store(softhsm_token: SoftHSMToken) -> None:
    config = KeyStoreConfig(backend="pkcs11", pkcs11_module=softhsm_token.module,
                            pkcs11_token=softhsm_token.label, pkcs11_pin=softhsm_token.pin)

    store = open_key_store(config)
    try:
        assert store.backend == "pkcs11"
    finally:
        store.close()


def test_config_without_a_pin_is_refused(softhsm_token: SoftHSMToken) -> None:
    config = KeyStoreConfig(backend="pkcs11", pkcs11_module=softhsm_token.module,
                            pkcs11_token=softhsm_token.label)

    with pytest.raises(KeyStoreError, match="needs a module, a token label and a PIN"):
        open_key_store(config)


# --------------------------------------------------------------------------- one login


def test_second_store_on_the_same_token_opens(softhsm_token: SoftHSMToken,
                                              pkcs11_store: KeyStore) -> None:
    handle = pkcs11_store.generate(KeyAlgorithm.EC_P256, "shared")

    second = open_store(softhsm_token)
    try:
        assert second.sign(handle, DATA)
    finally:
        second.close()


def test_closing_one_store_leaves_the_other_signing(softhsm_token: SoftHSMToken,
                                                    pkcs11_store: KeyStore) -> None:
    handle = pkcs11_store.generate(KeyAlgorithm.EC_P256, "survivor")
    second = open_store(softhsm_token)

    second.close()

    assert pkcs11_store.sign(handle, DATA)


def test_closed_store_is_unavailable(softhsm_token: SoftHSMToken) -> None:
    store = open_store(softhsm_token)
    handle = store.generate(KeyAlgorithm.EC_P256, "closed")

    store.close()

    with pytest.raises(KeyStoreUnavailableError, match="is closed"):
        store.sign(handle, DATA)


def test_closing_twice_is_harmless(softhsm_token: SoftHSMToken,
                                   pkcs11_store: KeyStore) -> None:
    handle = pkcs11_store.generate(KeyAlgorithm.EC_P256, "closed twice")
    second = open_store(softhsm_token)

    second.close()
    second.close()

    assert pkcs11_store.sign(handle, DATA)


def test_keys_outlive_the_store_that_made_them(softhsm_token: SoftHSMToken) -> None:
    first = open_store(softhsm_token)
    handle = first.generate(KeyAlgorithm.RSA_2048, "persistent")
    first.close()

    reopened = open_store(softhsm_token)
    try:
        assert reopened.info(handle).label == "persistent"
        assert reopened.sign(handle, DATA)
    finally:
        reopened.close()


# --------------------------------------------------------------------------- keys


def test_ed25519_is_unsupported_on_pkcs11(pkcs11_store: KeyStore) -> None:
    with pytest.raises(UnsupportedAlgorithmError, match="ed25519 keys are not supported") \
            as caught:
        pkcs11_store.generate(KeyAlgorithm.ED25519, "never")

    assert caught.value.hint == "use ec-p256, rsa-2048 or rsa-3072"


EXPECTED_PRIVATE_ATTRIBUTES = {
    "TOKEN": True, "PRIVATE": True, "SENSITIVE": True, "EXTRACTABLE": False, "SIGN": True,
    "DECRYPT": False, "UNWRAP": False, "DERIVE": False,
}


@pytest.mark.parametrize("algorithm", [KeyAlgorithm.EC_P256, KeyAlgorithm.RSA_2048], ids=str)
def test_private_key_is_a_sensitive_sign_only_token_object(
        softhsm_token: SoftHSMToken, pkcs11_store: KeyStore, algorithm: KeyAlgorithm) -> None:
    from pkcs11 import Attribute

    handle = pkcs11_store.generate(algorithm, "attributes")

    with raw_session(softhsm_token) as session:
        private = private_object(session, handle.key_id)
        actual = {name: bool(private[Attribute[name]]) for name in EXPECTED_PRIVATE_ATTRIBUTES}

    assert actual == EXPECTED_PRIVATE_ATTRIBUTES


def test_disabled_key_is_refused_by_the_token_itself(softhsm_token: SoftHSMToken,
                                                     pkcs11_store: KeyStore) -> None:
    import pkcs11
    from pkcs11 import Mechanism

    handle = pkcs11_store.generate(KeyAlgorithm.RSA_2048, "disabled on token")
    with raw_session(softhsm_token) as session:
        # Another program holding the key object from before the disable.
        private = private_object(session, handle.key_id)

        pkcs11_store.disable(handle)

        with pytest.raises(pkcs11.PKCS11Error):
            private.sign(DATA, mechanism=Mechanism.SHA256_RSA_PKCS)


def test_key_disabled_through_one_store_is_refused_by_another(
        softhsm_token: SoftHSMToken, pkcs11_store: KeyStore) -> None:
    handle = pkcs11_store.generate(KeyAlgorithm.EC_P256, "disabled elsewhere")
    other = open_store(softhsm_token)
    try:
        other.sign(handle, DATA)  # The other store now holds the key object.

        pkcs11_store.disable(handle)

        with pytest.raises(KeyDisabledError, match=f"key {handle} is disabled"):
            other.sign(handle, DATA)
    finally:
        other.close()


FOREIGN_KEYS: dict[str, tuple[str, Any]] = {
    "ec-p384": ("EC", "1.3.132.0.34"),
    "rsa-1024": ("RSA", 1024),
}


@pytest.mark.parametrize("kind", FOREIGN_KEYS)
def test_foreign_key_on_the_token_is_left_out_and_refused(
        softhsm_token: SoftHSMToken, pkcs11_store: KeyStore, kind: str) -> None:
    import os

    from pkcs11 import Attribute, KeyType
    from pkcs11.util.ec import encode_named_curve_parameters

    from zhengyin.keys import KeyHandle

    raw_id = os.urandom(16)
    key_type, parameter = FOREIGN_KEYS[kind]
    with raw_session(softhsm_token) as session:
        if key_type == "EC":
            params = session.create_domain_parameters(
                KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters(parameter)},
                local=True)
            params.generate_keypair(store=True, label=f"foreign {kind}", id=raw_id)
        else:
            session.generate_keypair(KeyType.RSA, parameter, store=True,
                                     label=f"foreign {kind}", id=raw_id)
    handle = KeyHandle("pkcs11", raw_id.hex())

    assert handle not in [info.handle for info in pkcs11_store.list()]
    with pytest.raises(UnsupportedAlgorithmError, match=f"key {handle} on token"):
        pkcs11_store.info(handle)
    with pytest.raises(UnsupportedAlgorithmError, match=f"key {handle} on token"):
        pkcs11_store.sign(handle, DATA)


def test_list_is_ordered_by_label(pkcs11_store: KeyStore) -> None:
    for label in ("zz last", "aa first"):
        pkcs11_store.generate(KeyAlgorithm.EC_P256, label)

    labels = [info.label for info in pkcs11_store.list()]

    assert labels == sorted(labels)
