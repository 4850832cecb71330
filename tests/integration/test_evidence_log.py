"""The public evidence log on a real gateway: appended, checkpointed, served, audited, attacked."""

from __future__ import annotations

import asyncio
import base64
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import delete, insert, select, update

from gateway import trust
from gateway.app import Running
from gateway.evidence import log_merkle as merkle
from gateway.evidence.log_audit import AuditFailure, UrlSource, audit
from gateway.evidence.log_keys import ensure_ed25519_key, finish_rotation, log_signer, rotate
from gateway.evidence.log_note import (
    Checkpoint,
    Signer,
    Verifier,
    join_note,
    open_checkpoint,
    sign_checkpoint,
    split_note,
)
from gateway.evidence.log_proof import InclusionError, InclusionProof, check_inclusion
from gateway.evidence.log_tiles import Entry
from gateway.log_cli import WITNESS_KEY
from gateway.settings import Settings
from gateway.storage import tables as t
from gateway.trust import keys_dir
from tests.support.client import attachments_of, wait_for
from tests.support.gateway import make_settings, start
from tests.support.letters import deposit
from tests.support.verifying import raw_proofs

LRE_GATEWAY = str(Path(sys.executable).with_name("lre-gateway"))


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    # the test publishes checkpoints itself (LogPublisher.publish), not on a timer
    return make_settings(tmp_path, database_url)


@pytest.fixture
async def gateway(settings: Settings) -> AsyncIterator[Running]:
    async with start(settings) as running_gateway:
        yield running_gateway


def _verifier(gateway: Running) -> Verifier:
    return log_signer(gateway.settings.gateway.domain, keys_dir(gateway.settings)).verifier()


async def _logged(gateway: Running, letters: int) -> int:
    """Deposit letters, wait until their evidence is sealed, publish a checkpoint: its size."""
    assert gateway.log is not None
    store = gateway.log.store
    before = await asyncio.to_thread(store.size)
    for _ in range(letters):
        await deposit(gateway)
    await wait_for(
        lambda: store.queued() >= letters or None, what="sealed evidence queued for the log"
    )
    size = await gateway.log.publish()
    assert size is not None
    assert size >= before + letters
    return size


async def _audit(gateway: Running, state: Path) -> str:
    """`log verify` in a thread (the gateway serves in this loop): its sentence."""
    source = UrlSource(f"{gateway.web_url}/log")
    try:
        result = await asyncio.to_thread(audit, source, _verifier(gateway), state)
    except AuditFailure as err:
        return f"NOT SOUND: {err}"
    return f"sound: {result.checkpoint.size} " + " ".join(result.notes)


