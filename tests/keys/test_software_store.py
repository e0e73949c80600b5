"""The software key store: the KEK, encryption at rest, tamper detection, the key cache."""

from __future__ import annotations

import base64
import json
import logging
import os
import shutil
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from zhengyin.keys import (
    InsecureKEKFileError,
    KEKMismatchError,
    KEKMissingError,
    KeyAlgorithm,
    KeyDisabledError,
    KeyEncryptionKey,
    KeyHandle,
    KeyStoreConfig,
    KeyStoreError,
    open_key_store,
)
from zhengyin.keys.software import SoftwareKeyStore

from .conftest import kek_bytes, kek_of

DATA = b"software store test"


def key_file(directory: Path, handle: KeyHandle) -> Path:
    """Where the software store keeps a key."""
    return directory / f"{handle.key_id}.json"


def edit_key_file(directory: Path, handle: KeyHandle, **changes: Any) -> None:
    """Change fields of a key file in place, as someone with write access could."""
    path = key_file(directory, handle)
    document = json.loads(path.read_text(encoding="utf-8"))
    document.update(changes)
    path.write_text(json.dumps(document), encoding="utf-8")


def unseal(directory: Path, handle: KeyHandle, kek_raw: bytes) -> bytes:
    """Decrypt a key file independently of the store: AES-256-GCM under the raw KEK."""
    document = json.loads(key_file(directory, handle).read_text(encoding="utf-8"))
    context = f"zhengyin-software-key-v1|{handle.key_id}|{document['algorithm']}".encode()
    return AESGCM(kek_raw).decrypt(base64.b64decode(document["nonce"]),
                                   base64.b64decode(document["ciphertext"]), context)


def private_forms(pkcs8_der: bytes) -> list[bytes | str]:
    """Every form in which private key bytes could leak: DER, PEM, hex and base64."""
    key = serialization.load_der_private_key(pkcs8_der, password=None)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return [pkcs8_der, pem, pem.decode("ascii"), pkcs8_der.hex(),
            base64.b64encode(pkcs8_der).decode("ascii"), "PRIVATE KEY"]


def leaks(forms: list[bytes | str], texts: list[Any]) -> list[str]:
    """The texts that contain any of the private forms."""
    found = []
    for text in texts:
        as_text = text if isinstance(text, str) else repr(text)
        as_bytes = text if isinstance(text, bytes) else as_text.encode("utf-8", "replace")
        for form in forms:
            if (form in as_bytes) if isinstance(form, bytes) else (form in as_text):
                found.append(as_text[:80])
    return found


