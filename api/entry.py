"""The console script's entry point: third-party warnings are silenced before anything
imports the libraries that raise them.

pyHanko imports DSA types at import time and cryptography ≥ 51 warns about DSA on stderr;
a user of ``zhengyin`` should see one-line answers, not a library's deprecation notices.
Only the console script filters: tests and embedding applications import :mod:`zhengyin.api.cli`
and still see every warning. ``ZHENGYIN_DEBUG=1`` or an explicit ``-W``/``PYTHONWARNINGS``
keeps them too.

It also takes the working directory off ``sys.path`` for every process the command starts
(:mod:`zhengyin.core.processes`).
"""

from __future__ import annotations

import os
import sys
import warnings

from zhengyin.core.processes import clean_child_path

__all__ = ["OWN_MODULES", "main", "quiet_third_party_warnings"]

OWN_MODULES = r"(zhengyin|bench)(\.|$)"
"""Modules whose warnings are ours, and shown."""


def quiet_third_party_warnings() -> None:
    """Ignore warnings raised in other packages, here and in the processes we start."""
    if os.environ.get("ZHENGYIN_DEBUG") == "1" or sys.warnoptions \
            or os.environ.get("PYTHONWARNINGS"):
        return
    warnings.filterwarnings("ignore")
    warnings.filterwarnings("default", module=OWN_MODULES)
    # Worker processes (spawn, forkserver) start a fresh interpreter: the environment is
    # what reaches them. We raise no warnings of our own, so they ignore all.
    os.environ["PYTHONWARNINGS"] = "ignore"


def main() -> None:
    """``zhengyin``: filter warnings, then run the command line."""
    clean_child_path()
    quiet_third_party_warnings()
    from .cli import main as cli_main

    cli_main()
