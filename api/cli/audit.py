"""``zhengyin audit``: verify, checkpoint and read the audit log."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from trust.audit import verify_audit_chain
from trust.db import utcnow
from trust.models import AuditEntry

from ..schemas.inputs import INT64_MAX
from .common import console, ready_runtime

app = typer.Typer(help="The audit log.", no_args_is_help=True)


@app.command("verify")
def verify() -> None:
    """Recompute the hash chain and checkpoint signatures; names the first broken entry."""
    runtime = ready_runtime()
    with runtime.unit_of_work(readonly=True) as services:
        result = verify_audit_chain(services.session, services.pki.public_key_of_serial)
    console.print(
        f"audit log intact: {result.entries} entries, {result.checkpoints} signed checkpoints, "
        f"head {result.last_seq} {result.last_hash[:16]}…"
    )
    if result.pending:
        assert result.oldest_pending_at is not None
        console.print(f"{result.pending} committed records wait to be chained (oldest "
                      f"{result.oldest_pending_at.isoformat(timespec='seconds')}); "
                      "`zhengyin audit chain` links them now")


@app.command("chain")
def chain() -> None:
    """Link committed records waiting in the outbox into the chain now."""
    runtime = ready_runtime()
    moved = runtime.audit_sequencer.drain()
    console.print(f"chained {moved} records")


@app.command("checkpoint")
def checkpoint() -> None:
    """Sign the current chain tip now."""
    runtime = ready_runtime()
    runtime.audit_sequencer.drain()  # a checkpoint covers everything already committed
    with runtime.unit_of_work() as services:
        made = services.audit.checkpoint(utcnow())
    console.print(f"checkpoint at entry {made.seq}" if made else "nothing new to checkpoint")


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
