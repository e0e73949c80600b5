"""Bulk import (migration): rows checked as issuance checks them, errors per row, resume
after a crash without duplicates, lazy sealing (once, also under concurrent downloads)
and sealing now, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import threading
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from zhengyin.api.imports import import_service, inline_sealing
from zhengyin.api.runtime import Runtime
from zhengyin.core.clock import utcnow
from zhengyin.core.models import AuditEntry
from zhengyin.registry.errors import ImportConflictError, NotAllowedToIssueError
from zhengyin.registry.identifiers import LicenceIdentifier
from zhengyin.registry.imports.report import ImportReport
from zhengyin.registry.imports.run import ImportOptions, ImportSummary
from zhengyin.registry.issuance import IssueRequest, IssuingParty
from zhengyin.registry.models import Licence, LicenceEvent
from zhengyin.signing.models import SealUse
from zhengyin.trust.auditverify import verify_audit_chain

from .conftest import BIRTH_TYPE, FOOD_TYPE, HOSPITAL, MARKET, food_request
from .pdfcheck import pdfsig, root_certificate

HOLDERS = ["91110000600037341L", "91110108551385082Q", "91110000802100433B"]


def food_row(**overrides: Any) -> dict[str, Any]:
    """A valid import row for a food business licence."""
    body = food_request()
    row = {key: body[key] for key in ("holder_kind", "holder_code", "holder_name", "fields")}
    row.update(overrides)
    return row


def write_rows(path: Path, rows: list[Any]) -> Path:
    """One JSON document (or a raw string) per line."""
    path.write_text("".join((row if isinstance(row, str) else
                             json.dumps(row, ensure_ascii=False)) + "\n" for row in rows),
                    encoding="utf-8")
    return path


def run_import(runtime: Runtime, path: Path, *, seal_now: bool = False, chunk_rows: int = 2000,
               type_code: str = FOOD_TYPE, issuer: str = MARKET,
               batch_id: str | None = None) -> ImportSummary:
    service = import_service(runtime, sealing=inline_sealing(runtime) if seal_now else None)
    return service.run(path, ImportOptions(type_code=type_code, issuer_code=issuer,
                                           actor="test:import", seal_now=seal_now,
                                           batch_id=batch_id, chunk_rows=chunk_rows),
                       clock=utcnow)


def licences_of(runtime: Runtime, batch_id: str) -> list[Licence]:
    with runtime.unit_of_work(readonly=True) as services:
        return list(services.session.scalars(
            select(Licence).where(Licence.import_batch_id == batch_id)
            .order_by(Licence.import_row)))


def verify_audit(runtime: Runtime) -> None:
    with runtime.unit_of_work(readonly=True) as services:
        verify_audit_chain(services.session, services.pki.public_key_of_serial)


# --------------------------------------------------------------------------- happy path


def test_rows_become_licences_with_history_and_audit(registry: Runtime, tmp_path: Path) -> None:
    rows = [food_row(holder_code=code, holder_name=f"餐饮公司{index}")
            for index, code in enumerate(HOLDERS)]
    summary = run_import(registry, write_rows(tmp_path / "food.jsonl", rows))

    assert (summary.imported, summary.failed, summary.rows_done, summary.finished) == \
        (3, 0, 3, True)
    licences = licences_of(registry, summary.batch_id)
    assert [licence.holder_code for licence in licences] == HOLDERS
    assert [licence.import_row for licence in licences] == [1, 2, 3]
    assert len({licence.serial for licence in licences}) == 3
    for licence in licences:
        identifier = LicenceIdentifier.parse(licence.identifier)
        assert (identifier.type_code, identifier.issuer_code, identifier.version) == \
            (FOOD_TYPE, MARKET, 1)
        assert licence.printed_number == f"JY1{MARKET[2:8]}{licence.serial}"
        assert licence.pdf_sha256 is None  # sealed at first download
    with registry.unit_of_work(readonly=True) as services:
        events = services.session.scalars(
            select(LicenceEvent).where(LicenceEvent.licence_id == licences[0].id)).all()
        assert [(e.action.value, e.details["import"]) for e in events] == \
            [("issued", {"batch": summary.batch_id, "row": 1})]
        audit = services.session.scalars(
            select(AuditEntry).where(AuditEntry.object_id == licences[0].identifier)).all()
        assert [(entry.action, entry.details["import"]["row"]) for entry in audit] == \
            [("licence.issued", 1)]
        started = services.session.scalars(
            select(AuditEntry.action).where(AuditEntry.object_id == summary.batch_id)).all()
        assert started == ["licence.import_started", "licence.import_finished"]
        status = services.licences.public_status(licences[0].identifier, at=utcnow())
        assert status.status.value == "valid"
    verify_audit(registry)


def test_kept_identifiers_historic_dates_and_later_serials(registry: Runtime,
                                                           tmp_path: Path) -> None:
    kept = LicenceIdentifier(FOOD_TYPE, MARKET, "201800000777", 1)
    rows = [food_row(identifier=str(kept), issued_at="2018-03-01",
                     printed_number="JY1110105OLD777"),
            food_row(serial="2018A1", issued_at="2018-06-30T10:00:00+08:00"),
            food_row(issued_at="2019-01-02")]
    summary = run_import(registry, write_rows(tmp_path / "old.jsonl", rows))
    assert (summary.imported, summary.failed) == (3, 0)
    first, second, third = licences_of(registry, summary.batch_id)
    assert first.identifier == str(kept)
    assert first.printed_number == "JY1110105OLD777"
    assert first.issued_at.isoformat() == "2018-02-28T16:00:00+00:00"
    assert (first.valid_from, first.valid_until) == (date(2018, 3, 1), date(2023, 2, 28))
    assert second.serial == "2018A1"
    assert second.identifier == str(LicenceIdentifier(FOOD_TYPE, MARKET, "2018A1", 1))
    assert third.serial.startswith("2019")
    with registry.unit_of_work(readonly=True) as services:
        assert services.licences.status_at(first, datetime.fromisoformat(
            "2017-12-31T00:00:00+00:00")) is None
    # The counter for 2018 now starts above the kept serial: issuing in 2018 again
    # (another kept row) cannot meet it, nor can later issuance.
    with registry.unit_of_work() as services:
        value = registry.serials.allocate(services.session, FOOD_TYPE, MARKET, 2018)
    assert value > 777


def test_an_import_of_a_historic_licence_may_have_ended(registry: Runtime,
                                                       tmp_path: Path) -> None:
    # Issuance refuses a licence born expired; a licence issued elsewhere long ago is
    # recorded as it was, expired now.
    rows = [food_row(issued_at="2010-03-01"), food_row(valid_from="2010-03-01")]
    summary = run_import(registry, write_rows(tmp_path / "old.jsonl", rows))

    assert (summary.imported, summary.failed) == (2, 0)
    assert [licence.valid_until for licence in licences_of(registry, summary.batch_id)] == \
        [date(2015, 2, 28), date(2015, 2, 28)]


# --------------------------------------------------------------------------- row errors


def _wrong_check(identifier: LicenceIdentifier) -> str:
    text = str(identifier)
    return text[:-1] + ("A" if text[-1] != "A" else "B")


BAD_ROWS: list[tuple[str, Any, str, str]] = [
    ("bad_check_character", food_row(holder_code="91110000600037341M"), "holder_code",
     "GB 32100 check character"),
    ("missing_surface_field", food_row(fields={**food_row()["fields"], "address": None}),
     "fields.address", "None is not of type 'string'"),
    ("unknown_key", food_row(valid_untill="2030-01-01"), "valid_untill",
     "not a field of an import row"),
    ("not_json", '{"holder_kind": "credit-code",', "", "not JSON"),
    ("not_an_object", "[1, 2]", "", "JSON object"),
    ("bad_date", food_row(valid_from="2024-02-30"), "valid_from", "YYYY-MM-DD"),
    ("future_issue", food_row(issued_at="2999-01-01"), "issued_at", "future"),
    ("naive_time", food_row(issued_at="2020-01-01T10:00:00"), "issued_at", "offset"),
    ("identifier_bad_check", food_row(identifier=_wrong_check(
        LicenceIdentifier(FOOD_TYPE, MARKET, "5", 1))), "identifier", "check character"),
    ("identifier_of_another_issuer", food_row(identifier=str(
        LicenceIdentifier(FOOD_TYPE, HOSPITAL, "5", 1))), "identifier", "issuing body"),
    ("nul_character", food_row(holder_name="北京\u0000公司"), "holder_name", "NUL"),
    ("validity_end_given", food_row(valid_until="2030-01-01"), "valid_until",
     "set by the type's rule"),
    ("wrong_holder_kind", food_row(holder_kind="citizen-id"), "holder_kind",
     "not accepted by this type"),
    ("unprintable_character", food_row(fields={**food_row()["fields"],
                                               "address": "北京市𠀀路1号"}),
     "fields.address", "the licence font cannot print '𠀀'"),
]


def test_bad_rows_are_reported_and_good_rows_import(registry: Runtime, tmp_path: Path) -> None:
    rows: list[Any] = [food_row()]
    for _name, row, _field, _message in BAD_ROWS:
        rows += [row, ""]  # blank lines are skipped but keep the line numbers
    rows.append(food_row(holder_code=HOLDERS[1]))
    source = write_rows(tmp_path / "mixed.jsonl", rows)
    summary = run_import(registry, source, chunk_rows=4)

    assert (summary.imported, summary.failed) == (2, len(BAD_ROWS))
    problems = list(import_service(registry).problems(summary.batch_id))
    by_row = {problem.row: problem for problem in problems}
    for index, (name, _row, field, message) in enumerate(BAD_ROWS):
        problem = by_row[2 + 2 * index]
        assert problem.field == field, name
        assert message in problem.message, (name, problem.message)
    assert [licence.import_row for licence in licences_of(registry, summary.batch_id)] == \
        [1, len(rows)]

    report = ImportReport(registry.unit_of_work, summary.batch_id)
    assert report.write(tmp_path / "mixed.errors.jsonl") == len(problems)
    lines = (tmp_path / "mixed.errors.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0]) == {"row": 2, "field": "holder_code",
                                    "message": by_row[2].message}
    report.write(tmp_path / "mixed.errors.csv")
    assert (tmp_path / "mixed.errors.csv").read_text(encoding="utf-8").startswith(
        "row,field,message")


def test_a_row_repeating_an_identifier_is_refused(registry: Runtime, tmp_path: Path) -> None:
    identifier = str(LicenceIdentifier(FOOD_TYPE, MARKET, "7", 1))
    first = run_import(registry, write_rows(tmp_path / "a.jsonl",
                                            [food_row(identifier=identifier),
                                             food_row(identifier=identifier)]))
    assert (first.imported, first.failed) == (1, 1)
    again = run_import(registry, write_rows(tmp_path / "b.jsonl",
                                            [food_row(identifier=identifier), food_row()]))
    assert (again.imported, again.failed) == (1, 1)
    problems = list(import_service(registry).problems(again.batch_id))
    assert [(p.row, p.field, p.message) for p in problems] == \
        [(1, "identifier", "a licence with this identifier exists")]


def test_an_issuer_imports_only_types_it_may_issue(registry: Runtime, tmp_path: Path) -> None:
    with pytest.raises(NotAllowedToIssueError):
        run_import(registry, write_rows(tmp_path / "x.jsonl", [food_row()]),
                   type_code=BIRTH_TYPE)


# --------------------------------------------------------------------------- re-runs


def test_rerunning_skips_what_is_done(registry: Runtime, tmp_path: Path) -> None:
    source = write_rows(tmp_path / "food.jsonl", [food_row(), food_row(holder_code="bad")])
    first = run_import(registry, source)
    again = run_import(registry, source)
    assert (again.batch_id, again.imported, again.failed, again.resumed_after) == \
        (first.batch_id, 1, 1, 2)
    assert len(licences_of(registry, first.batch_id)) == 1
    assert len(list(import_service(registry).problems(first.batch_id))) == 1


def test_the_same_file_under_another_batch_id_is_refused(registry: Runtime,
                                                          tmp_path: Path) -> None:
    source = write_rows(tmp_path / "food.jsonl", [food_row()])
    first = run_import(registry, source)
    with pytest.raises(ImportConflictError, match=f"imported as batch {first.batch_id}"):
        run_import(registry, source, batch_id="another")
    with pytest.raises(ImportConflictError, match="another seal-now"):
        run_import(registry, source, seal_now=True)
    other = write_rows(tmp_path / "other.jsonl", [food_row(), food_row()])
    with pytest.raises(ImportConflictError, match=r"another file \(SHA-256\)"):
        run_import(registry, other, batch_id=first.batch_id)


CRASHING_IMPORT = """
import os, pickle, sys
from zhengyin.core.audit import AuditLog
from zhengyin.core.clock import utcnow
from zhengyin.api.imports import import_service
from zhengyin.api.runtime import Runtime
from zhengyin.registry.imports.run import ImportOptions

