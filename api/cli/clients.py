"""``zhengyin client``: API clients and their credentials."""

from __future__ import annotations

from typing import Annotated

import typer

from zhengyin.core.clock import beijing_time, utcnow
from zhengyin.core.models import ClientRole

from .common import CLI_ACTOR, JSON_OPTION, console, err_console, print_rows, ready_runtime

app = typer.Typer(help="API clients.", no_args_is_help=True)


def _show_credential(credential: str) -> None:
    err_console.print("[bold]credential (shown once, store it now):[/bold]")
    typer.echo(credential)


@app.command("add")
def add(
    name: Annotated[str, typer.Option(help="unique client name")],
    role: Annotated[ClientRole, typer.Option(help="what the client is")],
    org: Annotated[str | None, typer.Option(help="organisation credit code")] = None,
) -> None:
    """Add a client and print its credential once (only a hash is kept)."""
    runtime = ready_runtime()
    with runtime.unit_of_work() as services:
        issued = services.clients.add(name=name, role=role, org_credit_code=org, at=utcnow(),
                                      actor=CLI_ACTOR)
    err_console.print(f"added client {issued.client.id} ({name}, {role.value})")
    _show_credential(issued.credential)


@app.command("list")
def list_clients(as_json: Annotated[bool, JSON_OPTION] = False) -> None:
    """List clients."""
    runtime = ready_runtime()
    with runtime.unit_of_work(readonly=True) as services:
        rows = [{"id": client.id, "name": client.name, "role": client.role.value,
                 "org": client.org_credit_code, "status": client.status.value,
                 "created": client.created_at.isoformat() if as_json
                 else beijing_time(client.created_at)}
                for client in services.clients.list()]
    print_rows(("id", "name", "role", "org", "status", "created"), rows, as_json=as_json)


@app.command("disable")
def disable(client: Annotated[str, typer.Argument(help="client id or name")]) -> None:
    """Disable a client at once."""
    runtime = ready_runtime()
    with runtime.unit_of_work() as services:
        row = services.clients.disable(services.clients.find(client).id, at=utcnow(),
                                       actor=CLI_ACTOR)
    console.print(f"disabled client {row.id} ({row.name})")


@app.command("rotate")
def rotate(client: Annotated[str, typer.Argument(help="client id or name")]) -> None:
    """Replace a client's secret and print the new credential once."""
    runtime = ready_runtime()
    with runtime.unit_of_work() as services:
        issued = services.clients.rotate(services.clients.find(client).id, at=utcnow(),
                                         actor=CLI_ACTOR)
    _show_credential(issued.credential)
