"""Stamping never breaks a seal: every stamp the service accepts leaves each earlier
signature passing our verifier, and every stamp it refuses names the signature that
forbids it (issue 14: a second seal in a new box on a document certified for co-sealing
was accepted and turned the first seal TOTAL-FAILED).

Each case starts from a document in a known state (sealed by us or signed elsewhere,
certified or not, with reserved or locked fields) and asks for one kind of stamp.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cache

import pytest
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign.fields import (
    FieldMDPAction,
    FieldMDPSpec,
    MDPPerm,
    SigFieldSpec,
    append_signature_field,
)
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner, SimpleSigner
from pyhanko_certvalidator.registry import SimpleCertificateStore

from zhengyin.signing.errors import StampNotPermittedError
from zhengyin.signing.placement import (
    BoxPlacement,
    CrossPage,
    FieldPlacement,
    InvisiblePlacement,
    Placement,
    ReservedField,
)
from zhengyin.signing.uselog import SealUseFilter
from zhengyin.trust.validation import CheckStatus, Indication

from ..signing.documents import approval_pdf
from .conftest import VerifyEnv, verify_env

__all__ = ["verify_env"]

CO_SEAL_1 = ReservedField("CoSeal1", -1, (60, 60, 179, 179))
CO_SEAL_2 = ReservedField("CoSeal2", -1, (200, 60, 319, 179))
FORM_BOX = (340, 60, 459, 179)


# ----------------------------------------------------------------------------- documents


@cache
def _foreign_signer() -> SimpleSigner:
    """A signer certified by a CA that is not ours (another province's PKI, say)."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "外省电子认证中心"),
                         x509.NameAttribute(NameOID.COMMON_NAME, "外省 CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "外省某局"),
                                     x509.NameAttribute(NameOID.COMMON_NAME, "外省某局印章")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False,
                                         False), critical=True)
            .sign(ca_key, hashes.SHA256()))
    private = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    der = serialization.Encoding.DER
    return SimpleSigner(
        signing_cert=asn1_x509.Certificate.load(leaf.public_bytes(der)),
        signing_key=asn1_keys.PrivateKeyInfo.load(private),
        cert_registry=SimpleCertificateStore.from_certs(  # type: ignore[no-untyped-call]
            [asn1_x509.Certificate.load(ca.public_bytes(der))]))


def _foreign(pdf: bytes, *, certify: bool = False, reserve: str | None = None,
             lock: FieldMDPSpec | None = None, permission: MDPPerm = MDPPerm.FILL_FORMS
             ) -> bytes:
    """``pdf`` signed elsewhere: approval or certified (P=2 unless ``permission``),
    optionally reserving a field or locking fields (the signature field's /Lock)."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    if reserve is not None:
        append_signature_field(writer, SigFieldSpec(reserve, on_page=0, box=FORM_BOX))
    spec = SigFieldSpec("Foreign1", field_mdp_spec=lock)
    metadata = PdfSignatureMetadata(field_name="Foreign1", certify=certify,
                                    docmdp_permissions=permission)
    signer = PdfSigner(metadata, _foreign_signer(), new_field_spec=spec)
    return bytes(signer.sign_pdf(writer).getvalue())


def _with_empty_field(pdf: bytes) -> bytes:
    """An unsigned form with an empty signature field, as an author's tool leaves it."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    append_signature_field(writer, SigFieldSpec("Form1", on_page=0, box=FORM_BOX))
    out = io.BytesIO()
    writer.write(out)  # type: ignore[no-untyped-call]
    return out.getvalue()


def _co_sealed_once(env: VerifyEnv) -> bytes:
    first = env.stamp(approval_pdf(2), reserve=(CO_SEAL_1, CO_SEAL_2))
    return env.stamp(first, seal=env.new_seal(), placement=Placement(FieldPlacement("CoSeal1")))


