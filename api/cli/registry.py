"""``zhengyin licence-type``, ``zhengyin licence`` and ``zhengyin store``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import select

from zhengyin.core.clock import beijing_time, utcnow
from zhengyin.registry.catalogue import TypeDefinition, example_definitions, example_service_items
from zhengyin.registry.filestore import sweep
from zhengyin.registry.licences import Reader
from zhengyin.registry.lifecycle import effective_status
from zhengyin.registry.models import Licence
from zhengyin.registry.sealing import LicenceSealer

from .common import (
    CLI_ACTOR,
    JSON_OPTION,
    console,
    parse_moment,
    print_rows,
    read_json_file,
    ready_runtime,
)

types_app = typer.Typer(help="Licence types.", no_args_is_help=True)
licence_app = typer.Typer(help="Licences.", no_args_is_help=True)
store_app = typer.Typer(help="The file store.", no_args_is_help=True)


@types_app.command("load-examples")
def load_examples() -> None:
    """Define the example types (营业执照, 食品经营许可证, …) and service items."""
    _define([TypeDefinition.from_json(document) for document in example_definitions()])
    runtime = ready_runtime()
    with runtime.unit_of_work() as services:
        for item in example_service_items():
            row = services.service_items.define(item, at=utcnow(), actor=CLI_ACTOR)
            console.print(f"service item {row.code} {row.name}")


@types_app.command("import")
def import_types(file: Annotated[Path, typer.Argument(help="JSON: one definition or a list")]
                 ) -> None:
    """Create types, or add versions to types whose content changed."""
    document = read_json_file(file)
    documents = document if isinstance(document, list) else [document]
    _define([TypeDefinition.from_json(item) for item in documents])


def _define(definitions: list[TypeDefinition]) -> None:
    runtime = ready_runtime()
    at = utcnow()
    with runtime.unit_of_work() as services:
        for definition in definitions:
            row = services.catalogue.define(definition, at=at, actor=CLI_ACTOR)
            console.print(f"{row.code} {row.name}: version {row.version}")


@types_app.command("export")
def export_type(code: str, out: Annotated[Path | None, typer.Option()] = None) -> None:
    """Print (or write) a type's current definition as JSON."""
    runtime = ready_runtime()
    with runtime.unit_of_work(readonly=True) as services:
        text = json.dumps(services.catalogue.export(code), ensure_ascii=False, indent=2)
    if out is None:
        typer.echo(text)
    else:
        out.write_text(text + "\n", encoding="utf-8")


@types_app.command("list")
def list_types(as_json: Annotated[bool, JSON_OPTION] = False) -> None:
    """The current version of every type."""
    runtime = ready_runtime()
    with runtime.unit_of_work(readonly=True) as services:
        rows = [{"code": row.code, "name": row.name, "version": row.version,
                 "authority": row.authority_name,
                 "holders": list(row.holder_kinds) if as_json else ", ".join(row.holder_kinds)}
                for row in services.catalogue.all_current()]
    print_rows(("code", "name", "version", "authority", "holders"), rows, as_json=as_json)


@licence_app.command("show")
def show(identifier: str) -> None:
    """A licence and its history."""
    runtime = ready_runtime()
    at = utcnow()
    with runtime.unit_of_work(readonly=True) as services:
        licence = services.licences.get(identifier, Reader(everything=True))
        console.print(f"[bold]{licence.identifier}[/bold]  {licence.printed_number}")
        console.print(f"status {effective_status(licence, LicenceSealer.today(at)).value}, "
                      f"valid {licence.valid_from} – {licence.valid_until or '长期'}")
        for event in services.licences.history(licence):
            console.print(f"  {beijing_time(event.effective_at)} {event.action.value} "
                          f"→ {event.to_status.value} ({event.actor}) {event.reason or ''}")


@licence_app.command("status")
def status(identifier: str,
           at: Annotated[str | None, typer.Option(help="ISO date or time")] = None) -> None:
    """The status now, or at a moment."""
    moment = parse_moment(at) if at else utcnow()
    runtime = ready_runtime()
    with runtime.unit_of_work(readonly=True) as services:
        licence = services.licences.get(identifier, Reader(everything=True))
        result = services.licences.status_at(licence, moment)
    typer.echo(result.value if result else "not issued yet")


@licence_app.command("expire-due")
def expire_due() -> None:
    """Write the expiry of licences past their end date into their history."""
    runtime = ready_runtime()
    total = 0
    while True:
        with runtime.unit_of_work() as services:
            done = services.lifecycle.expire_due(at=utcnow())
        total += done
        if done == 0:
            break
    console.print(f"{total} licences expired")


@store_app.command("sweep")
def store_sweep(
    grace: Annotated[int, typer.Option(help="keep files younger than this many seconds",
                                       min=0, max=10**9)] = 3600,
    dry_run: Annotated[bool, typer.Option(help="list, do not delete")] = False,
) -> None:
    """Remove files no licence references (left by failed or crashed issuance)."""
    runtime = ready_runtime()

    def referenced(digests: list[str]) -> list[str]:
        with runtime.unit_of_work(readonly=True) as services:
            return list(services.session.scalars(
                select(Licence.pdf_sha256).where(Licence.pdf_sha256.in_(digests))))

    report = sweep(runtime.file_store, referenced, grace_seconds=grace, dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    console.print(f"examined {report.examined} files, {verb} {len(report.removed)}")
    for digest in report.removed:
        console.print(f"  {digest}")


holder_app = typer.Typer(help="Holders (development tools).", no_args_is_help=True)


@holder_app.command("token")
def holder_token(
    holder_code: Annotated[str, typer.Argument(help="citizen ID or credit code")],
    kind: Annotated[str, typer.Option(help="holder kind")] = "citizen-id",
    hours: Annotated[int, typer.Option(help="lifetime", min=1, max=24 * 366)] = 8,
) -> None:
    """Mint a development holder token (refused unless development tokens are on)."""
    from datetime import timedelta

    from zhengyin.registry.holders import HolderKind

    runtime = ready_runtime()
    with runtime.unit_of_work() as services:
        token = runtime.holder_tokens.mint(services, holder_code, HolderKind(kind), at=utcnow(),
                                           ttl=timedelta(hours=hours))
    typer.echo(token)
