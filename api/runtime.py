"""The process-wide runtime: settings, engine, key store and warm service objects.

One :class:`Runtime` per process serves the HTTP app and every CLI command, so both read
the same settings and build services the same way. Per-unit-of-work services are built
by :class:`Services` from a session.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from zhengyin.core.asyncdb import AsyncStatements
from zhengyin.core.audit import AuditLog, wrote_to_outbox
from zhengyin.core.auditchain import AuditSequencer, BackgroundChainer
from zhengyin.core.clients import ClientService, PrincipalCache
from zhengyin.core.clock import utcnow
from zhengyin.core.db import make_engine, make_session_factory, session_scope, writing_unit
from zhengyin.keys import KeyHandle, KeyStore, open_key_store
from zhengyin.registry.catalogue import Catalogue, TypeVersions
from zhengyin.registry.checks import CheckService
from zhengyin.registry.consent import ConsentService
from zhengyin.registry.filestore import FileStore, LocalFileStore
from zhengyin.registry.issuance import IssuanceService
from zhengyin.registry.items import ServiceItems
from zhengyin.registry.licences import LicenceQuery
from zhengyin.registry.lifecycle import LifecycleService
from zhengyin.registry.receipts import ServiceSigner
from zhengyin.registry.registrysigner import RegistrySigners
from zhengyin.registry.sealing import LicenceSealer
from zhengyin.registry.serials import SerialAllocator
from zhengyin.registry.statuslists import PublishedList, StatusListCache, StatusLists
from zhengyin.registry.usecopies import Platform, UseCopyService
from zhengyin.registry.uses import LicenceUses
from zhengyin.signing.pdf.signers import SealSigners
from zhengyin.signing.seals import SealService
from zhengyin.signing.stamping import StamperCache, StampService
from zhengyin.signing.timestamps import (
    HTTPTimeStampClient,
    LocalTimeStampClient,
    PyHankoTimeStamper,
    TimeStampClient,
)
from zhengyin.signing.uselog import SealUseLog
from zhengyin.trust.auditkeys import AuditKeys
from zhengyin.trust.crl import CRLPublisher
from zhengyin.trust.identities import SYSTEM_ACTOR, ServiceIdentities
from zhengyin.trust.keyadmin import KeyAdministration
from zhengyin.trust.ocsp import OCSPResponder
from zhengyin.trust.pki import AUDIT, PKI, TSA, PKIConfig
from zhengyin.trust.purposes import STATUS_LIST
from zhengyin.trust.tsa import TimeStampAuthority

from .checkrun import CheckRunner
from .database import check_schema, ping
from .holders import HolderTokens
from .keptreports import KeptReports
from .settings import Settings
from .verification import LicenceQRReader, VerificationCaches

if TYPE_CHECKING:
    from zhengyin.signing.batch import StampPool, TSAIdentity
    from zhengyin.signing.jobs import JobSweeper, StampJobService
    from zhengyin.trust.anchors import TrustAnchorService
    from zhengyin.trust.validation import Verifier
    from zhengyin.trust.validation.material import TrustMaterial
    from zhengyin.trust.validation.policy import ExaminationLimits
    from zhengyin.trust.validation.pool import ExaminationPool
    from zhengyin.trust.validation.verifier import DocumentExaminer

__all__ = ["Runtime", "Services"]

_log = logging.getLogger(__name__)


class _IdentitySigner:
    """Signs with a service identity's key: audit checkpoints, receipts."""

    def __init__(self, keystore: KeyStore, serial_hex: str, handle_text: str) -> None:
        self._keys = keystore
        self._serial = serial_hex
        self._handle = KeyHandle.parse(handle_text)

    @property
    def certificate_serial(self) -> str:
        return self._serial

    def sign(self, data: bytes) -> bytes:
        return self._keys.sign(self._handle, data)