settings, source = pickle.load(open(sys.argv[1], "rb"))
appended = AuditLog.append_chained
calls = []

def crash_in_the_third_chunk(self, records):
    calls.append(1)
    if len(calls) == 3:
        os._exit(17)  # mid-transaction: rows inserted, nothing committed
    return appended(self, records)

AuditLog.append_chained = crash_in_the_third_chunk
import_service(Runtime(settings)).run(
    source, ImportOptions(type_code=sys.argv[2], issuer_code=sys.argv[3], actor="test:import",
                          chunk_rows=3), clock=utcnow)
"""


def test_a_crashed_import_resumes_without_duplicates(registry: Runtime, tmp_path: Path) -> None:
    rows = [food_row(holder_name=f"公司{index}") for index in range(10)]
    rows[4]["holder_code"] = "91110000600037341M"   # refused, in the second chunk
    rows[7]["holder_code"] = "91110000600037341M"   # refused, in the crashed third chunk
    source = write_rows(tmp_path / "food.jsonl", rows)
    (tmp_path / "args.pickle").write_bytes(pickle.dumps((registry.settings, source)))
    crashed = subprocess.run([sys.executable, "-c", CRASHING_IMPORT,
                              str(tmp_path / "args.pickle"), FOOD_TYPE, MARKET],
                             capture_output=True, text=True, timeout=120, check=False)
    assert crashed.returncode == 17, crashed.stderr

    service = import_service(registry)
    batch_id = licences_of_first_batch(registry)
    assert import_service(registry).summary(batch_id).rows_done == 6  # two chunks committed

    summary = run_import(registry, source, chunk_rows=3)
    assert (summary.batch_id, summary.resumed_after) == (batch_id, 6)
    assert (summary.imported, summary.failed, summary.finished) == (8, 2, True)
    licences = licences_of(registry, batch_id)
    assert [licence.import_row for licence in licences] == [1, 2, 3, 4, 6, 7, 9, 10]
    assert len({licence.identifier for licence in licences}) == 8
    assert [problem.row for problem in service.problems(batch_id)] == [5, 8]
    with registry.unit_of_work(readonly=True) as services:
        issued = services.session.scalar(
            select(func.count()).select_from(AuditEntry)
            .where(AuditEntry.action == "licence.issued"))
    assert issued == 8
    verify_audit(registry)


def licences_of_first_batch(runtime: Runtime) -> str:
    with runtime.unit_of_work(readonly=True) as services:
        batch_id = services.session.scalar(
            select(Licence.import_batch_id).where(Licence.import_batch_id.is_not(None)))
    assert batch_id is not None
    return batch_id


# --------------------------------------------------------------------------- sealing


def _pdf_of(runtime: Runtime, identifier: str) -> bytes:
    with runtime.unit_of_work(readonly=True) as services:
        digest = services.session.scalar(
            select(Licence.pdf_sha256).where(Licence.identifier == identifier))
    assert digest is not None
    return runtime.file_store.get(digest)


def _seal_uses(runtime: Runtime, identifier: str) -> list[SealUse]:
    with runtime.unit_of_work(readonly=True) as services:
        return list(services.session.scalars(
            select(SealUse).where(SealUse.case_number == identifier)))


@pytest.mark.pdfsig
def test_lazy_sealing_at_first_download_validates(registry: Runtime, http: Any,
                                                  market: dict[str, str],
                                                  tmp_path: Path) -> None:
    summary = run_import(registry, write_rows(tmp_path / "food.jsonl", [food_row()]))
    identifier = licences_of(registry, summary.batch_id)[0].identifier
    first = http.get(f"/licences/{identifier}/pdf", headers=market)
    assert first.status_code == 200, first.text
    second = http.get(f"/licences/{identifier}/pdf", headers=market)
    assert second.content == first.content
    report = pdfsig(first.content, root_certificate(registry), tmp_path)
    assert "Signature is Valid." in report, report
    assert [use.output_sha256 for use in _seal_uses(registry, identifier)] == \
        [licences_of(registry, summary.batch_id)[0].pdf_sha256]
    verify_audit(registry)


def test_import_and_issuance_agree_on_a_licence_at_its_schemas_maximum_lengths(
        registry: Runtime, http: Any, market: dict[str, str], tmp_path: Path) -> None:
    longest = {**food_row()["fields"], "operator_name": "某" * 100, "address": "路" * 200,
               "premises": "层" * 200, "business_items": "食" * 500,
               "daily_supervisor": "李" * 100}
    summary = run_import(registry, write_rows(tmp_path / "long.jsonl",
                                              [food_row(fields=longest)]))
    identifier = licences_of(registry, summary.batch_id)[0].identifier

    downloaded = http.get(f"/licences/{identifier}/pdf", headers=market)
    issued = http.post("/licences", json=food_request(fields=longest), headers=market)

    assert (summary.imported, summary.failed) == (1, 0)
    assert downloaded.status_code == 200, downloaded.text  # sealed at first download
    assert downloaded.content.count(b"/Type /Page ") == 2
    assert issued.status_code == 201, issued.text


def test_concurrent_first_downloads_seal_once(registry: Runtime, tmp_path: Path) -> None:
    summary = run_import(registry, write_rows(tmp_path / "food.jsonl", [food_row()]))
    identifier = licences_of(registry, summary.batch_id)[0].identifier
    postgres = registry.engine.dialect.name == "postgresql"
    # PostgreSQL: both read the unsealed row before either seals. SQLite serialises
    # writers from their first statement, so there the second simply waits.
    loaded = threading.Barrier(2, timeout=30) if postgres else None
    digests: list[str | None] = []
    failures: list[BaseException] = []

    def download() -> None:
        try:
            with registry.unit_of_work() as services:
                licence = services.session.scalars(
                    select(Licence).where(Licence.identifier == identifier)).one()
                if loaded is not None:
                    loaded.wait()
                services.issuance.ensure_sealed(licence, at=utcnow())
                digests.append(licence.pdf_sha256)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=download) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures
    stored = licences_of(registry, summary.batch_id)[0].pdf_sha256
    assert digests == [stored, stored]
    assert len(_seal_uses(registry, identifier)) == 1
    files = [path.name for path in
             registry.settings.effective_file_store_dir.glob("??/??/*")]
    assert files == [stored]  # the loser's file was discarded
    verify_audit(registry)


@pytest.mark.pdfsig
def test_sealed_now_imports_validate(registry: Runtime, tmp_path: Path) -> None:
    rows = [food_row(holder_code=code) for code in HOLDERS[:2]]
    summary = run_import(registry, write_rows(tmp_path / "food.jsonl", rows), seal_now=True)
    assert (summary.imported, summary.seal_now) == (2, True)
    licences = licences_of(registry, summary.batch_id)
    for licence in licences:
        assert licence.pdf_sha256 is not None and licence.seal_id is not None
        uses = _seal_uses(registry, licence.identifier)
        assert [use.output_sha256 for use in uses] == [licence.pdf_sha256]
    report = pdfsig(_pdf_of(registry, licences[1].identifier), root_certificate(registry),
                    tmp_path)
    assert "Signature is Valid." in report, report
    verify_audit(registry)


def test_imported_and_issued_licences_share_the_serial_counter(registry: Runtime,
                                                               tmp_path: Path) -> None:
    summary = run_import(registry, write_rows(tmp_path / "food.jsonl", [food_row()] * 3))
    body = food_request()
    with registry.unit_of_work() as services:
        issued = services.issuance.issue(
            IssueRequest(type_code=FOOD_TYPE, holder_kind=body["holder_kind"],
                         holder_code=body["holder_code"], holder_name=body["holder_name"],
                         fields=body["fields"]),
            IssuingParty(org_code=MARKET, client_id=None, actor="test"), at=utcnow()).licence
    serials = [licence.serial for licence in licences_of(registry, summary.batch_id)]
    assert issued.serial not in serials
    assert issued.serial > max(serials)
