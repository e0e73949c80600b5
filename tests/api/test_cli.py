"""The ``zhengyin`` command: same settings as the service, one-line errors."""

from __future__ import annotations

import base64
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ZHENGYIN = str(Path(sys.executable).with_name("zhengyin"))


def _run(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ZHENGYIN, *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A clean environment: a fresh data directory with the embedded SQLite default."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ZHENGYIN_")}
    clean["ZHENGYIN_DATA_DIR"] = str(tmp_path / "data")
    clean["ZHENGYIN_LOG_JSON"] = "false"
    return clean


def test_commands_refuse_an_unmigrated_database_naming_the_fix(env: dict[str, str],
                                                               tmp_path: Path) -> None:
    result = _run(env, "serve", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: the database schema is empty, but this version needs "
        + re.search(r"needs (\w+)", result.stderr).group(1)  # type: ignore[union-attr]
        + " (hint: run: zhengyin db upgrade)"
    ]


def test_fresh_install_upgrades_inits_and_adds_a_client(
    env: dict[str, str], tmp_path: Path
) -> None:
    assert _run(env, "db", "upgrade", cwd=tmp_path).returncode == 0
    assert _run(env, "pki", "init", cwd=tmp_path).returncode == 0
    added = _run(env, "client", "add", "--name", "ops", "--role", "admin", cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    assert re.fullmatch(r"zy\.[0-9a-f]{16}\.[A-Za-z0-9_-]{43}", added.stdout.strip())
    verified = _run(env, "audit", "verify", cwd=tmp_path)
    assert verified.returncode == 0
    assert "audit log intact" in verified.stdout
    # The development KEK file was created for the owner only.
    assert (tmp_path / "data" / "kek").stat().st_mode & 0o077 == 0


def test_a_wrong_kek_is_a_one_line_error(env: dict[str, str], tmp_path: Path) -> None:
    assert _run(env, "db", "upgrade", cwd=tmp_path).returncode == 0
    assert _run(env, "pki", "init", cwd=tmp_path).returncode == 0
    env["ZHENGYIN_KEK"] = base64.b64encode(os.urandom(32)).decode()
    result = _run(env, "keys", "list", cwd=tmp_path)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "does not open the key store" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_world_readable_kek_file_is_refused(env: dict[str, str], tmp_path: Path) -> None:
    kek = tmp_path / "kek"
    kek.write_text(base64.b64encode(os.urandom(32)).decode())
    kek.chmod(0o644)
    env["ZHENGYIN_KEK_FILE"] = str(kek)
    assert _run(env, "db", "upgrade", cwd=tmp_path).returncode == 0
    result = _run(env, "keys", "list", cwd=tmp_path)
    assert result.returncode == 1
    assert "accessible by group or others" in result.stderr
    assert "chmod 600" in result.stderr


def test_an_invalid_setting_names_the_variable(env: dict[str, str], tmp_path: Path) -> None:
    env["ZHENGYIN_PORT"] = "seventy"
    result = _run(env, "db", "current", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("error: invalid settings: ZHENGYIN_PORT")


def test_settings_come_from_the_toml_file(env: dict[str, str], tmp_path: Path) -> None:
    config = tmp_path / "zy.toml"
    config.write_text('pki_organisation = "Testland PKI"\n', encoding="utf-8")
    env["ZHENGYIN_CONFIG"] = str(config)
    assert _run(env, "db", "upgrade", cwd=tmp_path).returncode == 0
    assert _run(env, "pki", "init", cwd=tmp_path).returncode == 0
    exported = _run(env, "pki", "export", "root", cwd=tmp_path)
    from cryptography import x509

    root = x509.load_pem_x509_certificate(exported.stdout.encode())
    assert "Testland PKI" in root.subject.rfc4514_string()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_starts_on_defaults_and_is_ready(env: dict[str, str], tmp_path: Path) -> None:
    assert _run(env, "db", "upgrade", cwd=tmp_path).returncode == 0
    port = _free_port()
    server = subprocess.Popen([ZHENGYIN, "serve", "--port", str(port)], env=env, cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        assert ready.status_code == 200
        assert ready.json()["status"] == "ready"
        # The development PKI was created on first start.
        root = httpx.get(f"http://127.0.0.1:{port}/pki/ca/root.crt", timeout=5)
        assert root.headers["content-type"] == "application/pkix-cert"
    finally:
        server.terminate()
        server.wait(timeout=30)
