"""Processes we start import our code, never the working directory's folders.

A service run with its data directory as working directory (``WorkingDirectory=`` in a
systemd unit) has folders there; a child interpreter that puts the working directory
first on ``sys.path`` would import them instead of the installed package. Spawned
children copy the parent's ``sys.path``; the forkserver of Python 3.11 ignores it and
starts with ``''`` (the working directory) first. ``PYTHONSAFEPATH`` (Python ≥ 3.11)
stops every child interpreter from adding it.
"""

from __future__ import annotations

import os
import sys

__all__ = ["clean_child_path"]


def clean_child_path() -> None:
    """Drop the working directory from ``sys.path``, here and in every process started later."""
    os.environ["PYTHONSAFEPATH"] = "1"
    here = os.getcwd()
    sys.path[:] = [entry for entry in sys.path if entry not in ("", ".", here)]
