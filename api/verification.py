"""Verification wiring: trust material, sealed reports, the trust list and QR payloads.

The logic lives in ``zhengyin.trust.validation``; this module only gives it what a running
service has: the current trust material (re-collected when a certificate is revoked or an
anchor changes, and at least every few minutes, so a revocation is seen at once), warm
in-process examiners, the platform seal that certifies PDF reports, the signed trust
list (cached briefly), and the reader of scanned QR payloads. (Reports shown on the
public page are kept in the database: api/keptreports.py.)
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from sqlalchemy import text
from sqlalchemy.orm import Session

from zhengyin.core.clock import beijing_time, utcnow
from zhengyin.core.jose import JWSError
from zhengyin.keys import KeyStore
from zhengyin.registry.platform import platform_seal
from zhengyin.registry.receipts import ServiceSigner, verify_display
from zhengyin.signing.pdf.fontsubset import FontSource
from zhengyin.signing.pdf.reportpdf import render_report
from zhengyin.signing.pdf.signers import SealSigners
from zhengyin.signing.sealdirectory import RegistrySealDirectory
from zhengyin.signing.seals import SealService
from zhengyin.trust.crl import CRLPublisher
from zhengyin.trust.identities import SYSTEM_ACTOR, ServiceIdentities
from zhengyin.trust.jws import SignerTrust
from zhengyin.trust.pki import PKI
from zhengyin.trust.purposes import TRUSTLIST_IDENTITY
from zhengyin.trust.trustlist import sign_trust_list, trust_list_payload
from zhengyin.trust.validation import (
    CheckFailedError,
    QRClaim,
    Reason,
    SubIndication,
    UnsupportedPayloadError,
    VerificationReport,
)
from zhengyin.trust.validation.material import TrustMaterial, collect_material

from .ratelimit import RateLimiter
from .settings import Settings

if TYPE_CHECKING:
    from zhengyin.trust.validation.examine import Examiner
    from zhengyin.trust.validation.policy import ExaminationLimits

__all__ = ["LicenceQRReader", "VerificationCaches", "VerificationUnit"]

_MATERIAL_MAX_AGE = 300.0
_TRUST_LIST_MAX_AGE = 300.0
TRUST_LIST_PURPOSE = TRUSTLIST_IDENTITY


class VerificationUnit(Protocol):
    """A unit of work as verification needs it (api/runtime.py Services)."""

    @property
    def session(self) -> Session:
        """The unit's session."""
        ...

    @property
    def pki(self) -> PKI:
        """Certificate authorities."""
        ...

    @property
    def crl(self) -> CRLPublisher:
        """CRL publication (a stale CRL is re-signed when the material is collected)."""
        ...

    @property
    def seals(self) -> SealService:
        """The seal registry (the platform seal of reports)."""
        ...

    @property
    def identities(self) -> ServiceIdentities:
        """The service identities (the trust list's signer, pins)."""
        ...

    def writing_unit(self) -> AbstractContextManager[VerificationUnit]:
        """This unit when it may write, else a short one of its own."""
        ...

    def registry_signer(self) -> ServiceSigner:
        """The registry's signer (the trust list names its certificates)."""
        ...


