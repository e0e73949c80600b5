"""KeyStoreSigner: pyHanko signs with keys that stay in the key store."""

from __future__ import annotations

from io import BytesIO

import pytest
from asn1crypto import x509
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter

from zhengyin.keys import KeyAlgorithm, KeyHandle
from zhengyin.signing.models import SealType
from zhengyin.signing.pdfsigner import KeyStoreSigner
from zhengyin.trust.models import CertificateRecord
from zhengyin.trust.pki import IssuedCertificate

from .checks import assert_pyhanko_passes, pdfsig_check
from .documents import approval_pdf
from .fixtures import StampingEnv


def _signer(stamping: StampingEnv, algorithm: KeyAlgorithm) -> KeyStoreSigner:
    seal = stamping.new_seal(SealType.CONTRACT, algorithm=algorithm)
    with stamping.runtime.unit_of_work(readonly=True) as services:
        record = services.session.get(CertificateRecord, seal.certificate_id)
        assert record is not None
        chain = services.pki.chain(IssuedCertificate.of(record))
    return KeyStoreSigner(stamping.runtime.keystore, KeyHandle.parse(seal.key_handle),
                          x509.Certificate.load(record.der), chain[1:])


@pytest.mark.parametrize("algorithm", list(KeyAlgorithm), ids=[a.value for a in KeyAlgorithm])
def test_a_keystore_key_signs_a_pdf_that_validates(stamping: StampingEnv,
                                                   algorithm: KeyAlgorithm) -> None:
    signer = _signer(stamping, algorithm)
    meta = signers.PdfSignatureMetadata(field_name="Signature1",
                                        md_algorithm=signer.digest_algorithm,
                                        subfilter=SigSeedSubFilter.PADES)
    writer = IncrementalPdfFileWriter(BytesIO(approval_pdf(1)))
    signed = signers.sign_pdf(writer, meta, signer=signer).getvalue()

    assert_pyhanko_passes(signed, stamping.root_der, timestamped=False)
    if algorithm.pdf_verifiable:
        pdfsig_check(signed, stamping.nss, stamping.tmp)


def test_ed25519_signatures_use_sha512(stamping: StampingEnv) -> None:
    assert _signer(stamping, KeyAlgorithm.ED25519).digest_algorithm == "sha512"
    assert _signer(stamping, KeyAlgorithm.EC_P256).digest_algorithm == "sha256"
