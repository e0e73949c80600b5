"""``zhengyin item``, ``zhengyin receipt verify`` and ``zhengyin qr verify``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from asn1crypto import pem
from rich.table import Table

from registry.receipts import verify_display, verify_receipt
from trust.db import utcnow

from .common import CLI_ACTOR, console, ready_runtime

items_app = typer.Typer(help="Service items (事项).", no_args_is_help=True)
receipt_app = typer.Typer(help="Check receipts.", no_args_is_help=True)
qr_app = typer.Typer(help="Licence display QR codes (亮证).", no_args_is_help=True)


@items_app.command("import")
def import_items(file: Annotated[Path, typer.Argument(help="JSON: one item or a list")]) -> None:
    """Create or replace service items and what each may receive."""
    document = json.loads(file.read_text(encoding="utf-8"))
    documents = document if isinstance(document, list) else [document]
    runtime = ready_runtime()
    with runtime.unit_of_work() as services:
        for item in documents:
            row = services.service_items.define(item, at=utcnow(), actor=CLI_ACTOR)
            console.print(f"{row.code} {row.name}: {len(row.materials)} materials")


@items_app.command("list")
def list_items() -> None:
    """Every service item."""
    runtime = ready_runtime()
    table = Table("code", "name", "materials")
    with runtime.unit_of_work(readonly=True) as services:
        for item in services.service_items.all():
            table.add_row(item.code, item.name,
                          ", ".join(material["name"] for material in item.materials))
    console.print(table)


def _anchors(root: Path | None) -> list[bytes]:
    if root is not None:
        data = root.read_bytes()
        return [pem.unarmor(data)[2] if pem.detect(data) else data]
    runtime = ready_runtime()
    with runtime.unit_of_work(readonly=True) as services:
        return runtime.trust_anchors(services)


RootOption = Annotated[Path | None, typer.Option(
    help="trusted root certificate (PEM or DER) for offline checks; default: this "
         "installation's root")]


@receipt_app.command("verify")
def receipt_verify(file: Annotated[Path, typer.Argument(help="the receipt (compact JWS)")],
                   root: RootOption = None) -> None:
    """Verify a check receipt's signature and certificate chain; print what it states."""
    payload = verify_receipt(file.read_text(encoding="ascii").strip(), _anchors(root))
    console.print(f"[green]receipt verified[/green]: check {payload['check_id']} at "
                  f"{payload['at']} for {payload['client']['name']}, item "
                  f"{payload['item']['code']}, case {payload['case_number']}")
    for result in payload["results"]:
        state = "satisfied" if result["satisfied"] else f"not satisfied ({result['reason']})"
        console.print(f"  {result['material']} {result['name']}: {state} "
                      f"{result.get('identifier', '')}")


def _certificates(files: list[Path] | None) -> list[bytes]:
    if files:
        result = []
        for file in files:
            data = file.read_bytes()
            result += [der for _, _, der in pem.unarmor(data, multiple=True)] \
                if pem.detect(data) else [data]
        return result
    runtime = ready_runtime()
    with runtime.unit_of_work() as services:
        return runtime.registry_certificates(services)


def _registry_certificates_from(trust_list: Path, anchors: list[bytes]) -> list[bytes]:
    """The registry's signing chain from a trust list, once the list verifies."""
    import base64

    from trust.jws import JWSError
    from trust.trustlist import read_trust_list

    listed = read_trust_list(trust_list.read_text(encoding="ascii"), anchors, now=utcnow())
    chain = listed.payload.get("service_certificates", {}).get("registry")
    if not chain:
        raise JWSError("the trust list names no registry signing certificate",
                       hint="export a current list with 'zhengyin trustlist export'")
    return [base64.b64decode(item) for item in chain]


@qr_app.command("verify")
def qr_verify(
    token: Annotated[str, typer.Argument(help="the display token (or a URL)")],
    root: RootOption = None,
    signer: Annotated[list[Path] | None, typer.Option(
        help="the registry's signing certificate and CA (PEM/DER; from the trust list or "
             "'zhengyin pki export registry'); default: this installation's")] = None,
    trust_list: Annotated[Path | None, typer.Option(
        help="the published trust list (compact JWS): verified against the root, it "
             "supplies the registry's signing certificates", exists=True, dir_okay=False)
    ] = None,
) -> None:
    """Check a display QR code offline: signature, chain and expiry; no registry call."""
    if signer and trust_list is not None:
        raise typer.BadParameter("give --signer or --trust-list, not both",
                                 param_hint="--trust-list")
    if "t=" in token:
        token = token.split("t=", 1)[1].split("&", 1)[0]
    anchors = _anchors(root)
    certificates = _registry_certificates_from(trust_list, anchors) \
        if trust_list is not None else _certificates(signer)
    payload = verify_display(token, anchors, now=utcnow(), certificates=certificates)
    issued = datetime.fromtimestamp(int(payload["iat"]), UTC)
    console.print(f"[green]display code verified[/green] — as of {issued:%Y-%m-%d %H:%M:%S} "
                  f"UTC: {payload['t']} {payload['n']} held by {payload['h']} was "
                  f"{payload['s']} ({payload['id']})")
