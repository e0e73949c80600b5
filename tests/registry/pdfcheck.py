"""Independent checks of PDFs we seal: poppler's pdfsig (with our root in NSS) and pyHanko."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path
from typing import Any

from asn1crypto import pem, x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from zhengyin.api.runtime import Runtime

from ..support import require_tool


def root_certificate(runtime: Runtime) -> x509.Certificate:
    """Our root CA."""
    with runtime.unit_of_work(readonly=True) as services:
        return services.pki.identity("root").certificate


def pdfsig(pdf: bytes, root: x509.Certificate, workdir: Path) -> str:
    """pdfsig's report with our root trusted for e-mail/document signing (",C,")."""
    require_tool("pdfsig")
    certutil = require_tool("certutil")
    nss = workdir / "nss"
    if not nss.exists():
        nss.mkdir()
        (workdir / "root.pem").write_bytes(pem.armor("CERTIFICATE", root.dump()))
        subprocess.run([certutil, "-N", "--empty-password", "-d", f"sql:{nss}"], check=True)
        subprocess.run([certutil, "-A", "-n", "zhengyin-root", "-t", "C,C,C", "-i",
                        str(workdir / "root.pem"), "-d", f"sql:{nss}"], check=True)
    path = workdir / "check.pdf"
    path.write_bytes(pdf)
    result = subprocess.run(["pdfsig", "-nssdir", f"sql:{nss}", "-no-ocsp", str(path)],
                            capture_output=True, text=True, check=False, timeout=60)
    return result.stdout + result.stderr


def pyhanko_status(pdf: bytes, root: x509.Certificate, index: int = 0) -> Any:
    """pyHanko's validation status of one signature, trusting only our root, offline."""
    context = ValidationContext(trust_roots=[root], allow_fetching=False,
                                revocation_mode="soft-fail")
    reader = PdfFileReader(io.BytesIO(pdf))
    return validate_pdf_signature(reader.embedded_signatures[index], context)
