"""What a newcomer and a script meet at the shell: the data directory a command looked at,
warnings about the base URL certificates carry, and output that a pipe gets whole."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ..signing.documents import ANCHOR, approval_pdf
from ..support import ORG_CODE, ORG_NAME, serving

ZHENGYIN = str(Path(sys.executable).with_name("zhengyin"))


def _run(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``zhengyin`` with stdout and stderr piped, as a script runs it."""
    return subprocess.run([ZHENGYIN, *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=180, check=False)


def _clean_env() -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ZHENGYIN_")}
    clean.pop("COLUMNS", None)
    clean["ZHENGYIN_LOG_JSON"] = "false"
    return clean


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Installation:
    """A migrated data directory with one seal and one recorded use."""

    env: dict[str, str]
    home: Path
    seal_id: str
    seal_code: str


@pytest.fixture(scope="module")
def installation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    home = tmp_path_factory.mktemp("installation")
    env = _clean_env()
    env.update(ZHENGYIN_DATA_DIR=str(home / "data"), ZHENGYIN_WORKERS="1",
               ZHENGYIN_PUBLIC_BASE_URL="http://127.0.0.1:8000")
    assert _run(env, "db", "upgrade", cwd=home).returncode == 0
    created = _run(env, "seal", "create", "--org-name", ORG_NAME, "--credit-code", ORG_CODE,
                   "--type", "approval", cwd=home)
    assert created.returncode == 0, created.stderr
    found = re.search(r"created seal ([0-9a-f]{32}) code (\d{13})", created.stdout)
    assert found is not None, created.stdout
    (home / "in.pdf").write_bytes(approval_pdf(1))
    stamped = _run(env, "stamp", "file", found.group(1), "in.pdf", "--case-number", "案-1",
                   "--purpose", "审批用印", "--anchor", ANCHOR, "--out", "out.pdf", cwd=home)
    assert stamped.returncode == 0, stamped.stderr
    yield Installation(env, home, found.group(1), found.group(2))


# ------------------------------------------------------------------ the data directory


@pytest.mark.parametrize("command", [
    ("seal", "list"), ("client", "list"), ("audit", "verify"), ("db", "current"),
    ("client", "add", "--name", "ops", "--role", "admin"),
])
def test_a_command_without_a_data_directory_names_it_and_creates_nothing(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    env = _clean_env()
    result = _run(env, *command, cwd=tmp_path)
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: no data directory at {tmp_path / 'zhengyin-data'} ")
    assert "ZHENGYIN_DATA_DIR" in line
    assert list(tmp_path.iterdir()) == []


def test_db_upgrade_still_creates_the_data_directory(tmp_path: Path) -> None:
    result = _run(_clean_env(), "db", "upgrade", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "zhengyin-data" / "zhengyin.db").is_file()


# ------------------------------------------------------------------ the base URL


def test_seal_create_without_a_base_url_warns_naming_the_url_certificates_get(
    installation: Installation
) -> None:
    env = {k: v for k, v in installation.env.items() if k != "ZHENGYIN_PUBLIC_BASE_URL"}
    created = _run(env, "seal", "create", "--org-name", ORG_NAME, "--credit-code", ORG_CODE,
                   "--type", "contract", cwd=installation.home)
    assert created.returncode == 0, created.stderr
    assert ("warning: ZHENGYIN_PUBLIC_BASE_URL is not set: certificates and QR codes issued "
            "now carry http://127.0.0.1:8000 for good") in created.stderr


def test_seal_create_with_the_base_url_set_to_the_service_port_does_not_warn(
    installation: Installation
) -> None:
    created = _run(installation.env, "seal", "create", "--org-name", ORG_NAME,
                   "--credit-code", ORG_CODE, "--type", "finance", cwd=installation.home)
    assert created.returncode == 0, created.stderr
    assert "warning" not in created.stderr


def test_serve_on_a_port_other_than_the_base_urls_warns_at_start_up(
    installation: Installation
) -> None:
    port = _free_port()
    with serving(installation.env, port, installation.home) as server:
        pass
    assert server.stderr is not None
    assert (f"warning: ZHENGYIN_PUBLIC_BASE_URL is http://127.0.0.1:8000 but the service "
            f"listens on port {port}") in server.stderr.read()


# ------------------------------------------------------------------ output for scripts


def test_piped_seal_list_keeps_whole_ids_and_codes(installation: Installation) -> None:
    listed = _run(installation.env, "seal", "list", cwd=installation.home)
    assert listed.returncode == 0, listed.stderr
    assert installation.seal_id in listed.stdout
    assert installation.seal_code in listed.stdout
    assert "…" not in listed.stdout


@pytest.mark.parametrize("command", [
    ("seal", "list"), ("client", "list"), ("keys", "list"), ("licence-type", "list"),
    ("item", "list"), ("trust-anchor", "list"), ("pki", "show"),
])
def test_json_list_commands_print_one_json_array(installation: Installation,
                                                  command: tuple[str, ...]) -> None:
    listed = _run(installation.env, *command, "--json", cwd=installation.home)
    assert listed.returncode == 0, listed.stderr
    assert isinstance(json.loads(listed.stdout), list)


def test_seal_show_json_is_the_same_by_id_and_by_seal_code(installation: Installation
                                                           ) -> None:
    by_id = _run(installation.env, "seal", "show", installation.seal_id, "--json",
                 cwd=installation.home)
    by_code = _run(installation.env, "seal", "show", installation.seal_code, "--json",
                   cwd=installation.home)
    assert by_id.returncode == 0 and by_code.returncode == 0, by_code.stderr
    assert json.loads(by_id.stdout) == json.loads(by_code.stdout)
    assert json.loads(by_code.stdout)["id"] == installation.seal_id


def test_seal_uses_json_lists_the_recorded_use_whole(installation: Installation) -> None:
    listed = _run(installation.env, "seal", "uses", installation.seal_id, "--json",
                  cwd=installation.home)
    assert listed.returncode == 0, listed.stderr
    [use] = json.loads(listed.stdout)
    assert (use["case"], use["purpose"]) == ("案-1", "审批用印")
    assert len(use["output_sha256"]) == 64


def test_stamp_batch_summary_stays_valid_json_with_a_200_character_path(
    installation: Installation
) -> None:
    folder = installation.home / ("长路径" * 10) / ("d" * 80)
    folder.mkdir(parents=True)
    out = folder / ("sealed-" + "x" * 40 + ".zip")
    assert len(str(out)) >= 200
    (folder / "one.pdf").write_bytes(approval_pdf(1))
    batch = _run(installation.env, "stamp", "batch", installation.seal_id, str(folder),
                 "--case-number", "批-1", "--purpose", "批量", "--anchor", ANCHOR,
                 "--out", str(out), cwd=installation.home)
    assert batch.returncode == 0, batch.stderr
    summary = json.loads(batch.stdout)
    assert (summary["output"], summary["succeeded"]) == (str(out), 1)


def test_seal_use_csv_starts_with_a_utf8_bom_so_excel_reads_it(installation: Installation
                                                              ) -> None:
    exported = _run(installation.env, "seal", "uses", installation.seal_id, "--case-number",
                    "案-1", "--csv", "uses.csv", cwd=installation.home)
    assert exported.returncode == 0, exported.stderr
    data = (installation.home / "uses.csv").read_bytes()
    assert data.startswith(b"\xef\xbb\xbfid,")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[1][6] == "审批用印"


def test_seal_use_csv_without_excel_is_plain_utf8(installation: Installation) -> None:
    exported = _run(installation.env, "seal", "uses", installation.seal_id, "--csv",
                    "plain.csv", "--no-excel", cwd=installation.home)
    assert exported.returncode == 0, exported.stderr
    assert (installation.home / "plain.csv").read_bytes().startswith(b"id,")