class VerificationCaches:
    """What verification keeps per process.

    ``seal_signers`` is the licence sealer's per-seal cache (reports are sealed by the
    same rule); ``report_font`` gives the parsed font on a report's first use.
    """

    def __init__(self, settings: Settings, keystore: KeyStore, *, limits: ExaminationLimits,
                 seal_signers: SealSigners, report_font: Callable[[], FontSource]) -> None:
        self._settings = settings
        self._keys = keystore
        self._limits = limits
        self._seal_signers = seal_signers
        self._report_font = report_font
        self._lock = threading.Lock()
        self._material: TrustMaterial | None = None
        self._material_key: Any = None
        self._material_at = 0.0
        self._examiners: dict[str, Examiner] = {}
        self._trust_list: tuple[float, Any, str] | None = None
        per_minute = settings.public_verify_per_minute
        self.public_limiter = RateLimiter(per_minute, burst=max(3, per_minute // 2))
        """Per client IP, for the public page's uploads and licence lookups."""

    # ------------------------------------------------------------------ material

    @staticmethod
    def _state(services: VerificationUnit) -> Any:
        """A cheap fingerprint of what the material depends on, in one round trip over
        small tables: a revocation marks its CA's CRL state stale and a re-signed CRL
        bumps its number; anchors are added or removed; a CA is re-keyed."""
        row = services.session.execute(text(
            "SELECT (SELECT COALESCE(SUM(crl_number), 0) FROM crl_state),"
            " (SELECT COUNT(*) FROM crl_state WHERE stale),"
            " (SELECT COUNT(*) FROM trust_anchors),"
            " (SELECT MAX(added_at) FROM trust_anchors),"
            " (SELECT MAX(removed_at) FROM trust_anchors),"
            " (SELECT MAX(certificate_id) FROM service_identities"
            "  WHERE purpose IN ('root', 'issuing'))")).one()
        return tuple(row)

    def material(self, services: VerificationUnit) -> TrustMaterial:
        """The current trust material; re-collected when the state changed or it aged."""
        key = self._state(services)
        now = time.monotonic()
        with self._lock:
            if self._material is not None and key == self._material_key \
                    and now - self._material_at < _MATERIAL_MAX_AGE:
                return self._material
        # A stale CRL is re-signed and saved: in the caller's unit of work if it writes,
        # else in a short one of its own.
        with services.writing_unit() as own:
            material = collect_material(own.session, own.pki, own.crl, at=utcnow())
        with self._lock:
            self._material, self._material_key, self._material_at = material, key, now
        return material

    def in_process_examiner(self, material: TrustMaterial) -> Examiner:
        """An examiner in this process (verify_in_process, the CLI)."""
        # Loaded on first use: servers examine in worker processes and never need it here.
        from zhengyin.trust.validation.examine import Examiner

        with self._lock:
            examiner = self._examiners.get(material.fingerprint)
            if examiner is None:
                self._examiners.clear()
                examiner = self._examiners[material.fingerprint] = Examiner(
                    material, self._limits)
            return examiner

    # ------------------------------------------------------------------ reports

    def report_pdf(self, services: VerificationUnit, report: VerificationReport, *,
                   at: datetime) -> bytes:
        """The report as a PDF certified with the platform's seal (B-T).

        Its signer comes from the licence sealer's per-seal cache: one chain rule for both.
        """
        settings = self._settings
        seal = platform_seal(services.session, services.seals, org_name=settings.platform_name,
                             credit_code=settings.platform_credit_code, at=at,
                             create=settings.is_development)
        signer = self._seal_signers.of(services.session, seal.id,
                                           seal.certificate.serial_hex)
        report_id = f"ZY-{at:%Y%m%d%H%M%S}-{secrets.token_hex(4).upper()}"
        return render_report(report, font=self._report_font(), seal=signer.appearance,
                             signer=signer.cms, at=at, report_id=report_id)

    # ------------------------------------------------------------------ trust list

    def trust_list(self, services: VerificationUnit) -> str:
        """The signed trust list (re-signed when the material changed, else every 5 min)."""
        material = self.material(services)
        now = time.monotonic()
        with self._lock:
            cached = self._trust_list
            if cached is not None and cached[1] == material.fingerprint \
                    and now - cached[0] < _TRUST_LIST_MAX_AGE:
                return cached[2]
        at = utcnow()
        with services.writing_unit() as own:
            key = own.identities.ensure_chain(TRUST_LIST_PURPOSE, at=at, actor=SYSTEM_ACTOR,
                                              label="Trust List")
            seals = RegistrySealDirectory(own.session).listed_seals()
            services_chains = {"registry": list(own.registry_signer().chain_der),
                               TRUST_LIST_PURPOSE: list(key.chain_der)}
            pins = own.identities.pins()
        payload = trust_list_payload(material, seals, issuer=self._settings.public_base_url,
                                     at=at, lifetime=timedelta(hours=12),
                                     service_certificates=services_chains, service_pins=pins)
        token = sign_trust_list(payload, self._keys, key.key_handle, kid=key.serial_hex,
                                chain_der=list(key.chain_der))
        with self._lock:
            self._trust_list = (now, material.fingerprint, token)
        return token


_IDENTIFIER = re.compile(r"^1\.2\.156\.3005\.2\.[0-9A-Z.]{20,120}$")


class LicenceQRReader:
    """Reads what our QR codes carry: a licence's verification URL, or a display code.

    * ``{public_base_url}/v/{identifier}`` (printed on licences) or a bare identifier;
    * ``{public_base_url}/v/q?t=<token>`` or the bare token: a holder's display code
      (issue 5), a JWS verified against our root.

    A URL on another host is refused: a QR code that sends people elsewhere is not ours.
    """

    def __init__(self, base_url: str, signer_trust: Callable[[], SignerTrust]) -> None:
        self._base_url = base_url
        self._signer_trust = signer_trust

    def read(self, payload: str, *, at: datetime) -> QRClaim:
        """The licence the payload names, or UnsupportedPayloadError."""
        text = payload.strip()
        if _IDENTIFIER.match(text.upper()):
            return QRClaim(text.upper(), Reason("qr.identifier", f"二维码内容为电子证照标识 {text}",
                                                f"the QR code holds licence identifier {text}"))
        token = text
        if text.startswith(("http://", "https://")):
            parts = urlsplit(text)
            ours = urlsplit(self._base_url)
            if parts.netloc.lower() != ours.netloc.lower():
                raise UnsupportedPayloadError(
                    f"the QR code points to another site ({parts.netloc})",
                    hint="only QR codes of this service can be verified here")
            path = unquote(parts.path)
            base_path = ours.path.rstrip("/")
            if path.startswith(base_path + "/v/q"):
                token = (parse_qs(parts.query).get("t") or [""])[0]
            elif path.startswith(base_path + "/v/"):
                identifier = path[len(base_path) + 3:].strip("/")
                if _IDENTIFIER.match(identifier.upper()):
                    return QRClaim(identifier.upper(), Reason(
                        "qr.licence_url", f"二维码为本平台电子证照 {identifier} 的核验地址",
                        f"the QR code is this service's verification address of licence "
                        f"{identifier}"))
                raise UnsupportedPayloadError("the QR code's address names no licence")
            else:
                raise UnsupportedPayloadError("the QR code's address is not a verification "
                                              "address of this service")
        if token.count(".") == 2:
            return self._display(token, at)
        raise UnsupportedPayloadError("the QR code's content is not a format this service "
                                      "issues", hint="scan the licence's QR code itself")

    def _display(self, token: str, at: datetime) -> QRClaim:
        # The pages package (templates) is loaded on first use: ~0.3 s a process start
        # would pay for a display code it may never read.
        from .pages.statuses import display_code_problem

        try:
            claims = verify_display(token, self._signer_trust(), now=at)
        except JWSError as exc:
            raise CheckFailedError(SubIndication.SIG_CRYPTO_FAILURE, Reason(
                "qr.display_invalid", display_code_problem(exc),
                f"the display code is not valid: {exc.message}")) from None
        issued = datetime.fromtimestamp(int(claims["iat"]), tz=UTC)
        expires = datetime.fromtimestamp(int(claims["exp"]), tz=UTC)
        return QRClaim(str(claims["id"]), Reason(
            "qr.display_code",
            f"亮证码签名有效，签发于 {beijing_time(issued)}，亮证码有效至 {beijing_time(expires)}",
            f"the display code is signed by this registry, issued {issued:%Y-%m-%d %H:%M:%S} "
            f"UTC; the code (not the licence) is valid until {expires:%H:%M:%S} UTC"))
