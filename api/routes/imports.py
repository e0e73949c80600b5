"""Bulk import over HTTP: an issuing department uploads JSON Lines for its own organisation.

``POST /licence-imports?type_code=…`` takes the file as the request body
(``application/x-ndjson``), streamed to a temporary file (never held in memory), and
imports it in the request, checking and writing chunk by chunk like ``zhengyin licence
import``. The issuing organisation is the calling client's: a client imports only for its
own organisation (scope ``licences:issue``; administrators configure, they do not issue).
Uploading the same file again resumes an interrupted batch and never imports a row twice.
Sealing now happens in the request's process (sequentially); large sealed migrations
belong on the command line, which seals in a process pool. The request body limit
(``ZHENGYIN_MAX_REQUEST_BYTES``) bounds one upload.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Iterator
from itertools import chain, islice
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from zhengyin.core.clients import Principal, Scope
from zhengyin.core.clock import utcnow
from zhengyin.core.models import ClientRole
from zhengyin.registry.imports.run import ImportOptions

from ..deps import RuntimeDep, require
from ..imports import import_service, inline_sealing
from ..runtime import Runtime
from ..schemas.imports import ImportRead
from ..schemas.inputs import Line
from .licences import party_of

router = APIRouter(prefix="/licence-imports", tags=["licence imports"])

Importer = Annotated[Principal, require(Scope.LICENCES_ISSUE)]
ImportReader = Annotated[Principal, require(Scope.LICENCES_READ)]
_FIRST_ERRORS = 100
_BODY = {"requestBody": {"required": True, "content": {
    "application/x-ndjson": {"schema": {"type": "string", "format": "binary"}}}}}


def _own_org(caller: Principal) -> str | None:
    """Whose batches a caller may read: administrators all, issuers their organisation's."""
    return None if caller.role is ClientRole.ADMIN else (caller.org_credit_code or "-")


async def _spool(request: Request, runtime: Runtime) -> Path:
    """The request body in a temporary file under the data directory."""
    folder = runtime.settings.data_dir / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix="upload-", suffix=".jsonl", dir=folder)
    try:
        with os.fdopen(handle, "wb") as out:
            async for block in request.stream():
                out.write(block)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


@router.post("", operation_id="import_licences", response_model=ImportRead,
             openapi_extra=_BODY)
async def import_licences(
    request: Request,
    runtime: RuntimeDep,
    caller: Importer,
    type_code: Annotated[Line, Query(min_length=21, max_length=21)],
    seal_now: bool = False,
    batch_id: Annotated[Line | None, Query(max_length=32)] = None,
) -> ImportRead:
    """Import licences (JSON Lines body) for the caller's organisation; re-upload resumes.

    Every row is checked as issuance checks it; refused rows are listed (line, field,
    message) and the others imported.
    """
    party = party_of(caller)
    options = ImportOptions(type_code=type_code.upper(), issuer_code=party.org_code,
                            actor=party.actor, client_id=party.client_id,
                            seal_now=seal_now, batch_id=batch_id)
    service = import_service(runtime, sealing=inline_sealing(runtime) if seal_now else None)
    path = await _spool(request, runtime)
    try:
        summary = await run_in_threadpool(service.run, path, options, clock=utcnow)
    finally:
        path.unlink(missing_ok=True)
    errors = await run_in_threadpool(
        lambda: list(islice(service.problems(summary.batch_id), _FIRST_ERRORS)))
    return ImportRead.of(summary, errors)


@router.get("/{batch_id}", operation_id="get_licence_import", response_model=ImportRead)
def get_licence_import(batch_id: str, runtime: RuntimeDep, caller: ImportReader
                       ) -> ImportRead:
    """A batch's progress and its first row errors."""
    service = import_service(runtime)
    summary = service.summary(batch_id, issuer_code=_own_org(caller))
    return ImportRead.of(summary, list(islice(service.problems(batch_id), _FIRST_ERRORS)))


@router.get("/{batch_id}/errors", operation_id="get_licence_import_errors",
            responses={200: {"content": {"application/x-ndjson": {}, "text/csv": {}}}})
def get_licence_import_errors(
    batch_id: str, runtime: RuntimeDep, caller: ImportReader,
    format: Annotated[Literal["jsonl", "csv"], Query()] = "jsonl",
) -> StreamingResponse:
    """Every row error of a batch, streamed as JSON Lines or CSV (row, field, message)."""
    service = import_service(runtime)
    problems = service.problems(batch_id, issuer_code=_own_org(caller))
    first = next(problems, None)  # raises (404) before the response starts

    def lines() -> Iterator[str]:
        rest = chain([] if first is None else [first], problems)
        if format == "csv":
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            writer.writerow(["row", "field", "message"])
            for problem in rest:
                writer.writerow([problem.row, problem.field, problem.message])
                if buffer.tell() > 65536:
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
            yield buffer.getvalue()
        else:
            for problem in rest:
                yield json.dumps(problem.as_json(), ensure_ascii=False) + "\n"

    media = "text/csv" if format == "csv" else "application/x-ndjson"
    return StreamingResponse(lines(), media_type=media, headers={
        "Content-Disposition": f'attachment; filename="{batch_id}.errors.{format}"'})
