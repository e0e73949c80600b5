"""Signed checkpoints prove the audit log complete, and an off-site export proves its length.

Tampering is done as an attacker with write access to the database would: SQL behind the
service's back, hashes recomputed and the head row fixed where that hides an edit. What
the attacker cannot do is sign with the audit key, which lives in the key store.
"""

from __future__ import annotations

import base64
import json
import pickle
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import func, select, text

from zhengyin.api.runtime import Runtime
from zhengyin.api.settings import Settings
from zhengyin.core.audit import AuditLog
from zhengyin.core.auditchain import AuditSequencer
from zhengyin.core.auditformat import checkpoint_message
from zhengyin.core.clock import utcnow
from zhengyin.core.db import session_scope
from zhengyin.core.errors import (
    AuditChainBrokenError,
    AuditCheckpointMissingError,
    AuditExportError,
)
from zhengyin.core.models import AuditCheckpoint, AuditEntry, AuditOutboxRecord
from zhengyin.keys import KeyAlgorithm, KeyHandle
from zhengyin.trust.auditexport import ExportedCheckpoint, export_lines, read_export
from zhengyin.trust.auditverify import AuditVerification, verify_audit_chain
from zhengyin.trust.models import CertificateRecord, CertificateRole
from zhengyin.trust.pki import TSA

from ..conftest import open_runtime
from .conftest import rewrite_audit_chain_from

EVERY = 10


@pytest.fixture
def log(settings: Settings) -> Iterator[Runtime]:
    """A runtime signing a checkpoint every ten entries, its PKI created (a few entries)."""
    with open_runtime(settings.model_copy(update={"audit_checkpoint_every": EVERY})) as current:
        yield current


def _append(runtime: Runtime, count: int) -> int:
    """Append ``count`` entries (chained on commit); the chain's tip after."""
    at = utcnow()
    with runtime.unit_of_work() as services:
        for n in range(count):
            services.audit.append(actor="test", action="thing.done", object_type="thing",
                                  object_id=str(n), at=at + timedelta(microseconds=n),
                                  details={"n": n})
    return _tip(runtime)


def _tip(runtime: Runtime) -> int:
    with runtime.unit_of_work(readonly=True) as services:
        return int(services.session.scalar(select(func.max(AuditEntry.seq))) or 0)


def _execute(runtime: Runtime, sql: str, **params: object) -> None:
    with runtime.engine.begin() as connection:
        connection.execute(text(sql), params)


def _verify(runtime: Runtime, against: Iterable[ExportedCheckpoint] = ()
            ) -> AuditVerification:
    with runtime.unit_of_work(readonly=True) as services:
        return verify_audit_chain(services.session, services.audit_keys.key_of, every=EVERY,
                                  against=against)


def _export(runtime: Runtime) -> list[str]:
    with runtime.unit_of_work() as services:
        services.audit.checkpoint(utcnow())  # as the command does: sign the tip first
    with runtime.unit_of_work(readonly=True) as services:
        keys = services.audit_keys
        return list(export_lines(services.session, keys.chain_of, keys.key_of))


def _read(runtime: Runtime, lines: list[str]) -> list[ExportedCheckpoint]:
    with runtime.unit_of_work(readonly=True) as services:
        return list(read_export(lines, [services.audit_keys.root()]))


def _checkpoints(runtime: Runtime) -> list[int]:
    with runtime.unit_of_work(readonly=True) as services:
        return list(services.session.scalars(select(AuditCheckpoint.seq)
                                             .order_by(AuditCheckpoint.seq)))


def _cut(runtime: Runtime, *, after: int, checkpoints_from: int) -> None:
    """Delete the entries after ``after`` and the checkpoints from ``checkpoints_from`` on,
    and fix the head row so that it names the new last entry."""
    _execute(runtime, "DELETE FROM audit_entries WHERE seq > :s", s=after)
    _execute(runtime, "DELETE FROM audit_checkpoints WHERE seq >= :s", s=checkpoints_from)
    _execute(runtime, "UPDATE audit_head SET seq = :s, hash = (SELECT hash FROM audit_entries "
                      "WHERE seq = :s)", s=after)


