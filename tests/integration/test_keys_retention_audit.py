"""Master key rotation with re-wrap, retention purges, and the sealed audit log of operator actions.

The operator's side is driven through the real command line (`lre-gateway keys ...`, `audit
verify`) against the same data dir and database as a running gateway.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import aiohttp
from sqlalchemy import select, text, update

from gateway.app import Running
from gateway.core.evidence import EvidenceType
from gateway.evidence.xml import from_xml
from gateway.settings import Settings
from gateway.storage import tables as t
from gateway.storage.database import open_engine
from tests.support.client import notification_for, proofs_for, wait_for
from tests.support.evidence import texts
from tests.support.gateway import SENDER, Clock, make_settings, start
from tests.support.letters import anchors, deposit, open_link, post
from tests.support.openssl import assert_proof_verifies

T = TypeVar("T")
LRE_GATEWAY = Path(sys.executable).parent / "lre-gateway"


def config_file(settings: Settings, tmp_path: Path) -> Path:
    """A TOML configuration naming the same data dir and database as settings."""
    path = tmp_path / "gateway.toml"
    gateway, database = settings.gateway, settings.database
    path.write_text(
        "[gateway]\n"
        f"data_dir = {json.dumps(str(gateway.data_dir))}\n"
        f"public_url = {json.dumps(gateway.public_url)}\n"
        "[database]\n"
        f"url = {json.dumps(database.url)}\n"
    )
    return path


async def cli(config: Path, *args: str, stdin: bytes = b"") -> tuple[int, str]:
    """Run `lre-gateway --config config args...`: exit status and what it printed (both)."""
    process = await asyncio.create_subprocess_exec(
        str(LRE_GATEWAY),
        "--config",
        str(config),
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate(stdin)
    assert process.returncode is not None
    return process.returncode, out.decode()


async def test_rotated_key_rewraps_every_letter_and_the_old_key_can_then_go(
    tmp_path: Path, database_url: str
) -> None:
    """`keys rotate` while letters exist: destroy-old is refused until the gateway has re-wrapped
    them, then the old key file goes and the letter still downloads byte-exact."""
    settings = make_settings(tmp_path, database_url, letters={"recipient_verification": "none"})
    config = config_file(settings, tmp_path)
    keys_dir = settings.gateway.data_dir / "keys"
    async with start(settings) as gateway:
        data, _ = await deposit(gateway)
        link = await open_link(gateway)
    code, out = await cli(config, "keys", "rotate")
    assert code == 0, out
    assert "new master key master-2" in out
    code, out = await cli(config, "keys", "status")
    assert code == 0, out
    assert "master-1: 1 letters" in out
    assert "re-wrap in progress: 1 letters" in out
    code, out = await cli(config, "keys", "destroy-old", "master-1")
    assert code == 1
    assert "1 letters still use master-1" in out
    assert (keys_dir / "master-1.key").exists()

    async with start(settings) as gateway:  # its scheduler takes the re-wrap up by itself

        async def rewrapped() -> bool:
            _, status = await cli(config, "keys", "status")
            return "re-wrap complete" in status

        for _ in range(40):
            if await rewrapped():
                break
            await asyncio.sleep(0.25)
        else:
            raise AssertionError("the gateway did not re-wrap the letter")
        code, out = await cli(config, "keys", "verify")
        assert code == 0, out
        assert "every letter decrypts (1 letters checked)" in out
        code, out = await cli(config, "keys", "destroy-old", "master-1")
        assert code == 0, out
        assert not (keys_dir / "master-1.key").exists()
        await deposit(gateway, ["carol@example.org"])  # a new letter uses the new key
        _, out = await cli(config, "keys", "status")
        assert "master-2: 2 letters (current)" in out

        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
            accepted = await post(session, link, "accept")
            assert accepted.status == 303
            async with session.get(f"{link}/letter.eml") as original:
                assert original.status == 200
                assert await original.read() == data
    code, out = await cli(config, "audit", "verify")
    assert code == 0, out
    assert "2 rows" in out  # keys.rotated, keys.destroyed


async def test_keys_commands_refuse_what_would_lose_letters(
    tmp_path: Path, database_url: str
) -> None:
    """The current key and unknown keys are never destroyed; verify names a letter whose key is
    missing and fails."""
    settings = make_settings(tmp_path, database_url)
    config = config_file(settings, tmp_path)
    async with start(settings) as gateway:
        _, reference = await deposit(gateway)
    code, out = await cli(config, "keys", "destroy-old", "master-1")
    assert code == 1
    assert "current master key" in out
    code, out = await cli(config, "keys", "destroy-old", "master-7")
    assert code == 2
    assert "no master key 'master-7'" in out
    # a lost key (a backup restored without it): verify says which letters cannot be read
    code, out = await cli(config, "keys", "rotate")
    assert code == 0, out
    (settings.gateway.data_dir / "keys" / "master-1.key").unlink()
    code, out = await cli(config, "keys", "verify")
    assert code == 1
    assert reference in out


async def test_audit_log_names_the_first_altered_or_missing_row(
    tmp_path: Path, database_url: str
) -> None:
    """Operator actions are chained and sealed: altering a row or deleting one is reported with
    the row where the chain breaks."""
    settings = make_settings(tmp_path, database_url)
    config = config_file(settings, tmp_path)
    code, out = await cli(
        config, "sender", "add", "clerk@example.ma", "--name", "Clerk", "--password-stdin",
        stdin=b"a long enough password\n",
    )  # fmt: skip
    assert code == 0, out
    for _ in range(2):
        code, out = await cli(config, "keys", "rotate")
        assert code == 0, out
    code, out = await cli(config, "audit", "verify")
    assert code == 0, out
    assert "3 rows" in out

    engine = open_engine(settings.database.url)
    try:
        with engine.connect() as db:
            rows = db.execute(select(t.audit_log).order_by(t.audit_log.c.seq)).all()
        assert [r.action for r in rows] == ["sender.saved", "keys.rotated", "keys.rotated"]
        assert json.loads(rows[0].details)["email"] == "clerk@example.ma"
        assert rows[1].previous_sha256 == hashlib.sha256(rows[0].statement).hexdigest()

        forged = rows[1].details.replace("master-2", "master-9")
        with engine.begin() as db:
            db.execute(update(t.audit_log).where(t.audit_log.c.seq == 2).values(details=forged))
        code, out = await cli(config, "audit", "verify")
        assert code == 1
        assert "broken at row 2" in out

        with engine.begin() as db:  # put it back, then remove the row altogether
            db.execute(
                update(t.audit_log).where(t.audit_log.c.seq == 2).values(details=rows[1].details)
            )
            db.execute(text("DELETE FROM audit_log WHERE seq = 2"))
        code, out = await cli(config, "audit", "verify")
        assert code == 1
        assert "broken at row 3" in out
        assert "row 2 is missing" in out

        with engine.begin() as db:  # a statement rewritten with a digest to match: the seal fails
            statement = rows[0].statement.replace(b"clerk@", b"other@")
            db.execute(
                update(t.audit_log)
                .where(t.audit_log.c.seq == 1)
                .values(
                    statement=statement,
                    sha256=hashlib.sha256(statement).hexdigest(),
                    details=rows[0].details.replace("clerk@", "other@"),
                )
            )
        code, out = await cli(config, "audit", "verify")
        assert code == 1
        assert "broken at row 1" in out
    finally:
        engine.dispose()


async def test_letters_past_retention_are_purged_with_a_sealed_chained_evidence(
    tmp_path: Path, database_url: str
) -> None:
    """Past letters.retention, content and personal data are erased, the link is dead, the proofs
    already issued still verify, and a sealed ContentPurged evidence continues each chain; a
    younger letter is left alone."""
    clock = Clock()
    settings = make_settings(
        tmp_path, database_url, letters={"retention": "10d", "negligence_after": "1d"}
    )
    config = config_file(settings, tmp_path)
    async with start(settings, clock) as gateway:
        _, old_reference = await deposit(gateway)
        old_link = await open_link(gateway)
        with gateway.store.engine.connect() as db:
            query = select(t.letters.c.wrapped_key).where(t.letters.c.reference == old_reference)
            old_key = bytes(db.execute(query).scalar_one())
        clock.advance(timedelta(days=5))
        _, young_reference = await deposit(gateway, ["carol@example.org"])
        await wait_for(lambda: notification_for(gateway, "carol@example.org"), what="notice")
        clock.advance(timedelta(days=2))  # both deadlines pass: two proofs of negligence
        expiries = await wait_for(
            lambda: _all(proofs_for(gateway, SENDER, "AcceptanceRejectionExpiry"), 2),
            within=30,
            what="proofs of negligence",
        )
        old_proof = next(p for p in expiries if old_reference.encode() in p.xml)
        clock.advance(timedelta(days=4))  # the first letter is 11 days old, the second 6
        purged = await _purged_as_time_passes(gateway, clock)
        assert len(purged) == 1
        xml, p7s = purged[0]
        record = from_xml(xml)
        assert record.event is EvidenceType.ContentPurged
        assert texts(xml, "etsi:ERDSEventId") == ["urn:lre-gateway:event:ContentPurged"]
        assert record.letter_reference == old_reference
        assert record.previous_evidence_sha256 == hashlib.sha256(old_proof.xml).hexdigest()
        assert record.subject == ""
        assert record.sender_declared_name is None
        assert all(a.name.startswith("attachment-") for a in record.attachments)
        assert_proof_verifies(xml, p7s, anchors(gateway), tmp_path / "purge")
        assert_proof_verifies(old_proof.xml, old_proof.p7s, anchors(gateway), tmp_path / "old")

        async with aiohttp.ClientSession() as session:
            async with session.get(old_link) as page:
                assert page.status == 404
                dead = await page.text()
            async with session.get(old_link + "-unknown") as unknown:
                assert unknown.status == 404
                assert await unknown.text() == dead

        with gateway.store.engine.connect() as db:
            letters = {r.reference: r for r in db.execute(select(t.letters))}
            deliveries = {r.letter_id: r for r in db.execute(select(t.deliveries))}
        old, young = letters[old_reference], letters[young_reference]
        assert old.purged_at is not None
        assert young.purged_at is None
        assert (old.subject, old.content, old.wrapped_key, old.page) == ("", b"", b"", None)
        assert "contrat.pdf" not in old.attachments
        assert deliveries[old.id].recipient == ""
        assert young.subject == "Mise en demeure"
        assert deliveries[young.id].recipient == "carol@example.org"
        code, out = await cli(config, "keys", "verify")
        assert code == 0, out
        assert "(1 letters checked)" in out
    code, out = await cli(config, "audit", "verify")
    assert code == 0, out
    assert "1 rows" in out
    if database_url.startswith("sqlite"):  # erased, not left in a free page of the file
        assert all(old_key not in stored for stored in _sqlite_files(database_url))


def _sqlite_files(database_url: str) -> list[bytes]:
    """The bytes of a SQLite database's file, and of its WAL when there is one."""
    database = Path(database_url.removeprefix("sqlite:///"))
    files = [database, *database.parent.glob(f"{database.name}-*")]
    return [path.read_bytes() for path in files]


