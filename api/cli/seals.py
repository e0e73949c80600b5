"""``zhengyin seal`` (the registry) and ``zhengyin stamp`` (sealing PDFs).

The CLI acts as the local operator. Stamping from the CLI needs no client grant unless
``--client`` names the API client to stamp as (then that client must be authorised).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from zhengyin.core.clock import beijing_time, utcnow
from zhengyin.keys import KeyAlgorithm
from zhengyin.signing.appearance import OrganisationLevel
from zhengyin.signing.batch import documents_from_zip
from zhengyin.signing.errors import StampOptionsError
from zhengyin.signing.jobs import StampJobService, run_stamp_job
from zhengyin.signing.models import SealStatus, SealType, SignatureLevel
from zhengyin.signing.placement import (
    AnchorPlacement,
    BoxPlacement,
    CrossPage,
    FieldPlacement,
    InvisiblePlacement,
    Placement,
    ReservedField,
)
from zhengyin.signing.seals import SealRequest
from zhengyin.signing.stamper import StampOptions
from zhengyin.signing.stamping import StampRequest
from zhengyin.signing.uselog import SealUseFilter

from ..runtime import Runtime
from .common import (
    CLI_ACTOR,
    JSON_OPTION,
    console,
    emit_json,
    err_console,
    print_rows,
    ready_runtime,
    warn_about_base_url,
    write_atomically,
)

app = typer.Typer(help="Seals: create, show, suspend, resume, revoke, authorise.",
                  no_args_is_help=True)
stamp_app = typer.Typer(help="Seal PDFs (one file or a batch).", no_args_is_help=True)


@app.command("create")
def create(  # noqa: PLR0917 - one parameter per command-line option
    org_name: Annotated[str, typer.Option(help="organisation's full name")],
    credit_code: Annotated[str, typer.Option(help="unified social credit code")],
    seal_type: Annotated[SealType, typer.Option("--type")] = SealType.APPROVAL,
    name: Annotated[str | None, typer.Option(help="seal name (default from the type)")] = None,
    holder_name: Annotated[str | None, typer.Option(help="personal seals: the person")] = None,
    holder_id: Annotated[str | None, typer.Option(help="personal seals: ID number")] = None,
    seal_code: Annotated[str | None, typer.Option(help="13 digits (default: allocated)")] = None,
    level: Annotated[OrganisationLevel, typer.Option()] = OrganisationLevel.ENTERPRISE,
    image: Annotated[Path | None, typer.Option(help="transparent PNG instead of drawing")] = None,
    algorithm: Annotated[KeyAlgorithm, typer.Option()] = KeyAlgorithm.EC_P256,
) -> None:
    """Create a seal: code, image, key and certificate."""
    runtime = ready_runtime()
    warn_about_base_url(runtime.settings)
    request = SealRequest(
        org_name=org_name, credit_code=credit_code, seal_type=seal_type, name=name,
        holder_name=holder_name, holder_id_number=holder_id, seal_code=seal_code, level=level,
        image_png=image.read_bytes() if image else None, algorithm=algorithm,
    )
    with runtime.unit_of_work() as services:
        seal = services.seals.create(request, at=utcnow(), actor=CLI_ACTOR)
        console.print(f"created seal {seal.id} code {seal.seal_code} ({seal.name})")


@app.command("list")
def list_seals(
    org: Annotated[str | None, typer.Option(help="unified social credit code")] = None,
    status: Annotated[SealStatus | None, typer.Option()] = None,
    as_json: Annotated[bool, JSON_OPTION] = False,
) -> None:
    """List seals."""
    runtime = ready_runtime()
    with runtime.unit_of_work(readonly=True) as services:
        rows = [{"id": seal.id, "code": seal.seal_code, "type": seal.seal_type.value,
                 "name": seal.name, "status": seal.status.value,
                 "valid_until": f"{seal.valid_until:%Y-%m-%d}"}
                for seal in services.seals.search(org_credit_code=org, status=status)]
    print_rows(("id", "code", "type", "name", "status", "valid_until"), rows,
               as_json=as_json)


@app.command("show")
def show(
    seal: Annotated[str, typer.Argument(help="the seal's id or its 13-digit code")],
    image: Annotated[Path | None, typer.Option(help="write the seal's PNG here")] = None,
    as_json: Annotated[bool, JSON_OPTION] = False,
) -> None:
    """Show one seal (and optionally write its image)."""
    runtime = ready_runtime()
    with runtime.unit_of_work(readonly=True) as services:
        row = services.seals.find(seal)
        fields: dict[str, object] = {
            "id": row.id, "code": row.seal_code, "type": row.seal_type.value,
            "name": row.name, "organisation": row.org_name,
            "credit_code": row.org_credit_code, "status": row.status.value,
            "status_reason": row.status_reason,
            "valid_from": f"{row.valid_from:%Y-%m-%d}",
            "valid_until": f"{row.valid_until:%Y-%m-%d}",
            "key": row.key_handle, "certificate": row.certificate.serial_hex,
            "image_sha256": row.image_sha256,
            "clients": services.seals.authorised_clients(row.id),
        }
        png = row.image_png
    clients: list[str] = fields["clients"]  # type: ignore[assignment]
    if as_json:
        emit_json(fields)
    else:
        table = Table("field", "value", show_header=False)
        for label, value in (
            ("id", fields["id"]), ("code", fields["code"]), ("type", fields["type"]),
            ("name", fields["name"]),
            ("organisation", f"{fields['organisation']} ({fields['credit_code']})"),
            ("status", f"{fields['status']}" + (f" — {fields['status_reason']}"
                                                if fields["status_reason"] else "")),
            ("valid", f"{fields['valid_from']} to {fields['valid_until']}"),
            ("key", fields["key"]), ("certificate", fields["certificate"]),
            ("image sha256", fields["image_sha256"]),
            ("clients", ", ".join(clients) or "-"),
        ):
            table.add_row(label, str(value))
        console.print(table)
    if image is not None:
        image.write_bytes(png)
        (err_console if as_json else console).print(f"wrote {image}")


def _transition(action: str, seal_id: str, reason: str, **extra: bool) -> None:
    runtime = ready_runtime()
    with runtime.unit_of_work() as services:
        seal = getattr(services.seals, action)(seal_id, reason=reason, at=utcnow(),
                                               actor=CLI_ACTOR, **extra)
        console.print(f"seal {seal.seal_code} is {seal.status.value}")


@app.command("suspend")
def suspend(seal_id: str, reason: Annotated[str, typer.Option()]) -> None:
    """Stop a seal from stamping."""
    _transition("suspend", seal_id, reason)


@app.command("resume")
def resume(seal_id: str, reason: Annotated[str, typer.Option()]) -> None:
    """Let a suspended seal stamp again."""
    _transition("resume", seal_id, reason)


@app.command("revoke")
def revoke(seal_id: str, reason: Annotated[str, typer.Option()],
           key_compromised: Annotated[bool, typer.Option()] = False) -> None:
    """Retire a seal and revoke its certificate."""
    _transition("revoke", seal_id, reason, key_compromised=key_compromised)


@app.command("authorise")
def authorise(seal_id: str, client: Annotated[str, typer.Argument(help="client id or name")]
              ) -> None:
    """Allow an API client to stamp with the seal."""
    runtime = ready_runtime()
    with runtime.unit_of_work() as services:
        client_id = services.clients.find(client).id
        services.seals.authorise(seal_id, client_id, at=utcnow(), actor=CLI_ACTOR)
    console.print(f"client {client} may stamp with seal {seal_id}")


@app.command("deauthorise")
def deauthorise(seal_id: str, client: Annotated[str, typer.Argument(help="client id or name")]
                ) -> None:
    """Withdraw a client's right to stamp with the seal."""
    runtime = ready_runtime()
    with runtime.unit_of_work() as services:
        client_id = services.clients.find(client).id
        services.seals.deauthorise(seal_id, client_id, at=utcnow(), actor=CLI_ACTOR)
    console.print(f"client {client} may no longer stamp with seal {seal_id}")