# --------------------------------------------------------------------------- the database alone


def test_an_untouched_log_has_one_checkpoint_per_interval_and_verifies(log: Runtime) -> None:
    tip = _append(log, 47)

    result = _verify(log)

    assert _checkpoints(log) == list(range(EVERY, tip + 1, EVERY))
    assert (result.entries, result.checkpoints, result.interval) == (tip, tip // EVERY, EVERY)
    assert result.last_checkpoint == tip // EVERY * EVERY
    assert result.not_checkpointed == tip % EVERY


def test_deleting_all_checkpoints_after_rewriting_entry_10_names_every_missing_one(
        log: Runtime) -> None:
    tip = _append(log, 45)
    rewrite_audit_chain_from(log, 10)
    _execute(log, "DELETE FROM audit_checkpoints")

    with pytest.raises(AuditCheckpointMissingError) as raised:
        _verify(log)

    last = tip // EVERY * EVERY
    assert raised.value.missing == (EVERY, last, tip // EVERY)
    assert raised.value.unproven == (1, tip)
    assert str(raised.value).startswith(
        f"audit checkpoints {EVERY}–{last} are missing ({tip // EVERY}) (one is signed every "
        f"{EVERY} entries): entries 1–{tip} are proven by no signed checkpoint")


def test_deleting_one_checkpoint_in_the_middle_is_named_by_its_successor(log: Runtime) -> None:
    _append(log, 45)
    _execute(log, "DELETE FROM audit_checkpoints WHERE seq = 30")

    with pytest.raises(AuditCheckpointMissingError,
                       match="audit checkpoint 30 is missing \\(deleted\\): the signed "
                             "checkpoint 40 names it as the one before it") as raised:
        _verify(log)
    assert raised.value.unproven == (21, 30)


def test_cutting_the_newest_entries_inside_an_interval_leaves_a_due_checkpoint_missing(
        log: Runtime) -> None:
    _append(log, 55)
    # Entries above 45 go, and the checkpoints from 40 on; the head is fixed to entry 45.
    _cut(log, after=45, checkpoints_from=40)

    with pytest.raises(AuditCheckpointMissingError,
                       match=r"audit checkpoint 40 is missing .*entries 31–45 are proven by "
                             r"no signed checkpoint"):
        _verify(log)


def test_rewriting_an_entry_without_re_signing_disagrees_with_the_next_checkpoint(
        log: Runtime) -> None:
    _append(log, 25)
    rewrite_audit_chain_from(log, 13)

    with pytest.raises(AuditChainBrokenError,
                       match="audit entry 20: the chain up to here was rewritten"):
        _verify(log)


def test_a_checkpoint_re_signed_with_another_service_key_is_refused(log: Runtime) -> None:
    _append(log, 15)
    # The attacker makes the TSA identity's key sign (as if through its service) and
    # points the checkpoint at the TSA certificate.
    with log.unit_of_work() as services:
        tsa = services.pki.identity(TSA)
        row = services.session.get_one(AuditCheckpoint, 10)
        row.signature = log.keystore.sign(tsa.key_handle, checkpoint_message(
            row.seq, row.hash, row.at, row.every, row.prev))
        row.certificate_serial = tsa.serial_hex

    with pytest.raises(AuditChainBrokenError,
                       match="audit entry 10: the checkpoint is not signed by the audit key"):
        _verify(log)


def test_a_certificate_row_added_for_an_outside_key_cannot_vouch_for_checkpoints(
        log: Runtime) -> None:
    _append(log, 15)
    outside = ec.generate_private_key(ec.SECP256R1())
    certificate = _self_signed(outside, "Audit Log")
    with log.unit_of_work() as services:
        audit = services.pki.identity("audit")
        row = services.session.get_one(AuditCheckpoint, 10)
        serial = format(certificate.serial_number, "x")
        # The forged row even names the real audit key's handle.
        services.session.add(CertificateRecord(
            serial_hex=serial, role=CertificateRole.SERVICE, issuer_id=None,
            subject="CN=Audit Log", org_credit_code=None, key_handle=str(audit.key_handle),
            key_sha1="0" * 40, not_before=utcnow(), not_after=utcnow() + timedelta(days=1),
            der=certificate.public_bytes(serialization.Encoding.DER), created_at=utcnow()))
        row.certificate_serial = serial
        row.signature = outside.sign(checkpoint_message(row.seq, row.hash, row.at, row.every,
                                                        row.prev), ec.ECDSA(hashes.SHA256()))

    with pytest.raises(AuditChainBrokenError, match=f"audit entry 10: the checkpoint is not "
                                                    f"signed by the audit key .*{serial}"):
        _verify(log)


def test_entries_waiting_to_be_chained_are_reported_not_failed(log: Runtime) -> None:
    tip = _append(log, 3)
    with session_scope(log.session_factory) as session:  # committed, not chained
        for n in range(25):
            AuditLog(session).append(actor="test", action="thing.left", object_type="thing",
                                     object_id=str(n), at=utcnow())

    waiting = _verify(log)

    assert (waiting.pending, waiting.last_seq) == (25, tip)
    assert waiting.not_checkpointed == tip % EVERY
    assert log.audit_sequencer.drain() == 25
    chained = _verify(log)
    assert (chained.pending, chained.last_seq) == (0, tip + 25)
    assert _checkpoints(log)[-1] == (tip + 25) // EVERY * EVERY


def test_changing_the_interval_is_no_false_alarm(log: Runtime) -> None:
    _append(log, 23)
    for every in (4, 25, 10):
        sequencer = AuditSequencer(log.session_factory, log.audit_signer,
                                   checkpoint_every=every)
        with session_scope(log.session_factory) as session:
            for n in range(31):
                AuditLog(session).append(actor="test", action="thing.done",
                                         object_type="thing", object_id=str(n), at=utcnow())
        sequencer.drain()
        assert _verify(log).entries == _tip(log)


def test_without_an_audit_key_entries_are_not_linked_past_a_due_checkpoint(
        log: Runtime) -> None:
    tip = _append(log, 1)
    due = (tip // EVERY + 1) * EVERY
    with session_scope(log.session_factory) as session:
        for n in range(EVERY + 2):
            AuditLog(session).append(actor="test", action="thing.done", object_type="thing",
                                     object_id=str(n), at=utcnow())
    keyless = AuditSequencer(log.session_factory, lambda _session: None,
                             checkpoint_every=EVERY)

    assert keyless.drain() == due - 1 - tip
    assert _tip(log) == due - 1
    assert log.audit_sequencer.drain() == EVERY + 2 - (due - 1 - tip)
    assert _verify(log).entries == tip + EVERY + 2


RACING_CHAINER = """
import pickle, sys
from datetime import datetime, timezone
from zhengyin.api.runtime import Runtime
from zhengyin.keys import KeyAlgorithm, KeyHandle
from zhengyin.core.audit import AuditLog
from zhengyin.core.auditchain import AuditSequencer
from zhengyin.core.db import session_scope

settings, rounds = pickle.load(open(sys.argv[1], "rb"))
runtime = Runtime(settings)
for n in range(rounds):
    with session_scope(runtime.session_factory) as session:
        for k in range(3):
            AuditLog(session).append(actor=sys.argv[2], action="race", object_type="thing",
                                     object_id=f"{n}.{k}", at=datetime.now(timezone.utc))
    runtime.audit_sequencer.drain()
    if n % 5 == 0:
        with runtime.unit_of_work() as services:
            services.audit.checkpoint(datetime.now(timezone.utc))
runtime.close()
"""


def test_racing_chainers_in_separate_processes_sign_exactly_one_checkpoint_per_interval(
        log: Runtime, tmp_path: Path) -> None:
    (tmp_path / "args.pickle").write_bytes(pickle.dumps((log.settings, 20)))
    racers = [subprocess.Popen([sys.executable, "-c", RACING_CHAINER,
                                str(tmp_path / "args.pickle"), f"racer-{n}"],
                               stderr=subprocess.PIPE, text=True) for n in range(4)]
    for racer in racers:
        _, errors = racer.communicate(timeout=300)
        assert racer.returncode == 0, errors

    result = _verify(log)

    assert result.pending == 0
    checkpoints = _checkpoints(log)
    regular = [seq for seq in checkpoints if seq % EVERY == 0]
    assert regular == list(range(EVERY, result.last_seq + 1, EVERY))
    assert len(checkpoints) == len(set(checkpoints)) == result.checkpoints


# --------------------------------------------------------------------------- against an export


def test_an_export_round_trips_and_the_log_verifies_against_it(log: Runtime) -> None:
    tip = _append(log, 33)
    lines = _export(log)

    exported = _read(log, lines)
    result = _verify(log, exported)

    assert [checkpoint.seq for checkpoint in exported] == _checkpoints(log)
    assert exported[-1].seq == tip  # the tip was signed for the export
    assert (result.exported, result.last_exported) == (len(lines), tip)


def test_a_log_cut_back_to_a_checkpoint_verifies_alone_but_not_against_the_export(
        log: Runtime) -> None:
    _append(log, 55)
    lines = _export(log)
    _cut(log, after=40, checkpoints_from=41)

    assert _verify(log).last_seq == 40  # a shorter log that is consistent by itself
    tip = json.loads(lines[-1])["seq"]
    with pytest.raises(AuditChainBrokenError,
                       match=f"audit entry 41: missing \\(deleted\\): entries 41–{tip} are "
                             f"gone; exported checkpoint {tip} .* proves the log reached "
                             f"entry {tip}"):
        _verify(log, _read(log, lines))


def test_a_checkpoint_the_export_proves_is_named_when_gone(log: Runtime) -> None:
    _append(log, 25)
    lines = _export(log)
    # Gone from the database, together with the successor that would name it.
    _execute(log, "DELETE FROM audit_checkpoints WHERE seq >= 20")
    _execute(log, "DELETE FROM audit_entries WHERE seq > 20")
    _execute(log, "UPDATE audit_head SET seq = 20, hash = (SELECT hash FROM audit_entries "
                  "WHERE seq = 20)")

    with pytest.raises(AuditChainBrokenError,
                       match="audit entry 20: its signed checkpoint is gone"):
        _verify(log, _read(log, lines))


def test_a_chain_rewritten_below_an_exported_checkpoint_is_named(log: Runtime) -> None:
    _append(log, 25)
    lines = _export(log)
    rewrite_audit_chain_from(log, 3)
    _execute(log, "DELETE FROM audit_checkpoints")

    with pytest.raises(AuditChainBrokenError, match="audit entry 10: the chain up to here was "
                                                    "rewritten: it disagrees with exported "
                                                    "checkpoint 10 \\(line 1\\)"):
        _verify(log, _read(log, lines))


def _forge(line: str, **changes: object) -> str:
    document = json.loads(line)
    document.update(changes)
    return json.dumps(document)


@pytest.mark.parametrize("change", [
    "hash", "seq", "signature", "prev", "chain", "not_json"])
def test_a_forged_export_line_is_refused_naming_the_line(log: Runtime, change: str) -> None:
    _append(log, 25)
    lines = _export(log)
    forged: Callable[[str], str] = {
        "hash": lambda line: _forge(line, hash="0" * 64),
        "seq": lambda line: _forge(line, seq=json.loads(line)["seq"] + 1),
        "signature": lambda line: _forge(line, signature=base64.b64encode(
            b"\x30\x06\x02\x01\x01\x02\x01\x01").decode()),
        "prev": lambda line: _forge(line, prev=0),
        "chain": lambda line: _forge(line, x5c=json.loads(line)["x5c"][:1]),
        "not_json": lambda line: line[:40],
    }[change]
    lines[1] = forged(lines[1])

    with pytest.raises(AuditExportError, match="exported checkpoints, line 2: does not verify"):
        _verify(log, _read(log, lines))


def test_an_export_line_verifies_by_hand_as_the_readme_says(log: Runtime) -> None:
    _append(log, 12)
    document = json.loads(_export(log)[0])
    leaf = x509.load_der_x509_certificate(base64.b64decode(document["x5c"][0]))
    message = (f"zhengyin-audit-checkpoint-v2\n{document['seq']}\n{document['hash']}\n"
               f"{document['at']}\n{document['every']}\n{document['prev']}").encode()

    key = leaf.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    key.verify(base64.b64decode(document["signature"]), message, ec.ECDSA(hashes.SHA256()))
    assert (document["type"], document["v"], document["kid"]) == \
        ("zhengyin.audit-checkpoint", 1, format(leaf.serial_number, "x"))


def _self_signed(key: ec.EllipticCurvePrivateKey, name_text: str) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name_text)])
    now = utcnow()
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=9))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))


