"""Stamping PDFs: one document in the request, or a batch job in the worker pool.

``POST /seals/{id}/stamp`` takes multipart form data: ``file`` (the PDF), ``case_number``,
``purpose`` and ``options`` (JSON, see ``StampOptionsIn``: placement in PDF points with
the origin at the bottom-left of the page, pages from 1). The answer is the sealed PDF;
the seal-use id, field and hashes are in ``X-Zhengyin-*`` headers.

Routes are synchronous: FastAPI runs them in its thread pool, so pyHanko's event loop
never meets the server's (STYLE §4).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, File, Form, UploadFile
from fastapi.responses import FileResponse, Response
from pydantic import ValidationError

from zhengyin.core.clients import Principal, Scope
from zhengyin.core.clock import utcnow
from zhengyin.signing.batch import MAX_DOCUMENTS, documents_from_zip, safe_document_name
from zhengyin.signing.errors import StampOptionsError
from zhengyin.signing.jobs import StampJobService, run_stamp_job
from zhengyin.signing.stamper import StampOptions
from zhengyin.signing.stamping import StampRequest

from ..deps import ReadServicesDep, RuntimeDep, ServicesDep, require
from ..forms import StrictFormRoute
from ..runtime import Runtime
from ..schemas.inputs import Line, Text
from ..schemas.seals import StampJobRead, StampOptionsIn

router = APIRouter(tags=["stamping"], route_class=StrictFormRoute)

Stamper = Annotated[Principal, require(Scope.SEALS_USE)]

_OPTIONS_HELP = ('JSON StampOptionsIn, e.g. {"placement": {"kind": "anchor", "text": "盖章处"},'
                 ' "level": "B-T"}; boxes in PDF points, origin bottom-left, pages from 1')


def parse_options(text: str) -> StampOptions:
    """The options form field, or a 422 naming what is wrong."""
    try:
        return StampOptionsIn.model_validate_json(text).to_options()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'options'}: {error['msg']}"
            for error in exc.errors())
        raise StampOptionsError(f"the stamping options are invalid: {problems}",
                                hint=_OPTIONS_HELP) from None


@router.post("/seals/{seal_id}/stamp", operation_id="stamp_pdf", response_class=Response,
             responses={200: {"content": {"application/pdf": {}},
                              "description": "the sealed PDF"}})
def stamp_pdf(
    seal_id: str,
    services: ServicesDep,
    caller: Stamper,
    file: Annotated[UploadFile, File(description="the PDF to seal")],
    case_number: Annotated[Line, Form(max_length=128)],
    purpose: Annotated[Line, Form(max_length=200)],
    options: Annotated[Text, Form(max_length=65536, description=_OPTIONS_HELP)],
) -> Response:
    """Seal one PDF and record the use; the body is the sealed PDF."""
    request = StampRequest(seal_id, parse_options(options), case_number, purpose,
                           document_name=safe_document_name(file.filename, 1)
                           if file.filename else None)
    pdf = file.file.read()
    done = services.stamping.stamp(request, pdf, client_id=caller.client_id,
                                   actor=caller.actor, at=utcnow())
    return Response(done.result.pdf, media_type="application/pdf", headers={
        "X-Zhengyin-Seal-Use": str(done.use.id),
        "X-Zhengyin-Signature-Field": done.result.field_name,
        "X-Zhengyin-Input-SHA256": done.input_sha256,
        "X-Zhengyin-Output-SHA256": done.output_sha256,
    })


def _jobs(runtime: Runtime) -> Callable[[], AbstractContextManager[StampJobService]]:
    @contextmanager
    def open_jobs() -> Iterator[StampJobService]:
        with runtime.unit_of_work() as services:
            yield services.stamp_jobs

    return open_jobs


def _run_job(runtime: Runtime, job_id: str, documents: list[tuple[str, bytes]],
             options: StampOptions, actor: str) -> None:
    run_stamp_job(job_id, documents, options, pool=runtime.stamp_pool, jobs=_jobs(runtime),
                  actor=actor, clock=utcnow,
                  lease_seconds=runtime.settings.stamp_job_lease_seconds)


@router.post("/seals/{seal_id}/stamp-jobs", operation_id="create_stamp_job", status_code=202,
             response_model=StampJobRead)
def create_stamp_job(
    seal_id: str,
    runtime: RuntimeDep,
    services: ServicesDep,
    caller: Stamper,
    background: BackgroundTasks,
    case_number: Annotated[Line, Form(max_length=128)],
    purpose: Annotated[Line, Form(max_length=200)],
    options: Annotated[Text, Form(max_length=65536, description=_OPTIONS_HELP)],
    files: Annotated[list[UploadFile] | None, File(description="PDFs")] = None,
    archive: Annotated[UploadFile | None, File(description="or one zip of PDFs")] = None,
) -> StampJobRead:
    """Stamp many PDFs in the worker pool; poll the job, then fetch the zip."""
    parsed = parse_options(options)
    documents: list[tuple[str, bytes]] = []
    if archive is not None:
        documents += documents_from_zip(archive.file.read(),
                                        max_bytes=runtime.settings.max_request_bytes)
    for upload in files or []:
        documents.append((safe_document_name(upload.filename, len(documents) + 1),
                          upload.file.read()))
    if not documents:
        raise StampOptionsError("the job has no documents",
                                hint="send PDFs as 'files' or one zip as 'archive'")
    if len(documents) > MAX_DOCUMENTS:
        raise StampOptionsError(f"at most {MAX_DOCUMENTS} documents per job")
    request = StampRequest(seal_id, parsed, case_number, purpose)
    job = services.stamp_jobs.create(request, len(documents), client_id=caller.client_id,
                                     at=utcnow())
    # The job row commits before the response is sent; the work starts after it.
    background.add_task(_run_job, runtime, job.id, documents, parsed, caller.actor)
    return StampJobRead.of(job)


@router.get("/stamp-jobs/{job_id}", operation_id="get_stamp_job", response_model=StampJobRead)
def get_stamp_job(job_id: str, services: ReadServicesDep, caller: Stamper) -> StampJobRead:
    """A job's status, counts and per-document results."""
    return StampJobRead.of(services.stamp_jobs.get(job_id, client_id=caller.client_id))


@router.get("/stamp-jobs/{job_id}/output", operation_id="get_stamp_job_output",
            response_class=FileResponse,
            responses={200: {"content": {"application/zip": {}}}})
def get_stamp_job_output(job_id: str, services: ReadServicesDep,
                         caller: Stamper) -> FileResponse:
    """The sealed PDFs of a finished job, as a zip."""
    job = services.stamp_jobs.get(job_id, client_id=caller.client_id)
    path = services.stamp_jobs.output_path(job)
    return FileResponse(path, media_type="application/zip",
                        filename=f"stamp-job-{job.id}.zip")
