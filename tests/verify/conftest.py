"""Verification test environment: one per module and database backend.

A live service (pdfsig asks its OCSP responder), the example licence types, the market
regulator's seal for licences, an approval seal of our test organisation for stamping,
and helpers to issue, stamp and verify. Examination runs in-process here
(``verify_in_process``); the worker pool has its own tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from zhengyin.api.runtime import Runtime
from zhengyin.core.clock import utcnow
from zhengyin.registry.catalogue import TypeDefinition, example_definitions
from zhengyin.registry.issuance import IssueRequest, IssuingParty
from zhengyin.signing.models import Seal, SealType, SignatureLevel
from zhengyin.signing.placement import AnchorPlacement, FieldPlacement, Placement, ReservedField
from zhengyin.signing.seals import SealRequest
from zhengyin.signing.stamper import StampOptions
from zhengyin.signing.stamping import StampRequest
from zhengyin.trust.validation import VerificationReport

from ..registry.conftest import MARKET, food_request, seal_png
from ..signing.documents import ANCHOR, approval_pdf
from ..signing.fixtures import StampingEnv, make_stamping_env
from .foreign import ForeignPKI

__all__ = ["VerifyEnv", "api", "cli", "verify_env"]

CO_SEAL_BOX = (60.0, 60.0, 180.0, 180.0)


@dataclass
class VerifyEnv:
    """The module's service and what tests need from it."""

    stamping: StampingEnv
    market_seal: Seal
    approval_seal: Seal

    @property
    def runtime(self) -> Runtime:
        """The service runtime."""
        return self.stamping.runtime

    def issue(self, **overrides: Any) -> tuple[str, bytes]:
        """A food business licence: (identifier, sealed PDF)."""
        body = food_request(**overrides)
        request = IssueRequest(type_code=body["type_code"], holder_kind=body["holder_kind"],
                               holder_code=body["holder_code"], holder_name=body["holder_name"],
                               fields=body["fields"])
        with self.runtime.unit_of_work() as services:
            licence = services.issuance.issue(
                request, IssuingParty(org_code=MARKET, client_id=None, actor="test"),
                at=utcnow()).licence
            identifier, digest = licence.identifier, licence.pdf_sha256
        assert digest is not None
        return identifier, self.runtime.file_store.get(digest)

    def stamp(self, pdf: bytes | None = None, *, seal: Seal | None = None,
              level: str = "B-T", certify: bool | None = None,
              reserve: tuple[ReservedField, ...] = (),
              placement: Placement | None = None) -> bytes:
        """Stamp through the service (authorisation, use log, signing)."""
        options = StampOptions(placement=placement or Placement(AnchorPlacement(ANCHOR)),
                               level=SignatureLevel(level), certify=certify, reserve=reserve)
        with self.runtime.unit_of_work() as services:
            done = services.stamping.stamp(
                StampRequest((seal or self.approval_seal).id, options, "审批〔2025〕1号",
                             "准予行政许可"),
                pdf if pdf is not None else approval_pdf(2), client_id=None, actor="test",
                at=utcnow())
        return done.result.pdf

    def co_sealed(self, second: Seal) -> bytes:
        """Certified with P=2 reserving a field, which ``second`` then fills."""
        first = self.stamp(reserve=(ReservedField("CoSeal1", -1, CO_SEAL_BOX),))
        return self.stamp(first, seal=second,
                          placement=Placement(FieldPlacement("CoSeal1")))

    def verify(self, pdf: bytes, *, file_name: str | None = None) -> VerificationReport:
        """The service's verdict on ``pdf``."""
        with self.runtime.unit_of_work(readonly=True) as services:
            return services.verifier.verify_pdf(pdf, at=utcnow(), file_name=file_name)

    def verify_identifier(self, identifier: str) -> VerificationReport:
        """The service's verdict on a licence identifier."""
        with self.runtime.unit_of_work(readonly=True) as services:
            return services.verifier.verify_identifier(identifier, at=utcnow())

    def new_seal(self, seal_type: SealType = SealType.APPROVAL, **overrides: Any) -> Seal:
        """Another seal of the test organisation."""
        return self.stamping.new_seal(seal_type, **overrides)

    def trusted_authority(self) -> ForeignPKI:
        """Another authority, its root trusted as an external trust anchor."""
        authority = ForeignPKI.create()
        with self.runtime.unit_of_work() as services:
            services.anchors.add(authority.root_pem, note="test: another authority",
                                 at=utcnow(), actor="test")
        return authority

    def revoke(self, identifier: str) -> None:
        """Revoke a licence (吊销), as its issuer would."""
        from zhengyin.registry.licences import Reader
        from zhengyin.registry.lifecycle import RevocationKind

        with self.runtime.unit_of_work() as services:
            licence = services.licences.get(identifier, Reader(everything=True))
            services.lifecycle.revoke(
                licence, kind=RevocationKind.REVOKED, reason_code="07", reason="违法经营",
                legal_basis="《食品安全法》第一百三十五条", effective_at=None, at=utcnow(),
                actor="test")