@pytest.fixture
def count_unwraps(monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    """Count KEK unwrap calls (every decryption of a private key goes through one)."""
    calls: list[str] = []
    original = KeyEncryptionKey.unwrap

    def counting(self: KeyEncryptionKey, nonce: bytes, ciphertext: bytes, *, context: bytes,
                 what: str) -> bytes:
        calls.append(what)
        return original(self, nonce, ciphertext, context=context, what=what)

    monkeypatch.setattr(KeyEncryptionKey, "unwrap", counting)
    return lambda: len([what for what in calls if what.startswith("key ")])


# --------------------------------------------------------------------------- KEK text


@pytest.mark.parametrize("encode", [
    lambda raw: base64.b64encode(raw).decode("ascii"),
    lambda raw: raw.hex(),
    lambda raw: raw.hex().upper(),
    lambda raw: f"  {base64.b64encode(raw).decode('ascii')}\n",
], ids=["base64", "hex", "hex-upper-case", "base64-with-whitespace"])
def test_kek_text_in_each_encoding_opens_the_same_store(
        key_dir: Path, kek_raw: bytes, encode: Callable[[bytes], str]) -> None:
    handle = SoftwareKeyStore(key_dir, kek_of(kek_raw)).generate(KeyAlgorithm.EC_P256, "k")

    reopened = SoftwareKeyStore(
        key_dir, KeyEncryptionKey.from_text(encode(kek_raw), source="ZHENGYIN_KEK"))

    assert reopened.sign(handle, DATA)


@pytest.mark.parametrize(("text", "message"), [
    (base64.b64encode(b"k" * 16).decode("ascii"), "is 16 bytes; it must be 32"),
    ((b"k" * 16).hex(), "is 16 bytes; it must be 32"),
    (base64.b64encode(b"k" * 31).decode("ascii"), "is 31 bytes; it must be 32"),
    ((b"k" * 33).hex(), "is 33 bytes; it must be 32"),
    ("", "is 0 bytes; it must be 32"),
    ("not a key at all!", "is neither base64 nor hex"),
    ("abc", "is neither base64 nor hex"),
], ids=["base64-16-bytes", "hex-16-bytes", "base64-31-bytes", "hex-33-bytes", "empty",
        "garbage", "odd-hex"])
def test_kek_text_of_the_wrong_size_or_form_is_missing(text: str, message: str) -> None:
    with pytest.raises(KEKMissingError, match=message) as caught:
        KeyEncryptionKey.from_text(text, source="ZHENGYIN_KEK")

    assert "ZHENGYIN_KEK" in caught.value.message
    assert caught.value.hint == "generate one with: head -c 32 /dev/urandom | base64"


def test_rejected_kek_text_is_not_quoted_in_the_error() -> None:
    secret = "c2VjcmV0LWJ1dC10b28tc2hvcnQ="

    with pytest.raises(KEKMissingError) as caught:
        KeyEncryptionKey.from_text(secret, source="ZHENGYIN_KEK")

    assert secret not in str(caught.value) and secret not in (caught.value.hint or "")


def test_kek_repr_shows_only_its_source(kek_raw: bytes) -> None:
    kek = kek_of(kek_raw)

    assert repr(kek) == "KeyEncryptionKey(source='ZHENGYIN_KEK')"


# --------------------------------------------------------------------------- KEK file


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077], ids=oct)
def test_created_kek_file_is_readable_by_its_owner_only(tmp_path: Path, umask: int) -> None:
    path = tmp_path / "secrets" / "kek"
    previous = os.umask(umask)
    try:
        KeyEncryptionKey.create_file(path)
    finally:
        os.umask(previous)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_created_kek_file_opens_the_store_it_created(tmp_path: Path, key_dir: Path) -> None:
    path = tmp_path / "kek"
    handle = SoftwareKeyStore(key_dir, KeyEncryptionKey.create_file(path)).generate(
        KeyAlgorithm.EC_P256, "k")

    reopened = SoftwareKeyStore(key_dir, KeyEncryptionKey.from_file(path))

    assert reopened.sign(handle, DATA)


def test_creating_a_kek_file_never_replaces_an_existing_one(tmp_path: Path) -> None:
    path = tmp_path / "kek"
    KeyEncryptionKey.create_file(path)
    before = path.read_bytes()

    with pytest.raises(FileExistsError):
        KeyEncryptionKey.create_file(path)

    assert (path.read_bytes(), sorted(p.name for p in tmp_path.iterdir())) == (before, ["kek"])


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620, 0o602, 0o610, 0o660, 0o666],
                         ids=oct)
def test_kek_file_open_to_group_or_others_is_refused(tmp_path: Path, kek_raw: bytes,
                                                      mode: int) -> None:
    path = tmp_path / "kek"
    path.write_text(base64.b64encode(kek_raw).decode("ascii"), encoding="ascii")
    path.chmod(mode)

    with pytest.raises(InsecureKEKFileError, match=f"mode {mode:o}") as caught:
        KeyEncryptionKey.from_file(path)

    assert caught.value.hint == f"run: chmod 600 {path}"


@pytest.mark.parametrize("mode", [0o600, 0o400], ids=oct)
def test_kek_file_private_to_its_owner_is_accepted(tmp_path: Path, kek_raw: bytes,
                                                   mode: int) -> None:
    path = tmp_path / "kek"
    path.write_text(kek_raw.hex() + "\n", encoding="ascii")
    path.chmod(mode)

    assert KeyEncryptionKey.from_file(path).source == str(path)


def test_missing_kek_file_is_missing(tmp_path: Path) -> None:
    with pytest.raises(KEKMissingError, match="does not exist"):
        KeyEncryptionKey.from_file(tmp_path / "absent")


