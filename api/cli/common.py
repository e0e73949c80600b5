"""What every command shares: the runtime built from settings, and console output."""

from __future__ import annotations

from functools import cache

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
