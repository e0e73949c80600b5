"""``zhengyin keys``: the key store."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from keys import KeyAlgorithm, KeyHandle
from trust.db import utcnow

from .common import CLI_ACTOR, console, ready_runtime

app = typer.Typer(help="Keys in the key store.", no_args_is_help=True)


@app.command("list")
def list_keys() -> None:
    """List keys (metadata only)."""
    runtime = ready_runtime()
    table = Table("handle", "label", "algorithm", "disabled", "note")
    for info in runtime.keystore.list():
        note = "" if info.algorithm.pdf_verifiable else "pdfsig cannot verify Ed25519"
        table.add_row(str(info.handle), info.label, info.algorithm.value,
                      "yes" if info.disabled else "no", note)
    console.print(table)


@app.command("generate")
def generate(
    label: Annotated[str, typer.Option(help="what the key is for")],
    algorithm: Annotated[KeyAlgorithm, typer.Option()] = KeyAlgorithm.EC_P256,
) -> None:
    """Generate a key."""
    runtime = ready_runtime()
    with runtime.unit_of_work() as services:
        handle = services.keys.generate(algorithm, label, at=utcnow(), actor=CLI_ACTOR).handle
    if not algorithm.pdf_verifiable:
        console.print("[yellow]note: poppler's pdfsig cannot verify Ed25519 signatures[/yellow]")
    console.print(str(handle))


@app.command("disable")
def disable(handle: Annotated[str, typer.Argument(help="backend:key-id")]) -> None:
    """Disable a key."""
    runtime = ready_runtime()
    key = KeyHandle.parse(handle)
    with runtime.unit_of_work() as services:
        services.keys.disable(key, at=utcnow(), actor=CLI_ACTOR)
    console.print(f"disabled {key}")