def test_kek_file_of_binary_bytes_is_missing(tmp_path: Path) -> None:
    path = tmp_path / "kek"
    path.write_bytes(b"\xff" * 32)
    path.chmod(0o600)

    with pytest.raises(KEKMissingError, match="is not base64 or hex text"):
        KeyEncryptionKey.from_file(path)


# --------------------------------------------------------------------------- configuration


def test_config_without_a_kek_is_missing(key_dir: Path) -> None:
    with pytest.raises(KEKMissingError, match="no key-encryption key configured"):
        open_key_store(KeyStoreConfig(directory=key_dir))


def test_config_with_both_kek_sources_is_refused(tmp_path: Path, key_dir: Path) -> None:
    config = KeyStoreConfig(directory=key_dir, kek_text=base64.b64encode(kek_bytes()).decode(),
                            kek_file=tmp_path / "kek", create_kek_file=True)

    with pytest.raises(KeyStoreError, match="both ZHENGYIN_KEK and ZHENGYIN_KEK_FILE"):
        open_key_store(config)


def test_development_config_creates_an_owner_only_kek_file(tmp_path: Path,
                                                          key_dir: Path) -> None:
    path = tmp_path / "kek"

    open_key_store(KeyStoreConfig(directory=key_dir, kek_file=path, create_kek_file=True))

    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_development_config_reuses_its_kek_file(tmp_path: Path, key_dir: Path) -> None:
    config = KeyStoreConfig(directory=key_dir, kek_file=tmp_path / "kek", create_kek_file=True)
    handle = open_key_store(config).generate(KeyAlgorithm.EC_P256, "k")

    assert open_key_store(config).sign(handle, DATA)


def test_config_repr_hides_the_kek_and_pin(key_dir: Path) -> None:
    kek_text = base64.b64encode(kek_bytes()).decode("ascii")
    config = KeyStoreConfig(directory=key_dir, kek_text=kek_text, pkcs11_pin="s3cret-pin")

    assert kek_text not in repr(config) and "s3cret-pin" not in repr(config)


# --------------------------------------------------------------------------- wrong KEK


def test_store_opened_with_another_kek_is_refused_at_open(key_dir: Path) -> None:
    SoftwareKeyStore(key_dir, kek_of(kek_bytes())).generate(KeyAlgorithm.EC_P256, "k")

    with pytest.raises(KEKMismatchError, match=f"does not open the key store at {key_dir}"
                       ) as caught:
        SoftwareKeyStore(key_dir, kek_of(kek_bytes()))

    assert "ZHENGYIN_KEK" in (caught.value.hint or "")


def test_empty_store_opened_with_another_kek_is_refused(key_dir: Path) -> None:
    SoftwareKeyStore(key_dir, kek_of(kek_bytes()))

    with pytest.raises(KEKMismatchError):
        SoftwareKeyStore(key_dir, kek_of(kek_bytes()))


def test_lost_check_value_does_not_let_another_kek_claim_the_store(
        key_dir: Path, kek_raw: bytes) -> None:
    handle = SoftwareKeyStore(key_dir, kek_of(kek_raw)).generate(KeyAlgorithm.EC_P256, "k")
    (key_dir / "kek-check.json").unlink()

    with pytest.raises(KEKMismatchError, match=f"does not open key {handle}"):
        SoftwareKeyStore(key_dir, kek_of(kek_bytes()))

    assert SoftwareKeyStore(key_dir, kek_of(kek_raw)).sign(handle, DATA)


def test_lost_check_value_is_restored_by_the_right_kek(key_dir: Path, kek_raw: bytes) -> None:
    SoftwareKeyStore(key_dir, kek_of(kek_raw)).generate(KeyAlgorithm.EC_P256, "k")
    (key_dir / "kek-check.json").unlink()

    SoftwareKeyStore(key_dir, kek_of(kek_raw))

    with pytest.raises(KEKMismatchError):
        SoftwareKeyStore(key_dir, kek_of(kek_bytes()))


def test_corrupt_check_value_is_a_store_error(key_dir: Path, kek: KeyEncryptionKey) -> None:
    SoftwareKeyStore(key_dir, kek)
    (key_dir / "kek-check.json").write_text("{not json", encoding="utf-8")

    with pytest.raises(KeyStoreError, match=r"KEK check value .* is unreadable or corrupt"):
        SoftwareKeyStore(key_dir, kek)