class Runtime:
    """Everything a process opens once."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._audit_signer: _IdentitySigner | None = None
        self._tsa: TimeStampAuthority | None = None
        self._pdf_timestamper: PyHankoTimeStamper | None = None
        self._stamp_pool: Any = None
        self._verification_pool: Any = None
        self._chainer: BackgroundChainer | None = None
        self._job_sweeper: JobSweeper | None = None
        self.principals = PrincipalCache(settings.client_cache_seconds)
        # Type versions never change once stored, so they are safe to keep.
        self.type_versions = TypeVersions()
        # The last status list token built per list, until the list changes.
        self.status_list_cache = StatusListCache()

    @cached_property
    def engine(self) -> Engine:
        """The database engine (created on first use)."""
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        return make_engine(self.settings.effective_database_url)

    @cached_property
    def async_statements(self) -> AsyncStatements | None:
        """Async connections for checks run on the event loop; None unless PostgreSQL."""
        if self.engine.dialect.name != "postgresql":
            return None
        return AsyncStatements.for_engine(self.engine, size=self.settings.check_threads)

    @cached_property
    def session_factory(self) -> sessionmaker[Session]:
        """Sessions bound to :attr:`engine`."""
        return make_session_factory(self.engine)

    @cached_property
    def keystore(self) -> KeyStore:
        """The configured key store, opened and KEK-checked."""
        return open_key_store(self.settings.key_store_config())

    @cached_property
    def pki_config(self) -> PKIConfig:
        """CA policy from the settings."""
        return PKIConfig(
            base_url=self.settings.public_base_url,
            organisation=self.settings.pki_organisation,
        )

    @contextmanager
    def unit_of_work(self, *, readonly: bool = False, one_write: bool = False
                     ) -> Iterator[Services]:
        """A session and the services over it; commits on success (see session_scope)."""
        with session_scope(self.session_factory, readonly=readonly,
                           one_write=one_write) as session:
            yield Services(self, session)
        if wrote_to_outbox(session):
            self.audit_committed()

    @cached_property
    def audit_sequencer(self) -> AuditSequencer:
        """Links committed outbox records into the audit chain."""
        return AuditSequencer(self.session_factory, self.audit_signer,
                              checkpoint_every=self.settings.audit_checkpoint_every)

    def start_audit_chainer(self) -> None:
        """Chain audit records in a background thread from now on (servers)."""
        with self._lock:
            if self._chainer is None:
                self._chainer = BackgroundChainer(self.audit_sequencer)
            self._chainer.start()

    def start_job_sweeper(self) -> None:
        """End stamp jobs whose process died, now and every half lease (servers)."""
        from zhengyin.signing.jobs import JobSweeper

        lease = self.settings.stamp_job_lease_seconds

        def sweep() -> int:
            with self.unit_of_work() as services:
                return len(services.stamp_jobs.recover(at=utcnow(), lease_seconds=lease))

        with self._lock:
            if self._job_sweeper is None:
                self._job_sweeper = JobSweeper(sweep, every=lease / 2)
            self._job_sweeper.start()

    @property
    def chaining_in_background(self) -> bool:
        """Whether a background thread links audit records (else each commit does)."""
        return self._chainer is not None and self._chainer.running

    @property
    def chains_elsewhere(self) -> bool:
        """Whether committed records are linked by a thread or process other than the caller's."""
        return self.chaining_in_background or self.settings.audit_chaining == "external"

    def audit_committed(self) -> None:
        """Audit records were committed: wake the chainer, or link them now.

        Linking is I/O; there is none when :attr:`chains_elsewhere`. Also called for
        writes outside a unit of work (a check run on the event loop).
        """
        # Without a running background thread, chain now: the caller then finds its
        # entries in the chain (CLI, tests, scripts).
        # The change itself has committed by now: a failed drain must not turn it into an
        # error for the caller. Its records stay in the outbox for the next drain.
        if self._chainer is not None and self._chainer.running:
            self._chainer.notify()
            return
        if self.settings.audit_chaining == "external":
            return  # another process links them: the supervisor of `serve --workers N`
        try:
            self.audit_sequencer.drain()
        except Exception:
            _log.exception("audit records committed but not chained yet; they stay in the "
                           "outbox (`zhengyin audit chain` links them)")

    def ping_database(self) -> None:
        """Raise unless the database answers (readiness)."""
        ping(self.engine)

    def check_schema(self) -> None:
        """Raise when the database is not at this code's migration head."""
        check_schema(self.engine)

    def ensure_pki(self, *, at: datetime | None = None) -> None:
        """Create the development PKI on first start (idempotent)."""
        with self.unit_of_work() as services:
            if not services.pki.is_initialised() or not services.pki.has_all_identities():
                services.pki.init(at=at or utcnow(), actor=SYSTEM_ACTOR)
            services.identities.upgrade(at=utcnow(), actor=SYSTEM_ACTOR)

    def audit_signer(self, session: Session) -> _IdentitySigner | None:
        """The checkpoint signer, loaded once per process (None before ``pki init``)."""
        if self._audit_signer is None:
            pki = PKI(session, self.keystore, self.pki_config)
            if not pki.has_identity(AUDIT):
                return None
            identity = pki.identity(AUDIT)
            self._audit_signer = _IdentitySigner(
                self.keystore, identity.serial_hex, str(identity.key_handle)
            )
        return self._audit_signer

    def tsa(self) -> TimeStampAuthority:
        """The in-process TSA, built once per process."""
        with self._lock:
            if self._tsa is None:
                with self.unit_of_work(readonly=True) as services:
                    identity = services.pki.identity(TSA)
                    chain = services.pki.chain(identity)[1:]
                self._tsa = TimeStampAuthority(self.keystore, identity, chain)
            return self._tsa

    @cached_property
    def file_store(self) -> FileStore:
        """The content-addressed file store."""
        return LocalFileStore(self.settings.effective_file_store_dir)

    @cached_property
    def seal_signers(self) -> SealSigners:
        """Warm per-seal signers of the PDFs we write (licences and reports share them)."""
        return SealSigners(self.keystore, self.timestamp_client)

    @cached_property
    def sealer(self) -> LicenceSealer:
        """Renders and certifies licence PDFs (font and seals kept warm)."""
        return LicenceSealer(self.keystore, self.timestamp_client, signers=self.seal_signers)

    @cached_property
    def checks(self) -> CheckRunner:
        """Runs certificate-free checks on a worker thread or the event loop."""
        return CheckRunner(self)

    @cached_property
    def holder_tokens(self) -> HolderTokens:
        """Verifies holder JWTs (and mints development ones)."""
        return HolderTokens(self.settings, self.keystore)

    def upgrade_service_identities(self) -> None:
        """Re-issue the service identities that lack an EKU (start-up; idempotent)."""
        with self.unit_of_work() as services:
            if services.pki.is_initialised():
                services.identities.upgrade(at=utcnow(), actor=SYSTEM_ACTOR)

    @cached_property
    def registry_signers(self) -> RegistrySigners:
        """The registry's signer (receipts, display codes, status lists), made once."""
        return RegistrySigners(self.keystore)

    @cached_property
    def serials(self) -> SerialAllocator:
        """Serial numbers, allocated in their own short transactions on PostgreSQL."""
        return SerialAllocator(self.session_factory)

    def timestamp_client(self) -> TimeStampClient:
        """Where signatures get their time-stamps: ZHENGYIN_TSA_URL, else our own TSA."""
        if self.settings.tsa_url:
            return HTTPTimeStampClient(self.settings.tsa_url)
        return LocalTimeStampClient(self.tsa())

    @cached_property
    def stampers(self) -> StamperCache:
        """Warm seal stampers of this process (keys by handle, pre-encoded images)."""
        return StamperCache(self.keystore)

    def pdf_timestamper(self) -> PyHankoTimeStamper:
        """The time-stamper PDF signatures use, built once per process."""
        with self._lock:
            timestamper = self._pdf_timestamper
        if timestamper is None:
            timestamper = PyHankoTimeStamper(self.timestamp_client())
            with self._lock:
                self._pdf_timestamper = timestamper
        return timestamper

    def stamp_pool(self) -> StampPool:
        """The warm worker pool for batch stamping (started on first use)."""
        from zhengyin.signing.batch import StampPool, WorkerSetup

        with self._lock:
            if self._stamp_pool is None:
                tsa = None
                if not self.settings.tsa_url:
                    tsa = self._tsa_identity()
                setup = WorkerSetup(
                    keystore=self.settings.key_store_config(), tsa_url=self.settings.tsa_url,
                    tsa=tsa, max_pdf_bytes=self.settings.max_pdf_bytes,
                )
                self._stamp_pool = StampPool(setup, workers=self.settings.worker_count)
            pool: StampPool = self._stamp_pool
            return pool

    def _tsa_identity(self) -> TSAIdentity:
        from zhengyin.signing.batch import TSAIdentity

        with self.unit_of_work(readonly=True) as services:
            identity = services.pki.identity(TSA)
            chain = services.pki.chain(identity)[1:]
        return TSAIdentity(
            record_id=identity.record_id, serial_hex=identity.serial_hex,
            key_handle=str(identity.key_handle), certificate_der=identity.der,
            chain_der=tuple(bytes(ca.dump()) for ca in chain),
        )

    # ------------------------------------------------------------------ verification

    @cached_property
    def examination_limits(self) -> ExaminationLimits:
        """The limits every verified document runs under."""
        from dataclasses import replace

        from zhengyin.trust.validation.policy import DEFAULT_LIMITS

        return replace(DEFAULT_LIMITS, max_bytes=self.settings.max_pdf_bytes,
                       timeout_seconds=self.settings.verify_timeout_seconds,
                       memory_bytes=self.settings.verify_memory_mb * 1024 * 1024)

    @cached_property
    def verification(self) -> VerificationCaches:
        """Trust material, in-process examiners, report and trust-list caches."""
        return VerificationCaches(self.settings, self.keystore, limits=self.examination_limits,
                                  seal_signers=self.seal_signers,
                                  report_font=lambda: self.sealer.renderer.font)

    def verification_pool(self) -> ExaminationPool:
        """The warm verification workers (started on first use)."""
        from zhengyin.trust.validation.pool import ExaminationPool

        with self._lock:
            if self._verification_pool is None:
                self._verification_pool = ExaminationPool(
                    self.examination_limits, workers=self.settings.verify_worker_count)
            pool: ExaminationPool = self._verification_pool
            return pool

    def examiner(self, material: TrustMaterial) -> DocumentExaminer:
        """Where documents are examined: the worker pool, or in-process when configured."""
        if self.settings.verify_in_process:
            return self.verification.in_process_examiner(material)
        from zhengyin.trust.validation.pool import PoolExaminer

        return PoolExaminer(self.verification_pool(), material)

    def close(self) -> None:
        """Dispose of pooled connections, worker processes and key-store sessions."""
        if self._chainer is not None:
            self._chainer.stop()
            self._chainer = None
        if self._job_sweeper is not None:
            self._job_sweeper.stop()
            self._job_sweeper = None
        if self._stamp_pool is not None:
            self._stamp_pool.close()
            self._stamp_pool = None
        if self._verification_pool is not None:
            self._verification_pool.close()
            self._verification_pool = None
        if "engine" in self.__dict__:
            self.engine.dispose()
        if "keystore" in self.__dict__:
            self.keystore.close()


