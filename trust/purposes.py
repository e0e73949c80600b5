"""What each service identity signs, and the extended key usage that says so.

A service identity (``registry``, ``trustlist``, ``audit`` …) is a key with a certificate
from our issuing CA. Each kind of thing it signs is a :class:`SigningPurpose` with its own
extended key usage (RFC 5280 §4.2.1.12), so a verifier holding only our root can tell a
receipt signer from the audit identity or a seal: the EKU is what binds a certificate to
a purpose. The trust list also pins, per purpose, the certificates that sign it.

No standard EKU fits (RFC 9336 ``id-kp-documentSigning`` would admit every seal; ETSI TS
119 612's ``id-tsl-kp-tslSigning`` names signers of ETSI trusted lists, which ours is
not), so the OIDs sit under a private arc formed from a UUID (ITU-T X.667 | ISO/IEC
9834-8: ``2.25.<the UUID as one integer>`` belongs to whoever generated the UUID, with no
registration)::

    id-zhengyin ::= { joint-iso-itu-t(2) uuid(25) 55402989631700767879896234296009690260 }
                    -- UUID 29ae3a48-d853-4845-a542-bb0b16ea0c94
    id-zy-kp    ::= { id-zhengyin 1 }      -- key purposes
    id-zy-kp-receiptSigning        ::= { id-zy-kp 1 }
    id-zy-kp-displayCodeSigning    ::= { id-zy-kp 2 }
    id-zy-kp-trustListSigning      ::= { id-zy-kp 3 }
    id-zy-kp-statusListSigning     ::= { id-zy-kp 4 }
    id-zy-kp-auditCheckpointSigning ::= { id-zy-kp 5 }
    id-zy-kp-holderTokenSigning    ::= { id-zy-kp 6 }

A new purpose is one line below (and an identity that lacks its EKU is re-issued on
start-up: :mod:`zhengyin.trust.identities`).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AUDIT_CHECKPOINT",
    "DISPLAY_CODE",
    "HOLDER_TOKEN",
    "PURPOSES",
    "RECEIPT",
    "REGISTRY_IDENTITY",
    "STATUS_LIST",
    "TRUSTLIST_IDENTITY",
    "TRUST_LIST",
    "ZHENGYIN_ARC",
    "SigningPurpose",
    "ekus_of_identity",
    "purpose_named",
]

ZHENGYIN_ARC = "2.25.55402989631700767879896234296009690260"
_KP = f"{ZHENGYIN_ARC}.1"

# The service identities (keys in service_identities) that sign tokens.
REGISTRY_IDENTITY = "registry"
TRUSTLIST_IDENTITY = "trustlist"


@dataclass(frozen=True)
class SigningPurpose:
    """One kind of thing a service identity signs.

    ``typ`` is the JOSE ``typ`` of its tokens, which verifiers check by certificate path
    (empty: verified otherwise). ``short_lived`` tokens
    (display codes, lists with a next update) must come from a certificate valid now as
    well as when they were signed. ``legacy``: the identity's certificates from before
    EKUs existed still verify these tokens when pinned (receipts are archived evidence).
    """

    name: str
    eku: str
    identity: str
    typ: str = ""
    short_lived: bool = False
    legacy: bool = False

    @property
    def signer(self) -> str:
        """How errors name its signer: "a receipt signer"."""
        return f"{self.name.replace('-', ' ')} signer"


RECEIPT = SigningPurpose("receipt", f"{_KP}.1", REGISTRY_IDENTITY, "zhengyin-receipt+jwt",
                         legacy=True)
DISPLAY_CODE = SigningPurpose("display-code", f"{_KP}.2", REGISTRY_IDENTITY, "zy-display",
                              short_lived=True, legacy=True)
TRUST_LIST = SigningPurpose("trust-list", f"{_KP}.3", TRUSTLIST_IDENTITY,
                            "zhengyin-trust-list+jwt", short_lived=True)
# IETF draft-ietf-oauth-status-list §5.1: a Status List Token's typ is statuslist+jwt.
STATUS_LIST = SigningPurpose("status-list", f"{_KP}.4", REGISTRY_IDENTITY, "statuslist+jwt",
                             short_lived=True)
AUDIT_CHECKPOINT = SigningPurpose("audit-checkpoint", f"{_KP}.5", "audit")
# Verified by the public key the development identity provider publishes, not by a path.
HOLDER_TOKEN = SigningPurpose("holder-token", f"{_KP}.6", "holder-tokens")

PURPOSES: tuple[SigningPurpose, ...] = (RECEIPT, DISPLAY_CODE, TRUST_LIST, STATUS_LIST,
                                        AUDIT_CHECKPOINT, HOLDER_TOKEN)


def ekus_of_identity(identity: str) -> tuple[str, ...]:
    """The EKUs a service identity's certificate carries: one per purpose it signs."""
    return tuple(purpose.eku for purpose in PURPOSES if purpose.identity == identity)


def purpose_named(name: str) -> SigningPurpose:
    """The purpose called ``name`` (as the trust list's ``service_pins`` keys it)."""
    for purpose in PURPOSES:
        if purpose.name == name:
            return purpose
    raise KeyError(name)
