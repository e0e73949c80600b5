"""``zhengyin verify``, ``zhengyin trustlist`` and ``zhengyin trust-anchor``.

``zhengyin verify FILE`` exits 0 when the verdict is TOTAL-PASSED, 1 when TOTAL-FAILED
and 2 when INDETERMINATE; 3 when the file cannot be verified at all (not a PDF, too
large, unreadable trust list). With ``--trust-list`` and ``--root`` it verifies offline,
from a signed trust list, without the service's database.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from zhengyin.core.clock import beijing_time, utcnow
from zhengyin.core.errors import ZhengyinError
from zhengyin.trust.validation import Indication, VerificationReport, Verifier

from ..schemas.verify import VerificationReportRead
from .common import CLI_ACTOR, JSON_OPTION, console, emit_json, ready_runtime

__all__ = ["anchor_app", "register", "trustlist_app"]

trustlist_app = typer.Typer(help="The signed trust list.", no_args_is_help=True)
anchor_app = typer.Typer(help="External trust anchors for verification.",
                         no_args_is_help=True)

EXIT = {Indication.TOTAL_PASSED: 0, Indication.TOTAL_FAILED: 1, Indication.INDETERMINATE: 2}
EXIT_ERROR = 3
_COLOUR = {Indication.TOTAL_PASSED: "green", Indication.TOTAL_FAILED: "red",
           Indication.INDETERMINATE: "yellow"}


def register(app: typer.Typer) -> None:
    """Attach ``verify``, ``trustlist`` and ``trust-anchor`` to the root app."""
    app.command("verify")(verify)
    app.add_typer(trustlist_app, name="trustlist")
    app.add_typer(anchor_app, name="trust-anchor")


def _line(text: str) -> None:
    """A reason as it is: no markup (reasons quote PDF arrays like [0 0 0 0]), no wrapping."""
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def _print(report: VerificationReport) -> None:
    verdict = report.verdict
    colour = _COLOUR[verdict.indication]
    sub = f" / {verdict.sub_indication.value}" if verdict.sub_indication else ""
    console.print(f"[bold {colour}]{verdict.indication.value}{sub}[/]")
    if report.licence is not None:
        licence = report.licence
        console.print(f"licence {licence.identifier} ({licence.type_name}): "
                      f"{licence.state_now.value}")
    for check in report.document:
        if check.status.value not in ("passed", "not-applicable"):
            _line(f"  document: {check.reason.en}")
    for item in report.signatures:
        signature = item.verdict
        who = item.seal.name if item.seal else (
            item.evidence.signer.common_name if item.evidence.signer else item.evidence.field)
        when = beijing_time(item.signing_time) if item.signing_time else "unknown time"
        proof = "time-stamped" if item.signing_time_proven else "claimed"
        console.print(f"  [{_COLOUR[signature.indication]}]{signature.indication.value}[/] "
                      f"{item.evidence.field}: {who} at {when} ({proof})")
        for check in item.checks:
            if check.status.value in ("failed", "indeterminate"):
                _line(f"    {check.check}: {check.reason.en}")
        for note in item.notes:
            _line(f"    note: {note.en}")


def _offline(trust_list: Path, root: Path, status_list: Path | None) -> Verifier:
    """A verifier from the trust list; with a status list (signed by the registry
    identity the trust list pins for status lists) licences are judged by it."""
    from zhengyin.trust.anchors import parse_certificate
    from zhengyin.trust.statuslist import verify_status_list
    from zhengyin.trust.trustlist import read_trust_list
    from zhengyin.trust.validation import DEFAULT_LIMITS
    from zhengyin.trust.validation.examine import Examiner

    anchor = parse_certificate(root.read_bytes()).dump()
    now = utcnow()
    listed = read_trust_list(trust_list.read_text(encoding="ascii"), [bytes(anchor)], now=now)
    statuses = verify_status_list(status_list.read_text(encoding="ascii"),
                                  listed.signer_trust(), now=now) \
        if status_list is not None else None
    return Verifier(Examiner(listed.material(), DEFAULT_LIMITS), seals=listed, licences=None,
                    status_list=statuses)


def verify(  # noqa: PLR0917 - one parameter per command-line option
    file: Annotated[Path | None, typer.Argument(help="the signed PDF", exists=True,
                                                dir_okay=False)] = None,
    licence: Annotated[str | None, typer.Option(help="verify a licence identifier")] = None,
    qr: Annotated[str | None, typer.Option(help="verify a scanned QR payload")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the JSON report")] = False,
    report: Annotated[Path | None, typer.Option(help="write the sealed PDF report here")
                      ] = None,
    trust_list: Annotated[Path | None, typer.Option(
        help="verify offline with this signed trust list (needs --root)")] = None,
    root: Annotated[Path | None, typer.Option(
        help="our root CA certificate (PEM or DER), obtained out of band")] = None,
    status_list: Annotated[Path | None, typer.Option(
        help="offline: a status list token (GET /status-lists/{id}) giving the licence's "
             "status; without it the status is not checked", exists=True,
             dir_okay=False)] = None,
    final: Annotated[bool, typer.Option(
        "--final", help="hold documents sealed elsewhere to the final rule too: after a "
        "signature only validation data, document time-stamps and registered seals in "
        "reserved fields")] = False,
) -> None:
    """Verify a PDF, a licence identifier or a QR payload. Exit 0 passed, 1 failed,
    2 indeterminate, 3 not verifiable."""
    from zhengyin.core.jose import JWSError

    if sum(item is not None for item in (file, licence, qr)) != 1:
        console.print("give exactly one of FILE, --licence or --qr", style="red")
        raise typer.Exit(EXIT_ERROR)
    at = utcnow()
    try:
        if trust_list is not None:
            if root is None or file is None:
                console.print("offline verification takes a FILE, --trust-list and --root",
                              style="red")
                raise typer.Exit(EXIT_ERROR)
            result = _policy(_offline(trust_list, root, status_list), final).verify_pdf(
                file.read_bytes(), at=at, file_name=file.name)
        elif status_list is not None:
            console.print("--status-list is for offline verification (with --trust-list and "
                          "--root); online, the registry gives the status", style="red")
            raise typer.Exit(EXIT_ERROR)
        else:
            result = _online(file, licence, qr, report=report, at=at, final=final)
    except (ZhengyinError, JWSError) as exc:
        hint = getattr(exc, "hint", None)
        print(f"error: {getattr(exc, 'message', str(exc))}"
              + (f" (hint: {hint})" if hint else ""), file=sys.stderr)
        raise typer.Exit(EXIT_ERROR) from None
    if as_json:
        typer.echo(json.dumps(VerificationReportRead.of(result).model_dump(mode="json"),
                              ensure_ascii=False, indent=2))
    else:
        _print(result)
    raise typer.Exit(EXIT[result.verdict.indication])


def _policy(verifier: Verifier, final: bool) -> Verifier:
    from zhengyin.trust.validation import FINAL_POLICY

    return verifier.with_policy(FINAL_POLICY) if final else verifier


def _online(file: Path | None, licence: str | None, qr: str | None, *, report: Path | None,
            at: datetime, final: bool = False) -> VerificationReport:
    from ..runtime import Runtime
    from ..settings import Settings

    # One document: examined in this process (no worker pool to start).
    ready_runtime()
    current = Runtime(Settings.load(verify_in_process=True))
    try:
        with current.unit_of_work(readonly=True) as services:
            if file is not None:
                result = _policy(services.verifier, final).verify_pdf(
                    file.read_bytes(), at=at, file_name=file.name)
            elif licence is not None:
                result = services.verifier.verify_identifier(licence, at=at)
            else:
                assert qr is not None
                result = services.verifier.verify_qr(qr, at=at)
        if report is not None:
            with current.unit_of_work() as services:
                report.write_bytes(current.verification.report_pdf(services, result, at=at))
    finally:
        current.close()
    return result


@trustlist_app.command("export")
def export_trust_list(
    out: Annotated[Path | None, typer.Option(help="write here (default: standard output)")
                   ] = None,
) -> None:
    """Sign and print (or write) the current trust list (compact JWS)."""
    current = ready_runtime()
    with current.unit_of_work(readonly=True) as services:
        token = current.verification.trust_list(services)
    if out is None:
        typer.echo(token)
    else:
        out.write_text(token + "\n", encoding="ascii")
        console.print(f"trust list written to {out} ({len(token)} bytes)")


@trustlist_app.command("show")
def show_trust_list(
    file: Annotated[Path, typer.Argument(help="a trust list (compact JWS)", exists=True)],
    root: Annotated[Path, typer.Option(help="our root CA certificate (PEM or DER)")],
) -> None:
    """Verify a trust list against the root and print its content."""
    from zhengyin.trust.anchors import parse_certificate
    from zhengyin.trust.trustlist import read_trust_list

    listed = read_trust_list(file.read_text(encoding="ascii"),
                             [bytes(parse_certificate(root.read_bytes()).dump())],
                             now=utcnow())
    payload = dict(listed.payload)
    payload["crls"] = [f"<{len(item)} base64 characters>" for item in payload["crls"]]
    typer.echo(json.dumps(payload, ensure_ascii=False, indent=2))


@anchor_app.command("add")
def add_anchor(
    certificate: Annotated[Path, typer.Argument(help="root CA certificate, PEM or DER",
                                                exists=True)],
    note: Annotated[str | None, typer.Option(help="why it is trusted")] = None,
) -> None:
    """Trust another authority's root CA for verification."""
    current = ready_runtime()
    with current.unit_of_work() as services:
        anchor = services.anchors.add(certificate.read_bytes(), note=note, at=utcnow(),
                                      actor=CLI_ACTOR)
        console.print(f"trusted {anchor.subject} (sha256 {anchor.sha256})")


@anchor_app.command("list")
def list_anchors(as_json: Annotated[bool, JSON_OPTION] = False) -> None:
    """External trust anchors (removed ones marked)."""
    current = ready_runtime()
    with current.unit_of_work(readonly=True) as services:
        rows = [{"sha256": anchor.sha256, "status": anchor.status.value,
                 "subject": anchor.subject} for anchor in services.anchors.all()]
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        console.print(f"{row['sha256']}  {row['status']:8}  {row['subject']}")


@anchor_app.command("remove")
def remove_anchor(sha256: Annotated[str, typer.Argument(help="the anchor's SHA-256")]) -> None:
    """Stop trusting an external root."""
    current = ready_runtime()
    with current.unit_of_work() as services:
        anchor = services.anchors.remove(sha256, at=utcnow(), actor=CLI_ACTOR)
        console.print(f"removed {anchor.subject}")