class Services:
    """Services for one unit of work, all sharing one session and one audit log."""

    def __init__(self, runtime: Runtime, session: Session) -> None:
        self.runtime = runtime
        self.session = session

    def writing_unit(self) -> AbstractContextManager[Services]:
        """This unit when it may write, else a short one of its own (core.db.writing_unit)."""
        return writing_unit(self, self.session, self.runtime.unit_of_work)

    def registry_signer(self) -> ServiceSigner:
        """The key that signs check receipts, display codes and status lists."""
        return self.runtime.registry_signers.get(self, at=utcnow())

    @cached_property
    def audit(self) -> AuditLog:
        """The audit log, with checkpoints signed by the audit identity."""
        return AuditLog(
            self.session,
            checkpoint_signer=self.runtime.audit_signer(self.session),
            checkpoint_every=self.runtime.settings.audit_checkpoint_every,
        )

    @cached_property
    def pki(self) -> PKI:
        """Certificate authorities."""
        return PKI(self.session, self.runtime.keystore, self.runtime.pki_config,
                   audit=self.audit)

    @cached_property
    def identities(self) -> ServiceIdentities:
        """The service identities: made, re-issued with their EKUs, pinned."""
        return ServiceIdentities(self.session, self.pki)

    @cached_property
    def audit_keys(self) -> AuditKeys:
        """The keys audit checkpoints are verified with (from the key store)."""
        return AuditKeys(self.session, self.pki, self.runtime.keystore)

    @cached_property
    def clients(self) -> ClientService:
        """API clients."""
        return ClientService(self.session, self.audit,
                             on_change=self.runtime.principals.forget)

    @cached_property
    def keys(self) -> KeyAdministration:
        """Key-store changes (generate, disable), audited."""
        return KeyAdministration(self.session, self.runtime.keystore, self.audit)

    @cached_property
    def seals(self) -> SealService:
        """The seal registry."""
        return SealService(self.session, self.runtime.keystore, self.pki, self.audit)

    @cached_property
    def seal_uses(self) -> SealUseLog:
        """The seal-use log."""
        return SealUseLog(self.session, self.audit)

    @cached_property
    def catalogue(self) -> Catalogue:
        """Licence types."""
        return Catalogue(self.session, self.audit, versions=self.runtime.type_versions)

    @cached_property
    def issuance(self) -> IssuanceService:
        """Licence issuance."""
        runtime = self.runtime
        return IssuanceService(
            self.session, catalogue=self.catalogue, seal_uses=self.seal_uses,
            audit=self.audit, files=runtime.file_store, sealer=runtime.sealer,
            serials=runtime.serials, base_url=runtime.settings.public_base_url,
        )

    @cached_property
    def lifecycle(self) -> LifecycleService:
        """Licence status changes and new versions."""
        return LifecycleService(self.session, self.audit, self.issuance)

    @cached_property
    def status_lists(self) -> StatusLists:
        """Status lists (draft-ietf-oauth-status-list): entries and the published tokens."""
        return StatusLists(self.session, base_url=self.runtime.settings.public_base_url,
                           cache=self.runtime.status_list_cache)

    def published_status_list(self, list_id: int, *, at: datetime) -> PublishedList:
        """The signed Status List Token of ``list_id``, signed by the registry identity."""
        signer = self.registry_signer()
        return self.status_lists.published(
            list_id, at=at, sign=lambda claims: signer.sign(claims, typ=STATUS_LIST.typ))

    @cached_property
    def licences(self) -> LicenceQuery:
        """Reading licences."""
        return LicenceQuery(self.session, versions=self.runtime.type_versions)

    @cached_property
    def uses(self) -> LicenceUses:
        """Use records and checks (read side)."""
        return LicenceUses(self.session)

    @cached_property
    def kept_reports(self) -> KeptReports:
        """Verification reports the public page links to, for 15 minutes."""
        return KeptReports(self.session)

    @cached_property
    def service_items(self) -> ServiceItems:
        """Service items (事项)."""
        return ServiceItems(self.session, self.catalogue, self.audit)

    @cached_property
    def consents(self) -> ConsentService:
        """Consents, use codes and agent grants."""
        settings = self.runtime.settings
        return ConsentService(self.session, self.audit, self.service_items,
                              max_consent_days=settings.consent_max_days,
                              use_code_minutes=settings.use_code_minutes,
                              max_agent_days=settings.agent_grant_max_days)

    @cached_property
    def checks(self) -> CheckService:
        """Certificate-free checks."""
        return CheckService(self.session, self.audit, self.consents, self.registry_signer())

    @cached_property
    def use_copies(self) -> UseCopyService:
        """Use-copies (加注件) of licences checks disclosed."""
        runtime = self.runtime
        settings = runtime.settings
        return UseCopyService(
            self.session, issuance=self.issuance, files=runtime.file_store,
            renderer=runtime.sealer.renderer, seals=self.seals, stamping=self.stamping,
            audit=self.audit,
            platform=Platform(name=settings.platform_name,
                              credit_code=settings.platform_credit_code,
                              create_seal=settings.is_development,
                              base_url=settings.public_base_url))

    @cached_property
    def stamping(self) -> StampService:
        """Stamping documents with seals."""
        return StampService(
            self.session, pki=self.pki, crl=self.crl, ocsp=self.ocsp, seals=self.seals,
            uses=self.seal_uses, stampers=self.runtime.stampers,
            timestamper=self.runtime.pdf_timestamper,
            max_pdf_bytes=self.runtime.settings.max_pdf_bytes,
        )

    @cached_property
    def stamp_jobs(self) -> StampJobService:
        """Batch stamping jobs."""
        from zhengyin.signing.jobs import StampJobService

        return StampJobService(self.session, stamping=self.stamping,
                               jobs_dir=self.runtime.settings.data_dir / "jobs")

    @cached_property
    def crl(self) -> CRLPublisher:
        """CRL publication."""
        return CRLPublisher(self.session, self.runtime.keystore, self.pki)

    @cached_property
    def ocsp(self) -> OCSPResponder:
        """The OCSP responder."""
        return OCSPResponder(self.session, self.runtime.keystore, self.pki)

    @cached_property
    def anchors(self) -> TrustAnchorService:
        """External trust anchors for verification."""
        from zhengyin.trust.anchors import TrustAnchorService

        return TrustAnchorService(self.session, self.audit)

    @cached_property
    def verifier(self) -> Verifier:
        """Verification of PDFs, identifiers and QR payloads (directories on this session)."""
        from zhengyin.registry.licencedirectory import RegistryLicenceDirectory
        from zhengyin.signing.sealdirectory import RegistrySealDirectory
        from zhengyin.trust.validation import Verifier

        runtime = self.runtime
        material = runtime.verification.material(self)
        return Verifier(runtime.examiner(material),
                        seals=RegistrySealDirectory(self.session),
                        licences=RegistryLicenceDirectory(self.session, runtime.file_store,
                                                          versions=runtime.type_versions),
                        qr=LicenceQRReader(runtime.settings.public_base_url,
                                           self.identities.signer_trust))
