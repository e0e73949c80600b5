"""Stamping throughput and latency: the service's paths against a plain pyHanko loop.

    python -m bench.stamping [--quick] [--documents N]

In one run, on the same 3-page A4 approval (Chinese text, anchor 盖章处), all with a
visible 42 mm seal image, PAdES B-T from our in-process TSA, certified:

1. **plain loop** — the straightforward pyHanko way, one process: a stock ``SimpleSigner``
   (built once; it re-parses its key and signs twice per document because no
   ``bytes_reserved`` is given), a stock ``StaticStampStyle`` with the seal PNG, a new
   ``PdfSigner`` per document (what ``signers.sign_pdf`` does inside; ``sign_pdf`` itself
   has no ``stamp_style`` parameter, so a visible *image* seal needs the ``PdfSigner``);
2. **service, single document** — ``StampService.stamp`` in its own unit of work, as the
   ``POST /seals/{id}/stamp`` route runs it: authorisation, anchor search, signing,
   seal-use record and audit entry, commit. Latency p50/p95;
3. **service, batch path** — ``run_stamp_job`` over the warm worker pool (one process per
   core): per-document tasks, seal-use records, the output zip, job counts. Throughput.

Targets on the 2-core development machine: batch ≥ 4× the plain loop; p50 ≤ 60 ms.
"""

from __future__ import annotations

import argparse
import base64
import io
import logging
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from PIL import Image
from pyhanko.pdf_utils import layout
from pyhanko.pdf_utils.images import PdfImage
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign.fields import MDPPerm, SigFieldSpec, SigSeedSubFilter
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner, SimpleSigner
from pyhanko.stamp import StaticStampStyle
from pyhanko_certvalidator.registry import SimpleCertificateStore

ANCHOR = "盖章处"
ORG_NAME = "国家市场监督管理总局"
ORG_CODE = "11100000000013338W"
FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"


