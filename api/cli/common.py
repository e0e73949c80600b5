"""What every command shares: the runtime built from settings, and console output."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from rich.console import Console

from ..runtime import Runtime
from ..schemas.inputs import control_character, instant_in_range, problem_in_json
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


class CLIInputError(Exception):
    """An argument or input file the command line refuses (one line on stderr, exit 1)."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def check_arguments(arguments: Sequence[str]) -> None:
    """The API's text rule for command-line arguments: no control characters.

    Arguments become names, reasons, case numbers and query filters in the database,
    as the API's inputs do (api/schemas/inputs.py).
    """
    for number, argument in enumerate(arguments, start=1):
        if control_character(argument) is not None:
            raise CLIInputError(f"argument {number} contains a control character",
                                hint="type the value again without control characters")


def read_json_file(path: Path) -> Any:
    """A JSON input file, checked as the API checks a free-form JSON body."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CLIInputError(f"{path}: not a readable JSON file ({exc.__class__.__name__})",
                            hint="check the file is UTF-8 JSON") from None
    problem = problem_in_json(document)
    if problem is not None:
        raise CLIInputError(f"{path}: {problem}")
    return document


def parse_moment(text: str) -> datetime:
    """An ISO 8601 date or time (UTC when it names no zone), within years 1900–9998."""
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return instant_in_range(moment)
    except ValueError as exc:
        raise CLIInputError(f"{text!r} is not a usable date or time: {exc}",
                            hint="e.g. 2026-05-01 or 2026-05-01T08:00:00+08:00") from None


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
