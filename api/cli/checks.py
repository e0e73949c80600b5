"""``zhengyin item``, ``zhengyin receipt verify`` and ``zhengyin qr verify``."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from asn1crypto import pem
from rich.table import Table

from registry.receipts import verify_display, verify_receipt
from trust.db import utcnow
from trust.jws import PinnedSigner, SignerTrust
from trust.purposes import DISPLAY_CODE

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


def _root(root: Path) -> bytes:
    data = root.read_bytes()
    return pem.unarmor(data)[2] if pem.detect(data) else data


def _installation_trust() -> SignerTrust:
    runtime = ready_runtime()
    with runtime.unit_of_work(readonly=True) as services:
        return runtime.signer_trust(services)


def _listed_trust(trust_list: Path, root: Path | None) -> SignerTrust:
    """The signers a trust list pins, once the list verifies against the root."""
    from trust.trustlist import read_trust_list

    anchors = [_root(root)] if root is not None else list(_installation_trust().anchors)
    listed = read_trust_list(trust_list.read_text(encoding="ascii"), anchors, now=utcnow())
    return listed.signer_trust()


RootOption = Annotated[Path | None, typer.Option(
    help="trusted root certificate (PEM or DER) for offline checks; default: this "
         "installation's root")]
TrustListOption = Annotated[Path | None, typer.Option(
    help="the published trust list (compact JWS): verified against the root, it names "
         "the service identities that sign", exists=True, dir_okay=False)]


@receipt_app.command("verify")
def receipt_verify(file: Annotated[Path, typer.Argument(help="the receipt (compact JWS)")],
                   root: RootOption = None, trust_list: TrustListOption = None) -> None:
    """Verify a check receipt's signature and signer's certificate path; print what it states.

    With --trust-list the signer must be the receipt signer the list pins (also a
    receipt signed before receipt signers carried their EKU); with --root alone, a
    certificate of that root carrying the receipt EKU; with neither, this installation's.
    """
    if trust_list is not None:
        trust = _listed_trust(trust_list, root)
    elif root is not None:
        trust = SignerTrust.roots_only([_root(root)])
    else:
        trust = _installation_trust()
    payload = verify_receipt(file.read_text(encoding="ascii").strip(), trust)
    console.print(f"[green]receipt verified[/green]: check {payload['check_id']} at "
                  f"{payload['at']} for {payload['client']['name']}, item "
                  f"{payload['item']['code']}, case {payload['case_number']}")
    for result in payload["results"]:
        state = "satisfied" if result["satisfied"] else f"not satisfied ({result['reason']})"
        console.print(f"  {result['material']} {result['name']}: {state} "
                      f"{result.get('identifier', '')}")


def _given_signers(files: list[Path], root: Path | None) -> SignerTrust:
    """--signer: the registry's certificate (pinned) and its CA (an intermediate)."""
    from cryptography import x509

    certificates = []
    for file in files:
        data = file.read_bytes()
        certificates += [der for _, _, der in pem.unarmor(data, multiple=True)] \
            if pem.detect(data) else [data]

    def is_ca(der: bytes) -> bool:
        try:
            return bool(x509.load_der_x509_certificate(der).extensions
                        .get_extension_for_class(x509.BasicConstraints).value.ca)
        except x509.ExtensionNotFound:
            return False

    anchors = (_root(root),) if root is not None else _installation_trust().anchors
    return SignerTrust(
        anchors=anchors, intermediates=tuple(der for der in certificates if is_ca(der)),
        pins={DISPLAY_CODE.name: tuple(PinnedSigner(der) for der in certificates
                                       if not is_ca(der))},
        source="--signer")


@qr_app.command("verify")
def qr_verify(
    token: Annotated[str, typer.Argument(help="the display token (or a URL)")],
    root: RootOption = None,
    signer: Annotated[list[Path] | None, typer.Option(
        help="the registry's signing certificate and CA (PEM/DER; from the trust list or "
             "'zhengyin pki export registry'); default: this installation's")] = None,
    trust_list: TrustListOption = None,
) -> None:
    """Check a display QR code offline: signature, signer, chain and expiry; no registry call."""
    if signer and trust_list is not None:
        raise typer.BadParameter("give --signer or --trust-list, not both",
                                 param_hint="--trust-list")
    if "t=" in token:
        token = token.split("t=", 1)[1].split("&", 1)[0]
    if trust_list is not None:
        trust = _listed_trust(trust_list, root)
    elif signer:
        trust = _given_signers(signer, root)
    else:
        trust = _installation_trust()
        if root is not None:
            trust = replace(trust, anchors=(_root(root),))
    payload = verify_display(token, trust, now=utcnow())
    issued = datetime.fromtimestamp(int(payload["iat"]), UTC)
    console.print(f"[green]display code verified[/green] — as of {issued:%Y-%m-%d %H:%M:%S} "
                  f"UTC: {payload['t']} {payload['n']} held by {payload['h']} was "
                  f"{payload['s']} ({payload['id']})")
