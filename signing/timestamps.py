"""RFC 3161 time-stamp tokens for signatures: from our own TSA in-process, or external.

Every signing path (born-sealed licences, pyHanko stamping) asks a :class:`TimeStampClient`.
The local client calls the service's TSA object directly (no HTTP); the HTTP client talks
to an external TSA (``ZHENGYIN_TSA_URL``) and checks what it gets back.
"""

from __future__ import annotations

import abc
import hashlib
import secrets

import httpx
from asn1crypto import algos, cms, tsp
from pyhanko.sign.timestamps.api import TimeStamper

from zhengyin.trust.tsa import TimeStampAuthority

from .errors import SigningError

__all__ = [
    "HTTPTimeStampClient",
    "LocalTimeStampClient",
    "PyHankoTimeStamper",
    "TimeStampClient",
    "TimeStampUnavailableError",
]


class TimeStampUnavailableError(SigningError):
    """The TSA did not grant a usable token; nothing is signed at B-T or above."""

    code = "tsa.unavailable"


class TimeStampClient(abc.ABC):
    """Obtains time-stamp tokens."""

    @abc.abstractmethod
    def respond(self, request_der: bytes) -> bytes:
        """A DER TimeStampResp for a DER TimeStampReq."""

    def token(self, digest: bytes, *, algorithm: str = "sha256") -> bytes:
        """A DER TimeStampToken (ContentInfo) over ``digest``, checked against the request."""
        nonce = secrets.randbits(63)
        request = tsp.TimeStampReq({
            "version": "v1",
            "message_imprint": {
                "hash_algorithm": algos.DigestAlgorithm({"algorithm": algorithm}),
                "hashed_message": digest,
            },
            "nonce": nonce,
            "cert_req": True,
        })
        response = tsp.TimeStampResp.load(self.respond(request.dump()))
        status = response["status"]["status"].native
        if status not in ("granted", "granted_with_mods"):
            text = response["status"]["status_string"].native or []
            raise TimeStampUnavailableError(
                f"the TSA refused the request ({status}: {'; '.join(text) or 'no reason'})"
            )
        token: cms.ContentInfo = response["time_stamp_token"]
        info = tsp.TSTInfo.load(token["content"]["encap_content_info"]["content"].parsed.dump())
        if info["message_imprint"]["hashed_message"].native != digest or \
                info["nonce"].native != nonce:
            raise TimeStampUnavailableError("the TSA's token does not match the request")
        return bytes(token.dump())


class LocalTimeStampClient(TimeStampClient):
    """The service's own TSA, called in-process."""

    def __init__(self, authority: TimeStampAuthority) -> None:
        self.authority = authority

    def respond(self, request_der: bytes) -> bytes:
        return self.authority.respond(request_der)

    def token(self, digest: bytes, *, algorithm: str = "sha256") -> bytes:
        # In-process, the token cannot be tampered with in transit: skip the round trip.
        return self.authority.token_der(digest, algorithm=algorithm)


class HTTPTimeStampClient(TimeStampClient):
    """An external RFC 3161 TSA over HTTP(S), with a persistent connection."""

    def __init__(self, url: str, *, timeout: float = 10.0,
                 headers: dict[str, str] | None = None) -> None:
        self.url = url
        self._client = httpx.Client(timeout=timeout, headers=headers or {})

    def respond(self, request_der: bytes) -> bytes:
        try:
            reply = self._client.post(
                self.url, content=request_der,
                headers={"Content-Type": "application/timestamp-query"},
            )
        except httpx.HTTPError as exc:
            raise TimeStampUnavailableError(
                f"the TSA at {self.url} cannot be reached: {type(exc).__name__}"
            ) from None
        if reply.status_code != 200 or not reply.headers.get("content-type", "").startswith(
            "application/timestamp-reply"
        ):
            raise TimeStampUnavailableError(
                f"the TSA at {self.url} answered HTTP {reply.status_code}"
            )
        return reply.content


class PyHankoTimeStamper(TimeStamper):
    """pyHanko's TimeStamper interface over a :class:`TimeStampClient`."""

    def __init__(self, client: TimeStampClient) -> None:
        super().__init__(include_nonce=True)  # type: ignore[no-untyped-call]
        self.client = client

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        # Parsed from bytes, as an HTTP client would: asn1crypto objects built in code
        # re-encode themselves on every dump (see trust/_asn1fix.py).
        return tsp.TimeStampResp.load(self.client.respond(req.dump()))


def digest_of(data: bytes, algorithm: str = "sha256") -> bytes:
    """Convenience: the digest a signature time-stamp covers."""
    return hashlib.new(algorithm, data).digest()

