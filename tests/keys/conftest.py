"""Key-store fixtures: a KEK, software stores, and PKCS#11 stores on the session's SoftHSM2
token (``softhsm_token`` in tests/conftest.py, shared with the signing tests).

python-pkcs11 loads and initialises a PKCS#11 module once per process, and SoftHSM2 reads
``SOFTHSM2_CONF`` at that moment. So the token is session-scoped and the variable is set
before anything in this process loads the module; every PKCS#11 store in the session
opens the same token through the same library.
"""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from zhengyin.keys import KeyAlgorithm, KeyEncryptionKey, KeyHandle, KeyStore
from zhengyin.keys.software import SoftwareKeyStore

from ..conftest import SoftHSMToken

BACKENDS = ("software", "pkcs11")
_MARKS = {"software": (), "pkcs11": (pytest.mark.softhsm,)}
# Ed25519 is software-only: SoftHSM2 2.6 and most HSMs in use lack CKM_EDDSA.
ALGORITHMS = {
    "software": tuple(KeyAlgorithm),
    "pkcs11": (KeyAlgorithm.EC_P256, KeyAlgorithm.RSA_2048, KeyAlgorithm.RSA_3072),
}


def kek_bytes() -> bytes:
    """32 random bytes for a key-encryption key."""
    return os.urandom(32)


def kek_of(raw: bytes) -> KeyEncryptionKey:
    """A KEK object from raw bytes, the way ZHENGYIN_KEK gives it (base64 text)."""
    return KeyEncryptionKey.from_text(base64.b64encode(raw).decode("ascii"),
                                      source="ZHENGYIN_KEK")


@pytest.fixture
def kek_raw() -> bytes:
    """The raw bytes of this test's key-encryption key."""
    return kek_bytes()


@pytest.fixture
def kek(kek_raw: bytes) -> KeyEncryptionKey:
    """This test's key-encryption key."""
    return kek_of(kek_raw)


@pytest.fixture
def key_dir(tmp_path: Path) -> Path:
    """An empty directory for a software key store."""
    return tmp_path / "keys"


@pytest.fixture
def software_store(key_dir: Path, kek: KeyEncryptionKey) -> SoftwareKeyStore:
    """A software key store over an empty directory."""
    return SoftwareKeyStore(key_dir, kek)


@pytest.fixture
def pkcs11_store(softhsm_token: SoftHSMToken) -> Iterator[KeyStore]:
    """A PKCS#11 store on the session token, closed after the test."""
    from zhengyin.keys.pkcs11 import PKCS11KeyStore

    store = PKCS11KeyStore(softhsm_token.module, softhsm_token.label, softhsm_token.pin)
    try:
        yield store
    finally:
        store.close()


# --------------------------------------------------------------------------- contract


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every test that asks for ``store`` on each backend.

    A test that also asks for ``algorithm`` runs on each algorithm its backend supports,
    with ids such as ``pkcs11-rsa-3072``.
    """
    if "store" not in metafunc.fixturenames:
        return
    if "algorithm" in metafunc.fixturenames:
        metafunc.parametrize(
            ("store", "algorithm"),
            [pytest.param(backend, algorithm, id=f"{backend}-{algorithm.value}",
                          marks=_MARKS[backend])
             for backend in BACKENDS for algorithm in ALGORITHMS[backend]],
            indirect=["store"],
        )
    else:
        metafunc.parametrize(
            "store", [pytest.param(backend, id=backend, marks=_MARKS[backend])
                      for backend in BACKENDS],
            indirect=True,
        )


@pytest.fixture
def store(request: pytest.FixtureRequest) -> KeyStore:
    """The key store under test (parametrised over every backend)."""
    name = "software_store" if request.param == "software" else "pkcs11_store"
    result: KeyStore = request.getfixturevalue(name)
    return result


@pytest.fixture
def new_key(store: KeyStore) -> Callable[[KeyAlgorithm], KeyHandle]:
    """Generate a key in ``store`` labelled for the test."""
    def generate(algorithm: KeyAlgorithm) -> KeyHandle:
        return store.generate(algorithm, f"test {algorithm.value} {secrets.token_hex(4)}")
    return generate
