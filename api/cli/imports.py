"""``zhengyin licence import``: bulk import (migration) of licences from JSON Lines."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from zhengyin.core.clock import utcnow
from zhengyin.registry.imports.report import ImportReport, report_path
from zhengyin.registry.imports.run import ImportOptions, ImportProgress

from ..imports import ProcessSealing, import_service
from .common import CLI_ACTOR, console, ready_runtime

__all__ = ["register"]

# Below this size the checking pool's start-up (a second per process) costs more than
# it saves.
_PARALLEL_CHECKS_FROM = 8 << 20
# Exit status when the import completed but refused some rows (1 is a failed command).
ROWS_REFUSED = 3


def register(licence_app: typer.Typer) -> None:
    """Attach ``import`` to ``zhengyin licence``."""
    licence_app.command("import")(import_licences)


def import_licences(  # noqa: PLR0917 - one parameter per command-line option
    file: Annotated[Path, typer.Argument(help="JSON Lines: one licence per line",
                                         exists=True, dir_okay=False, readable=True)],
    type_code: Annotated[str, typer.Option("--type", help="licence type code (21 characters)")],
    issuer: Annotated[str, typer.Option(help="issuing organisation's credit code")],
    seal_now: Annotated[bool, typer.Option(
        "--seal-now", help="seal every PDF now (default: at its first download)")] = False,
    batch_id: Annotated[str | None, typer.Option(
        help="name the batch (default: derived from type, issuer and the file's SHA-256)",
    )] = None,
    report: Annotated[Path | None, typer.Option(
        help="row error report, .jsonl or .csv (default: FILE.errors.jsonl beside FILE)",
    )] = None,
    chunk_rows: Annotated[int, typer.Option(min=1, max=20000,
                                            help="rows per transaction")] = 2000,
) -> None:
    """Import licences issued elsewhere; re-running the same command resumes.

    Rows are checked as issuance checks them; a refused row is reported (line, field,
    message) and the others are imported. A crash loses at most the chunk in flight:
    run the same command again and it goes on from there, never importing a row twice.
    Exits with status 3 when some rows were refused.
    """
    runtime = ready_runtime()
    workers = runtime.settings.worker_count
    options = ImportOptions(type_code=type_code.upper(), issuer_code=issuer, actor=CLI_ACTOR,
                            seal_now=seal_now, batch_id=batch_id, chunk_rows=chunk_rows)
    with ExitStack() as stack:
        sealing = stack.enter_context(ProcessSealing(runtime.settings, workers=workers)) \
            if seal_now else None
        # Sealing keeps every core busy; without it, checking rows is half the work.
        checkers = 0 if seal_now or file.stat().st_size < _PARALLEL_CHECKS_FROM \
            else max(1, workers - 1)
        service = import_service(runtime, sealing=sealing, check_workers=checkers)
        progress = stack.enter_context(Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(),
            TextColumn("{task.fields[counts]}"), TimeElapsedColumn(), TimeRemainingColumn(),
            console=console, transient=False,
        ))
        task = progress.add_task(file.name, total=file.stat().st_size, counts="")

        def show(state: ImportProgress) -> None:
            progress.update(task, completed=state.bytes_done,
                            counts=f"{state.imported:,} imported, {state.failed:,} refused")

        summary = service.run(file, options, clock=utcnow, progress=show)
    resumed = f" (resumed after line {summary.resumed_after:,})" if summary.resumed_after else ""
    console.print(f"batch {summary.batch_id}: {summary.imported:,} imported, "
                  f"{summary.failed:,} refused, {summary.rows_done:,} lines{resumed}; "
                  + ("sealed now" if summary.seal_now else "sealed at first download"),
                  soft_wrap=True)
    if summary.failed:
        target = report or report_path(file)
        count = ImportReport(runtime.unit_of_work, summary.batch_id).write(target)
        console.print(f"{count:,} row errors written to {target}", soft_wrap=True)
        raise typer.Exit(ROWS_REFUSED)
