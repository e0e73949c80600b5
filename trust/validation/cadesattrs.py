"""Signed attributes a CMS signature must carry, once, for a PDF signature to be CAdES.

pyHanko reads the attributes it needs (content type, message digest, signing
certificate) and passes a signature whose other attributes are ambiguous. Two readers
of an ambiguous signature can see different signed facts: two signing-certificate
values (which certificate was meant?), two signer-attributes (which role?), a second
content-type. These rules make such a signature a FORMAT_FAILURE (ETSI EN 319 102-1
§5.2.2: the signature does not conform to its format):

1. PDF signatures are detached (ISO 32000-1 §12.8.3.3.1; RFC 5652 §5.2): no eContent.
2. With signed attributes, each attribute type appears once (RFC 5652 §11.1–11.3 for
   content-type, message-digest and signing-time; ETSI EN 319 122-1 §5.1 for the CAdES
   attributes) and the single-valued ones hold exactly one value: content-type,
   message-digest, signing-time (RFC 5652 §11), CMSAlgorithmProtection (RFC 6211 §2),
   signing-certificate and signing-certificate-v2 (RFC 2634 §5.4, RFC 5035 §3;
   ETSI EN 319 122-1 §5.2.2), signature-policy-identifier (§5.2.9), signer-attributes-v2
   (§5.2.6.1, also what pyHanko refuses), content-hints and mime-type.
3. content-type and message-digest are present, and content-type names the
   encapsulated content's type (RFC 5652 §5.3, §11.1).
4. /ETSI.CAdES.detached (PAdES, ETSI EN 319 142-1 §6.3) needs signed attributes and a
   signing-certificate-v2 (or signing-certificate) attribute (ETSI EN 319 122-1
   §5.2.2.3): it binds the signer's certificate into what was signed.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from asn1crypto import cms, core

__all__ = ["signed_attribute_problem"]

_CAdES = "/ETSI.CAdES.detached"
_SINGLE_VALUED = {
    "1.2.840.113549.1.9.3": "content-type",
    "1.2.840.113549.1.9.4": "message-digest",
    "1.2.840.113549.1.9.5": "signing-time",
    "1.2.840.113549.1.9.52": "CMSAlgorithmProtection",
    "1.2.840.113549.1.9.16.2.12": "signing-certificate",
    "1.2.840.113549.1.9.16.2.47": "signing-certificate-v2",
    "1.2.840.113549.1.9.16.2.15": "signature-policy-identifier",
    "1.2.840.113549.1.9.16.2.4": "content-hints",
    "0.4.0.19122.1.1": "signer-attributes-v2",
    "0.4.0.1733.2.1": "mime-type",
}
_SIGNING_CERTIFICATE = ("1.2.840.113549.1.9.16.2.12", "1.2.840.113549.1.9.16.2.47")


def _name(oid: str) -> str:
    return _SINGLE_VALUED.get(oid, oid)


def signed_attribute_problem(signed_data: cms.SignedData, *, subfilter: str | None
                             ) -> str | None:
    """What breaks rules 1 to 4 of the module docstring, or None."""
    content = signed_data["encap_content_info"]
    if content["content"] is not core.VOID and content["content"].native is not None:
        return ("the detached PDF signature also encapsulates content (a PDF signature "
                "signs the file's byte ranges only)")
    infos = signed_data["signer_infos"]
    if len(infos) != 1:
        return f"the signature holds {len(infos)} signer infos; a PDF signature has one"
    attributes: Any = infos[0]["signed_attrs"]
    if attributes is core.VOID or not len(attributes):
        if subfilter == _CAdES:
            return ("a CAdES signature (/ETSI.CAdES.detached) without signed attributes: "
                    "no content-type, message-digest or signing-certificate-v2 is signed")
        return None
    counts = Counter(str(attribute["type"].dotted) for attribute in attributes)
    repeated = sorted(oid for oid, count in counts.items() if count > 1)
    if repeated:
        return "signed attributes appear more than once: " + ", ".join(map(_name, repeated))
    for attribute in attributes:
        oid = str(attribute["type"].dotted)
        if oid in _SINGLE_VALUED and len(attribute["values"]) != 1:
            return (f"the signed attribute {_SINGLE_VALUED[oid]} holds "
                    f"{len(attribute['values'])} values; it must hold exactly one")
    for required in ("1.2.840.113549.1.9.3", "1.2.840.113549.1.9.4"):
        if required not in counts:
            return f"the signed attribute {_name(required)} is missing"
    declared = next(attribute["values"][0] for attribute in attributes
                    if str(attribute["type"].dotted) == "1.2.840.113549.1.9.3")
    if declared.dotted != content["content_type"].dotted:
        return (f"the signed content-type ({declared.native}) is not the encapsulated "
                f"content's type ({content['content_type'].native})")
    if subfilter == _CAdES and not any(oid in counts for oid in _SIGNING_CERTIFICATE):
        return ("a CAdES signature (/ETSI.CAdES.detached) without a signing-certificate-v2 "
                "attribute: the signer's certificate is not bound to the signature")
    return None