@app.command("uses")
def uses(
    seal_id: str,
    case_number: Annotated[str | None, typer.Option()] = None,
    csv: Annotated[Path | None, typer.Option(help="export every matching use as CSV")] = None,
    excel: Annotated[bool, typer.Option(
        help="start the CSV with a UTF-8 byte-order mark, so Excel on Chinese Windows reads "
             "it as UTF-8 (--no-excel: plain UTF-8)")] = True,
    as_json: Annotated[bool, JSON_OPTION] = False,
) -> None:
    """List a seal's uses (用印记录), or export them as CSV."""
    runtime = ready_runtime()
    where = SealUseFilter(seal_id=seal_id, case_number=case_number)
    with runtime.unit_of_work(readonly=True) as services:
        services.seals.get(seal_id)
        if csv is not None:
            # Without the mark, Excel reads a CSV in the system's code page (GBK on
            # Chinese Windows) and every Chinese purpose and name comes out garbled.
            with csv.open("w", encoding="utf-8-sig" if excel else "utf-8",
                          newline="") as out:
                for chunk in services.seal_uses.csv_rows(where):
                    out.write(chunk)
            console.print(f"wrote {csv}")
            return
        rows = [{"id": use.id, "at": use.at.isoformat() if as_json else beijing_time(use.at),
                 "case": use.case_number, "purpose": use.purpose,
                 "document": use.document_name or "", "level": use.level.value,
                 "output_sha256": use.output_sha256 if as_json else use.output_sha256[:16]}
                for use in services.seal_uses.iter_all(where)]
    print_rows(("id", "at", "case", "purpose", "document", "level", "output_sha256"), rows,
               as_json=as_json)


