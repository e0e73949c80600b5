"""``zhengyin item``, ``zhengyin receipt verify`` and ``zhengyin qr verify``."""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from asn1crypto import pem
from rich.markup import escape

from zhengyin.core.clock import beijing_date, beijing_time, utcnow
from zhengyin.core.errors import ZhengyinError
from zhengyin.registry.lifecycle import effective_status
from zhengyin.registry.models import LicenceStatus
from zhengyin.registry.receipts import verify_display, verify_receipt
from zhengyin.trust.jws import PinnedSigner, SignerTrust
from zhengyin.trust.purposes import DISPLAY_CODE

from ..pages.statuses import (
    UNKNOWN,
    StatusView,
    Tone,
    display_code_problem,
    status_view,
    validity_text,
)
from .common import CLI_ACTOR, JSON_OPTION, console, print_rows, read_json_file, ready_runtime

items_app = typer.Typer(help="Service items (事项).", no_args_is_help=True)
receipt_app = typer.Typer(help="Check receipts.", no_args_is_help=True)
qr_app = typer.Typer(help="Licence display QR codes (亮证).", no_args_is_help=True)


@items_app.command("import")
def import_items(file: Annotated[Path, typer.Argument(help="JSON: one item or a list")]) -> None:
    """Create or replace service items and what each may receive."""
    document = read_json_file(file)
    documents = document if isinstance(document, list) else [document]
    runtime = ready_runtime()
    with runtime.unit_of_work() as services:
        for item in documents:
            row = services.service_items.define(item, at=utcnow(), actor=CLI_ACTOR)
            console.print(f"{row.code} {row.name}: {len(row.materials)} materials")


@items_app.command("list")
def list_items(as_json: Annotated[bool, JSON_OPTION] = False) -> None:
    """Every service item."""
    runtime = ready_runtime()
    with runtime.unit_of_work(readonly=True) as services:
        rows = [{"code": item.code, "name": item.name,
                 "materials": [material["name"] for material in item.materials] if as_json
                 else ", ".join(material["name"] for material in item.materials)}
                for item in services.service_items.all()]
    print_rows(("code", "name", "materials"), rows, as_json=as_json)


def _root(root: Path) -> bytes:
    data = root.read_bytes()
    return pem.unarmor(data)[2] if pem.detect(data) else data


def _installation_trust() -> SignerTrust:
    runtime = ready_runtime()
    with runtime.unit_of_work(readonly=True) as services:
        return services.identities.signer_trust()


def _listed_trust(trust_list: Path, root: Path | None) -> SignerTrust:
    """The signers a trust list pins, once the list verifies against the root."""
    from zhengyin.trust.trustlist import read_trust_list

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


QR_EXIT_VALID, QR_EXIT_NOT_VALID, QR_EXIT_UNKNOWN, QR_EXIT_ERROR = 0, 1, 2, 3
"""``zhengyin qr verify`` exit codes, as ``zhengyin verify``'s: 0 the licence is valid; 1 it
is not (revoked, suspended, lost, superseded, expired) or the code fails; 2 its status is
unknown; 3 nothing could be verified (unreadable code, root or trust list)."""
_RICH = {Tone.GOOD: "green", Tone.WARN: "yellow", Tone.BAD: "red"}


@dataclass(frozen=True)
class _Asserted:
    """The status and last valid day a display code asserts (registry.lifecycle.StatusBearing)."""

    status: LicenceStatus
    valid_until: date | None


def asserted_status(payload: dict[str, Any], now: datetime) -> StatusView:
    """The status the code asserts, as of ``now``: a live status past the licence's last
    valid day (Beijing calendar) reads as expired, as the registry would say."""
    valid_until = date.fromisoformat(payload["u"]) if payload.get("u") else None
    try:
        stated = LicenceStatus(str(payload.get("s")))
    except ValueError:
        return status_view(None)
    status = effective_status(_Asserted(stated, valid_until), beijing_date(now))
    return status_view(status, valid_until=valid_until)


StatusListOption = Annotated[Path | None, typer.Option(
    help="a status list token (GET /status-lists/{id}, draft-ietf-oauth-status-list): "
         "verified against the registry identity, it gives the licence's status now",
    exists=True, dir_okay=False)]


