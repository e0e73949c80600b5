"""``zhengyin keys``: the key store."""

from __future__ import annotations

from typing import Annotated

import typer

from zhengyin.core.clock import utcnow
from zhengyin.keys import KeyAlgorithm, KeyHandle

from .common import CLI_ACTOR, JSON_OPTION, console, print_rows, ready_runtime

app = typer.Typer(help="Keys in the key store.", no_args_is_help=True)


@app.command("list")
def list_keys(as_json: Annotated[bool, JSON_OPTION] = False) -> None:
    """List keys (metadata only)."""
    runtime = ready_runtime()
    rows = [{"handle": str(info.handle), "label": info.label,
             "algorithm": info.algorithm.value,
             "disabled": info.disabled if as_json else ("yes" if info.disabled else "no"),
             "note": "" if info.algorithm.pdf_verifiable else "pdfsig cannot verify Ed25519"}
            for info in runtime.keystore.list()]
    print_rows(("handle", "label", "algorithm", "disabled", "note"), rows, as_json=as_json)


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