# ------------------------------------------------------------------------------ stamp


def _options(*, anchor: str | None, page: int | None, box: str | None, field: str | None,
             cross_page: bool, level: SignatureLevel, certify: bool | None,
             reserve: list[str]) -> StampOptions:
    visible: BoxPlacement | AnchorPlacement | FieldPlacement | InvisiblePlacement
    chosen = [option for option in (anchor, box, field) if option]
    if len(chosen) > 1:
        raise StampOptionsError("give one of --anchor, --box or --field")
    if box:
        parts = [float(v) for v in box.split(",")]
        if len(parts) != 4:
            raise StampOptionsError("--box is x1,y1,x2,y2 in points, origin bottom-left")
        visible = BoxPlacement(page or 1, (parts[0], parts[1], parts[2], parts[3]))
    elif anchor:
        visible = AnchorPlacement(anchor, page)
    elif field:
        visible = FieldPlacement(field)
    elif cross_page:
        visible = InvisiblePlacement()
    else:
        raise StampOptionsError("say where the seal goes",
                                hint="--anchor 盖章处, --box x1,y1,x2,y2 --page N, --field "
                                     "NAME or --cross-page")
    reserved = []
    for item in reserve:
        name, _, rest = item.partition("@")
        values = [float(v) for v in rest.split(",")]
        if len(values) != 5:
            raise StampOptionsError("--reserve is NAME@page,x1,y1,x2,y2")
        reserved.append(ReservedField(name, int(values[0]),
                                      (values[1], values[2], values[3], values[4])))
    return StampOptions(placement=Placement(visible, CrossPage() if cross_page else None),
                        level=level, certify=certify, reserve=tuple(reserved))


def _client_id(runtime: Runtime, client: str | None) -> str | None:
    if client is None:
        return None
    with runtime.unit_of_work(readonly=True) as services:
        return services.clients.find(client).id


@stamp_app.command("file")
def stamp_file(  # noqa: PLR0917 - one parameter per command-line option
    seal_id: Annotated[str, typer.Argument()],
    pdf: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    case_number: Annotated[str, typer.Option(help="case or business number (required)")],
    purpose: Annotated[str, typer.Option(help="why the seal is used (required)")],
    out: Annotated[Path, typer.Option(help="where to write the sealed PDF")],
    anchor: Annotated[str | None, typer.Option(help="centre the seal on this text")] = None,
    page: Annotated[int | None, typer.Option(help="page from 1; negative from the end")] = None,
    box: Annotated[str | None, typer.Option(help="x1,y1,x2,y2 in points, bottom-left")] = None,
    field: Annotated[str | None, typer.Option(help="fill this reserved field")] = None,
    cross_page: Annotated[bool, typer.Option(help="add a cross-page seal (骑缝章)")] = False,
    level: Annotated[SignatureLevel, typer.Option()] = SignatureLevel.B_T,
    certify: Annotated[bool | None, typer.Option(help="default: when not yet signed")] = None,
    reserve: Annotated[list[str] | None, typer.Option(help="NAME@page,x1,y1,x2,y2")] = None,
    client: Annotated[str | None, typer.Option(help="stamp as this API client")] = None,
) -> None:
    """Seal one PDF and record the use."""
    runtime = ready_runtime()
    options = _options(anchor=anchor, page=page, box=box, field=field, cross_page=cross_page,
                       level=level, certify=certify, reserve=reserve or [])
    client_id = _client_id(runtime, client)
    with runtime.unit_of_work() as services:
        done = services.stamping.stamp(
            StampRequest(seal_id, options, case_number, purpose, document_name=pdf.name),
            pdf.read_bytes(), client_id=client_id, actor=CLI_ACTOR, at=utcnow())
    # The use is committed (the unit of work above) before the sealed file exists.
    write_atomically(out, done.result.pdf)
    console.print(f"wrote {out} (field {done.result.field_name}, {done.result.level.value}, "
                  f"use {done.use.id})")


