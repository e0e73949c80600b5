"""The console script shows users one-line answers, never a library's warnings."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from zhengyin.api import entry

ZHENGYIN = str(Path(sys.executable).with_name("zhengyin"))


@pytest.fixture
def fresh_filters(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ZHENGYIN_DEBUG", "PYTHONWARNINGS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys, "warnoptions", [])


def _warn_from(module: str) -> list[warnings.WarningMessage]:
    with warnings.catch_warnings(record=True) as caught:
        entry.quiet_third_party_warnings()
        warnings.warn_explicit("a notice", DeprecationWarning, "x.py", 1, module=module)
    return caught


def test_a_third_party_warning_is_silenced(fresh_filters: None,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "environ", dict(os.environ))
    assert _warn_from("pyhanko.sign.signers.pdf_cms") == []
    assert os.environ["PYTHONWARNINGS"] == "ignore"


def test_a_warning_of_our_own_is_shown(fresh_filters: None,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "environ", dict(os.environ))
    assert len(_warn_from("zhengyin.trust.validation.examine")) == 1


def test_debug_keeps_every_warning(fresh_filters: None,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZHENGYIN_DEBUG", "1")
    assert len(_warn_from("pyhanko.sign.signers.pdf_cms")) == 1


def test_the_installed_command_prints_no_library_warning(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("ZHENGYIN_") and k != "PYTHONWARNINGS"}
    env["ZHENGYIN_DATA_DIR"] = str(tmp_path / "data")
    # Importing the verification path imports pyHanko, which warns under cryptography 51.
    result = subprocess.run([ZHENGYIN, "verify", "--help"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
