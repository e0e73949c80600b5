"""Every licence PDF the registry seals is recorded by the digest of its signed revision
(the bytes its seal's /ByteRange covers, as verification computes them), in the same unit
of work as the PDF: at issuance, at first download of an imported licence, on import
with ``--seal-now`` and for a new version; and the licence directory finds the licence
by that digest, also for a row sealed before the digest was recorded."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select, update

from zhengyin.api.runtime import Runtime
from zhengyin.core.clock import utcnow
from zhengyin.registry.issuance import IssueRequest, IssuingParty
from zhengyin.registry.licencedirectory import RegistryLicenceDirectory
from zhengyin.registry.licences import Reader
from zhengyin.registry.lifecycle import ChangeRequest
from zhengyin.registry.models import Licence
from zhengyin.registry.usecopies import signed_revision_digest

from .conftest import FOOD_TYPE, MARKET, food_request
from .test_import import food_row, run_import, write_rows

PARTY = IssuingParty(org_code=MARKET, client_id=None, actor="test")


def _issue(runtime: Runtime) -> str:
    body = food_request()
    with runtime.unit_of_work() as services:
        return services.issuance.issue(
            IssueRequest(type_code=FOOD_TYPE, holder_kind=body["holder_kind"],
                         holder_code=body["holder_code"], holder_name=body["holder_name"],
                         fields=body["fields"]), PARTY, at=utcnow()).licence.identifier


def _imported(runtime: Runtime, tmp_path: Path, *, seal_now: bool) -> str:
    summary = run_import(runtime, write_rows(tmp_path / "food.jsonl", [food_row()]),
                         seal_now=seal_now)
    with runtime.unit_of_work() as services:
        licence = services.session.scalars(
            select(Licence).where(Licence.import_batch_id == summary.batch_id)).one()
        if not seal_now:
            assert licence.signed_sha256 is None
            services.issuance.ensure_sealed(licence, at=utcnow())
        return licence.identifier


def _new_version(runtime: Runtime) -> str:
    identifier = _issue(runtime)
    with runtime.unit_of_work() as services:
        licence = services.licences.get(identifier, Reader(everything=True))
        return services.lifecycle.change(
            licence, ChangeRequest(fields=dict(licence.fields, address="北京市朝阳区建国路99号")),
            reason="住所变更", party=PARTY, at=utcnow()).identifier


def _stored(runtime: Runtime, identifier: str) -> tuple[str | None, bytes]:
    with runtime.unit_of_work(readonly=True) as services:
        licence = services.licences.get(identifier, Reader(everything=True))
        assert licence.pdf_sha256 is not None
        return licence.signed_sha256, runtime.file_store.get(licence.pdf_sha256)


@pytest.mark.parametrize("path", ["issued", "sealed-at-first-download", "imported-seal-now",
                                  "new-version"])
def test_every_sealing_path_records_the_signed_revisions_digest(
        registry: Runtime, tmp_path: Path, path: str) -> None:
    if path == "issued":
        identifier = _issue(registry)
    elif path == "new-version":
        identifier = _new_version(registry)
    else:
        identifier = _imported(registry, tmp_path, seal_now=path == "imported-seal-now")
    signed, pdf = _stored(registry, identifier)
    assert signed is not None and signed == signed_revision_digest(pdf)
    with registry.unit_of_work(readonly=True) as services:
        found = RegistryLicenceDirectory(services.session, registry.file_store) \
            .licence_by_signed_digest(signed, at=utcnow(), signed_at=utcnow())
    assert found is not None and found.identifier == identifier and not found.use_copy


def test_a_licence_without_a_recorded_signed_digest_is_found_by_its_issued_file(
        registry: Runtime) -> None:
    identifier = _issue(registry)
    _signed, pdf = _stored(registry, identifier)
    with registry.unit_of_work() as services:
        services.session.execute(update(Licence).where(Licence.identifier == identifier)
                                 .values(signed_sha256=None))
    with registry.unit_of_work(readonly=True) as services:
        directory = RegistryLicenceDirectory(services.session, registry.file_store)
        found = directory.licence_by_signed_digest(signed_revision_digest(pdf), at=utcnow(),
                                                   signed_at=utcnow())
        assert directory.licence_by_signed_digest("0" * 64, at=utcnow(),
                                                  signed_at=utcnow()) is None
    assert found is not None and found.identifier == identifier
