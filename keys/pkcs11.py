"""PKCS#11 key store: keys generated and kept on a token (an HSM, or SoftHSM2 in tests).

Each key pair shares a random ``CKA_ID``; the handle is ``pkcs11:<hex id>``. A disabled
key has ``CKA_SIGN`` cleared on the token itself, so no process can sign with it.
SoftHSM2 2.6 offers raw ``CKM_ECDSA`` only, so EC digests are computed here and the
token's ``r || s`` output is re-encoded as DER.

Login state belongs to the application, not to a session (PKCS#11 v2.40 base
specification, C_Login and C_Logout): a second ``C_Login`` in the same process fails with
``CKR_USER_ALREADY_LOGGED_IN`` whatever the PIN, and any ``C_Logout`` logs every session
out. So all stores of one process on one token share one logged-in session, a later
store must present the PIN that logged it in, and the last store to close logs out.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pkcs11
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from pkcs11.util.ec import (
    encode_ec_public_key,
    encode_ecdsa_signature,
    encode_named_curve_parameters,
)
from pkcs11.util.rsa import encode_rsa_public_key

from .errors import (
    KeyDisabledError,
    KeyNotFoundError,
    KeyStoreError,
    KeyStoreUnavailableError,
    UnsupportedAlgorithmError,
)
from .store import KeyAlgorithm, KeyHandle, KeyInfo, KeyStore, PublicKey, hash_for

__all__ = ["PKCS11KeyStore"]

_P256_OID = "1.2.840.10045.3.1.7"
_P256_PARAMS = bytes(encode_named_curve_parameters(_P256_OID))
_RSA_MECHANISMS = {
    "sha256": Mechanism.SHA256_RSA_PKCS,
    "sha384": Mechanism.SHA384_RSA_PKCS,
    "sha512": Mechanism.SHA512_RSA_PKCS,
}
_RSA_BITS = {2048: KeyAlgorithm.RSA_2048, 3072: KeyAlgorithm.RSA_3072}
_UNAVAILABLE_HINT = "check ZHENGYIN_PKCS11_MODULE, ZHENGYIN_PKCS11_TOKEN and the PIN"


@dataclass(eq=False)
class _SharedSession:
    """The one logged-in session of this process on one token."""

    session: Any
    # A keyed hash of the PIN the token accepted, to refuse a different PIN while the
    # token is already logged in (the token itself can no longer be asked).
    pin_tag: bytes = field(repr=False)
    users: int = 1
    lock: threading.RLock = field(default_factory=threading.RLock)


_SHARED: dict[tuple[int, str, str], _SharedSession] = {}
_SHARED_LOCK = threading.Lock()
_PIN_KEY = os.urandom(32)


def _pin_tag(pin: str) -> bytes:
    return hmac.new(_PIN_KEY, pin.encode("utf-8"), hashlib.sha256).digest()


def _unavailable(module_path: str, token_label: str, reason: str) -> KeyStoreUnavailableError:
    # The PIN is never part of the message.
    return KeyStoreUnavailableError(
        f"cannot open PKCS#11 token {token_label!r} with module {module_path}: {reason}",
        hint=_UNAVAILABLE_HINT,
    )


# SoftHSM2's file object store is not safe against processes that initialise and log in
# at the same moment (SoftHSMv2 issue #757): a process can read the token's file while
# another rewrites it, and then sees no token (NoSuchToken), an uninitialised PIN or a
# general error until it initialises the module again. Serving and stamping workers start
# together, so such failures are retried after re-initialising the module, which is safe
# only while this process holds no other session through it. A wrong or locked PIN is
# never retried: each attempt would count against the token's PIN retry limit.
_RACY_OPEN_ERRORS: tuple[type[Exception], ...] = (
    pkcs11.NoSuchToken, pkcs11.GeneralError, pkcs11.UserPinNotInitialized,
)
_OPEN_ATTEMPTS = 5


def _module_in_use(module_path: str) -> bool:
    pid = os.getpid()
    return any(key[0] == pid and key[1] == module_path for key in _SHARED)


def _log_in(module_path: str, token_label: str, pin: str, *, may_reinitialise: bool) -> Any:
    """A logged-in read-write session on the token, retrying a concurrent start-up."""
    lib = pkcs11.lib(module_path)
    for attempt in range(1, _OPEN_ATTEMPTS):
        try:
            return lib.get_token(token_label=token_label).open(user_pin=pin, rw=True)
        except _RACY_OPEN_ERRORS:
            if not may_reinitialise:
                raise
        time.sleep(random.uniform(0.02, 0.08) * attempt)  # noqa: S311 - jitter, not a secret
        lib.reinitialize()
    return lib.get_token(token_label=token_label).open(user_pin=pin, rw=True)


def _open_shared(module_path: str, token_label: str, pin: str) -> _SharedSession:
    key = (os.getpid(), module_path, token_label)
    with _SHARED_LOCK:
        shared = _SHARED.get(key)
        if shared is not None:
            if not hmac.compare_digest(shared.pin_tag, _pin_tag(pin)):
                raise _unavailable(module_path, token_label, "PinIncorrect")
            shared.users += 1
            return shared
        try:
            session = _log_in(module_path, token_label, pin,
                              may_reinitialise=not _module_in_use(module_path))
        except pkcs11.UserAlreadyLoggedIn:
            raise _unavailable(
                module_path, token_label,
                "the token is already logged in by another component of this process",
            ) from None
        except (pkcs11.PKCS11Error, RuntimeError, OSError) as exc:
            raise _unavailable(module_path, token_label, type(exc).__name__) from None
        shared = _SharedSession(session, _pin_tag(pin))
        _SHARED[key] = shared
        return shared


def _close_shared(shared: _SharedSession) -> None:
    with _SHARED_LOCK:
        shared.users -= 1
        if shared.users > 0:
            return
        for key, value in list(_SHARED.items()):
            if value is shared:
                del _SHARED[key]
        # If the token went away there is nothing left to log out of.
        with shared.lock, contextlib.suppress(pkcs11.PKCS11Error):
            shared.session.close()


class PKCS11KeyStore(KeyStore):
    """Keys on one token of a PKCS#11 module, used through a logged-in session."""

    backend = "pkcs11"

    def __init__(self, module_path: str, token_label: str, pin: str) -> None:
        self._shared: _SharedSession | None = _open_shared(module_path, token_label, pin)
        self._token_label = token_label
        # Private key objects and their algorithms, so a signature reads one attribute.
        self._private: dict[str, tuple[Any, KeyAlgorithm]] = {}

    def __repr__(self) -> str:
        return f"PKCS11KeyStore(token={self._token_label!r})"

    @property
    def _session(self) -> Any:
        if self._shared is None:
            raise KeyStoreUnavailableError(
                f"the PKCS#11 store for token {self._token_label!r} is closed",
                hint="open a new key store",
            )
        return self._shared.session

    @property
    def _lock(self) -> threading.RLock:
        # PKCS#11 sessions must not be used by two threads at once.
        if self._shared is None:
            return threading.RLock()
        return self._shared.lock

    def close(self) -> None:
        """Give up this store's share of the session; the last store logs out."""
        shared, self._shared = self._shared, None
        if shared is not None:
            _close_shared(shared)

    def _token_error(self, action: str, exc: Exception) -> KeyStoreError:
        return KeyStoreError(
            f"token {self._token_label!r} failed to {action}: {type(exc).__name__}",
            hint="check that the token is present and the key store is configured for it",
        )

    def _find(self, key_id: str, object_class: ObjectClass) -> Any:
        try:
            raw_id = bytes.fromhex(key_id)
        except ValueError:
            raw_id = b""
        if not raw_id or raw_id.hex() != key_id:
            raise KeyNotFoundError(f"no PKCS#11 key {key_id!r}: malformed key id")
        try:
            found = list(self._session.get_objects({Attribute.CLASS: object_class,
                                                    Attribute.ID: raw_id}))
        except pkcs11.PKCS11Error as exc:
            raise self._token_error(f"find key pkcs11:{key_id}", exc) from None
        if not found:
            raise KeyNotFoundError(f"no key pkcs11:{key_id} on token {self._token_label!r}")
        return found[0]

    def generate(self, algorithm: KeyAlgorithm, label: str) -> KeyHandle:
        """Generate a non-extractable, sign-only key pair on the token."""
        algorithm = KeyAlgorithm.parse(algorithm)
        raw_id = os.urandom(16)
        # Sign-only: an RSA key that may also decrypt would still produce signatures
        # (raw RSA) after CKA_SIGN is cleared.
        capabilities = MechanismFlag.SIGN | MechanismFlag.VERIFY
        private_template = {Attribute.EXTRACTABLE: False, Attribute.SENSITIVE: True,
                            Attribute.SIGN: True}
        with self._lock:
            try:
                if algorithm is KeyAlgorithm.EC_P256:
                    params = self._session.create_domain_parameters(
                        KeyType.EC, {Attribute.EC_PARAMS: _P256_PARAMS}, local=True,
                    )
                    params.generate_keypair(store=True, label=label, id=raw_id,
                                            capabilities=capabilities,
                                            private_template=private_template)
                elif algorithm.is_rsa:
                    self._session.generate_keypair(
                        KeyType.RSA, algorithm.rsa_bits, store=True, label=label, id=raw_id,
                        capabilities=capabilities, private_template=private_template,
                    )
                else:
                    raise UnsupportedAlgorithmError(
                        f"{algorithm.value} keys are not supported on PKCS#11 tokens here",
                        hint="use ec-p256, rsa-2048 or rsa-3072",
                    )
            except pkcs11.PKCS11Error as exc:
                raise self._token_error(f"generate a {algorithm.value} key", exc) from None
        return KeyHandle(self.backend, raw_id.hex())

    def public_key(self, handle: KeyHandle) -> PublicKey:
        """Read the public key object and convert it to a ``cryptography`` key."""
        self._check_backend(handle)
        with self._lock:
            public = self._find(handle.key_id, ObjectClass.PUBLIC_KEY)
            try:
                if public.key_type == KeyType.EC:
                    der = bytes(encode_ec_public_key(public))
                else:
                    der = _rsa_spki(bytes(encode_rsa_public_key(public)))
            except pkcs11.PKCS11Error as exc:
                raise self._token_error(f"read the public key of {handle}", exc) from None
        key = serialization.load_der_public_key(der)
        if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
            raise UnsupportedAlgorithmError(f"key {handle} is not an RSA or EC key")
        KeyAlgorithm.of_public_key(key)
        return key

    def _algorithm_of(self, private: Any) -> KeyAlgorithm:
        """The algorithm of a private key object; keys this store cannot use are refused."""
        key_id = bytes(private[Attribute.ID]).hex()
        if private.key_type == KeyType.EC:
            if bytes(private[Attribute.EC_PARAMS]) == _P256_PARAMS:
                return KeyAlgorithm.EC_P256
        elif private.key_type == KeyType.RSA:
            bits = len(private[Attribute.MODULUS]) * 8
            if bits in _RSA_BITS:
                return _RSA_BITS[bits]
        raise UnsupportedAlgorithmError(
            f"key pkcs11:{key_id} on token {self._token_label!r} is not an ec-p256, "
            "rsa-2048 or rsa-3072 key",
            hint="generate keys for Zhengyin with `zhengyin keys generate`",
        )

    def _info_of(self, private: Any) -> KeyInfo:
        return KeyInfo(
            handle=KeyHandle(self.backend, bytes(private[Attribute.ID]).hex()),
            label=str(private.label or ""),
            algorithm=self._algorithm_of(private),
            created_at=None,
            disabled=not bool(private[Attribute.SIGN]),
        )

    def info(self, handle: KeyHandle) -> KeyInfo:
        """Metadata read from the private key object."""
        self._check_backend(handle)
        with self._lock:
            private = self._find(handle.key_id, ObjectClass.PRIVATE_KEY)
            try:
                return self._info_of(private)
            except pkcs11.PKCS11Error as exc:
                raise self._token_error(f"read {handle}", exc) from None

    def list(self) -> list[KeyInfo]:
        """Every private key on the token that this store can use, by label.

        Keys without a ``CKA_ID`` or of other algorithms (put there by other software)
        cannot be named by a handle or used here, so they are left out.
        """
        infos = []
        with self._lock:
            try:
                objects = list(self._session.get_objects(
                    {Attribute.CLASS: ObjectClass.PRIVATE_KEY}))
                for private in objects:
                    if not bytes(private[Attribute.ID]):
                        continue
                    try:
                        infos.append(self._info_of(private))
                    except UnsupportedAlgorithmError:
                        continue
            except pkcs11.PKCS11Error as exc:
                raise self._token_error("list keys", exc) from None
        return sorted(infos, key=lambda info: (info.label, info.handle.key_id))

    def disable(self, handle: KeyHandle) -> None:
        """Clear ``CKA_SIGN`` on the token."""
        self._check_backend(handle)
        with self._lock:
            private = self._find(handle.key_id, ObjectClass.PRIVATE_KEY)
            try:
                private[Attribute.SIGN] = False
            except pkcs11.PKCS11Error as exc:
                raise self._token_error(f"disable {handle}", exc) from None
            self._private.pop(handle.key_id, None)

    def sign(self, handle: KeyHandle, data: bytes, *, digest: str = "sha256") -> bytes:
        """Sign on the token; EC keys use raw ECDSA over a digest computed here."""
        self._check_backend(handle)
        digest = digest.lower()
        with self._lock:
            cached = self._private.get(handle.key_id)
            private = cached[0] if cached else self._find(handle.key_id,
                                                          ObjectClass.PRIVATE_KEY)
            try:
                # Read from the token on every signature: another process may have
                # disabled the key since.
                if not bool(private[Attribute.SIGN]):
                    raise KeyDisabledError(f"key {handle} is disabled and may not sign",
                                           hint="sign with another key")
                algorithm = cached[1] if cached else self._algorithm_of(private)
                hash_for(algorithm, digest)  # Refuses an unknown digest before the token.
                self._private[handle.key_id] = (private, algorithm)
                if algorithm is KeyAlgorithm.EC_P256:
                    hashed = hashlib.new(digest, data).digest()
                    raw = private.sign(hashed, mechanism=Mechanism.ECDSA)
                    return bytes(encode_ecdsa_signature(raw))
                return bytes(private.sign(data, mechanism=_RSA_MECHANISMS[digest]))
            except pkcs11.PKCS11Error as exc:
                # The cached object may be stale (key deleted); look it up afresh next time.
                self._private.pop(handle.key_id, None)
                raise self._token_error(f"sign with {handle}", exc) from None


def _rsa_spki(pkcs1_der: bytes) -> bytes:
    """Wrap a PKCS#1 RSAPublicKey in a SubjectPublicKeyInfo."""
    from asn1crypto import keys as asn1_keys

    info = asn1_keys.PublicKeyInfo(
        {
            "algorithm": {"algorithm": "rsa"},
            "public_key": asn1_keys.RSAPublicKey.load(pkcs1_der),
        }
    )
    return bytes(info.dump())
