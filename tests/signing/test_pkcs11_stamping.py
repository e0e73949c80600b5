"""Seals whose keys live on a PKCS#11 token (SoftHSM2) stamp and validate like any other.

The whole runtime uses the token (CA, TSA, OCSP and seal keys); the batch workers open
their own sessions on it (forkserver processes, nothing inherited).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from zhengyin.signing.models import SealType, SignatureLevel
from zhengyin.signing.stamper import StampOptions

from ..conftest import SoftHSMToken
from .checks import assert_pyhanko_passes, openssl_ts_verify, pdfsig_check
from .documents import approval_pdf
from .fixtures import StampingEnv, make_stamping_env
from .test_batch import _jobs
from .test_stamping import ANCHORED, stamp

pytestmark = pytest.mark.softhsm


@pytest.fixture(scope="module")
def token_env(database_url: str, kek_text: str, softhsm_token: SoftHSMToken,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[StampingEnv]:
    yield from make_stamping_env(
        database_url, kek_text, tmp_path_factory, keystore="pkcs11",
        pkcs11_module=softhsm_token.module, pkcs11_token=softhsm_token.label,
        pkcs11_pin=softhsm_token.pin)


def test_a_token_seal_stamps_b_lt_that_validates(token_env: StampingEnv) -> None:
    seal = token_env.new_seal(SealType.OFFICIAL)
    assert seal.key_handle.startswith("pkcs11:")
    done = stamp(token_env, seal, approval_pdf(), StampOptions(ANCHORED,
                                                               level=SignatureLevel.B_LT))

    assert_pyhanko_passes(done.result.pdf, token_env.root_der, from_dss=True)
    pdfsig_check(done.result.pdf, token_env.nss, token_env.tmp)
    openssl_ts_verify(done.result.pdf, token_env.root_der, token_env.issuing_der, token_env.tmp)


def test_batch_workers_open_their_own_token_sessions(token_env: StampingEnv) -> None:
    from zhengyin.core.clock import utcnow
    from zhengyin.signing.jobs import run_stamp_job
    from zhengyin.signing.stamping import StampRequest

    seal = token_env.new_seal(SealType.APPROVAL)
    options = StampOptions(ANCHORED)
    with token_env.runtime.unit_of_work() as services:
        job_id = services.stamp_jobs.create(StampRequest(seal.id, options, "令牌-1", "批量"), 4,
                                            client_id=None, at=utcnow()).id
    job = run_stamp_job(job_id, [(f"{n}.pdf", approval_pdf(2)) for n in range(4)], options,
                        pool=token_env.runtime.stamp_pool(), jobs=_jobs(token_env),
                        actor="test", clock=utcnow)

    assert (job.succeeded, job.failed) == (4, 0), job.results
    import zipfile

    assert job.output_path is not None
    with zipfile.ZipFile(job.output_path) as archive:
        sample = archive.read(archive.namelist()[0])
    assert_pyhanko_passes(sample, token_env.root_der)
    pdfsig_check(sample, token_env.nss, token_env.tmp)
