"""Batch stamping: many PDFs, one seal, a warm worker pool (jobs are in
:mod:`zhengyin.signing.jobs`).

Signing is CPU-bound Python (the GIL), so one process per core does the work; threads and
asyncio give nothing (DESIGN, costs). Each worker opens its *own* key store and TSA: the
pool uses the ``forkserver`` start method, so no worker inherits a PKCS#11 session or a
database connection by ``fork`` (a PKCS#11 library must be initialised in the process that
uses it). Workers keep one warm :class:`SealStamper` per seal; a task is PDF bytes in,
sealed bytes out, plus the seal material and the revocation data it needs (no database in
the workers).

The job's process (:func:`zhengyin.signing.jobs.run_stamp_job`) authorises the job once, records
one seal use per stamped document before writing it anywhere, and publishes the zip. One
bad file is reported in the job's results and does not stop the others.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import lzma
import os
import re
import threading
import time
import zipfile
import zlib
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import PurePosixPath
from typing import Any

from zhengyin.core.processes import process_context
from zhengyin.keys import KeyStoreConfig

from .errors import SigningError, StampOptionsError
from .models import SignatureLevel
from .revocation import RevocationMaterial, validation_context
from .stamper import SealMaterial, StampOptions, StampResult

__all__ = [
    "MAX_DOCUMENTS",
    "StampPool",
    "StampTask",
    "TSAIdentity",
    "TaskOutcome",
    "WorkerSetup",
    "documents_from_zip",
    "safe_document_name",
]

MAX_DOCUMENTS = 1000
log = logging.getLogger("zhengyin.stamping")


@dataclass(frozen=True)
class TSAIdentity:
    """Our TSA's certificate and key handle, for workers to build their own TSA."""

    record_id: int
    serial_hex: str
    key_handle: str
    certificate_der: bytes
    chain_der: tuple[bytes, ...]


@dataclass(frozen=True)
class WorkerSetup:
    """Everything a worker opens once (picklable)."""

    keystore: KeyStoreConfig
    tsa_url: str | None
    tsa: TSAIdentity | None
    max_pdf_bytes: int


@dataclass(frozen=True)
class StampTask:
    """One document for a worker."""

    index: int
    name: str
    pdf: bytes
    material: SealMaterial
    options: StampOptions
    revocation: RevocationMaterial | None


@dataclass(frozen=True)
class TaskOutcome:
    """A worker's answer: a stamped document or the reason it was refused."""

    index: int
    name: str
    result: StampResult | None
    input_sha256: str
    error_code: str | None = None
    error_message: str | None = None
    error_hint: str | None = None


# ---------------------------------------------------------------------------- workers

_worker: dict[str, Any] = {}


def _exit_with_owner(owner_alive: Connection) -> None:
    """Exit when the pool's owner is gone: its end of the pipe closes, ours reads EOF.

    A worker's parent is the forkserver, not the owner, and the call queue never reaches
    EOF (the workers hold both of its ends), so without this a ``kill -9`` of the owner
    (a CLI batch, a server worker) left the workers and the forkserver running for ever.
    """
    with contextlib.suppress(EOFError, OSError):
        owner_alive.recv_bytes()  # the owner never sends
    os._exit(70)


def _init_worker(setup: WorkerSetup, environment: dict[str, str],
                 owner_alive: Connection) -> None:
    """Open this worker's key store, TSA and stamper cache; die with the pool's owner."""
    threading.Thread(target=_exit_with_owner, args=(owner_alive,), name="owner-watch",
                     daemon=True).start()
    # The forkserver was started with the environment of its first user; tasks must see
    # the pool owner's (SOFTHSM2_CONF, for one).
    os.environ.update(environment)
    from asn1crypto import x509

    from zhengyin.keys import KeyHandle, open_key_store
    from zhengyin.trust.models import CertificateRole
    from zhengyin.trust.pki import IssuedCertificate
    from zhengyin.trust.tsa import TimeStampAuthority

    from .stamping import StamperCache
    from .timestamps import (
        HTTPTimeStampClient,
        LocalTimeStampClient,
        PyHankoTimeStamper,
        TimeStampClient,
    )

    keystore = open_key_store(setup.keystore)
    client: TimeStampClient
    if setup.tsa_url:
        client = HTTPTimeStampClient(setup.tsa_url)
    else:
        assert setup.tsa is not None
        identity = IssuedCertificate(
            record_id=setup.tsa.record_id, serial_hex=setup.tsa.serial_hex,
            role=CertificateRole.TSA, key_handle=KeyHandle.parse(setup.tsa.key_handle),
            certificate=x509.Certificate.load(setup.tsa.certificate_der),
        )
        chain = [x509.Certificate.load(der) for der in setup.tsa.chain_der]
        client = LocalTimeStampClient(TimeStampAuthority(keystore, identity, chain))
    _worker.update(keystore=keystore, stampers=StamperCache(keystore),
                   timestamper=PyHankoTimeStamper(client), max_bytes=setup.max_pdf_bytes)


def _stamp_task(task: StampTask) -> TaskOutcome:
    level = SignatureLevel(task.options.level)
    digest = _sha256(task.pdf)
    try:
        stamper = _worker["stampers"].get(task.material)
        result = stamper.stamp(
            task.pdf, task.options,
            timestamper=None if level is SignatureLevel.B_B else _worker["timestamper"],
            validation_context=validation_context(task.revocation) if task.revocation
            else None,
            max_bytes=_worker["max_bytes"],
        )
    except SigningError as exc:
        return TaskOutcome(task.index, task.name, None, digest, exc.code, exc.message,
                           exc.hint)
    except Exception as exc:  # one bad file must not fail the batch
        return TaskOutcome(task.index, task.name, None, digest, "stamp.internal",
                           f"internal error while stamping: {type(exc).__name__}")
    return TaskOutcome(task.index, task.name, result, digest)