def _jobs(runtime: Runtime) -> Callable[[], AbstractContextManager[StampJobService]]:
    @contextmanager
    def open_jobs() -> Iterator[StampJobService]:
        with runtime.unit_of_work() as services:
            yield services.stamp_jobs

    return open_jobs


@stamp_app.command("batch")
def stamp_batch(  # noqa: PLR0917 - one parameter per command-line option
    seal_id: Annotated[str, typer.Argument()],
    inputs: Annotated[list[Path], typer.Argument(help="PDFs, directories of PDFs or zips")],
    case_number: Annotated[str, typer.Option(help="case or business number (required)")],
    purpose: Annotated[str, typer.Option(help="why the seal is used (required)")],
    out: Annotated[Path, typer.Option(help="where to write the zip of sealed PDFs")],
    anchor: Annotated[str | None, typer.Option(help="centre the seal on this text")] = None,
    page: Annotated[int | None, typer.Option()] = None,
    box: Annotated[str | None, typer.Option(help="x1,y1,x2,y2 in points, bottom-left")] = None,
    cross_page: Annotated[bool, typer.Option(help="add a cross-page seal (骑缝章)")] = False,
    level: Annotated[SignatureLevel, typer.Option()] = SignatureLevel.B_T,
    client: Annotated[str | None, typer.Option(help="stamp as this API client")] = None,
) -> None:
    """Seal many PDFs in the worker pool, with a progress bar; bad files are listed."""
    runtime = ready_runtime()
    options = _options(anchor=anchor, page=page, box=box, field=None, cross_page=cross_page,
                       level=level, certify=None, reserve=[])
    documents: list[tuple[str, bytes]] = []
    for path in inputs:
        if path.is_dir():
            documents += [(p.name, p.read_bytes()) for p in sorted(path.glob("*.pdf"))]
        elif path.suffix.lower() == ".zip":
            documents += documents_from_zip(path.read_bytes(),
                                            max_bytes=runtime.settings.max_request_bytes)
        else:
            documents.append((path.name, path.read_bytes()))
    client_id = _client_id(runtime, client)
    request = StampRequest(seal_id, options, case_number, purpose)
    lease = runtime.settings.stamp_job_lease_seconds
    with runtime.unit_of_work() as services:
        # Jobs of a batch that was killed end here, if no server has ended them yet.
        for ended in services.stamp_jobs.recover(at=utcnow(), lease_seconds=lease):
            err_console.print(f"stamp job {ended.id} had stopped; it is now "
                              f"{ended.status.value}")
        job_id = services.stamp_jobs.create(request, len(documents), client_id=client_id,
                                            at=utcnow()).id
    columns = (TextColumn("stamping"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[failed]} failed"), TimeElapsedColumn())
    with Progress(*columns, console=err_console) as bar:
        task = bar.add_task("stamp", total=len(documents), failed=0)

        def progress(done: int, succeeded: int, total: int) -> None:
            bar.update(task, completed=done, failed=done - succeeded)

        job = run_stamp_job(job_id, documents, options, pool=runtime.stamp_pool,
                            jobs=_jobs(runtime), actor=CLI_ACTOR, clock=utcnow,
                            progress=progress, lease_seconds=lease)
    if job.output_path:
        write_atomically(out, Path(job.output_path).read_bytes())
    for row in job.results:
        if not row["ok"]:
            err_console.print(f"[red]{row['name'] or 'job'}[/red]: {row['error']['message']}")
    emit_json({"job": job.id, "status": job.status.value, "total": job.total,
               "succeeded": job.succeeded, "failed": job.failed, "output": str(out)})
    runtime.close()
