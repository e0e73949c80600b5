"""Holder identity from bearer tokens: citizens and companies reading their own licences.

In production an external OIDC provider signs JWTs, checked against its JWKS
(``ZHENGYIN_HOLDER_JWKS_URL``, ``_ISSUER``, ``_AUDIENCE``); the holder code comes from a
configurable claim. In development ``zhengyin holder token <holder-code>`` mints tokens
with a local key (the ``holder-tokens`` service identity), accepted only when
``ZHENGYIN_HOLDER_DEV_TOKENS`` is on (the default in development mode).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import jwt

from zhengyin.core.clock import utcnow
from zhengyin.core.errors import AuthenticationError
from zhengyin.core.privacy import mask_id_number
from zhengyin.keys import KeyStore, PublicKey
from zhengyin.registry.errors import InvalidHolderCodeError
from zhengyin.registry.holders import HolderKind, normalise_holder
from zhengyin.trust.jws import sign_compact
from zhengyin.trust.pki import PKI

from .settings import Settings

__all__ = ["DEV_PURPOSE", "HolderIdentity", "HolderTokens", "PKIUnit"]

DEV_PURPOSE = "holder-tokens"
_ALGORITHMS = ["ES256", "RS256", "EdDSA"]


@dataclass(frozen=True)
class HolderIdentity:
    """An authenticated holder."""

    holder_code: str
    holder_kind: HolderKind
    subject: str

    @property
    def actor(self) -> str:
        """How the audit log names the holder (masked code)."""
        code = self.holder_code if self.holder_kind is HolderKind.CREDIT_CODE \
            else mask_id_number(self.holder_code)
        return f"holder:{code}"


class PKIUnit(Protocol):
    """A unit of work as holder tokens need it: its PKI."""

    @property
    def pki(self) -> PKI:
        """The unit's certificate authorities."""
        ...


class HolderTokens:
    """Verifies holder JWTs (and mints development ones); one per process."""

    def __init__(self, settings: Settings, keystore: KeyStore) -> None:
        self._settings = settings
        self._keys = keystore
        self._jwks = jwt.PyJWKClient(settings.holder_jwks_url, cache_keys=True) \
            if settings.holder_jwks_url else None
        self._dev_key: tuple[str, PublicKey] | None = None
        self._lock = threading.Lock()

    @property
    def dev_issuer(self) -> str:
        """The ``iss`` of locally minted tokens."""
        return f"{self._settings.public_base_url.rstrip('/')}/dev-holder-idp"

    def _dev_identity(self, services: PKIUnit, *, create: bool) -> tuple[str, PublicKey] | None:
        with self._lock:
            if self._dev_key is not None:
                return self._dev_key
            pki = services.pki
            if not pki.has_identity(DEV_PURPOSE):
                if not create:
                    return None
                pki.issue_service_certificate(DEV_PURPOSE, at=utcnow(), actor="system",
                                              label="Development Holder Tokens")
            identity = pki.identity(DEV_PURPOSE)
            self._dev_key = (identity.serial_hex, pki.public_key_of_serial(identity.serial_hex))
            return self._dev_key

    def mint(self, services: PKIUnit, holder_code: str, holder_kind: HolderKind, *,
             at: datetime, ttl: timedelta = timedelta(hours=8)) -> str:
        """A development holder token (refused unless development tokens are accepted)."""
        if not self._settings.accepts_dev_holder_tokens:
            raise AuthenticationError(
                "development holder tokens are disabled",
                hint="set ZHENGYIN_HOLDER_DEV_TOKENS=true (never in production)",
            )
        holder = normalise_holder(holder_kind, holder_code, today=at.date())
        identity = self._dev_identity(services, create=True)
        assert identity is not None
        serial = identity[0]
        handle = services.pki.identity(DEV_PURPOSE).key_handle
        settings = self._settings
        claims = {
            "iss": self.dev_issuer, "aud": settings.holder_audience,
            "sub": f"dev:{holder.code}", "iat": int(at.timestamp()),
            "exp": int((at + ttl).timestamp()),
            settings.holder_code_claim: holder.code,
            settings.holder_kind_claim: holder.kind.value,
        }
        return sign_compact(self._keys, handle, claims, kid=serial)

    def verify(self, services: PKIUnit, token: str) -> HolderIdentity:
        """The holder a token names; any defect is one 401 without detail."""
        invalid = AuthenticationError("invalid holder token",
                                      hint="sign in again to get a new token")
        settings = self._settings
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise invalid from None
        issuer = unverified.get("iss")
        key: Any
        if settings.accepts_dev_holder_tokens and issuer == self.dev_issuer:
            identity = self._dev_identity(services, create=False)
            if identity is None:
                raise invalid
            key = identity[1]
        elif self._jwks is not None and issuer == settings.holder_issuer:
            try:
                key = self._jwks.get_signing_key_from_jwt(token).key
            except jwt.PyJWTError:
                raise invalid from None
        else:
            raise invalid
        try:
            claims = jwt.decode(token, key=key, algorithms=_ALGORITHMS,
                                audience=settings.holder_audience, issuer=issuer,
                                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
                                leeway=30)
            kind = HolderKind(claims.get(settings.holder_kind_claim, "citizen-id"))
            holder = normalise_holder(kind, str(claims[settings.holder_code_claim]))
        except (jwt.PyJWTError, KeyError, ValueError, InvalidHolderCodeError):
            raise invalid from None
        return HolderIdentity(holder.code, holder.kind, str(claims["sub"]))