async def test_sealed_evidence_is_logged_served_and_its_inclusion_proven(
    gateway: Running, tmp_path: Path
) -> None:
    """Sealed evidence lands in a signed, timestamped checkpoint; anyone can prove it is in."""
    size = await _logged(gateway, 2)
    verifier = _verifier(gateway)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{gateway.web_url}/log/checkpoint") as response:
            assert response.status == 200
            checkpoint, _ = open_checkpoint(await response.read(), verifier)
        assert checkpoint.size == size
        assert checkpoint.root == await asyncio.to_thread(gateway.log.store.root, size)  # type: ignore[union-attr]
        async with http.get(f"{gateway.web_url}/log/checkpoints/{size}.tsr") as response:
            assert response.status == 200  # the TSA dated this checkpoint
        engine = gateway.store.engine
        with engine.connect() as db:
            sealed = t.evidence.c.p7s.is_not(None)
            deposit = t.evidence.c.type == "SubmissionAcceptance"  # not "whichever comes first"
            row = db.execute(select(t.evidence).where(sealed, deposit)).first()
        assert row is not None
        async with http.get(f"{gateway.web_url}/log/proof/{row.id}") as response:
            assert response.status == 200
            proof = InclusionProof.from_json(await response.read())
        included = check_inclusion(proof, verifier, xml=row.xml, p7s=row.p7s)
        assert included.entry.evidence_id == row.id
        assert included.entry.type == "SubmissionAcceptance"
        with pytest.raises(InclusionError, match="digest is absent"):
            check_inclusion(proof, verifier, xml=row.xml + b" ", p7s=row.p7s)
        async with http.get(f"{gateway.web_url}/log/proof/unknown0evidence") as response:
            assert response.status == 404
            assert "inclusion pending" in await response.text()

    process = await asyncio.create_subprocess_exec(
        LRE_GATEWAY,
        "log",
        "verify",
        f"{gateway.web_url}/log",
        "--key",
        verifier.vkey(),
        "--state",
        str(tmp_path / "auditor"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    assert process.returncode == 0, out.decode()
    assert f"evidence log sound: {size} entries" in out.decode()

    bigger = await _logged(gateway, 1)
    assert "consistent with the checkpoint of" in await _audit(gateway, tmp_path / "auditor")
    async with aiohttp.ClientSession() as http:
        url = f"{gateway.web_url}/log/consistency?old={size}&new={bigger}"
        async with http.get(url) as response:
            doc = await response.json()
    merkle.verify_consistency(
        size,
        bigger,
        checkpoint.root,
        await asyncio.to_thread(gateway.log.store.root, bigger),  # type: ignore[union-attr]
        [base64.b64decode(h) for h in doc["proof"]],
    )


async def test_the_log_is_appended_in_bounded_transactions_and_publish_appends_them_all(
    gateway: Running,
) -> None:
    """A sequencing transaction appends at most its batch (on SQLite it holds the write lock
    deposits wait for: log_store.SEQUENCE_BATCH); a publication goes on until none is queued."""
    assert gateway.log is not None
    store = gateway.log.store
    for _ in range(3):
        await deposit(gateway)
    queued = await wait_for(lambda: store.queued() >= 3 and store.queued(), what="3 queued")
    assert await asyncio.to_thread(store.sequence, 2) == 2
    assert await asyncio.to_thread(store.size) == 2  # the log publishes only when asked here
    size = await gateway.log.publish()
    assert size is not None
    assert size >= queued  # what was queued (and what was sealed since), in the checkpoint
    assert await asyncio.to_thread(store.size) == size


async def test_rewriting_the_log_in_the_database_is_detected(
    gateway: Running, tmp_path: Path
) -> None:
    """An entry changed, removed, reordered or inserted in the database fails `log verify`."""
    size = await _logged(gateway, 3)
    state = tmp_path / "auditor"
    assert (await _audit(gateway, state)).startswith(f"sound: {size}")
    e = t.log_entries
    engine = gateway.store.engine
    with engine.connect() as db:
        original = {r.idx: r.entry for r in db.execute(select(e.c.idx, e.c.entry))}

    def restore() -> None:
        with engine.begin() as db:
            db.execute(delete(e))
            db.execute(
                insert(e),
                [
                    {"idx": i, "evidence_id": Entry.decode(x).evidence_id, "entry": x}
                    for i, x in original.items()
                ],
            )

    def changed() -> None:
        entry = Entry.decode(original[1])  # another evidence.xml passed off as this one
        forged = Entry(entry.evidence_id, entry.type, entry.event_time, "0" * 64, entry.p7s_sha256)
        with engine.begin() as db:
            db.execute(update(e).where(e.c.idx == 1).values(entry=forged.encode()))

    def removed() -> None:
        with engine.begin() as db:
            db.execute(delete(e).where(e.c.idx == 1))

    def reordered() -> None:
        with engine.begin() as db:
            db.execute(update(e).where(e.c.idx == 0).values(idx=-1))
            db.execute(update(e).where(e.c.idx == 1).values(idx=0))
            db.execute(update(e).where(e.c.idx == -1).values(idx=1))

    def inserted() -> None:
        entry = Entry.decode(original[0])
        forged = Entry("backdated0evidence", entry.type, entry.event_time, "0" * 64, "0" * 64)
        with engine.begin() as db:
            for i in sorted(original, reverse=True):
                db.execute(update(e).where(e.c.idx == i).values(idx=i + 1))
            db.execute(
                insert(e).values(idx=0, evidence_id=forged.evidence_id, entry=forged.encode())
            )

    for attack, sentence in (
        (changed, "entry 1 was changed"),
        (removed, "missing from the log"),
        (reordered, "entry 0 was changed"),
        (inserted, "entry 0 was changed"),
    ):
        await asyncio.to_thread(attack)
        verdict = await _audit(gateway, state)
        assert verdict.startswith("NOT SOUND"), (attack, verdict)
        assert sentence in verdict, (attack, verdict)
        await asyncio.to_thread(restore)
        assert (await _audit(gateway, state)).startswith(f"sound: {size}")


async def _cli(*args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        LRE_GATEWAY, *args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    out, _ = await process.communicate()
    return process.returncode or 0, out.decode()


async def test_verify_checks_the_inclusion_proof_saved_beside_a_proof(
    gateway: Running, tmp_path: Path
) -> None:
    """`verify` says pending without a proof, included with it, and refuses another's entry."""
    await _logged(gateway, 2)
    vkey = _verifier(gateway).vkey()
    anchors = tmp_path / "anchors.pem"
    anchors.write_bytes(trust.anchors(gateway.settings))
    assert gateway.log is not None
    publish = gateway.log.publish

    def logged_deposits() -> list[Any] | None:
        """Two proofs of deposit already in the log (a checkpoint covers them), else None."""
        in_log = select(t.log_entries.c.evidence_id)
        with gateway.store.engine.connect() as db:
            rows = db.execute(
                select(t.evidence)
                .where(t.evidence.c.type == "SubmissionAcceptance", t.evidence.c.id.in_(in_log))
                .limit(2)
            ).all()
        return list(rows) if len(rows) == 2 else None

    rows = None
    for _ in range(300):  # the second letter's deposit evidence may be sealed after the first
        if (rows := await asyncio.to_thread(logged_deposits)) is not None:
            break
        await publish()
        await asyncio.sleep(0.05)  # poll: let the scheduler seal it
    assert rows is not None, "two proofs of deposit never reached the log"
    first, second = rows
    xml = tmp_path / "evidence.xml"
    xml.write_bytes(first.xml)
    (tmp_path / "evidence.xml.p7s").write_bytes(first.p7s)

    code, out = await _cli("verify", str(xml), "--log-key", vkey, "--anchors", str(anchors))
    assert code == 0, out
    assert "public evidence log: inclusion pending" in out

    async with aiohttp.ClientSession() as http:
        proofs = []
        for row in (first, second):
            async with http.get(f"{gateway.web_url}/log/proof/{row.id}") as response:
                proofs.append(await response.read())
    (tmp_path / f"{first.id}.log.json").write_bytes(proofs[0])
    code, out = await _cli("verify", str(xml), "--log-key", vkey, "--anchors", str(anchors))
    assert code == 0, out
    assert "public evidence log: included, entry" in out
    assert "checkpoint timestamped by" in out

    (tmp_path / f"{first.id}.log.json").unlink()
    foreign = InclusionProof.from_json(proofs[1])
    passed_off = tmp_path / "passed-off.json"
    passed_off.write_bytes(
        InclusionProof(
            first.id, foreign.index, foreign.entry, foreign.proof, foreign.checkpoint, None
        ).to_json()
    )
    code, out = await _cli(
        "verify", str(xml), str(passed_off), "--log-key", vkey, "--anchors", str(anchors)
    )
    assert code == 1, out
    assert "this evidence's digest is absent from the log" in out


async def test_stopping_the_gateway_publishes_a_last_checkpoint(settings: Settings) -> None:
    """Evidence sealed before shutdown is in the checkpoint published while stopping."""
    async with start(settings) as running_gateway:
        assert running_gateway.log is not None
        store = running_gateway.log.store
        await deposit(running_gateway)
        await wait_for(lambda: store.queued() >= 1 or None, what="sealed evidence queued")
        assert await asyncio.to_thread(store.checkpoint) is None  # the interval is an hour
    try:  # the gateway disposed of its engine: these reads open a pool of their own
        latest = store.checkpoint()
        queued = store.queued()
    finally:
        store.engine.dispose()
    assert latest is not None
    assert latest.size >= 1
    assert latest.timestamp is not None
    assert queued == 0


def _evidence_id(gateway: Running, xml: bytes) -> str:
    with gateway.store.engine.connect() as db:
        found = db.execute(select(t.evidence.c.id).where(t.evidence.c.xml == xml)).scalar()
    assert found is not None
    return str(found)


async def test_verify_checks_the_inclusion_proof_of_a_proof_pdf(
    gateway: Running, tmp_path: Path
) -> None:
    """proof.pdf: pending before its checkpoint, included with `<id>.log.json` beside it or
    named, refused with an inclusion proof of another evidence under its id."""
    await deposit(gateway)
    raw: bytes = await wait_for(  # a PDF takes long on a loaded machine
        lambda: raw_proofs(gateway).get("SubmissionAcceptance", b""),
        within=180,
        what="proof of deposit with its PDF",
    )
    files = attachments_of(raw)
    evidence_id = _evidence_id(gateway, files["evidence.xml"])
    pdf = tmp_path / "proof.pdf"
    pdf.write_bytes(files["proof.pdf"])
    anchors = tmp_path / "anchors.pem"
    anchors.write_bytes(trust.anchors(gateway.settings))
    vkey = _verifier(gateway).vkey()
    verify = ("verify", "--log-key", vkey, "--anchors", str(anchors))
    assert gateway.log is not None
    assert await asyncio.to_thread(gateway.log.store.checkpoint) is None  # the interval is 1h

    code, out = await _cli(*verify, str(pdf))
    assert code == 0, out
    assert "PDF certificate): VALID" in out
    assert "public evidence log: inclusion pending" in out
    assert f"save /log/proof/{evidence_id} from the gateway as {evidence_id}.log.json" in out

    await _logged(gateway, 1)  # another letter, then a checkpoint covering both
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{gateway.web_url}/log/proof/{evidence_id}") as response,
    ):
        assert response.status == 200
        disposition = f'attachment; filename="{evidence_id}.log.json"'
        assert response.headers["Content-Disposition"] == disposition  # a browser saves it so
        inclusion = await response.read()
    (tmp_path / f"{evidence_id}.log.json").write_bytes(inclusion)
    code, out = await _cli(*verify, str(pdf))
    assert code == 0, out
    assert "public evidence log: included, entry" in out
    assert "checkpoint timestamped by" in out

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / f"{evidence_id}.log.json").rename(elsewhere / "inclusion.json")
    code, out = await _cli(*verify, str(pdf), str(elsewhere / "inclusion.json"))
    assert code == 0, out
    assert "public evidence log: included, entry" in out

    # the log's entry for this id states another evidence.xml: the PDF's is absent from the log
    proof = InclusionProof.from_json(inclusion)
    entry = Entry.decode(proof.entry)
    other = Entry(entry.evidence_id, entry.type, entry.event_time, "0" * 64, entry.p7s_sha256)
    forged = InclusionProof(evidence_id, 0, other.encode(), [], proof.checkpoint, None)
    (elsewhere / "inclusion.json").write_bytes(forged.to_json())
    code, out = await _cli(*verify, str(pdf), str(elsewhere / "inclusion.json"))
    assert code == 1, out
    assert "public evidence log: NOT PROVEN" in out


WITNESS_A, WITNESS_B = "witness-a.example", "witness-b.example"


async def test_witness_cosignatures_are_collected_checked_and_required(
    tmp_path: Path, database_url: str
) -> None:
    """A listed witness's cosignature is served with the checkpoint; an unknown witness and a
    cosigned split view are refused; `log verify --witnesses N` counts valid cosignatures."""
    state_a, state_b = tmp_path / "witness-a", tmp_path / "witness-b"
    key_a = ensure_ed25519_key(state_a / WITNESS_KEY)
    witness_a = Signer(WITNESS_A, key_a)
    ensure_ed25519_key(state_b / WITNESS_KEY)  # witness B: a key the log does not list
    settings = make_settings(
        tmp_path,
        database_url,
        evidence={"log_witnesses": [witness_a.verifier().vkey()]},
    )
    async with start(settings) as gateway:
        size = await _logged(gateway, 1)
        url = f"{gateway.web_url}/log"
        vkey = _verifier(gateway).vkey()
        witness = ("log", "witness", url, "--key", vkey, "--submit")

        code, out = await _cli(*witness, "--state", str(state_a), "--name", WITNESS_A)
        assert code == 0, out
        assert f"cosignature accepted by the log: cosignature of the checkpoint of {size}" in out
        code, out = await _cli(*witness, "--state", str(state_b), "--name", WITNESS_B)
        assert code == 1, out
        assert "cosignature NOT ACCEPTED: the log refused the cosignature (HTTP 403)" in out
        assert f"unknown witness key: {WITNESS_B}+" in out

        async with aiohttp.ClientSession() as http:
            async with http.get(f"{url}/checkpoint") as response:
                served = await response.read()
            text, signatures = split_note(served)
            assert witness_a.verifier().verify_cosignature(text, signatures) > 0
            assert [s.name for s in signatures] == [_verifier(gateway).name, WITNESS_A]
            open_checkpoint(served, _verifier(gateway))  # the log's own signature still holds

            # the log key signs another tree of the same size (a split view); A cosigns it
            log_key = log_signer(gateway.settings.gateway.domain, keys_dir(gateway.settings))
            split = sign_checkpoint(log_key, Checkpoint(log_key.name, size, bytes(32)))
            split_text, split_signatures = split_note(split)
            cosigned = join_note(
                split_text, [*split_signatures, witness_a.cosign(split_text, 1_700_000_000)]
            )
            async with http.post(f"{url}/cosignature", data=cosigned) as response:
                assert response.status == 409
                assert "split view" in await response.text()
            async with http.post(f"{url}/cosignature", data=b"not a note") as response:
                assert response.status == 400
            async with http.post(f"{url}/cosignature", data=b"x" * 70_000) as response:
                assert response.status == 413
            async with http.get(f"{url}/checkpoint") as response:
                assert await response.read() == served  # nothing of the refused ones kept

        verify = ("log", "verify", url, "--key", vkey, "--state", str(tmp_path / "auditor"))
        witness_b = Signer(WITNESS_B, ensure_ed25519_key(state_b / WITNESS_KEY))
        keys = [f"--witness-key={w.verifier().vkey()}" for w in (witness_a, witness_b)]
        code, out = await _cli(*verify, *keys, "--witnesses", "1")
        assert code == 0, out
        assert f"cosigned by 1 witness(es): {WITNESS_A}" in out
        code, out = await _cli(*verify, *keys, "--witnesses", "2")
        assert code == 1, out
        assert "carries 1 valid witness cosignature(s) of the 2 required" in out


async def test_a_log_key_rotation_keeps_every_proof_and_the_chain_verifiable(
    gateway: Running, tmp_path: Path
) -> None:
    """After `log rotate-key`, checkpoints carry both keys, then (`--finish`) the new one; the
    old key stays listed at /log/keys; auditors and `verify` knowing both accept the chain,
    knowing only the old key refuse the new checkpoints with a sentence."""
    keys = keys_dir(gateway.settings)
    domain = gateway.settings.gateway.domain
    old = _verifier(gateway)
    state = tmp_path / "auditor"
    first = await _logged(gateway, 1)
    assert (await _audit(gateway, state)).startswith(f"sound: {first}")

    new = await asyncio.to_thread(rotate, domain, keys)
    during = await _logged(gateway, 1)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{gateway.web_url}/log/checkpoint") as response:
            note = await response.read()
        for known in (old, new):
            assert open_checkpoint(note, known)[0].size == during
        await asyncio.to_thread(finish_rotation, domain, keys)
        after = await _logged(gateway, 1)
        async with http.get(f"{gateway.web_url}/log/checkpoint") as response:
            note = await response.read()
        assert len(split_note(note)[1]) == 1  # the new key's signature alone
        async with http.get(f"{gateway.web_url}/log/keys") as response:
            assert (await response.text()).split() == [new.vkey(), old.vkey()]
        with gateway.store.engine.connect() as db:
            last = db.execute(
                select(t.log_entries.c.evidence_id).where(t.log_entries.c.idx == after - 1)
            ).scalar_one()
            row = db.execute(select(t.evidence).where(t.evidence.c.id == last)).one()
        async with http.get(f"{gateway.web_url}/log/proof/{last}") as response:
            (tmp_path / f"{last}.log.json").write_bytes(await response.read())

    source = UrlSource(f"{gateway.web_url}/log")
    with pytest.raises(AuditFailure, match="signed by an unknown key"):
        await asyncio.to_thread(audit, source, old, state)
    result = await asyncio.to_thread(audit, source, [old, new], state)
    assert result.notes == [
        f"consistent with the checkpoint of {first} entries checked before (append-only)"
    ]

    (tmp_path / "evidence.xml").write_bytes(row.xml)
    (tmp_path / "evidence.xml.p7s").write_bytes(row.p7s)
    anchors = tmp_path / "anchors.pem"
    anchors.write_bytes(trust.anchors(gateway.settings))
    verify = ("verify", str(tmp_path / "evidence.xml"), "--anchors", str(anchors))
    code, out = await _cli(*verify, "--log-key", old.vkey())
    assert code == 1, out
    assert "public evidence log: NOT PROVEN: the checkpoint is signed by an unknown key" in out
    code, out = await _cli(*verify, "--log-key", old.vkey(), "--log-key", new.vkey())
    assert code == 0, out
    assert f"public evidence log: included, entry {after - 1} of the {after} entries" in out