PRIORS: dict[str, Callable[[VerifyEnv], bytes]] = {
    "ours-certified-no-changes": lambda env: env.stamp(approval_pdf(2)),
    "ours-certified-for-co-sealing":
        lambda env: env.stamp(approval_pdf(2), reserve=(CO_SEAL_1, CO_SEAL_2)),
    "ours-certified-for-co-sealing-B-LTA":
        lambda env: env.stamp(approval_pdf(2), reserve=(CO_SEAL_1,), level="B-LTA"),
    "ours-co-sealed-once": _co_sealed_once,
    "ours-approval": lambda env: env.stamp(approval_pdf(2), certify=False),
    "ours-approval-over-a-form": lambda env: env.stamp(_with_empty_field(approval_pdf(2)),
                                                       certify=False),
    "foreign-approval": lambda env: _foreign(approval_pdf(2)),
    "foreign-certified-for-co-sealing":
        lambda env: _foreign(approval_pdf(2), certify=True, reserve="Form1"),
    "foreign-certified-allowing-annotations": lambda env: _foreign(
        approval_pdf(2), certify=True, reserve="Form1", permission=MDPPerm.ANNOTATE),
    "foreign-approval-locking-every-field": lambda env: _foreign(
        approval_pdf(2), lock=FieldMDPSpec(FieldMDPAction.ALL)),
    "foreign-approval-locking-Form1": lambda env: _foreign(
        approval_pdf(2), reserve="Form1",
        lock=FieldMDPSpec(FieldMDPAction.INCLUDE, fields=["Form1"])),
}

REQUESTS: dict[str, tuple[Placement, str]] = {
    "new-box": (Placement(BoxPlacement(1, (380, 300, 499, 419))), "B-T"),
    "invisible": (Placement(InvisiblePlacement()), "B-T"),
    "cross-page": (Placement(InvisiblePlacement(), CrossPage()), "B-T"),
    "fill-CoSeal1": (Placement(FieldPlacement("CoSeal1")), "B-T"),
    "fill-CoSeal1-B-LTA": (Placement(FieldPlacement("CoSeal1")), "B-LTA"),
    "fill-CoSeal2": (Placement(FieldPlacement("CoSeal2")), "B-LT"),
    "fill-Form1": (Placement(FieldPlacement("Form1")), "B-T"),
}

# (prior, request): None when the stamp is accepted, else the field of the signature that
# forbids it, the reserved fields the refusal offers instead, and why.
NO_CHANGES = "no changes allowed"
NEW_FIELD = "a new signature field would break it"
PAGE_CONTENT = "changes page content"
LOCKED = "locks the field"
CASES: dict[tuple[str, str], tuple[str, tuple[str, ...], str] | None] = {
    ("ours-certified-no-changes", "new-box"): ("first", (), NO_CHANGES),
    ("ours-certified-no-changes", "invisible"): ("first", (), NO_CHANGES),
    ("ours-certified-for-co-sealing", "new-box"): ("first", ("CoSeal1", "CoSeal2"), NEW_FIELD),
    ("ours-certified-for-co-sealing", "invisible"): ("first", ("CoSeal1", "CoSeal2"),
                                                     NEW_FIELD),
    ("ours-certified-for-co-sealing", "cross-page"): ("first", ("CoSeal1", "CoSeal2"),
                                                      PAGE_CONTENT),
    ("ours-certified-for-co-sealing", "fill-CoSeal1"): None,
    ("ours-certified-for-co-sealing-B-LTA", "fill-CoSeal1-B-LTA"): None,
    ("ours-certified-for-co-sealing-B-LTA", "new-box"): ("first", ("CoSeal1",), NEW_FIELD),
    ("ours-co-sealed-once", "fill-CoSeal2"): None,
    ("ours-co-sealed-once", "new-box"): ("first", ("CoSeal2",), NEW_FIELD),
    ("ours-approval", "new-box"): ("first", (), "final once applied"),
    ("ours-approval", "invisible"): ("first", (), "final once applied"),
    ("ours-approval-over-a-form", "fill-Form1"): None,
    ("ours-approval-over-a-form", "new-box"): ("first", ("Form1",), NEW_FIELD),
    ("foreign-approval", "new-box"): None,
    ("foreign-approval", "invisible"): None,
    ("foreign-approval", "cross-page"): ("Foreign1", (), PAGE_CONTENT),
    ("foreign-certified-for-co-sealing", "fill-Form1"): None,
    ("foreign-certified-for-co-sealing", "new-box"): ("Foreign1", ("Form1",),
                                                      "certifies the document"),
    ("foreign-certified-allowing-annotations", "new-box"): ("Foreign1", ("Form1",), NEW_FIELD),
    ("foreign-certified-allowing-annotations", "fill-Form1"): None,
    ("foreign-approval-locking-every-field", "new-box"): ("Foreign1", (), LOCKED),
    ("foreign-approval-locking-Form1", "fill-Form1"): ("Foreign1", (), LOCKED),
    ("foreign-approval-locking-Form1", "new-box"): None,
}