def _ping(hold: float) -> int:
    time.sleep(hold)  # keep this worker busy so that the next ping lands on another
    return os.getpid()


def _warm(task: StampTask, hold: float) -> int:
    _stamp_task(task)
    time.sleep(hold)
    return os.getpid()


class StampPool:
    """A pool of stamping processes, one per core by default, started and pinged warm."""

    def __init__(self, setup: WorkerSetup, *, workers: int) -> None:
        self.workers = max(1, workers)
        context = process_context("forkserver")
        context.set_forkserver_preload(["zhengyin.signing.batch", "zhengyin.signing.stamper"])
        # Only this process holds the sending end: when it dies, the workers read EOF.
        self._alive_r, self._alive_w = context.Pipe(duplex=False)
        self._executor = ProcessPoolExecutor(
            max_workers=self.workers, mp_context=context, initializer=_init_worker,
            initargs=(setup, dict(os.environ), self._alive_r),
        )
        # ProcessPoolExecutor starts workers lazily and runs the initializer before a
        # worker's first task: ping until every worker has answered, so start-up never
        # lands inside a job (REPORT §1, pool).
        pids: set[int] = set()
        for _attempt in range(50):
            futures = [self._executor.submit(_ping, 0.05) for _ in range(self.workers)]
            pids |= {future.result() for future in futures}
            if len(pids) >= self.workers:
                break
        self.pids = sorted(pids)

    def warm(self, task: StampTask) -> None:
        """Stamp ``task`` once on (very likely) every worker: stamper built, size calibrated."""
        futures = [self._executor.submit(_warm, task, 0.2) for _ in range(self.workers)]
        for future in futures:
            future.result()

    def submit(self, task: StampTask) -> Future[TaskOutcome]:
        """Stamp one document in a worker."""
        return self._executor.submit(_stamp_task, task)

    def close(self) -> None:
        """Stop the workers."""
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._alive_w.close()
        self._alive_r.close()


# ---------------------------------------------------------------------------- inputs


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# Control characters (Cc) and lone surrogates: never part of a stored name (PostgreSQL
# refuses U+0000), replaced rather than refused, as a name is only a label.
_NAME_REFUSED = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# Methods zipfile reads: stored, deflated, bzip2, LZMA (APPNOTE 4.4.5). Others, such as
# 99 (WinZip AES), are refused before a read is tried.
_ZIP_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}


def safe_document_name(name: str | None, index: int) -> str:
    """A document's base name, fit to store and to put in the output zip.

    Directories are dropped whether written with ``/`` or ``\\``, so ``../x.pdf`` or
    ``C:\\x.pdf`` cannot climb out of a directory the output is unpacked into; a name
    that is nothing but dots or empty becomes ``document-<index>.pdf``.
    """
    base = PurePosixPath((name or "").replace("\\", "/")).name
    base = _NAME_REFUSED.sub("_", base).strip()[:200]
    if not base.strip("."):
        return f"document-{index}.pdf"
    return base


def documents_from_zip(data: bytes, *, max_documents: int = MAX_DOCUMENTS,
                       max_bytes: int) -> list[tuple[str, bytes]]:
    """The files of a zip archive, in archive order (directories and macOS litter skipped).

    Sizes are checked from the directory and again while reading, so a zip bomb is
    refused before it is inflated. A damaged entry (bad CRC, corrupt compressed data),
    an encrypted one or one compressed by a method we cannot read refuses the archive.
    Names are reduced to safe base names (:func:`safe_document_name`).
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        raise StampOptionsError("the upload is not a zip archive",
                                hint="send PDFs as multipart files or one zip") from None
    entries = [info for info in archive.infolist()
               if not info.is_dir() and not info.filename.startswith("__MACOSX/")]
    if not entries:
        raise StampOptionsError("the zip archive holds no files")
    if len(entries) > max_documents:
        raise StampOptionsError(f"at most {max_documents} documents per job")
    if sum(info.file_size for info in entries) > max_bytes:
        raise StampOptionsError(f"the archive inflates to more than {max_bytes} bytes")
    documents = []
    for index, info in enumerate(entries, start=1):
        name = safe_document_name(info.filename, index)
        if info.flag_bits & 0x1:  # APPNOTE 4.4.4 bit 0: encrypted
            raise StampOptionsError(f"{name}: the zip entry is encrypted",
                                    hint="send the PDFs in a zip without a password")
        if info.compress_type not in _ZIP_METHODS:
            raise StampOptionsError(f"{name}: the zip entry uses compression method "
                                    f"{info.compress_type}, which is not supported",
                                    hint="zip the PDFs with deflate (the usual method)")
        try:
            with archive.open(info) as member:
                content = member.read(max_bytes + 1)
        except (zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, OSError,
                ValueError, NotImplementedError, RuntimeError) as exc:
            # BadZipFile: a bad CRC-32 or header; zlib/lzma/OSError (bzip2): corrupt data.
            raise StampOptionsError(f"{name}: the zip entry is damaged ({exc.__class__.__name__})",
                                    hint="zip the PDFs again") from None
        if len(content) > max_bytes:
            raise StampOptionsError(f"{name} inflates to more than {max_bytes} bytes")
        documents.append((name, content))
    return documents
