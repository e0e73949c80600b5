"""The service and its worker processes import the installed code, never the working directory's.

A service run from its data directory (``WorkingDirectory=`` of a systemd unit) has folders
there named like our layers; issue 15 measured every ``POST /verifications`` failing and
``stamp batch`` dying with ``BrokenProcessPool`` when a worker imported them. Here the
console script runs from a directory holding empty ``core/ keys/ trust/ signing/
registry/ api/ zhengyin/`` folders, and a program using the library from Python starts
the batch and verification pools from a directory whose ``zhengyin`` package would fail
to import: every process must still answer.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from ..signing.documents import ANCHOR, approval_pdf
from ..support import ORG_CODE, ORG_NAME, bearer, serving

ZHENGYIN = str(Path(sys.executable).with_name("zhengyin"))
FOLDERS = ("core", "keys", "trust", "signing", "registry", "api", "zhengyin")

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Installation:
    env: dict[str, str]
    home: Path
    seal_id: str
    sealed: Path


def _run(installation_env: dict[str, str], cwd: Path, *args: str
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ZHENGYIN, *args], env=installation_env, cwd=cwd,
                          capture_output=True, text=True, timeout=180, check=False)


@pytest.fixture(scope="module")
def installation(tmp_path_factory: pytest.TempPathFactory) -> Installation:
    """A data directory with a PKI and a seal, and a working directory full of empty
    folders named like the layers (and like the package)."""
    home = tmp_path_factory.mktemp("polluted")
    for folder in FOLDERS:
        (home / folder).mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ZHENGYIN_", "PYTHONSAFEPATH"))}
    env.update(ZHENGYIN_DATA_DIR=str(tmp_path_factory.mktemp("data")), ZHENGYIN_WORKERS="2",
               ZHENGYIN_LOG_JSON="false", COLUMNS="200")
    for step in (("db", "upgrade"), ("pki", "init")):
        done = _run(env, home, *step)
        assert done.returncode == 0, done.stderr
    created = _run(env, home, "seal", "create", "--org-name", ORG_NAME, "--credit-code",
                   ORG_CODE, "--type", "approval")
    assert created.returncode == 0, created.stderr
    seal_id = re.search(r"created seal ([0-9a-f]{32})", created.stdout).group(1)  # type: ignore[union-attr]
    (home / "in.pdf").write_bytes(approval_pdf())
    stamped = _run(env, home, "stamp", "file", seal_id, "in.pdf", "--case-number", "净-1",
                   "--purpose", "审批", "--anchor", ANCHOR, "--out", "sealed.pdf")
    assert stamped.returncode == 0, stamped.stderr
    assert sorted(p.name for p in home.iterdir() if p.is_dir()) == sorted(FOLDERS)
    return Installation(env, home, seal_id, home / "sealed.pdf")


def test_stamp_batch_from_a_directory_of_layer_folders_writes_its_zip(
        installation: Installation) -> None:
    batch = installation.home / "batch"
    batch.mkdir()
    for n in range(3):
        (batch / f"doc-{n}.pdf").write_bytes(approval_pdf(2))

    done = _run(installation.env, installation.home, "stamp", "batch", installation.seal_id,
                "batch", "--case-number", "净-2", "--purpose", "批量", "--anchor", ANCHOR,
                "--out", "sealed.zip")

    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert (summary["total"], summary["succeeded"], summary["failed"]) == (3, 3, 0)
    with zipfile.ZipFile(installation.home / "sealed.zip") as archive:
        assert sorted(archive.namelist()) == [f"doc-{n}.pdf" for n in range(3)]


def test_serve_from_a_directory_of_layer_folders_verifies_a_document(
        installation: Installation) -> None:
    added = _run(installation.env, installation.home, "client", "add", "--name",
                 "polluted-verifier", "--role", "verifier")
    assert added.returncode == 0, added.stderr
    credential = added.stdout.strip().splitlines()[-1]
    port = _free_port()

    with serving(installation.env, port, installation.home):
        response = httpx.post(f"http://127.0.0.1:{port}/verifications",
                              headers=bearer(credential), timeout=120,
                              files={"file": ("sealed.pdf", installation.sealed.read_bytes(),
                                              "application/pdf")})

    assert response.status_code == 200, response.text
    assert response.json()["verdict"]["indication"] == "TOTAL-PASSED"


# A program using the library from Python: the pools start from a working directory
# whose own ``zhengyin`` package would shadow ours in any child that imported from it.
_DRIVER = """
import base64, os, sys
from pathlib import Path

def main() -> None:
    pool_kind = sys.argv[1]
    if pool_kind == "stamp":
        from zhengyin.keys import KeyStoreConfig
        from zhengyin.signing.batch import StampPool, WorkerSetup
        config = KeyStoreConfig(directory=Path(sys.argv[2]),
                                kek_text=base64.b64encode(os.urandom(32)).decode())
        setup = WorkerSetup(keystore=config, tsa_url="http://127.0.0.1:9/tsa", tsa=None,
                            max_pdf_bytes=1 << 20)
        pool = StampPool(setup, workers=2)
        print(len(pool.pids))
        pool.close()
    else:
        from zhengyin.trust.validation.policy import DEFAULT_LIMITS
        from zhengyin.trust.validation.pool import ExaminationPool
        pool = ExaminationPool(DEFAULT_LIMITS, workers=2)
        pool.warm()
        print(len(pool.pids))
        pool.close()

if __name__ == "__main__":
    main()
"""


@pytest.fixture
def shadowing(tmp_path: Path) -> Path:
    """A working directory whose ``zhengyin`` package fails as soon as a layer is imported."""
    home = tmp_path / "home"
    for folder in FOLDERS:
        (home / folder).mkdir(parents=True)
    (home / "zhengyin" / "__init__.py").write_text("")
    for layer in FOLDERS[:-1]:
        (home / "zhengyin" / layer).mkdir()
        (home / "zhengyin" / layer / "__init__.py").write_text(
            f"raise ImportError('the working directory\\'s zhengyin.{layer}')\n")
    return home


@pytest.mark.parametrize("pool", ["stamp", "verify"])
def test_a_pool_started_from_python_in_a_shadowing_directory_starts_every_worker(
        pool: str, shadowing: Path, tmp_path: Path) -> None:
    driver = tmp_path / "driver" / "use_library.py"  # the program's own folder is elsewhere
    driver.parent.mkdir()
    driver.write_text(_DRIVER)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONSAFEPATH"}

    done = subprocess.run([sys.executable, str(driver), pool, str(tmp_path / "keystore")],
                          cwd=shadowing, env=env, capture_output=True, text=True,
                          timeout=180, check=False)

    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "2"
    assert "working directory's zhengyin" not in done.stderr


def test_a_library_pool_leaves_the_programs_environment_as_it_found_it() -> None:
    from zhengyin.core.processes import process_context

    before = os.environ.get("PYTHONSAFEPATH")
    context = process_context("spawn")
    process = context.Process(target=print, args=("",))
    process.start()
    process.join(timeout=60)

    assert process.exitcode == 0
    assert os.environ.get("PYTHONSAFEPATH") == before