def test_key_file_from_a_store_with_another_kek_is_a_mismatch(
        tmp_path: Path, key_dir: Path, software_store: SoftwareKeyStore) -> None:
    handle = software_store.generate(KeyAlgorithm.EC_P256, "ours")
    other_dir = tmp_path / "other"
    other = SoftwareKeyStore(other_dir, kek_of(kek_bytes()))
    foreign = other.generate(KeyAlgorithm.EC_P256, "theirs")
    # Bring the foreign key over under its own id, as a restore from the wrong backup would.
    shutil.copy(key_file(other_dir, foreign), key_file(key_dir, foreign))

    with pytest.raises(KEKMismatchError, match=f"does not open key {foreign}"):
        software_store.sign(foreign, DATA)
    assert software_store.sign(handle, DATA)


def test_key_file_swapped_for_another_stores_is_a_mismatch_naming_the_handle(
        tmp_path: Path, key_dir: Path, software_store: SoftwareKeyStore) -> None:
    handle = software_store.generate(KeyAlgorithm.EC_P256, "ours")
    other_dir = tmp_path / "other"
    foreign = SoftwareKeyStore(other_dir, kek_of(kek_bytes())).generate(
        KeyAlgorithm.EC_P256, "theirs")
    shutil.copy(key_file(other_dir, foreign), key_file(key_dir, handle))

    with pytest.raises(KEKMismatchError, match=f"key file for {handle} holds key"):
        software_store.sign(handle, DATA)


def test_key_file_swapped_after_signing_is_a_mismatch(
        tmp_path: Path, key_dir: Path, software_store: SoftwareKeyStore) -> None:
    handle = software_store.generate(KeyAlgorithm.EC_P256, "ours")
    software_store.sign(handle, DATA)  # Cached before the swap.
    other_dir = tmp_path / "other"
    foreign = SoftwareKeyStore(other_dir, kek_of(kek_bytes())).generate(
        KeyAlgorithm.EC_P256, "theirs")
    document = json.loads(key_file(other_dir, foreign).read_text(encoding="utf-8"))
    document["key_id"] = handle.key_id  # A careful swap that keeps our id.
    key_file(key_dir, handle).write_text(json.dumps(document), encoding="utf-8")

    with pytest.raises(KEKMismatchError, match=f"does not open key {handle}"):
        software_store.sign(handle, DATA)


TAMPERING: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "ciphertext-bit-flipped": lambda doc: {"ciphertext": base64.b64encode(bytes(
        [base64.b64decode(doc["ciphertext"])[0] ^ 1]) + base64.b64decode(doc["ciphertext"])[1:]
    ).decode()},
    "nonce-changed": lambda doc: {"nonce": base64.b64encode(os.urandom(12)).decode()},
    "algorithm-changed": lambda doc: {"algorithm": "rsa-2048"},
}


@pytest.mark.parametrize("tamper", TAMPERING)
def test_tampered_sealed_key_is_a_mismatch_naming_the_handle(
        key_dir: Path, software_store: SoftwareKeyStore, tamper: str) -> None:
    handle = software_store.generate(KeyAlgorithm.EC_P256, "k")
    document = json.loads(key_file(key_dir, handle).read_text(encoding="utf-8"))
    edit_key_file(key_dir, handle, **TAMPERING[tamper](document))

    with pytest.raises(KEKMismatchError, match=f"does not open key {handle}: wrong "
                       "key-encryption key, or the stored data was altered"):
        software_store.sign(handle, DATA)


def test_public_key_replaced_in_the_file_is_a_mismatch(
        key_dir: Path, software_store: SoftwareKeyStore) -> None:
    handle = software_store.generate(KeyAlgorithm.EC_P256, "k")
    intruder = software_store.generate(KeyAlgorithm.EC_P256, "intruder")
    intruder_pem = json.loads(key_file(key_dir, intruder).read_text("utf-8"))["public_key"]
    edit_key_file(key_dir, handle, public_key=intruder_pem)

    with pytest.raises(KEKMismatchError, match=f"key file for {handle} was altered"):
        software_store.public_key(handle)