def _foreign_root() -> x509.Certificate:
    return _self_signed(ec.generate_private_key(ec.SECP256R1()), "Another Root CA")


def test_an_export_checked_against_another_root_is_refused(log: Runtime) -> None:
    _append(log, 12)
    lines = _export(log)

    with pytest.raises(AuditExportError, match="line 1: does not verify"):
        list(read_export(lines, [_foreign_root()]))


def test_export_leaves_out_nothing_and_is_streamed_in_order(log: Runtime) -> None:
    _append(log, 64)
    with log.unit_of_work(readonly=True) as services:
        keys = services.audit_keys
        paged = list(export_lines(services.session, keys.chain_of, keys.key_of, batch=2))
        later = list(export_lines(services.session, keys.chain_of, keys.key_of, after=30))
    seqs = [json.loads(line)["seq"] for line in paged]
    assert seqs == _checkpoints(log)
    assert [json.loads(line)["seq"] for line in later] == [s for s in seqs if s > 30]
    with log.unit_of_work(readonly=True) as services:
        assert services.session.scalar(select(func.count()).select_from(AuditOutboxRecord)) == 0


def _resign(line: str, runtime: Runtime, handle: KeyHandle, chain: list[bytes]) -> str:
    """``line`` signed again with another key of ours, its certificate chain in x5c."""
    document = json.loads(line)
    leaf = x509.load_der_x509_certificate(chain[0])
    message = checkpoint_message(document["seq"], document["hash"],
                                 datetime.fromisoformat(document["at"]), document["every"],
                                 document["prev"])
    document.update(signature=base64.b64encode(runtime.keystore.sign(handle, message)).decode(),
                    kid=format(leaf.serial_number, "x"),
                    x5c=[base64.b64encode(der).decode() for der in chain])
    return json.dumps(document)


