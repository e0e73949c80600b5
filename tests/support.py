"""Helpers shared by tests: backend requirements, settings, headers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from zhengyin.api.settings import Settings

REQUIRE_BACKENDS = os.environ.get("ZHENGYIN_REQUIRE_BACKENDS") == "1"
ORG_CODE = "11100000000013338W"
ORG_NAME = "国家市场监督管理总局"


def missing_backend(what: str) -> None:
    """Skip, or fail when backends are required (CI)."""
    if REQUIRE_BACKENDS:
        pytest.fail(f"{what} is required (ZHENGYIN_REQUIRE_BACKENDS=1) but unavailable")
    pytest.skip(f"{what} unavailable")


def require_tool(name: str) -> str:
    """Path of a command-line tool, or skip/fail."""
    path = shutil.which(name)
    if path is None:
        missing_backend(f"the {name} command")
    assert path is not None
    return path


def make_settings(data_dir: Path, database_url: str, kek: str, **overrides: Any) -> Settings:
    """Settings for a test runtime, never read from the developer's environment."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "database_url": database_url,
        "kek": kek,
        "public_base_url": "http://127.0.0.1:8000",
        "log_json": False,
        "workers": 2,
        # Entries are in the chain when a request returns; background chaining has its tests.
        "audit_chaining": "inline",
    }
    values.update(overrides)
    return Settings(**values)


def bearer(credential: str) -> dict[str, str]:
    """An Authorization header."""
    return {"Authorization": f"Bearer {credential}"}


@contextmanager
def serving(env: dict[str, str], port: int, cwd: Path, *options: str
            ) -> Iterator[subprocess.Popen[str]]:
    """``zhengyin serve`` on ``port`` with ``options``, once it answers ready."""
    import httpx

    zhengyin = str(Path(sys.executable).with_name("zhengyin"))
    server = subprocess.Popen([zhengyin, "serve", "--port", str(port), *options], env=env,
                              cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            assert time.monotonic() < deadline, "the service did not start"
            time.sleep(0.2)
        yield server
    finally:
        server.terminate()
        server.wait(timeout=60)
