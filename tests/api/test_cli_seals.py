"""``zhengyin seal`` and ``zhengyin stamp``: a seal's life and stamping from the shell."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from asn1crypto import pem

from ..signing.checks import assert_pyhanko_passes, nss_database, openssl_ts_verify, pdfsig_check
from ..signing.documents import ANCHOR, approval_pdf
from ..support import ORG_CODE, ORG_NAME

ZHENGYIN = str(Path(sys.executable).with_name("zhengyin"))


def _run(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ZHENGYIN, *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=180, check=False)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _serving(env: dict[str, str], port: int, cwd: Path) -> Iterator[None]:
    """``zhengyin serve`` on ``port``: pdfsig asks the OCSP responder our certificates name."""
    server = subprocess.Popen([ZHENGYIN, "serve", "--port", str(port)], env=env, cwd=cwd,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        yield
    finally:
        server.terminate()
        server.wait(timeout=30)


def _certificate(env: dict[str, str], purpose: str, cwd: Path) -> bytes:
    exported = _run(env, "pki", "export", purpose, cwd=cwd)
    assert exported.returncode == 0, exported.stderr
    _, _, der = pem.unarmor(exported.stdout.encode("ascii"))
    return bytes(der)


def _assert_validates(pdf: bytes, root_der: bytes, issuing_der: bytes, nss: Path,
                      tmp: Path) -> None:
    """pyHanko, pdfsig and ``openssl ts -verify`` (the B-T token) all accept ``pdf``."""
    assert_pyhanko_passes(pdf, root_der)
    pdfsig_check(pdf, nss, tmp)
    openssl_ts_verify(pdf, root_der, issuing_der, tmp)


def test_create_stamp_batch_and_export_from_the_shell(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHENGYIN_")}
    env.update(ZHENGYIN_DATA_DIR=str(tmp_path / "data"), ZHENGYIN_LOG_JSON="false",
               ZHENGYIN_WORKERS="2", ZHENGYIN_PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
               COLUMNS="200")
    assert _run(env, "db", "upgrade", cwd=tmp_path).returncode == 0
    assert _run(env, "pki", "init", cwd=tmp_path).returncode == 0
    root_der = _certificate(env, "root", tmp_path)
    issuing_der = _certificate(env, "issuing", tmp_path)

    created = _run(env, "seal", "create", "--org-name", ORG_NAME, "--credit-code", ORG_CODE,
                   "--type", "approval", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    seal_id = re.search(r"created seal ([0-9a-f]{32})", created.stdout).group(1)  # type: ignore[union-attr]
    shown = _run(env, "seal", "show", seal_id, "--image", "seal.png", cwd=tmp_path)
    assert shown.returncode == 0 and (tmp_path / "seal.png").read_bytes()[:4] == b"\x89PNG"

    # A stamper of another organisation is never authorised on this seal.
    foreign = _run(env, "client", "add", "--name", "other-org", "--role", "stamper", "--org",
                   "91110000600037341L", cwd=tmp_path)
    assert foreign.returncode == 0, foreign.stderr
    refused_grant = _run(env, "seal", "authorise", seal_id, "other-org", cwd=tmp_path)
    assert refused_grant.returncode == 1
    [line] = refused_grant.stderr.strip().splitlines()
    assert line.startswith("error: client 'other-org' acts for 91110000600037341L")

    (tmp_path / "in.pdf").write_bytes(approval_pdf())
    stamped = _run(env, "stamp", "file", seal_id, "in.pdf", "--case-number", "案-1",
                   "--purpose", "审批", "--anchor", ANCHOR, "--out", "out.pdf", cwd=tmp_path)
    assert stamped.returncode == 0, stamped.stderr
    assert (tmp_path / "out.pdf").read_bytes().startswith(b"%PDF")

    # A co-sealer in a new box instead of the reserved field would break the first seal.
    reserved = _run(env, "stamp", "file", seal_id, "in.pdf", "--case-number", "案-5",
                    "--purpose", "会签", "--anchor", ANCHOR, "--reserve",
                    "CoSeal1@-1,60,60,179,179", "--out", "co.pdf", cwd=tmp_path)
    assert reserved.returncode == 0, reserved.stderr
    new_box = _run(env, "stamp", "file", seal_id, "co.pdf", "--case-number", "案-5",
                   "--purpose", "会签", "--box", "300,300,419,419", "--out", "co2.pdf",
                   cwd=tmp_path)
    assert new_box.returncode == 1 and not (tmp_path / "co2.pdf").exists()
    [line] = new_box.stderr.strip().splitlines()
    assert line.startswith("error: signature 'Seal_") and '"name": "CoSeal1"' in line
    filled = _run(env, "stamp", "file", seal_id, "co.pdf", "--case-number", "案-5",
                  "--purpose", "会签", "--field", "CoSeal1", "--out", "co2.pdf", cwd=tmp_path)
    assert filled.returncode == 0, filled.stderr

    (tmp_path / "bad.pdf").write_bytes(b"no pdf here")
    refused = _run(env, "stamp", "file", seal_id, "bad.pdf", "--case-number", "案-2",
                   "--purpose", "审批", "--anchor", ANCHOR, "--out", "x.pdf", cwd=tmp_path)
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        "error: the file is not a PDF (hint: send the document as PDF)"]
    missing = _run(env, "stamp", "file", seal_id, "in.pdf", "--case-number", "案-3",
                   "--purpose", "审批", "--anchor", "无此文字", "--out", "x.pdf", cwd=tmp_path)
    assert missing.returncode == 1 and missing.stderr.startswith("error: the anchor text")

    batch_dir = tmp_path / "batch"
    batch_dir.mkdir()
    for n in range(4):
        (batch_dir / f"doc-{n}.pdf").write_bytes(approval_pdf(2))
    (batch_dir / "broken.pdf").write_bytes(b"%PDF-1.7 broken")
    batch = _run(env, "stamp", "batch", seal_id, "batch", "--case-number", "批-1",
                 "--purpose", "批量", "--anchor", ANCHOR, "--out", "sealed.zip", cwd=tmp_path)
    assert batch.returncode == 0, batch.stderr
    summary = json.loads(batch.stdout.strip().splitlines()[-1])
    assert (summary["total"], summary["succeeded"], summary["failed"]) == (5, 4, 1)
    assert "broken.pdf" in batch.stderr and "stamping" in batch.stderr  # progress bar
    with zipfile.ZipFile(tmp_path / "sealed.zip") as archive:
        assert len(archive.namelist()) == 4
        sealed = {name: archive.read(name) for name in archive.namelist()}

    # Every output validates: the single stamp and each file of the batch.
    nss = nss_database(tmp_path / "nss", root_der)
    with _serving(env, port, tmp_path):
        _assert_validates((tmp_path / "out.pdf").read_bytes(), root_der, issuing_der, nss,
                          tmp_path)
        for pdf in sealed.values():
            _assert_validates(pdf, root_der, issuing_der, nss, tmp_path)

    exported = _run(env, "seal", "uses", seal_id, "--csv", "uses.csv", cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    lines = (tmp_path / "uses.csv").read_text(encoding="utf-8").strip().splitlines()
    assert len(lines) == 1 + 3 + 4  # header, three single stamps, four from the batch

    suspended = _run(env, "seal", "suspend", seal_id, "--reason", "检查", cwd=tmp_path)
    assert suspended.returncode == 0 and "suspended" in suspended.stdout
    blocked = _run(env, "stamp", "file", seal_id, "in.pdf", "--case-number", "案-4",
                   "--purpose", "审批", "--anchor", ANCHOR, "--out", "x.pdf", cwd=tmp_path)
    assert blocked.returncode == 1 and "suspended" in blocked.stderr