async def _purged_as_time_passes(gateway: Running, clock: Clock) -> list[tuple[bytes, bytes]]:
    """The sealed purge evidence, the clock moving 30 s per look (the purge job's rounds)."""
    for _ in range(150):
        found = _sealed_purges(gateway)
        if found:
            return found
        clock.advance(timedelta(seconds=30))
        await asyncio.sleep(0.2)
    raise AssertionError("no sealed purge evidence")


def _sealed_purges(gateway: Running) -> list[tuple[bytes, bytes]]:
    query = select(t.evidence.c.xml, t.evidence.c.p7s).where(
        t.evidence.c.type == EvidenceType.ContentPurged.value, t.evidence.c.p7s.is_not(None)
    )
    with gateway.store.engine.connect() as db:
        return [(bytes(r.xml), bytes(r.p7s)) for r in db.execute(query)]


def _all(found: list[T], count: int) -> list[T]:
    """found once it has count items, else nothing (for wait_for)."""
    return found if len(found) == count else []


async def test_a_letter_still_awaiting_its_recipient_is_not_purged_before_the_decision(
    tmp_path: Path, database_url: str
) -> None:
    """Retention shorter than the acceptance period: the purge waits for the proof of negligence,
    so the recipient's page works until then and the sender gets that proof."""
    clock = Clock()
    settings = make_settings(
        tmp_path, database_url, letters={"retention": "1d", "negligence_after": "3d"}
    )
    async with start(settings, clock) as gateway:
        _, reference = await deposit(gateway)
        link = await open_link(gateway)
        clock.advance(timedelta(days=2))  # retention over, the recipient may still decide
        await gateway.scheduler.tick()
        await gateway.scheduler.tick()
        async with aiohttp.ClientSession() as session, session.get(link) as page:
            assert page.status == 200
            assert reference in await page.text()
        assert not _sealed_purges(gateway)
        clock.advance(timedelta(days=2))  # the deadline passes: negligence, then the purge
        await wait_for(
            lambda: proofs_for(gateway, SENDER, "AcceptanceRejectionExpiry"), what="negligence"
        )
        purged = await _purged_as_time_passes(gateway, clock)
        assert from_xml(purged[0][0]).letter_reference == reference


async def test_a_key_rotated_while_the_gateway_runs_is_taken_up_without_restart(
    tmp_path: Path, database_url: str
) -> None:
    """`keys rotate` beside a running gateway: its next letters use the new key and its scheduler
    re-wraps the older ones, with no restart."""
    clock = Clock()
    settings = make_settings(tmp_path, database_url)
    config = config_file(settings, tmp_path)
    async with start(settings, clock) as gateway:
        await deposit(gateway)
        code, out = await cli(config, "keys", "rotate")
        assert code == 0, out
        await deposit(gateway, ["carol@example.org"])
        clock.advance(timedelta(minutes=1))  # the slow jobs' next round is due
        for _ in range(40):
            _, out = await cli(config, "keys", "status")
            if "re-wrap complete" in out:
                break
            clock.advance(timedelta(minutes=1))
        else:
            raise AssertionError(f"the running gateway did not re-wrap: {out}")
        assert "master-2: 2 letters (current)" in out
        assert "master-1" not in out.replace("current master key: master-2", "")