def _listed_status(payload: dict[str, Any], asserted: StatusView, file: Path,
                   trust: SignerTrust, now: datetime) -> tuple[StatusView, str]:
    """The status by the status list, unless the code asserts a worse one; and the text
    saying as of when. A list that cannot be relied on stops the command (exit 3)."""
    from zhengyin.trust.statuslist import StatusListError, verify_status_list
    from zhengyin.trust.validation.errors import CheckFailedError
    from zhengyin.trust.validation.listedstatus import listed_state

    try:
        listed = verify_status_list(file.read_text(encoding="ascii"), trust, now=now)
    except (OSError, UnicodeDecodeError, StatusListError) as exc:
        _fail(f"cannot rely on the status list: {getattr(exc, 'message', exc)}")
    entry = payload.get("status", {}).get("status_list") \
        if isinstance(payload.get("status"), dict) else None
    if not isinstance(entry, dict) or not isinstance(entry.get("idx"), int) \
            or not isinstance(entry.get("uri"), str):
        return asserted, "截至亮证时 {issued}；该亮证码未载明状态列表位置，未按状态列表核验"
    try:
        state = listed_state(listed, entry["uri"], entry["idx"])
    except CheckFailedError as failure:
        _fail(f"cannot read the licence's status from the list: {failure.reason.en}")
    if asserted.tone is not Tone.GOOD:
        return asserted, f"据亮证码（{{issued}}），状态列表签发于 {listed.issued_text}"
    valid_until = date.fromisoformat(payload["u"]) if payload.get("u") else None
    return (status_view(state, valid_until=valid_until),
            f"据状态列表，签发于 {listed.issued_text}（status list issued {listed.issued_text}）")


def _fail(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(QR_EXIT_ERROR)


@qr_app.command("verify")
def qr_verify(
    token: Annotated[str, typer.Argument(help="the display token (or a URL)")],
    root: RootOption = None,
    signer: Annotated[list[Path] | None, typer.Option(
        help="the registry's signing certificate and CA (PEM/DER; from the trust list or "
             "'zhengyin pki export registry'); default: this installation's")] = None,
    trust_list: TrustListOption = None,
    status_list: StatusListOption = None,
) -> None:
    """Check a display QR code offline: signature, signer, chain, expiry and the licence
    status it asserts; no registry call. With --status-list, the licence's status now by
    the signed status list (its entry is in the code). Exit 0 valid, 1 not valid or
    failed, 2 status unknown, 3 cannot verify."""
    from zhengyin.core.jose import JWSError

    from ..settings import SettingsError

    if signer and trust_list is not None:
        _fail("give --signer or --trust-list, not both")
    if "t=" in token:
        token = token.split("t=", 1)[1].split("&", 1)[0]
    if token.count(".") != 2:
        _fail("not a display code (expected a compact JWS or a /v/q?t=… address)")
    try:
        if trust_list is not None:
            trust = _listed_trust(trust_list, root)
        elif signer:
            trust = _given_signers(signer, root)
        else:
            trust = _installation_trust()
            if root is not None:
                trust = replace(trust, anchors=(_root(root),))
    except (OSError, ValueError, JWSError, ZhengyinError, SettingsError) as exc:
        _fail(f"cannot read the trust material: {getattr(exc, 'message', exc)}")
    now = utcnow()
    try:
        payload = verify_display(token, trust, now=now)
    except JWSError as exc:
        console.print("[bold red]✘ 亮证码无法核验[/]", soft_wrap=True)
        console.print(escape(display_code_problem(exc)), soft_wrap=True)
        raise typer.Exit(QR_EXIT_NOT_VALID) from None
    status = asserted_status(payload, now)
    as_of = "截至亮证时 {issued}；离线核验不查询证照库"
    if status_list is not None:
        status, as_of = _listed_status(payload, status, status_list, trust, now)
    issued = datetime.fromtimestamp(int(payload["iat"]), UTC)
    expires = datetime.fromtimestamp(int(payload["exp"]), UTC)
    colour = _RICH[status.tone]
    console.print(f"[bold {colour}]{escape(status.headline)}[/]", soft_wrap=True)
    console.print(escape(status.explanation), soft_wrap=True)
    for label, value in (
        ("证照状态", f"{status.name}（{status.value}），"
                     + as_of.format(issued=beijing_time(issued))),
        ("证照名称", str(payload.get("t"))), ("证照编号", str(payload.get("n"))),
        ("持证主体", str(payload.get("h"))), ("证照标识", str(payload["id"])),
        ("有效期", validity_text(None, date.fromisoformat(payload["u"]))
                  if payload.get("u") else "长期有效"),
        ("亮证码有效至", beijing_time(expires)),
    ):
        console.print(f"  {label}：{escape(value)}", soft_wrap=True)
    console.print("亮证码本身是真实的：由证照库签发，签名和证书链有效，未过期。", style="dim",
                  soft_wrap=True)
    if status.valid:
        raise typer.Exit(QR_EXIT_VALID)
    raise typer.Exit(QR_EXIT_UNKNOWN if status.value == UNKNOWN else QR_EXIT_NOT_VALID)