@pytest.mark.parametrize("content", ["{not json", "[]", json.dumps({"format": "other"})],
                         ids=["not-json", "not-an-object", "missing-fields"])
def test_corrupt_key_file_is_a_store_error(key_dir: Path, software_store: SoftwareKeyStore,
                                           content: str) -> None:
    handle = software_store.generate(KeyAlgorithm.EC_P256, "k")
    key_file(key_dir, handle).write_text(content, encoding="utf-8")

    with pytest.raises(KeyStoreError, match=r"key file .* is unreadable or corrupt"):
        software_store.info(handle)


# --------------------------------------------------------------------------- at rest


@pytest.mark.parametrize("algorithm", list(KeyAlgorithm), ids=str)
def test_private_key_is_sealed_with_aes_256_gcm_under_the_kek(
        key_dir: Path, kek_raw: bytes, software_store: SoftwareKeyStore,
        algorithm: KeyAlgorithm) -> None:
    handle = software_store.generate(algorithm, "k")

    pkcs8 = unseal(key_dir, handle, kek_raw)

    private = serialization.load_der_private_key(pkcs8, password=None)
    assert private.public_key() == software_store.public_key(handle)
    assert not leaks(private_forms(pkcs8), [key_file(key_dir, handle).read_bytes()])


def test_key_files_are_readable_by_their_owner_only(key_dir: Path,
                                                    software_store: SoftwareKeyStore) -> None:
    software_store.generate(KeyAlgorithm.EC_P256, "k")

    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in key_dir.iterdir()}

    assert set(modes.values()) == {0o600}
    assert stat.S_IMODE(key_dir.stat().st_mode) == 0o700


def test_no_temporary_files_are_left_behind(key_dir: Path,
                                            software_store: SoftwareKeyStore) -> None:
    handle = software_store.generate(KeyAlgorithm.EC_P256, "k")
    software_store.disable(handle)

    assert sorted(path.name for path in key_dir.iterdir()) == sorted(
        ["kek-check.json", f"{handle.key_id}.json"])


