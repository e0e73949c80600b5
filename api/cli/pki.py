"""``zhengyin pki``: certificate authorities, certificates, revocation."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from asn1crypto import pem

from zhengyin.core.clock import utcnow
from zhengyin.keys import KeyAlgorithm
from zhengyin.trust.models import RevocationReason
from zhengyin.trust.pki import SERVICE_PURPOSES

from .common import CLI_ACTOR, JSON_OPTION, console, print_rows, ready_runtime, warn_about_base_url

app = typer.Typer(help="Certificate authorities and certificates.", no_args_is_help=True)


@app.command("init")
def init() -> None:
    """Create the root CA, issuing CA, OCSP, TSA and audit identities (idempotent)."""
    runtime = ready_runtime(may_create=True)
    warn_about_base_url(runtime.settings)
    runtime.ensure_pki(at=utcnow())
    show()


@app.command("show")
def show(as_json: Annotated[bool, JSON_OPTION] = False) -> None:
    """List the current CA and service certificates."""
    runtime = ready_runtime()
    rows: list[dict[str, object]] = []
    with runtime.unit_of_work(readonly=True) as services:
        for purpose in SERVICE_PURPOSES:
            if not services.pki.has_identity(purpose):
                rows.append({"purpose": purpose, "serial": None,
                             "subject": None if as_json else "(missing: run zhengyin pki init)",
                             "not_after": None, "key": None})
                continue
            record = services.pki.record(services.pki.identity(purpose).serial_hex)
            rows.append({"purpose": purpose, "serial": record.serial_hex,
                         "subject": record.subject,
                         "not_after": record.not_after.isoformat() if as_json
                         else f"{record.not_after:%Y-%m-%d}", "key": record.key_handle})
    print_rows(("purpose", "serial", "subject", "not_after", "key"), rows, as_json=as_json)


@app.command("export")
def export(
    purpose: Annotated[str, typer.Argument(help="root, issuing, ocsp, tsa or audit")] = "root",
    out: Annotated[Path | None, typer.Option(help="write PEM here instead of stdout")] = None,
) -> None:
    """Export a CA or service certificate as PEM (e.g. the root for a trust store)."""
    runtime = ready_runtime()
    with runtime.unit_of_work(readonly=True) as services:
        der = services.pki.identity(purpose).der
    text = pem.armor("CERTIFICATE", der).decode("ascii")
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="ascii")
        console.print(f"wrote {out}")


@app.command("issue-seal")
def issue_seal(
    org_name: Annotated[str, typer.Option(help="organisation's full name")],
    credit_code: Annotated[str, typer.Option(help="unified social credit code")],
    seal_name: Annotated[str, typer.Option(help="e.g. 某某局审批专用章")],
    seal_code: Annotated[str | None, typer.Option(help="13-digit seal code")] = None,
    algorithm: Annotated[KeyAlgorithm, typer.Option()] = KeyAlgorithm.EC_P256,
) -> None:
    """Generate a key and issue an organisation-seal certificate for it."""
    runtime = ready_runtime()
    warn_about_base_url(runtime.settings)
    at = utcnow()
    with runtime.unit_of_work() as services:
        handle = runtime.keystore.generate(algorithm, seal_name)
        services.audit.append(actor=CLI_ACTOR, action="key.created", object_type="key",
                              object_id=str(handle), at=at,
                              details={"label": seal_name, "algorithm": algorithm.value})
        issued = services.pki.issue_seal_certificate(
            handle=handle, org_name=org_name, credit_code=credit_code, seal_name=seal_name,
            seal_code=seal_code, not_before=at, not_after=None, at=at, actor=CLI_ACTOR,
        )
    console.print(f"issued certificate {issued.serial_hex} for key {handle}")


@app.command("revoke")
def revoke(
    serial: Annotated[str, typer.Argument(help="certificate serial (hex)")],
    reason: Annotated[RevocationReason, typer.Option()] = RevocationReason.UNSPECIFIED,
) -> None:
    """Revoke a certificate (a seal's certificate revokes the seal with it)."""
    runtime = ready_runtime()
    with runtime.unit_of_work() as services:
        record = services.seals.revoke_certificate(serial, reason=reason, at=utcnow(),
                                                   actor=CLI_ACTOR)
    console.print(f"revoked {record.serial_hex} ({reason.value})")


@app.command("crl")
def crl(
    purpose: Annotated[str, typer.Argument(help="root or issuing")] = "issuing",
    out: Annotated[Path, typer.Option(help="where to write the DER CRL")] = Path("issuing.crl"),
) -> None:
    """Write the CA's current CRL (DER)."""
    runtime = ready_runtime()
    with runtime.unit_of_work() as services:
        der = services.crl.current(purpose, at=utcnow())
    out.write_bytes(der)
    console.print(f"wrote {out} ({len(der)} bytes)")
