"""The command line takes text as the API does: no control characters, one-line refusals."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from .test_cli import ZHENGYIN, env

__all__ = ["env"]


def _run(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ZHENGYIN, *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=120, check=False)


def test_an_argument_with_a_control_character_is_a_one_line_error(env: dict[str, str],
                                                                   tmp_path: Path) -> None:
    result = _run(env, "client", "add", "--name", "intake\x1b[2J", "--role", "intake",
                  cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("error: argument 4 contains a control character")
    assert result.stderr.count("\n") == 1


def test_a_json_file_with_a_control_character_is_refused_before_the_database(
        env: dict[str, str], tmp_path: Path) -> None:
    items = tmp_path / "items.json"
    items.write_text(json.dumps([{"code": "X-1", "name": "事项\u0000"}]), encoding="utf-8")
    result = _run(env, "item", "import", str(items), cwd=tmp_path)
    assert result.returncode == 1
    assert "must not contain control characters" in result.stderr
    assert result.stderr.count("\n") == 1
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    result = _run(env, "licence-type", "import", str(broken), cwd=tmp_path)
    assert (result.returncode, result.stderr.count("\n")) == (1, 1)
    assert "not a readable JSON file" in result.stderr


def test_a_moment_or_number_out_of_range_is_refused_not_an_internal_error(
        env: dict[str, str], tmp_path: Path) -> None:
    result = _run(env, "licence", "status", "X", "--at", "9999-12-31T23:00:00-12:00",
                  cwd=tmp_path)
    assert (result.returncode, result.stderr.count("\n")) == (1, 1)
    assert "not a usable date or time" in result.stderr
    result = _run(env, "audit", "list", "--after", str(2**70), cwd=tmp_path)
    assert result.returncode == 2  # a usage error, named by the option parser
    assert "--after" in result.stderr and "internal error" not in result.stderr