def test_an_export_line_signed_by_another_service_identity_of_ours_is_refused(
        log: Runtime) -> None:
    _append(log, 25)
    lines = _export(log)
    with log.unit_of_work(readonly=True) as services:
        tsa = services.pki.identity(TSA)
        chain = [bytes(cert.dump()) for cert in services.pki.chain(tsa)[:-1]]
    lines[0] = _resign(lines[0], log, tsa.key_handle, chain)

    with pytest.raises(AuditExportError, match="line 1: does not verify"):
        _read(log, lines)


def test_an_export_line_signed_by_a_certificate_without_any_purpose_is_refused(
        log: Runtime) -> None:
    """A seal's certificate names no EKU, like the audit identity's before it was
    re-issued with its purpose: only the audit key itself may use that leniency."""
    _append(log, 25)
    lines = _export(log)
    with log.unit_of_work() as services:
        handle = services.runtime.keystore.generate(KeyAlgorithm.EC_P256, "test seal key")
        at = utcnow()
        issued = services.pki.issue_seal_certificate(
            handle=handle, org_name="某某局", credit_code="11100000000013338W",
            seal_name="某某局审批专用章", seal_code=None, not_before=at - timedelta(days=1),
            not_after=None, at=at, actor="test")
        chain = [issued.der, *(bytes(cert.dump()) for cert in
                               services.pki.chain(issued)[1:-1])]
    lines[0] = _resign(lines[0], log, handle, chain)

    with pytest.raises(AuditExportError, match="line 1: signed by a certificate without "
                                               "the audit-checkpoint purpose"):
        _read(log, lines)
