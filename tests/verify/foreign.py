"""Documents sealed elsewhere: another authority's PKI, a form to fill, and a signer
that can break CAdES on purpose.

The authority is declared here as data (a root, one signer certificate, an empty CRL
embedded in the document's DSS so revocation is decided), outside this service's PKI;
tests trust its root as an external trust anchor. Its signatures are made with pyHanko
directly, as any other signing product would make them.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, cast

from asn1crypto import cms
from asn1crypto import crl as asn1_crl
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.fields import MDPPerm, SigFieldSpec, SigSeedSubFilter, SigSeedValueSpec
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

__all__ = ["FIELD", "ForeignPKI", "fill_text_field", "form_pdf", "with_seed_values"]

FIELD = "applicant"
"""The text field of :func:`form_pdf`, on page 1."""
FIELD_BOX = (72, 700, 300, 724)
Tamper = Callable[[cms.CMSAttributes], cms.CMSAttributes]


def _der(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.DER)


@dataclass(frozen=True)
class ForeignPKI:
    """Another authority: a root, a signer under it, the root's (empty) CRL."""

    root_key: ec.EllipticCurvePrivateKey
    root: x509.Certificate
    signer_key: ec.EllipticCurvePrivateKey
    signer_certificate: x509.Certificate
    crl: x509.CertificateRevocationList

    @classmethod
    def create(cls, *, name: str = "Other Authority", policy: str | None = None
               ) -> ForeignPKI:
        """A fresh authority; ``policy`` puts a certificate policy OID in the signer's
        certificate."""
        now = datetime.now(UTC)
        root_key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name.from_rfc4514_string(f"CN={name} Root,O={name},C=CN")
        root = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                .public_key(root_key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - timedelta(days=1))
                .not_valid_after(now + timedelta(days=90))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(False, False, False, False, False, True, True,
                                             False, False), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(
                    root_key.public_key()), critical=False)
                .sign(root_key, hashes.SHA256()))
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name.from_rfc4514_string(f"CN={name} Signer,O={name}"))
                   .issuer_name(subject).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - timedelta(hours=1))
                   .not_valid_after(now + timedelta(days=30))
                   .add_extension(x509.KeyUsage(True, True, False, False, False, False, False,
                                                False, False), critical=True)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                       root_key.public_key()), critical=False))
        if policy is not None:
            builder = builder.add_extension(x509.CertificatePolicies([
                x509.PolicyInformation(x509.ObjectIdentifier(policy), None)]), critical=False)
        signer = builder.sign(root_key, hashes.SHA256())
        revocations = (x509.CertificateRevocationListBuilder().issuer_name(subject)
                       .last_update(now - timedelta(minutes=5))
                       .next_update(now + timedelta(days=7))
                       .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                           root_key.public_key()), critical=False)
                       .add_extension(x509.CRLNumber(1), critical=False)
                       .sign(root_key, hashes.SHA256()))
        return cls(root_key, root, key, signer, revocations)

    def root_asn1(self) -> asn1_x509.Certificate:
        """The root, as pyHanko takes certificates."""
        return asn1_x509.Certificate.load(_der(self.root))

    def signer_asn1(self) -> asn1_x509.Certificate:
        """The signer's certificate, as pyHanko takes certificates."""
        return asn1_x509.Certificate.load(_der(self.signer_certificate))

    @property
    def root_pem(self) -> bytes:
        """The root, to add as an external trust anchor."""
        return self.root.public_bytes(serialization.Encoding.PEM)

    def signer(self, tamper: Tamper | None = None) -> signers.SimpleSigner:
        """pyHanko's signer with this authority's certificate; ``tamper`` rewrites the
        signed attributes before they are signed (the signature still verifies)."""
        der = serialization.Encoding.DER
        arguments: dict[str, Any] = {
            "signing_cert": asn1_x509.Certificate.load(_der(self.signer_certificate)),
            "signing_key": asn1_keys.PrivateKeyInfo.load(self.signer_key.private_bytes(
                der, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())),
            "cert_registry": SimpleCertificateStore.from_certs(  # type: ignore[no-untyped-call]
                [asn1_x509.Certificate.load(_der(self.root))]),
        }
        if tamper is None:
            return signers.SimpleSigner(**arguments)
        return _TamperingSigner(tamper, **arguments)

    def context(self) -> ValidationContext:
        """Trusts the root and knows its CRL (embedded in the document's DSS)."""
        return ValidationContext(
            trust_roots=[asn1_x509.Certificate.load(_der(self.root))], allow_fetching=False,
            crls=[asn1_crl.CertificateList.load(self.crl.public_bytes(
                serialization.Encoding.DER))])

    def sign(self, pdf: bytes, *, field: str = "Foreign", certify: MDPPerm | None = None,
             box: tuple[int, int, int, int] | None = None, tamper: Tamper | None = None,
             md_algorithm: str = "sha256", ignore_seed_values: bool = False) -> bytes:
        """Sign ``pdf`` (B-B, revocation data in the DSS) in ``field``, created when
        missing (visible at ``box`` on page 1), certifying with ``certify`` if given."""
        meta = signers.PdfSignatureMetadata(
            field_name=field, subfilter=SigSeedSubFilter.PADES, embed_validation_info=True,
            validation_context=self.context(), certify=certify is not None,
            docmdp_permissions=certify or MDPPerm.FILL_FORMS, md_algorithm=md_algorithm)
        spec = SigFieldSpec(field, on_page=0, box=box) if box else SigFieldSpec(field)
        pdf_signer = signers.PdfSigner(meta, self.signer(tamper), new_field_spec=spec)
        if ignore_seed_values:
            pdf_signer._ignore_sv = True  # the signing product ignores the field's /SV
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
        return cast(io.BytesIO, pdf_signer.sign_pdf(writer)).getvalue()