def test_private_key_material_never_leaves_the_store(
        key_dir: Path, tmp_path: Path, kek_raw: bytes, software_store: SoftwareKeyStore,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    handle = software_store.generate(KeyAlgorithm.RSA_2048, "k")
    outputs: list[Any] = [handle, software_store.info(handle), software_store.list(),
                          software_store.public_key(handle).public_bytes(
                              serialization.Encoding.PEM,
                              serialization.PublicFormat.SubjectPublicKeyInfo),
                          software_store.sign(handle, DATA), repr(software_store),
                          repr(software_store._loaded)]
    errors: list[KeyStoreError] = []
    for provoke in _error_provocations(key_dir, tmp_path, software_store, handle):
        with pytest.raises(KeyStoreError) as caught:
            provoke()
        errors.append(caught.value)
    texts = [*outputs, caplog.text]
    for error in errors:
        texts += [str(error), repr(error), error.hint or "", repr(error.__context__),
                  repr(error.__cause__)]

    assert len(errors) == 4
    assert not leaks(private_forms(unseal(key_dir, handle, kek_raw)), texts)


def _error_provocations(key_dir: Path, tmp_path: Path, store: SoftwareKeyStore,
                        handle: KeyHandle) -> Iterator[Callable[[], object]]:
    yield lambda: SoftwareKeyStore(key_dir, kek_of(kek_bytes()))
    yield lambda: store.sign(handle, DATA, digest="md5")
    other = tmp_path / "elsewhere"
    foreign = SoftwareKeyStore(other, kek_of(kek_bytes())).generate(KeyAlgorithm.RSA_2048, "x")
    shutil.copy(key_file(other, foreign), key_file(key_dir, foreign))
    yield lambda: store.sign(foreign, DATA)
    store.disable(handle)
    yield lambda: store.sign(handle, DATA)


# --------------------------------------------------------------------------- the cache


def test_signing_again_uses_the_cached_key(software_store: SoftwareKeyStore,
                                           count_unwraps: Callable[[], int]) -> None:
    handle = software_store.generate(KeyAlgorithm.RSA_2048, "k")

    for _ in range(3):
        software_store.sign(handle, DATA)
    software_store.public_key(handle)

    assert count_unwraps() == 1


def test_each_key_is_decrypted_once(software_store: SoftwareKeyStore,
                                    count_unwraps: Callable[[], int]) -> None:
    handles = [software_store.generate(KeyAlgorithm.EC_P256, f"k{i}") for i in range(3)]

    for handle in handles * 2:
        software_store.sign(handle, DATA)

    assert count_unwraps() == 3


def test_disabling_elsewhere_does_not_force_a_decryption(
        key_dir: Path, kek: KeyEncryptionKey, software_store: SoftwareKeyStore,
        count_unwraps: Callable[[], int]) -> None:
    handle = software_store.generate(KeyAlgorithm.EC_P256, "k")
    software_store.sign(handle, DATA)

    SoftwareKeyStore(key_dir, kek).disable(handle)

    with pytest.raises(KeyDisabledError):
        software_store.sign(handle, DATA)
    assert count_unwraps() == 1


def test_key_disabled_by_another_instance_is_refused_by_one_that_cached_it(
        key_dir: Path, kek: KeyEncryptionKey, software_store: SoftwareKeyStore) -> None:
    handle = software_store.generate(KeyAlgorithm.EC_P256, "k")
    software_store.sign(handle, DATA)  # Now cached here.

    SoftwareKeyStore(key_dir, kek).disable(handle)

    with pytest.raises(KeyDisabledError, match=f"key {handle} is disabled"):
        software_store.sign(handle, DATA)


def test_disable_within_one_timestamp_tick_is_still_noticed(
        key_dir: Path, kek: KeyEncryptionKey, software_store: SoftwareKeyStore) -> None:
    # File systems stamp files with a coarse clock (a jiffy, or 2 s on FAT): a disable
    # right after a signature can leave the modification time unchanged.
    handle = software_store.generate(KeyAlgorithm.EC_P256, "k")
    software_store.sign(handle, DATA)
    path = key_file(key_dir, handle)
    before = path.stat()

    SoftwareKeyStore(key_dir, kek).disable(handle)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))

    with pytest.raises(KeyDisabledError):
        software_store.sign(handle, DATA)


def test_key_generated_by_another_instance_is_listed_and_usable(
        key_dir: Path, kek: KeyEncryptionKey, software_store: SoftwareKeyStore) -> None:
    software_store.list()

    handle = SoftwareKeyStore(key_dir, kek).generate(KeyAlgorithm.EC_P256, "k")

    assert [info.handle for info in software_store.list()] == [handle]
    assert software_store.sign(handle, DATA)


def test_deleted_key_is_not_found_even_when_cached(key_dir: Path,
                                                   software_store: SoftwareKeyStore) -> None:
    from zhengyin.keys import KeyNotFoundError

    handle = software_store.generate(KeyAlgorithm.EC_P256, "k")
    software_store.sign(handle, DATA)
    key_file(key_dir, handle).unlink()

    with pytest.raises(KeyNotFoundError, match=f"no key {handle}"):
        software_store.sign(handle, DATA)


# --------------------------------------------------------------------------- list


def test_list_is_oldest_first(software_store: SoftwareKeyStore) -> None:
    handles = [software_store.generate(KeyAlgorithm.EC_P256, label) for label in "zyx"]

    assert [info.handle for info in software_store.list()] == handles


def test_list_ignores_files_that_are_not_keys(key_dir: Path,
                                              software_store: SoftwareKeyStore) -> None:
    handle = software_store.generate(KeyAlgorithm.EC_P256, "k")
    (key_dir / "notes.json").write_text("{}", encoding="utf-8")
    (key_dir / f".{handle.key_id}.json.tmp-0").write_text("{", encoding="utf-8")

    assert [info.handle for info in software_store.list()] == [handle]


def test_ed25519_keys_are_flagged_as_not_pdf_verifiable(
        software_store: SoftwareKeyStore) -> None:
    handle = software_store.generate(KeyAlgorithm.ED25519, "jws only")

    assert software_store.info(handle).algorithm.pdf_verifiable is False