def approval_pdf(pages: int = 3) -> bytes:
    """The benchmark input: an A4 approval with 盖章处 on the last page."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(TTFont("WQY", FONT, subfontIndex=0))
    paragraph = ("根据《中华人民共和国行政许可法》及相关法律法规的规定，经审查，申请人提交的材料"
                 "齐全、符合法定形式，准予行政许可。")
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer, pagesize=A4)
    width, height = A4
    for number in range(pages):
        page.setFont("WQY", 20)
        page.drawCentredString(width / 2, height - 80, "行政许可决定书")
        page.setFont("WQY", 11)
        y = height - 150
        for line in range(20):
            page.drawString(72, y, f"{line + 1}. {paragraph[:36]}")
            y -= 17
        if number == pages - 1:
            page.setFont("WQY", 12)
            page.drawString(330, 200, f"发证机关（{ANCHOR}）：")
        page.showPage()
    page.save()
    return buffer.getvalue()


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# ------------------------------------------------------------------------ plain loop


def _baseline_signer(chain: list[asn1_x509.Certificate]) -> SimpleSigner:
    """A stock SimpleSigner over an EC P-256 key of its own (same chain size as ours)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{ORG_NAME}审批专用章"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORG_NAME)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=30))
        .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False,
                                     False), critical=True)
        .sign(key, hashes.SHA256())
    )
    der_key = key.private_bytes(serialization.Encoding.DER,
                                serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return SimpleSigner(
        signing_cert=asn1_x509.Certificate.load(
            certificate.public_bytes(serialization.Encoding.DER)),
        signing_key=asn1_keys.PrivateKeyInfo.load(der_key),
        cert_registry=SimpleCertificateStore.from_certs(chain),  # type: ignore[no-untyped-call]  # unannotated
    )


def plain_loop(pdf: bytes, seal_png: bytes, chain: list[asn1_x509.Certificate],
               timestamper: object, count: int) -> list[float]:
    """Per-document seconds of the straightforward pyHanko loop."""
    signer = _baseline_signer(chain)
    style = StaticStampStyle(
        background=PdfImage(Image.open(io.BytesIO(seal_png))), border_width=0,
        background_opacity=1.0,
        background_layout=layout.SimpleBoxLayoutRule(
            x_align=layout.AxisAlignment.ALIGN_MID, y_align=layout.AxisAlignment.ALIGN_MID,
            margins=layout.Margins.uniform(0)),  # type: ignore[no-untyped-call]  # unannotated
    )
    meta = PdfSignatureMetadata(field_name="Seal", md_algorithm="sha256",
                                subfilter=SigSeedSubFilter.PADES, certify=True,
                                docmdp_permissions=MDPPerm.NO_CHANGES)
    times = []
    for _ in range(count + 1):
        started = time.perf_counter()
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
        PdfSigner(meta, signer, timestamper=timestamper,  # type: ignore[arg-type]
                  stamp_style=style,
                  new_field_spec=SigFieldSpec("Seal", on_page=-1, box=(348, 145, 467, 264))
                  ).sign_pdf(writer)
        times.append(time.perf_counter() - started)
    return times[1:]  # the first one warms imports and caches


# ------------------------------------------------------------------------ the service


def main() -> None:
    """Run the three measurements and print figures and ratios."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer documents")
    parser.add_argument("--documents", type=int, default=None,
                        help="documents per measurement (default 200, quick 60)")
    args = parser.parse_args()
    count = args.documents or (60 if args.quick else 200)
    logging.disable(logging.WARNING)

    from zhengyin.api.database import upgrade
    from zhengyin.api.runtime import Runtime
    from zhengyin.api.settings import Settings
    from zhengyin.core.clock import utcnow
    from zhengyin.core.db import make_engine
    from zhengyin.signing.jobs import StampJobService, run_stamp_job
    from zhengyin.signing.models import SealType, SignatureLevel
    from zhengyin.signing.placement import AnchorPlacement, Placement
    from zhengyin.signing.seals import SealRequest
    from zhengyin.signing.stamper import StampOptions
    from zhengyin.signing.stamping import StampRequest
    from zhengyin.trust.models import CertificateRecord
    from zhengyin.trust.pki import IssuedCertificate

    pdf = approval_pdf()
    workers = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), kek=base64.b64encode(os.urandom(32)).decode(),
                            log_json=False, workers=workers)
        engine = make_engine(settings.effective_database_url)
        upgrade(engine)
        engine.dispose()
        runtime = Runtime(settings)
        runtime.ensure_pki()
        with runtime.unit_of_work() as services:
            seal = services.seals.create(SealRequest(
                org_name=ORG_NAME, credit_code=ORG_CODE, seal_type=SealType.APPROVAL),
                at=utcnow(), actor="bench")
            seal_id, seal_png = seal.id, seal.image_png
            record = services.session.get(CertificateRecord, seal.certificate_id)
            assert record is not None
            chain = services.pki.chain(IssuedCertificate.of(record))[1:]
        options = StampOptions(Placement(AnchorPlacement(ANCHOR)), level=SignatureLevel.B_T)
        request = StampRequest(seal_id, options, "BENCH-1", "benchmark")
        print(f"input: {len(pdf)} bytes, 3 pages; seal {len(seal_png)} bytes PNG (42 mm, 600 dpi);"
              f" B-T, certified, visible; {workers} cores; {count} documents per measurement")

        # 1. plain loop
        baseline = plain_loop(pdf, seal_png, chain, runtime.pdf_timestamper(), count // 2)
        plain_rate = len(baseline) / sum(baseline)

        # 2. single documents through the service (one unit of work each, committed)
        def one() -> float:
            started = time.perf_counter()
            with runtime.unit_of_work() as services:
                services.stamping.stamp(request, pdf, client_id=None, actor="bench",
                                        at=utcnow())
            return time.perf_counter() - started

        one()  # warm: stamper built, signature size calibrated
        single = [one() for _ in range(count)]

        # 3. the batch path over the warm pool
        started = time.perf_counter()
        pool = runtime.stamp_pool()
        pool_start = time.perf_counter() - started
        with runtime.unit_of_work() as services:
            material = services.stamping.material(services.seals.get(seal_id))
        from zhengyin.signing.batch import StampTask

        pool.warm(StampTask(0, "warm.pdf", pdf, material, options, None))

        @contextmanager
        def open_jobs() -> Iterator[StampJobService]:
            with runtime.unit_of_work() as services:
                yield services.stamp_jobs

        jobs: Callable[[], AbstractContextManager[StampJobService]] = open_jobs
        documents = [(f"doc-{n}.pdf", pdf) for n in range(count)]
        with runtime.unit_of_work() as services:
            job_id = services.stamp_jobs.create(request, count, client_id=None,
                                                at=utcnow()).id
        started = time.perf_counter()
        parent_cpu = time.process_time()
        job = run_stamp_job(job_id, documents, options, pool=pool, jobs=jobs, actor="bench",
                            clock=utcnow)
        batch_seconds = time.perf_counter() - started
        parent_cpu = time.process_time() - parent_cpu
        assert job.succeeded == count, job.results[:3]
        batch_rate = count / batch_seconds
        runtime.close()

    p50, p95 = percentile(single, 0.5) * 1000, percentile(single, 0.95) * 1000
    base_p50 = percentile(baseline, 0.5) * 1000
    print()
    print(f"{'path':<52}{'docs/s':>9}{'p50 ms':>9}{'p95 ms':>9}")
    print(f"{'plain pyHanko loop (stock SimpleSigner, 1 process)':<52}{plain_rate:>9.1f}"
          f"{base_p50:>9.1f}{percentile(baseline, 0.95) * 1000:>9.1f}")
    print(f"{'service, single document (in-process, committed)':<52}"
          f"{len(single) / sum(single):>9.1f}{p50:>9.1f}{p95:>9.1f}")
    print(f"{f'service, batch path ({workers} warm workers, zip, uses)':<52}"
          f"{batch_rate:>9.1f}{'':>9}{'':>9}")
    print()
    print(f"batch / plain loop:           {batch_rate / plain_rate:5.1f}x   (target >= 4x)")
    print(f"single / plain loop (p50):    {base_p50 / p50:5.1f}x faster")
    print(f"single-document p50:          {p50:5.1f} ms (target <= 60 ms)")
    print(f"batch, parent CPU per document: {parent_cpu / count * 1000:5.1f} ms "
          "(pickling, use records, zip)")
    print(f"pool start-up (once):         {pool_start * 1000:5.0f} ms")
    ok = batch_rate >= 4 * plain_rate and p50 <= 60
    print(f"single-document mean:         {statistics.fmean(single) * 1000:5.1f} ms")
    print("targets met" if ok else "TARGETS MISSED")


if __name__ == "__main__":
    main()
