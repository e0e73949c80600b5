"""The audit log from the operator's side: ``zhengyin audit verify`` and audited admin actions.

``audit verify`` runs as a real command over the test database (SQLite and PostgreSQL);
a row edited with SQL behind the service's back makes it exit non-zero naming the entry.
Admin actions through the API (client added, disabled, rotated; key created; certificate
issued, revoked) each leave an entry naming the caller and the object, without secrets.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from zhengyin.api.runtime import Runtime
from zhengyin.api.settings import Settings
from zhengyin.core.clock import utcnow
from zhengyin.core.models import AuditCheckpoint, AuditEntry, ClientRole

from ..support import ORG_CODE, ORG_NAME, bearer

ZHENGYIN = str(Path(sys.executable).with_name("zhengyin"))
ADMIN_ACTOR = "client:test-admin"


@pytest.fixture
def cli_env(runtime: Runtime, settings: Settings, kek_text: str) -> dict[str, str]:
    """The command's environment: the test runtime's database, data directory and KEK."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHENGYIN_")}
    env.update(ZHENGYIN_DATA_DIR=str(settings.data_dir),
               ZHENGYIN_DATABASE_URL=settings.effective_database_url,
               ZHENGYIN_KEK=kek_text, ZHENGYIN_LOG_JSON="false")
    return env


def _audit_verify(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ZHENGYIN, "audit", "verify"], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=120, check=False)


def _append(runtime: Runtime, count: int) -> list[int]:
    """Append ``count`` entries; their sequence numbers."""
    at = utcnow()
    with runtime.unit_of_work() as services:
        for n in range(count):
            services.audit.append(actor="test", action="thing.done", object_type="thing",
                                  object_id=str(n), at=at + timedelta(seconds=n),
                                  details={"n": n})
    with runtime.unit_of_work(readonly=True) as services:
        seqs = services.session.scalars(
            select(AuditEntry.seq).where(AuditEntry.action == "thing.done")
            .order_by(AuditEntry.seq.desc()).limit(count))
        return sorted(seqs)


def _execute(runtime: Runtime, sql: str, **params: object) -> None:
    with runtime.engine.begin() as connection:
        connection.execute(text(sql), params)


# ----------------------------------------------------------------------------- audit verify


def test_audit_verify_accepts_an_untouched_log(runtime: Runtime, cli_env: dict[str, str],
                                               tmp_path: Path) -> None:
    seqs = _append(runtime, 4)

    result = _audit_verify(cli_env, tmp_path)

    assert result.returncode == 0, result.stderr
    assert "audit log intact" in result.stdout
    assert f"head {seqs[-1]} " in result.stdout


def test_audit_verify_names_a_row_edited_with_sql(runtime: Runtime, cli_env: dict[str, str],
                                                  tmp_path: Path) -> None:
    seqs = _append(runtime, 5)
    target = seqs[2]
    _execute(runtime, "UPDATE audit_entries SET object_id = 'forged' WHERE seq = :s", s=target)

    result = _audit_verify(cli_env, tmp_path)

    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1  # one line, no traceback
    assert lines[0].startswith(f"error: audit entry {target}: content was altered")
    assert "audit log intact" not in result.stdout


def test_audit_verify_names_a_row_deleted_with_sql(runtime: Runtime, cli_env: dict[str, str],
                                                   tmp_path: Path) -> None:
    seqs = _append(runtime, 5)
    target = seqs[1]
    _execute(runtime, "DELETE FROM audit_entries WHERE seq = :s", s=target)

    result = _audit_verify(cli_env, tmp_path)

    assert result.returncode != 0
    assert f"audit entry {target}: missing" in result.stderr


def _commit_unchained(runtime: Runtime, count: int) -> None:
    """Records committed to the outbox by a process that died before chaining them."""
    from zhengyin.core.audit import AuditLog
    from zhengyin.core.db import session_scope

    with session_scope(runtime.session_factory) as session:
        for n in range(count):
            AuditLog(session).append(actor="test", action="thing.left", object_type="thing",
                                     object_id=str(n), at=utcnow())