class _TamperingSigner(signers.SimpleSigner):
    def __init__(self, tamper: Tamper, **arguments: Any) -> None:
        super().__init__(**arguments)
        self._tamper = tamper

    async def signed_attrs(self, *args: Any, **kwargs: Any) -> cms.CMSAttributes:
        attributes = await super().signed_attrs(*args, **kwargs)
        return self._tamper(attributes)


def _number(value: int) -> generic.PdfObject:
    return generic.NumberObject(value)  # type: ignore[no-untyped-call]


def _appearance(writer: Any, text: str) -> Any:
    font = generic.DictionaryObject({  # type: ignore[no-untyped-call]
        pdf_name("/Type"): pdf_name("/Font"), pdf_name("/Subtype"): pdf_name("/Type1"),
        pdf_name("/BaseFont"): pdf_name("/Helvetica")})
    width, height = FIELD_BOX[2] - FIELD_BOX[0], FIELD_BOX[3] - FIELD_BOX[1]
    stream = generic.StreamObject({
        pdf_name("/Type"): pdf_name("/XObject"), pdf_name("/Subtype"): pdf_name("/Form"),
        pdf_name("/BBox"): generic.ArrayObject([_number(0), _number(0), _number(width),
                                                _number(height)]),
        pdf_name("/Resources"): generic.DictionaryObject({  # type: ignore[no-untyped-call]
            pdf_name("/Font"): generic.DictionaryObject({  # type: ignore[no-untyped-call]
                pdf_name("/Helv"): writer.add_object(font)})}),
    }, stream_data=f"/Tx BMC BT /Helv 12 Tf 2 7 Td ({text}) Tj ET EMC".encode("latin-1"))
    return writer.add_object(stream)


@cache
def form_pdf() -> bytes:
    """A one-page approval with an applicant text field (filled "Zhang San") on page 1."""
    from ..signing.documents import approval_pdf

    writer = IncrementalPdfFileWriter(io.BytesIO(approval_pdf(1)))
    page = writer.root["/Pages"]["/Kids"].raw_get(0)
    widget = generic.DictionaryObject({  # type: ignore[no-untyped-call]
        pdf_name("/Type"): pdf_name("/Annot"), pdf_name("/Subtype"): pdf_name("/Widget"),
        pdf_name("/FT"): pdf_name("/Tx"), pdf_name("/T"): generic.TextStringObject(FIELD),
        pdf_name("/V"): generic.TextStringObject("Zhang San"),
        pdf_name("/DA"): generic.TextStringObject("/Helv 12 Tf 0 g"),
        pdf_name("/Rect"): generic.ArrayObject([_number(value) for value in FIELD_BOX]),
        pdf_name("/F"): _number(4), pdf_name("/P"): page,
        pdf_name("/AP"): generic.DictionaryObject({  # type: ignore[no-untyped-call]
            pdf_name("/N"): _appearance(writer, "Zhang San")}),
    })
    reference = writer.add_object(widget)
    writer.register_annotation(page, reference)  # type: ignore[no-untyped-call]
    writer.root[pdf_name("/AcroForm")] = writer.add_object(
        generic.DictionaryObject({  # type: ignore[no-untyped-call]
            pdf_name("/Fields"): generic.ArrayObject([reference])}))
    writer.update_root()  # type: ignore[no-untyped-call]
    out = io.BytesIO()
    writer.write(out)  # type: ignore[no-untyped-call]
    # One revision, as a document arrives for sealing (pikepdf rewrites it whole).
    import pikepdf

    with pikepdf.open(io.BytesIO(out.getvalue())) as document:
        flat = io.BytesIO()
        document.save(flat)
        return flat.getvalue()


def fill_text_field(pdf: bytes, value: str = "Li Si", field: str = FIELD) -> bytes:
    """What a form filler appends: the field's value and appearance, nothing else."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    for reference in writer.root["/AcroForm"]["/Fields"]:
        target = reference.get_object()
        if target.get("/T") == field:
            target[pdf_name("/V")] = generic.TextStringObject(value)
            target[pdf_name("/AP")] = generic.DictionaryObject({  # type: ignore[no-untyped-call]
                pdf_name("/N"): _appearance(writer, value)})
            writer.mark_update(reference)
            out = io.BytesIO()
            writer.write(out)  # type: ignore[no-untyped-call]
            return out.getvalue()
    raise LookupError(f"no field {field!r}")


def with_seed_values(spec: SigSeedValueSpec, *, policies: tuple[str, ...] = (),
                     field: str = "Sealed") -> bytes:
    """:func:`form_pdf` with an empty signature field whose /SV is ``spec``; ``policies``
    adds a required /Cert /OID entry (certificate policies, which pyHanko does not
    write)."""
    from pyhanko.sign.fields import SigCertConstraints, append_signature_field

    writer = IncrementalPdfFileWriter(io.BytesIO(form_pdf()))
    if policies and spec.cert is None:
        spec = replace(spec, cert=SigCertConstraints())
    append_signature_field(writer, SigFieldSpec(field, seed_value_dict=spec))
    if policies:
        for reference in writer.root["/AcroForm"]["/Fields"]:
            target = reference.get_object()
            if target.get("/T") != field:
                continue
            constraints = target["/SV"]["/Cert"]
            constraints[pdf_name("/OID")] = generic.ArrayObject(
                [generic.ByteStringObject(oid.encode()) for oid in policies])
            flags = int(constraints.get("/Ff", 0))
            constraints[pdf_name("/Ff")] = _number(flags | 4)  # ISO 32000-1 Table 235: OID
    out = io.BytesIO()
    writer.write(out)  # type: ignore[no-untyped-call]
    return out.getvalue()