def make_verify_env(database_url: str, kek_text: str,
                    tmp_path_factory: pytest.TempPathFactory, **overrides: Any
                    ) -> Iterator[VerifyEnv]:
    """Build the environment (a generator for module fixtures)."""
    values: dict[str, Any] = {"verify_in_process": True}
    values.update(overrides)
    for stamping in make_stamping_env(database_url, kek_text, tmp_path_factory, **values):
        with stamping.runtime.unit_of_work() as services:
            for document in example_definitions():
                services.catalogue.define(TypeDefinition.from_json(document), at=utcnow(),
                                          actor="test")
            market = services.seals.create(SealRequest(
                org_name="北京市朝阳区市场监督管理局", credit_code=MARKET,
                seal_type=SealType.APPROVAL, image_png=seal_png()), at=utcnow(), actor="test")
            services.session.expunge(market)
        approval = stamping.new_seal(SealType.APPROVAL, image_png=seal_png())
        yield VerifyEnv(stamping, market, approval)


@pytest.fixture(scope="module")
def verify_env(database_url: str, kek_text: str,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[VerifyEnv]:
    """The module's verification environment."""
    yield from make_verify_env(database_url, kek_text, tmp_path_factory)


@pytest.fixture(scope="module")
def api(verify_env: VerifyEnv) -> Iterator[Any]:
    """The app over the module's service (server errors become 500 responses)."""
    from fastapi.testclient import TestClient

    from zhengyin.api.app import create_app

    yield TestClient(create_app(runtime=verify_env.runtime), raise_server_exceptions=False)


@pytest.fixture
def cli(verify_env: VerifyEnv, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Runs ``zhengyin`` in-process against the module's service."""
    from typer.testing import CliRunner

    from zhengyin.api.cli import app, common

    settings = verify_env.runtime.settings
    monkeypatch.setenv("ZHENGYIN_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("ZHENGYIN_DATABASE_URL", settings.effective_database_url)
    monkeypatch.setenv("ZHENGYIN_KEK", settings.kek.get_secret_value())  # type: ignore[union-attr]
    monkeypatch.setenv("ZHENGYIN_PUBLIC_BASE_URL", settings.public_base_url)
    monkeypatch.setenv("ZHENGYIN_LOG_JSON", "false")
    common.runtime.cache_clear()
    runner = CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(app, list(args), catch_exceptions=False)

    yield run
    common.runtime().close()
    common.runtime.cache_clear()


def checks_of(report: VerificationReport, index: int = 0) -> dict[str, Any]:
    """{check name: CheckResult} of one signature."""
    return {check.check: check for check in report.signatures[index].checks}


def codes(report: VerificationReport) -> set[str]:
    """Every reason code of the report (document and signatures)."""
    found = {check.reason.code for check in report.document}
    for signature in report.signatures:
        found |= {check.reason.code for check in signature.checks}
    return found