def test_audit_verify_reports_records_waiting_to_be_chained(
        runtime: Runtime, cli_env: dict[str, str], tmp_path: Path) -> None:
    _append(runtime, 2)
    _commit_unchained(runtime, 3)

    result = _audit_verify(cli_env, tmp_path)

    assert result.returncode == 0, result.stderr
    assert "3 committed records wait to be chained" in " ".join(result.stdout.split())


def test_audit_chain_links_waiting_records_and_the_log_still_verifies(
        runtime: Runtime, cli_env: dict[str, str], tmp_path: Path) -> None:
    head = _append(runtime, 2)[-1]
    _commit_unchained(runtime, 3)

    chained = subprocess.run([ZHENGYIN, "audit", "chain"], env=cli_env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=120, check=False)
    verified = _audit_verify(cli_env, tmp_path)

    assert chained.returncode == 0, chained.stderr
    assert "chained 3 records" in chained.stdout
    assert verified.returncode == 0, verified.stderr
    assert f"head {head + 3} " in verified.stdout
    assert "wait to be chained" not in verified.stdout


# ----------------------------------------------------------------------------- checkpoints

EVERY = 10


@pytest.fixture
def every_ten(runtime: Runtime, cli_env: dict[str, str]) -> Iterator[Runtime]:
    """A runtime over the test database and the commands, both signing a checkpoint every
    ten entries (the test runtime's teardown empties the tables)."""
    current = Runtime(runtime.settings.model_copy(update={"audit_checkpoint_every": EVERY}))
    cli_env["ZHENGYIN_AUDIT_CHECKPOINT_EVERY"] = str(EVERY)
    try:
        yield current
    finally:
        current.close()


def _zhengyin(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ZHENGYIN, *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=120, check=False)


def test_audit_verify_names_a_deleted_checkpoint(every_ten: Runtime, cli_env: dict[str, str],
                                                 tmp_path: Path) -> None:
    _append(every_ten, 35)
    _execute(every_ten, "DELETE FROM audit_checkpoints WHERE seq = 20")

    result = _audit_verify(cli_env, tmp_path)

    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: audit checkpoint 20 is missing (deleted): the signed "
                               "checkpoint 30 names it as the one before it")


def test_audit_verify_reports_entries_not_yet_checkpointed(
        every_ten: Runtime, cli_env: dict[str, str], tmp_path: Path) -> None:
    head = _append(every_ten, 24)[-1]

    result = _audit_verify(cli_env, tmp_path)

    assert result.returncode == 0, result.stderr
    words = " ".join(result.stdout.split())
    with every_ten.unit_of_work(readonly=True) as services:
        signed = services.session.scalar(select(func.count()).select_from(AuditCheckpoint))
    assert f"{signed} signed checkpoints (one every {EVERY} entries)" in words
    assert (f"not yet checkpointed: {head % EVERY} entries after checkpoint "
            f"{head // EVERY * EVERY}") in words


def test_export_then_verify_against_the_export_round_trips(
        every_ten: Runtime, cli_env: dict[str, str], tmp_path: Path) -> None:
    head = _append(every_ten, 27)[-1]
    exported = tmp_path / "checkpoints.jsonl"

    export = _zhengyin(cli_env, tmp_path, "audit", "checkpoint", "export", "--out",
                       str(exported))
    root = _zhengyin(cli_env, tmp_path, "pki", "export", "root", "--out", "root.pem")
    verified = _zhengyin(cli_env, tmp_path, "audit", "verify", "--against", str(exported),
                         "--root", str(tmp_path / "root.pem"))

    assert export.returncode == 0, export.stderr
    assert root.returncode == 0, root.stderr
    lines = exported.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["seq"] for line in lines][-1] == head  # the tip was signed
    assert f"exported {len(lines)} signed checkpoints, the newest at entry {head}" in \
        " ".join(export.stdout.split())
    assert verified.returncode == 0, verified.stderr
    assert f"held against {len(lines)} exported checkpoints (the newest at entry {head})" in \
        " ".join(verified.stdout.split())