@pytest.fixture(scope="module")
def prior_document(verify_env: VerifyEnv) -> Callable[[str], bytes]:
    """Each starting document, made once per module."""
    made: dict[str, bytes] = {}

    def get(prior: str) -> bytes:
        if prior not in made:
            made[prior] = PRIORS[prior](verify_env)
        return made[prior]

    return get


def _uses(env: VerifyEnv, seal_id: str) -> int:
    with env.runtime.unit_of_work(readonly=True) as services:
        return len(services.seal_uses.page(SealUseFilter(seal_id=seal_id), limit=1000))


def _first_field(pdf: bytes) -> str:
    from pyhanko.pdf_utils.reader import PdfFileReader

    return str(PdfFileReader(io.BytesIO(pdf)).embedded_signatures[0].field_name)


@pytest.mark.parametrize(("prior", "request_kind"), list(CASES),
                         ids=[f"{p}+{r}" for p, r in CASES])
def test_a_stamp_is_accepted_only_when_every_earlier_signature_still_passes(
        verify_env: VerifyEnv, prior_document: Callable[[str], bytes], prior: str,
        request_kind: str) -> None:
    before = prior_document(prior)
    seal = verify_env.new_seal()
    expected = CASES[(prior, request_kind)]
    placement, level = REQUESTS[request_kind]

    if expected is not None:
        forbidding, offered, why = expected
        with pytest.raises(StampNotPermittedError) as raised:
            verify_env.stamp(before, seal=seal, placement=placement, level=level)
        error = raised.value
        assert error.code == "stamp.not_permitted"
        assert error.signature == (_first_field(before) if forbidding == "first"
                                   else forbidding)
        assert error.fields == offered
        assert why in error.message
        assert (offered[0] in (error.hint or "")) if offered else error.hint
        assert _uses(verify_env, seal.id) == 0
        return

    after = verify_env.stamp(before, seal=seal, placement=placement, level=level)
    report = verify_env.verify(after)
    seals_before = [item for item in verify_env.verify(before).signatures
                    if item.evidence.kind == "signature"]
    seals_after = [item for item in report.signatures if item.evidence.kind == "signature"]
    assert len(seals_after) == len(seals_before) + 1
    for signature in report.signatures:
        checks = {check.check: check for check in signature.checks}
        assert checks["changes"].status is CheckStatus.PASSED, checks["changes"].reason.en
        if signature.seal is not None:  # ours: every check passes
            assert signature.verdict.indication is Indication.TOTAL_PASSED, \
                [reason.en for reason in signature.verdict.reasons]
    assert seals_after[-1].seal is not None


def test_the_refused_new_box_would_have_broken_the_certifying_seal(
        verify_env: VerifyEnv, prior_document: Callable[[str], bytes]) -> None:
    # What the service did before (issue 14): the same stamp signed without the check.
    from .attacks import _CarelessSigner

    before = prior_document("ours-certified-for-co-sealing")
    forced = _CarelessSigner(PdfSignatureMetadata(field_name="Extra"), _foreign_signer(),
                             new_field_spec=SigFieldSpec("Extra", on_page=0,
                                                         box=(380, 300, 499, 419)))
    broken = bytes(forced.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(before))).getvalue())

    first = verify_env.verify(broken).signatures[0]
    assert first.verdict.indication is Indication.TOTAL_FAILED
    assert first.changes.status is CheckStatus.FAILED


@pytest.mark.parametrize("damage", ["usf_contents_zeroed", "usf_contents_removed",
                                    "usf_byterange_removed"])
def test_a_document_whose_signature_cannot_be_read_is_not_stamped(
        verify_env: VerifyEnv, prior_document: Callable[[str], bytes], damage: str) -> None:
    from zhengyin.signing.errors import BrokenPDFError

    from .attacks import ATTACKS

    damaged = ATTACKS[damage](prior_document("ours-approval"))
    seal = verify_env.new_seal()
    with pytest.raises(BrokenPDFError, match="signature that cannot be read"):
        verify_env.stamp(damaged, seal=seal, placement=REQUESTS["new-box"][0])
    assert _uses(verify_env, seal.id) == 0
