"""What every command shares: the runtime built from settings, and console output."""

from __future__ import annotations

import os
import tempfile
from functools import cache
from pathlib import Path

from rich.console import Console

from ..runtime import Runtime
from ..settings import Settings

console = Console()
err_console = Console(stderr=True)

CLI_ACTOR = "cli:operator"


@cache
def runtime() -> Runtime:
    """The process runtime (settings read once)."""
    return Runtime(Settings.load())


def ready_runtime() -> Runtime:
    """The runtime after checking the schema is current (every command but ``db``).

    In development mode the PKI is created on first use, as ``serve`` would.
    """
    current = runtime()
    current.check_schema()
    if current.settings.is_development:
        current.ensure_pki()
    return current


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``path`` whole or not at all: a temporary file beside it, flushed to disk,
    then renamed over it (a killed command never leaves half a sealed file)."""
    handle, temporary = tempfile.mkstemp(dir=path.parent or Path("."),
                                         prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
