"""``zhengyin audit``: verify, checkpoint, export checkpoints and read the audit log."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, TextIO

import typer
from cryptography import x509

from zhengyin.core.clock import utcnow
from zhengyin.core.models import AuditEntry
from zhengyin.trust.auditexport import export_lines, read_export
from zhengyin.trust.auditverify import AuditVerification, verify_audit_chain

from ..schemas.inputs import INT64_MAX
from .common import console, err_console, ready_runtime

app = typer.Typer(help="The audit log.", no_args_is_help=True)
checkpoint_app = typer.Typer(
    help="Sign the chain tip now (without a command), or `export` the signed checkpoints.",
    invoke_without_command=True)
app.add_typer(checkpoint_app, name="checkpoint")


def _root(path: Path) -> x509.Certificate:
    data = path.read_bytes()
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_certificate(data)
    return x509.load_der_x509_certificate(data)


@app.command("verify")
def verify(
    against: Annotated[Path | None, typer.Option(
        help="checkpoints exported earlier (`audit checkpoint export`): the log must still "
             "hold everything they prove", exists=True, dir_okay=False, readable=True)] = None,
    root: Annotated[Path | None, typer.Option(
        help="root certificate (PEM or DER) the export's signers must chain to; default: "
             "the service's own root as the database holds it",
        exists=True, dir_okay=False, readable=True)] = None,
) -> None:
    """Recompute the hash chain and checkpoints; names the first broken entry or missing
    checkpoint, and with --against the entries an export proves that are gone."""
    runtime = ready_runtime()
    every = runtime.settings.audit_checkpoint_every
    with runtime.unit_of_work(readonly=True) as services:
        keys = services.audit_keys
        if against is None:
            result = verify_audit_chain(services.session, keys.key_of, every=every)
        else:
            roots = [_root(root) if root is not None else keys.root()]
            with against.open(encoding="utf-8") as lines:
                result = verify_audit_chain(services.session, keys.key_of, every=every,
                                            against=read_export(lines, roots))
    _report(result, against)


def _report(result: AuditVerification, against: Path | None) -> None:
    console.print(
        f"audit log intact: {result.entries} entries, {result.checkpoints} signed checkpoints "
        f"(one every {result.interval} entries), head {result.last_seq} "
        f"{result.last_hash[:16]}…", soft_wrap=True)
    if result.not_checkpointed:
        console.print(f"not yet checkpointed: {result.not_checkpointed} entries after "
                      f"checkpoint {result.last_checkpoint} (the next is due at entry "
                      f"{(result.last_seq // result.interval + 1) * result.interval})",
                      soft_wrap=True)
    if result.pending:
        assert result.oldest_pending_at is not None
        console.print(f"{result.pending} committed records wait to be chained (oldest "
                      f"{result.oldest_pending_at.isoformat(timespec='seconds')}); "
                      "`zhengyin audit chain` links them now", soft_wrap=True)
    if against is not None:
        console.print(f"held against {result.exported} exported checkpoints (the newest at "
                      f"entry {result.last_exported}) from {against}: all present",
                      soft_wrap=True)


@app.command("chain")
def chain() -> None:
    """Link committed records waiting in the outbox into the chain now."""
    runtime = ready_runtime()
    moved = runtime.audit_sequencer.drain()
    console.print(f"chained {moved} records")


def _sign_tip() -> int | None:
    runtime = ready_runtime()
    runtime.audit_sequencer.drain()  # a checkpoint covers everything already committed
    with runtime.unit_of_work() as services:
        made = services.audit.checkpoint(utcnow())
    return made.seq if made else None


@checkpoint_app.callback()
def checkpoint(context: typer.Context) -> None:
    """Sign the current chain tip now; `checkpoint export` writes checkpoints out."""
    if context.invoked_subcommand is not None:
        return
    made = _sign_tip()
    console.print(f"checkpoint at entry {made}" if made else "nothing new to checkpoint")


@contextmanager
def _output(path: Path | None) -> Iterator[TextIO]:
    """Standard output, or ``path`` written whole or not at all (temporary file, rename)."""
    if path is None:
        yield sys.stdout
        return
    partial = path.with_name(f".{path.name}.partial")
    try:
        with partial.open("w", encoding="utf-8") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


@checkpoint_app.command("export")
def export(
    out: Annotated[Path | None, typer.Option(
        help="write to this file (replaced whole when done); default: standard output",
        dir_okay=False)] = None,
    after: Annotated[int, typer.Option(
        min=0, help="only checkpoints after this entry, to append to an earlier export")] = 0,
    sign_tip: Annotated[bool, typer.Option(
        help="sign the chain tip first, so the export proves every entry linked so far",
    )] = True,
) -> None:
    """Write the signed checkpoints as JSON lines, each verifiable alone, for off-site keeping."""
    if sign_tip:
        _sign_tip()
    runtime = ready_runtime()
    count = last = 0
    with runtime.unit_of_work(readonly=True) as services, _output(out) as target:
        keys = services.audit_keys
        for line in export_lines(services.session, keys.chain_of, keys.key_of, after=after):
            target.write(line + "\n")
            count += 1
            last = json.loads(line)["seq"]
    summary = f"exported {count} signed checkpoints" + (f", the newest at entry {last}"
                                                        if count else "")
    (console if out is not None else err_console).print(
        summary + (f" to {out}" if out is not None else ""), soft_wrap=True)


@app.command("list")
def list_entries(
    after: Annotated[int, typer.Option(help="start after this sequence number",
                                       min=0, max=INT64_MAX)] = 0,
    limit: Annotated[int, typer.Option(help="how many", min=1, max=100_000)] = 50,
) -> None:
    """Print entries as JSON lines."""
    from sqlalchemy import select

    runtime = ready_runtime()
    with runtime.unit_of_work(readonly=True) as services:
        rows = services.session.scalars(
            select(AuditEntry).where(AuditEntry.seq > after).order_by(AuditEntry.seq).limit(limit)
        )
        for row in rows:
            typer.echo(json.dumps({
                "seq": row.seq, "at": row.at.isoformat(), "actor": row.actor,
                "action": row.action, "object": f"{row.object_type}:{row.object_id}",
                "details": row.details,
            }, ensure_ascii=False))
