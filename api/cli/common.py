"""What every command shares: the runtime built from settings, and console output."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import typer
from rich.console import Console, ConsoleDimensions
from rich.table import Table

from ..runtime import Runtime
from ..schemas.inputs import control_character, instant_in_range, problem_in_json
from ..settings import Settings

_UNBOUNDED_WIDTH = 1_000_000


class _PipeSafeConsole(Console):
    """A Rich console that wraps and cuts only for a terminal.

    Written to a pipe or a file, Rich assumes 80 columns: table cells were cut to
    "f9f91855f0…" and long lines wrapped. Output that is not a terminal is given no width
    limit, so a script reads whole ids, codes and paths.
    """

    @property
    def size(self) -> ConsoleDimensions:
        dimensions = super().size
        if self.is_terminal:
            return dimensions
        return ConsoleDimensions(_UNBOUNDED_WIDTH, dimensions.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        self._width, self._height = new_size


console = _PipeSafeConsole()
err_console = _PipeSafeConsole(stderr=True)


def emit_json(document: object) -> None:
    """Machine-readable output: one line of JSON on stdout, never wrapped or styled."""
    typer.echo(json.dumps(document, ensure_ascii=False, default=str))


def print_rows(columns: Sequence[str], rows: Iterable[Mapping[str, object]], *,
               as_json: bool) -> None:
    """A list command's output: a table for people, or (``--json``) one JSON array whose
    objects carry ``columns`` as keys."""
    chosen = [{column: row[column] for column in columns} for row in rows]
    if as_json:
        emit_json(chosen)
        return
    table = Table(*(column.replace("_", " ") for column in columns))
    for row in chosen:
        table.add_row(*("-" if row[column] is None else str(row[column])
                        for column in columns))
    console.print(table)


JSON_OPTION = typer.Option("--json", help="print JSON (never wrapped or cut) for scripts")

CLI_ACTOR = "cli:operator"


@cache
def runtime() -> Runtime:
    """The process runtime (settings read once)."""
    return Runtime(Settings.load())


class DataDirectoryMissingError(Exception):
    """A command that only reads or changes an installation found no data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.message = f"no data directory at {data_dir.resolve()}"
        self.hint = ("set ZHENGYIN_DATA_DIR (or data_dir in the ZHENGYIN_CONFIG file) to the "
                     "service's data directory; only a new installation starts with "
                     "zhengyin db upgrade")
        super().__init__(self.message)


def require_data_dir(settings: Settings) -> None:
    """Refuse a data directory that is not there, rather than create an empty one.

    Run from another directory, the default ``./zhengyin-data`` is a new, empty place: a
    command that made it and then asked for ``db upgrade`` would lead to a second, separate
    PKI. Only ``db upgrade``, ``pki init`` and ``serve`` may create the directory.
    """
    if not settings.data_dir.is_dir():
        raise DataDirectoryMissingError(settings.data_dir)


def ready_runtime(*, may_create: bool = False) -> Runtime:
    """The runtime after checking the schema is current (every command but ``db``).

    In development mode the PKI is created on first use, as ``serve`` would. Unless
    ``may_create``, a missing data directory is an error (:func:`require_data_dir`).
    """
    current = runtime()
    if not may_create:
        require_data_dir(current.settings)
    current.check_schema()
    if current.settings.is_development:
        current.ensure_pki()
    return current


def warn_about_base_url(settings: Settings, *, listening_port: int | None = None,
                        unset_warns: bool = True) -> None:
    """Say on stderr when certificates about to be issued may point nowhere."""
    warning = settings.base_url_warning(listening_port=listening_port,
                                        unset_warns=unset_warns)
    if warning is not None:
        typer.echo(f"warning: {warning}", err=True)


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