def test_verify_against_an_export_finds_a_log_cut_back_with_its_head_fixed(
        every_ten: Runtime, cli_env: dict[str, str], tmp_path: Path) -> None:
    head = _append(every_ten, 27)[-1]
    exported = tmp_path / "checkpoints.jsonl"
    assert _zhengyin(cli_env, tmp_path, "audit", "checkpoint", "export", "--out",
                     str(exported)).returncode == 0
    cut = head // EVERY * EVERY - EVERY  # back to an earlier checkpoint: consistent alone
    _execute(every_ten, "DELETE FROM audit_entries WHERE seq > :s", s=cut)
    _execute(every_ten, "DELETE FROM audit_checkpoints WHERE seq > :s", s=cut)
    _execute(every_ten, "UPDATE audit_head SET seq = :s, hash = (SELECT hash FROM "
                        "audit_entries WHERE seq = :s)", s=cut)

    alone = _audit_verify(cli_env, tmp_path)
    against = _zhengyin(cli_env, tmp_path, "audit", "verify", "--against", str(exported))

    assert alone.returncode == 0, alone.stderr
    assert against.returncode == 1
    lines = against.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: audit entry {cut + 1}: missing (deleted): entries "
                               f"{cut + 1}–{head} are gone; exported checkpoint {head}")


def test_verify_against_refuses_a_forged_export_line(
        every_ten: Runtime, cli_env: dict[str, str], tmp_path: Path) -> None:
    _append(every_ten, 27)
    exported = tmp_path / "checkpoints.jsonl"
    export = _zhengyin(cli_env, tmp_path, "audit", "checkpoint", "export")  # to stdout
    assert export.returncode == 0, export.stderr
    lines = export.stdout.splitlines()
    forged = json.loads(lines[1])
    forged["hash"] = "f" * 64
    lines[1] = json.dumps(forged)
    exported.write_text("\n".join(lines) + "\n", encoding="utf-8")

    result = _zhengyin(cli_env, tmp_path, "audit", "verify", "--against", str(exported))

    assert result.returncode == 1
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1
    assert errors[0].startswith("error: exported checkpoints, line 2: does not verify")


def test_the_api_reports_checkpoints_and_names_a_missing_one_as_409(
        runtime: Runtime, http: Any, admin: dict[str, str]) -> None:
    from zhengyin.core.audit import AuditRecord

    with runtime.unit_of_work() as services:  # past the default interval of 1,000
        services.audit.append_chained([
            AuditRecord(actor="test", action="thing.done", object_type="thing",
                        object_id=str(n), at=utcnow()) for n in range(1005)])
    intact = http.post("/admin/audit/verify", headers=admin)
    _execute(runtime, "DELETE FROM audit_checkpoints")
    missing = http.post("/admin/audit/verify", headers=admin)

    assert intact.status_code == 200, intact.text
    body = intact.json()
    assert (body["last_checkpoint"], body["interval"]) == (1000, 1000)
    assert body["not_checkpointed"] == body["last_seq"] - 1000
    assert missing.status_code == 409
    assert missing.json()["code"] == "audit.checkpoint_missing"
    assert missing.json()["detail"].startswith("audit checkpoint 1000 is missing")


# ----------------------------------------------------------------------------- admin actions


@pytest.fixture
def admin(credentials: dict[ClientRole, str]) -> dict[str, str]:
    return bearer(credentials[ClientRole.ADMIN])


def _head(runtime: Runtime) -> int:
    with runtime.unit_of_work(readonly=True) as services:
        return int(services.session.scalar(select(AuditEntry.seq).order_by(AuditEntry.seq.desc())
                                           .limit(1)) or 0)


def _entries_since(runtime: Runtime, seq: int) -> list[AuditEntry]:
    with runtime.unit_of_work(readonly=True) as services:
        rows = list(services.session.scalars(select(AuditEntry).where(AuditEntry.seq > seq)
                                             .order_by(AuditEntry.seq)))
        for row in rows:
            services.session.expunge(row)
    return rows


