"""Processes we start import our code, never the working directory's folders.

A service run with its data directory as working directory (``WorkingDirectory=`` in a
systemd unit) has folders there; a child interpreter that puts the working directory
first on ``sys.path`` would import them instead of the installed package. Spawned
children copy the parent's ``sys.path``; the forkserver of Python 3.11 ignores it and
starts with ``''`` (the working directory) first. ``PYTHONSAFEPATH`` (Python ≥ 3.11)
stops every child interpreter from adding it.

The console script cleans its own process (:func:`clean_child_path`); a program that
uses the library from Python keeps its ``sys.path``, and the pools and servers we start
take their processes from :func:`process_context`, whose children never see it either.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing import context as mp
from multiprocessing.process import BaseProcess
from typing import Any, Literal

__all__ = ["clean_child_path", "process_context"]

_IMPLICIT = ("", ".")
_environment = threading.Lock()


def clean_child_path() -> None:
    """Drop the working directory from ``sys.path``, here and in every process started later."""
    os.environ["PYTHONSAFEPATH"] = "1"
    here = os.getcwd()
    sys.path[:] = [entry for entry in sys.path if entry not in (*_IMPLICIT, here)]


@contextmanager
def _safe_path_environment() -> Iterator[None]:
    """``PYTHONSAFEPATH=1`` while an interpreter (a child, the forkserver) is started."""
    with _environment:
        previous = os.environ.get("PYTHONSAFEPATH")
        os.environ["PYTHONSAFEPATH"] = "1"
        try:
            yield
        finally:
            if previous is None:
                del os.environ["PYTHONSAFEPATH"]
            else:
                os.environ["PYTHONSAFEPATH"] = previous


class _CleanStart(BaseProcess):
    """What both process kinds add: the parent notes its implicit working directory, the
    child drops it before running its target (spawn hands the child the parent's
    ``sys.path`` with ``''`` made absolute)."""

    _implicit_directories: tuple[str, ...] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if any(entry in _IMPLICIT for entry in sys.path):
            from multiprocessing import spawn

            original: str = getattr(spawn, "ORIGINAL_DIR", os.getcwd())  # what '' became
            self._implicit_directories = (original, os.getcwd())

    def run(self) -> None:
        dropped = (*_IMPLICIT, *self._implicit_directories)
        sys.path[:] = [entry for entry in sys.path if entry not in dropped]
        super().run()


class _SpawnProcess(_CleanStart, mp.SpawnProcess):
    @staticmethod
    def _Popen(process_obj: BaseProcess) -> Any:  # noqa: N802 - multiprocessing's name
        with _safe_path_environment():
            return mp.SpawnProcess._Popen(process_obj)


class _ForkServerProcess(_CleanStart, mp.ForkServerProcess):
    @staticmethod
    def _Popen(process_obj: BaseProcess) -> Any:  # noqa: N802 - multiprocessing's name
        # The forkserver starts with the first child and keeps the environment it saw.
        with _safe_path_environment():
            return mp.ForkServerProcess._Popen(process_obj)


class _SpawnContext(mp.SpawnContext):
    Process = _SpawnProcess


class _ForkServerContext(mp.ForkServerContext):
    Process = _ForkServerProcess


def process_context(method: Literal["spawn", "forkserver"]
                    ) -> mp.SpawnContext | mp.ForkServerContext:
    """A ``multiprocessing`` context whose processes never import from the working directory.

    Their interpreters (and the forkserver, if this starts it) run with ``PYTHONSAFEPATH``;
    each child drops the working directory its parent's interpreter put on ``sys.path``
    (``''``) before running its target; a directory the program added itself stays.
    """
    return _SpawnContext() if method == "spawn" else _ForkServerContext()
