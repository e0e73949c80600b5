"""Audit checkpoints exported off-site, one self-verifying JSON line each.

Anyone who can write the database can delete the newest entries together with their
checkpoints and fix the head row: what is left is a shorter log that verifies. A copy of
the signed checkpoints kept elsewhere (``zhengyin audit checkpoint export``) proves how
far the log reached; ``zhengyin audit verify --against FILE`` holds the database to it.

A line (version 1)::

    {"type": "zhengyin.audit-checkpoint", "v": 1, "seq": 2000, "hash": "<hex>",
     "at": "2026-12-05T08:00:00.123456+00:00", "every": 1000, "prev": 1000,
     "kid": "<serial hex>", "signature": "<base64>",
     "x5c": ["<base64 DER leaf>", "<base64 DER issuing CA>"]}

``signature`` is the audit identity's signature over
:func:`zhengyin.core.auditformat.checkpoint_message` of ``seq``, ``hash``, ``at``, ``every`` and
``prev`` (both null: a version 1 checkpoint, signed before they were). ``x5c`` is the
signer's certificate chain without the root (RFC 7515 §4.1.6 encoding), ``kid`` the
leaf's serial. Each line verifies against the root: the chain by the token signers' path
validation (:func:`zhengyin.trust.signerpaths.validate_signer_path`) at the checkpoint's time, for
the audit-checkpoint purpose (its EKU, :data:`zhengyin.trust.purposes.AUDIT_CHECKPOINT`), then the
signature with the leaf's key. Checkpoints signed before the audit identity carried that
EKU name a certificate without any: such a line counts only when the same file holds a
line whose certificate, for the same key, does carry it (the identity is re-issued for its
key, :mod:`zhengyin.trust.identities`, and an export signs the tip with the current certificate), so
no other certificate of our CA (a seal's, say) can vouch for a checkpoint.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhengyin.core.auditformat import checkpoint_message, iso
from zhengyin.core.errors import AuditExportError
from zhengyin.core.models import AuditCheckpoint
from zhengyin.keys import PublicKey

from .purposes import AUDIT_CHECKPOINT
from .signerpaths import SignerPathError, SignerTrust, validate_signer_path

__all__ = ["EXPORT_TYPE", "ExportedCheckpoint", "export_lines", "read_export", "verify_signature"]

EXPORT_TYPE = "zhengyin.audit-checkpoint"
EXPORT_VERSION = 1
_KEYS = frozenset({"type", "v", "seq", "hash", "at", "every", "prev", "kid", "signature",
                   "x5c"})
_MAX_LINE = 64 * 1024


def verify_signature(key: PublicKey, signature: bytes, data: bytes) -> None:
    """Raise :class:`InvalidSignature` unless ``signature`` is ``key``'s over ``data``.

    The formats a key store produces (:class:`keys.KeyStore`): ECDSA DER with SHA-256,
    RSA PKCS#1 v1.5 with SHA-256, Ed25519. Any other key is refused, never passed.
    """
    if isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
    elif isinstance(key, rsa.RSAPublicKey):
        key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
    elif isinstance(key, ed25519.Ed25519PublicKey):
        key.verify(signature, data)
    else:
        raise InvalidSignature(f"unsupported key type {type(key).__name__}")



@dataclass(frozen=True, slots=True)
class ExportedCheckpoint:
    """A checkpoint read from an export whose signature and chain verified."""

    seq: int
    hash: str
    at: datetime
    every: int | None
    prev: int | None
    certificate_serial: str
    line: int


def _line(checkpoint: AuditCheckpoint, chain: list[bytes]) -> str:
    document = {
        "type": EXPORT_TYPE, "v": EXPORT_VERSION, "seq": checkpoint.seq,
        "hash": checkpoint.hash, "at": iso(checkpoint.at), "every": checkpoint.every,
        "prev": checkpoint.prev,
        "kid": checkpoint.certificate_serial,
        "signature": base64.b64encode(checkpoint.signature).decode("ascii"),
        "x5c": [base64.b64encode(der).decode("ascii") for der in chain],
    }
    return json.dumps(document, separators=(",", ":"), sort_keys=True)


def export_lines(session: Session, chain_of: Callable[[str], list[bytes]],
                 key_of: Callable[[str], PublicKey], *, after: int = 0,
                 batch: int = 1000) -> Iterator[str]:
    """The signed checkpoints above ``after`` as export lines, in sequence order.

    ``chain_of`` gives a certificate serial's chain (leaf first, without the root);
    ``key_of`` the key that must have signed. A checkpoint whose signature does not verify
    is refused rather than exported: the export is evidence, never a copy of a forgery.
    Read in pages, so memory does not grow with the log.
    """
    chains: dict[str, list[bytes]] = {}
    keys: dict[str, PublicKey] = {}
    while True:
        page = session.scalars(select(AuditCheckpoint).where(AuditCheckpoint.seq > after)
                               .order_by(AuditCheckpoint.seq).limit(batch)).all()
        if not page:
            return
        for checkpoint in page:
            serial = checkpoint.certificate_serial
            if serial not in chains:
                chains[serial], keys[serial] = chain_of(serial), key_of(serial)
            try:
                verify_signature(keys[serial], checkpoint.signature, checkpoint_message(
                    checkpoint.seq, checkpoint.hash, checkpoint.at, checkpoint.every,
                    checkpoint.prev))
            except InvalidSignature:
                raise AuditExportError(
                    f"audit checkpoint {checkpoint.seq}: its signature does not verify; "
                    "nothing after it was exported",
                    hint="run zhengyin audit verify") from None
            yield _line(checkpoint, chains[serial])
        after = page[-1].seq
        session.expunge_all()


class _Chains:
    """Validates ``x5c`` chains against the roots, once per distinct chain."""

    def __init__(self, roots: list[x509.Certificate]) -> None:
        if not roots:
            raise AuditExportError("no root certificate to verify the export against")
        self._trust = SignerTrust.roots_only(
            [root.public_bytes(Encoding.DER) for root in roots])
        self._valid: dict[tuple[bytes, ...], tuple[PublicKey, bytes, bool, datetime,
                                                    datetime]] = {}

    def key(self, chain: tuple[bytes, ...], at: datetime) -> tuple[PublicKey, bytes, bool]:
        """The leaf's key, its SubjectPublicKeyInfo, and whether the leaf names the
        audit-checkpoint purpose itself (else it is a legacy certificate without any
        EKU), if the chain leads to a root and was valid at ``at``."""
        known = self._valid.get(chain)
        if known is None:
            certificates = [x509.load_der_x509_certificate(der) for der in chain]
            leaf = certificates[0]
            try:
                leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
                legacy = False
            except x509.ExtensionNotFound:
                legacy = True
            try:
                path = validate_signer_path(leaf, certificates[1:], self._trust,
                                            AUDIT_CHECKPOINT, legacy=legacy, at=at,
                                            when="at the checkpoint's time")
            except SignerPathError as exc:
                raise ValueError(str(exc)) from None
            not_before = max(cert.not_valid_before_utc for cert in path)
            not_after = min(cert.not_valid_after_utc for cert in path)
            spki = leaf.public_key().public_bytes(Encoding.DER,
                                                  PublicFormat.SubjectPublicKeyInfo)
            known = (cast(PublicKey, leaf.public_key()), spki, not legacy, not_before,
                     not_after)
            self._valid[chain] = known
        key, spki, purposed, not_before, not_after = known
        if not not_before <= at <= not_after:
            raise ValueError("a certificate of the chain was not valid at the checkpoint's time")
        return key, spki, purposed


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _parse(text: str) -> dict[str, Any]:
    document = json.loads(text)
    if not isinstance(document, dict) or set(document) != _KEYS:
        raise ValueError("not an exported checkpoint")
    if document["type"] != EXPORT_TYPE or document["v"] != EXPORT_VERSION:
        raise ValueError("not an exported checkpoint of a known version")
    if not _count(document["seq"]) or document["seq"] < 1:
        raise ValueError("seq")
    for key in ("every", "prev"):
        if document[key] is not None and not _count(document[key]):
            raise ValueError(key)
    if (document["every"] is None) != (document["prev"] is None):
        raise ValueError("every and prev")
    if not isinstance(document["hash"], str) or not isinstance(document["kid"], str):
        raise ValueError("hash")
    if not isinstance(document["x5c"], list) or not document["x5c"]:
        raise ValueError("x5c")
    return document


def read_export(lines: Iterable[str], roots: list[x509.Certificate]
                ) -> Iterator[ExportedCheckpoint]:
    """Verify an export line by line and yield its checkpoints in file order.

    A line that is not a well-formed checkpoint, whose chain does not lead to one of
    ``roots`` or whose signature does not verify is :class:`AuditExportError` naming the
    line: one forged line makes the whole file unusable, as evidence must be.
    """
    chains = _Chains(roots)
    purposed_keys: set[bytes] = set()
    legacy_lines: dict[bytes, int] = {}
    for number, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text:
            continue
        try:
            if len(text) > _MAX_LINE:
                raise ValueError("line too long")
            document = _parse(text)
            at = datetime.fromisoformat(document["at"])
            if at.tzinfo is None:
                raise ValueError("at")
            chain = tuple(base64.b64decode(item, validate=True) for item in document["x5c"])
            key, spki, purposed = chains.key(chain, at)
            if purposed:
                purposed_keys.add(spki)
            else:
                legacy_lines.setdefault(spki, number)
            serial = format(x509.load_der_x509_certificate(chain[0]).serial_number, "x")
            if document["kid"] != serial:
                raise ValueError("kid")
            verify_signature(key, base64.b64decode(document["signature"], validate=True),
                             checkpoint_message(document["seq"], document["hash"], at,
                                                document["every"], document["prev"]))
        except (ValueError, TypeError, KeyError, binascii.Error, InvalidSignature,
                x509.verification.VerificationError, x509.ExtensionNotFound) as exc:
            raise AuditExportError(
                f"exported checkpoints, line {number}: does not verify (forged, altered or "
                f"not signed by this service's audit identity: {type(exc).__name__})",
                hint="use the file exactly as `zhengyin audit checkpoint export` wrote it",
            ) from None
        yield ExportedCheckpoint(seq=document["seq"], hash=document["hash"], at=at,
                                 every=document["every"], prev=document["prev"],
                                 certificate_serial=serial, line=number)
    unvouched = sorted(line for spki, line in legacy_lines.items()
                       if spki not in purposed_keys)
    if unvouched:
        raise AuditExportError(
            f"exported checkpoints, line {unvouched[0]}: signed by a certificate without the "
            "audit-checkpoint purpose whose key no audit-identity certificate in the file "
            "vouches for",
            hint="export again with `zhengyin audit checkpoint export`, which signs the tip "
                 "with the current audit identity")