def _one(entries: list[AuditEntry], action: str) -> AuditEntry:
    matching = [entry for entry in entries if entry.action == action]
    assert len(matching) == 1, [(e.action, e.object_id) for e in entries]
    assert matching[0].actor == ADMIN_ACTOR
    return matching[0]


def _add_client(http: Any, admin: dict[str, str], name: str = "ops-bot") -> dict[str, Any]:
    response = http.post("/admin/clients", headers=admin,
                         json={"name": name, "role": "verifier"})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _secret_free(entry: AuditEntry, credential: str) -> None:
    secret = credential.rsplit(".", 1)[-1]
    assert secret not in repr(entry.details)


def test_adding_a_client_is_audited(runtime: Runtime, http: Any, admin: dict[str, str]) -> None:
    before = _head(runtime)

    added = _add_client(http, admin)

    entry = _one(_entries_since(runtime, before), "client.added")
    assert (entry.object_type, entry.object_id) == ("client", added["client"]["id"])
    assert entry.details["name"] == "ops-bot" and entry.details["role"] == "verifier"
    _secret_free(entry, added["credential"])


def test_disabling_a_client_is_audited(runtime: Runtime, http: Any,
                                       admin: dict[str, str]) -> None:
    client_id = _add_client(http, admin)["client"]["id"]
    before = _head(runtime)

    assert http.post(f"/admin/clients/{client_id}/disable", headers=admin).status_code == 200

    entry = _one(_entries_since(runtime, before), "client.disabled")
    assert (entry.object_type, entry.object_id) == ("client", client_id)


def test_rotating_a_client_is_audited(runtime: Runtime, http: Any,
                                      admin: dict[str, str]) -> None:
    client_id = _add_client(http, admin)["client"]["id"]
    before = _head(runtime)

    rotated = http.post(f"/admin/clients/{client_id}/rotate", headers=admin)

    assert rotated.status_code == 200, rotated.text
    entry = _one(_entries_since(runtime, before), "client.rotated")
    assert (entry.object_type, entry.object_id) == ("client", client_id)
    _secret_free(entry, rotated.json()["credential"])


def test_creating_a_key_is_audited(runtime: Runtime, http: Any, admin: dict[str, str]) -> None:
    before = _head(runtime)

    created = http.post("/admin/keys", headers=admin, json={"label": "spare"})

    assert created.status_code == 201, created.text
    entry = _one(_entries_since(runtime, before), "key.created")
    assert (entry.object_type, entry.object_id) == ("key", created.json()["handle"])
    assert entry.details["label"] == "spare"


def _issue(http: Any, admin: dict[str, str]) -> dict[str, Any]:
    response = http.post("/admin/certificates", headers=admin, json={
        "kind": "seal", "org_name": ORG_NAME, "credit_code": ORG_CODE,
        "seal_name": "行政审批专用章"})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_issuing_a_certificate_is_audited_with_its_new_key(runtime: Runtime, http: Any,
                                                          admin: dict[str, str]) -> None:
    before = _head(runtime)

    issued = _issue(http, admin)

    entries = _entries_since(runtime, before)
    key = _one(entries, "key.created")
    certificate = _one(entries, "certificate.issued")
    assert (key.object_type, key.object_id) == ("key", issued["key_handle"])
    assert (certificate.object_type, certificate.object_id) == ("certificate", issued["serial"])
    assert key.seq < certificate.seq


def test_revoking_a_certificate_is_audited(runtime: Runtime, http: Any,
                                           admin: dict[str, str]) -> None:
    serial = _issue(http, admin)["serial"]
    before = _head(runtime)

    revoked = http.post(f"/admin/certificates/{serial}/revoke", headers=admin,
                        json={"reason": "key_compromise"})

    assert revoked.status_code == 200, revoked.text
    entry = _one(_entries_since(runtime, before), "certificate.revoked")
    assert (entry.object_type, entry.object_id) == ("certificate", serial)
    assert entry.details["reason"] == "key_compromise"
