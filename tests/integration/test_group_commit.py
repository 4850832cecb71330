"""Group commit: letters whose sessions finish DATA while a commit is in flight share the next.

Real SMTP sessions against a real gateway on SQLite and on PostgreSQL. The database is held
locked (another session's lock, a real fault) while the first letter's commit waits and the
others finish DATA; once released, every session is answered after the commit that holds its
letter: 250 and the letter kept once, byte-exact, with its deposit evidence, or, for a letter
the database refuses inside the group, 451 4.3.0 and nothing of it kept.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import aiosmtplib
import pytest
from sqlalchemy import select

from gateway.app import Running
from gateway.core.sender import Account
from gateway.errors import AccountDisabled
from gateway.evidence.xml import from_xml
from gateway.mime.limits import MimeLimits
from gateway.mime.submission import read_submission
from gateway.services.deposit import Deposit, Deposits
from gateway.services.work import new_reference
from gateway.storage import tables as t
from gateway.storage.account_store import AccountStore
from gateway.storage.vault import Vault
from gateway.trust import keys_dir
from tests.support.client import letter_bytes, wait_for
from tests.support.evidence import content_digests
from tests.support.faults import letters_locked, letters_refused
from tests.support.gateway import PASSWORD, SENDER
from tests.support.letters import kept

SESSIONS = 12
T = TypeVar("T")
REFERENCE = re.compile(r"LRE-\d{8}-[A-Z2-7]{8}")
TRY_LATER = "4.3.0 Temporary problem on our side; nothing was kept, please try again later"


def recipient(n: int) -> str:
    return f"destinataire.{n}@example.com"


def letters() -> list[bytes]:
    return [
        letter_bytes(SENDER, [recipient(n)], f"Lettre {n}", f"Madame, Monsieur, lettre {n}.\n")
        for n in range(SESSIONS)
    ]


@pytest.fixture
async def sessions(gateway: Running) -> AsyncIterator[list[aiosmtplib.SMTP]]:
    """SESSIONS clients logged in over STARTTLS, each with its envelope given (MAIL, RCPT)."""
    host, port = gateway.smtp["submission"]
    clients = [
        aiosmtplib.SMTP(hostname=host, port=port, start_tls=True, validate_certs=False)
        for _ in range(SESSIONS)
    ]
    for n, client in enumerate(clients):
        await client.connect()
        await client.login(SENDER, PASSWORD)
        await client.mail(SENDER)
        await client.rcpt(recipient(n))
    yield clients
    for client in clients:
        client.close()


async def data(client: aiosmtplib.SMTP, content: bytes) -> tuple[int, str]:
    """DATA's reply, a refusal included."""
    try:
        reply = await client.data(content)
    except aiosmtplib.SMTPDataError as refused:
        return refused.code, refused.message
    return reply.code, reply.message


def waiting_for_a_commit() -> int:
    """How many deposits of this loop wait for the commit that will hold their letter."""
    return sum(_awaits(task.get_coro(), "GroupCommit.submit") for task in asyncio.all_tasks())


def _awaits(coroutine: Any, qualname: str) -> bool:
    while coroutine is not None:
        if getattr(coroutine, "__qualname__", "") == qualname:
            return True
        coroutine = getattr(coroutine, "cr_await", None)
    return False


async def send_while_locked(
    gateway: Running, clients: list[aiosmtplib.SMTP], contents: list[bytes]
) -> list[tuple[int, str]]:
    """The first letter's commit waits for a lock; the others finish DATA meanwhile and wait
    for the commit after it. No session is answered before the lock is released."""
    with letters_locked(gateway.settings.database.url):
        first = asyncio.create_task(data(clients[0], contents[0]))
        await wait_for(lambda: waiting_for_a_commit() == 1, what="the first deposit to wait")
        others = [
            asyncio.create_task(data(client, content))
            for client, content in zip(clients[1:], contents[1:], strict=True)
        ]
        await wait_for(
            lambda: waiting_for_a_commit() == SESSIONS, what="every deposit to wait", within=30
        )
        await asyncio.sleep(0.2)
        assert not any(task.done() for task in [first, *others])  # no reply before the commit
    return await asyncio.gather(first, *others)


async def evidence_digests(gateway: Running) -> dict[str, list[list[str]]]:
    """Per letter id, the content digests of each of its SubmissionAcceptance evidence."""
    return await deposit_evidence(gateway, content_digests)


async def deposit_evidence(gateway: Running, read_xml: Callable[[bytes], T]) -> dict[str, list[T]]:
    """Per letter id, what `read_xml` reads in each of its SubmissionAcceptance evidence."""

    def read() -> dict[str, list[T]]:
        found: dict[str, list[T]] = {}
        with gateway.store.engine.connect() as db:
            rows = db.execute(
                select(t.evidence.c.letter_id, t.evidence.c.xml).where(
                    t.evidence.c.type == "SubmissionAcceptance"
                )
            ).all()
        for row in rows:
            found.setdefault(row.letter_id, []).append(read_xml(row.xml))
        return found

    return await asyncio.to_thread(read)


async def test_letters_deposited_while_a_commit_waits_are_each_kept_once_with_evidence(
    gateway: Running, sessions: list[aiosmtplib.SMTP]
) -> None:
    """Twelve sessions finish DATA while the first letter's commit waits for a lock: once it is
    released each gets 250 with its own reference, and each letter is kept once, byte-exact,
    for its recipient, with one deposit evidence stating the SHA-256 of the bytes sent."""
    contents = letters()

    replies = await send_while_locked(gateway, sessions, contents)

    assert [code for code, _ in replies] == [250] * SESSIONS
    references = [REFERENCE.search(message) for _, message in replies]
    stored = {k.letter.reference: k for k in await kept(gateway)}
    assert len(stored) == SESSIONS
    digests = await evidence_digests(gateway)
    for n, (reference, content) in enumerate(zip(references, contents, strict=True)):
        assert reference is not None
        letter = stored[reference.group(0)]
        assert (letter.content, letter.recipients) == (content, [recipient(n)])
        assert digests[letter.letter.id] == [[hashlib.sha256(content).hexdigest()]]


async def test_a_letter_refused_inside_a_group_gets_451_and_the_others_are_kept(
    gateway: Running, sessions: list[aiosmtplib.SMTP]
) -> None:
    """One letter of a group is refused by the database (a trigger, as a constraint would): its
    session gets 451 4.3.0 with a sentence and nothing of it is kept; the letters committed
    with it get their 250 and are kept, each with its deposit evidence; sent again, it is kept."""
    contents = letters()
    refused = 5  # not the first: its letter is committed alone, the others together after it

    with letters_refused(gateway.settings.database.url, f"Lettre {refused}"):
        replies = await send_while_locked(gateway, sessions, contents)

    assert replies[refused] == (451, TRY_LATER)
    kept_ones = [n for n in range(SESSIONS) if n != refused]
    assert [replies[n][0] for n in kept_ones] == [250] * len(kept_ones)
    stored = await kept(gateway)
    assert sorted(k.letter.subject for k in stored) == sorted(f"Lettre {n}" for n in kept_ones)
    digests = await evidence_digests(gateway)
    assert sorted(digests) == sorted(k.letter.id for k in stored)

    # the refused session sends its letter again, and now it is kept
    await sessions[refused].mail(SENDER)
    await sessions[refused].rcpt(recipient(refused))
    assert (await data(sessions[refused], contents[refused]))[0] == 250
    assert f"Lettre {refused}" in {k.letter.subject for k in await kept(gateway)}


async def test_a_letter_of_an_account_disabled_since_its_login_is_refused_alone_in_a_group(
    gateway: Running,
) -> None:
    """Deposits committed together (on SQLite each table's rows go in as one statement, their
    senders read in one): the letter of an account disabled since its login is refused with
    AccountDisabled and nothing of it kept; the letters of the group around it are kept."""
    senders = gateway.registry.senders
    await asyncio.to_thread(senders.save_sender, OTHER, "Other", PASSWORD)
    alice = await senders.authenticate(SENDER, PASSWORD)
    other = await senders.authenticate(OTHER, PASSWORD)
    assert alice is not None
    assert other is not None
    AccountStore(gateway.store.engine).set_disabled(OTHER, datetime.now(UTC))
    disabled = 4
    items = [_deposit(other if n == disabled else alice, n) for n in range(SESSIONS)]

    with letters_locked(gateway.settings.database.url):
        tasks = [asyncio.create_task(gateway.registry.deposits.deposit(i)) for i in items]
        await wait_for(
            lambda: waiting_for_a_commit() == SESSIONS, what="every deposit to wait", within=30
        )
    results = await asyncio.gather(*tasks, return_exceptions=True)

    assert isinstance(results[disabled], AccountDisabled)
    assert all(isinstance(r, str) for n, r in enumerate(results) if n != disabled)
    stored = await kept(gateway)
    assert sorted(k.letter.subject for k in stored) == sorted(
        f"Lettre {n}" for n in range(SESSIONS) if n != disabled
    )
    digests = await evidence_digests(gateway)
    assert sorted(digests) == sorted(k.letter.id for k in stored)


OTHER = "other.sender@example.ma"


def _deposit(account: Account, n: int) -> Deposit:
    content = letters()[n].replace(SENDER.encode(), account.email.encode())
    parsed, phones, languages = read_submission(content, (recipient(n),), "MA", limits=MimeLimits())
    return Deposit(
        account=account,
        mail_from=account.email,
        rcpt_tos=(recipient(n),),
        content=content,
        parsed=parsed,
        authentication="SMTP AUTH PLAIN over STARTTLS (TLSv1.3)",
        peer="127.0.0.1",
        phones=phones,
        languages=languages,
    )


async def _scheduler_stopped(gateway: Running) -> None:
    """The gateway's scheduler stopped (its current round finished, no other begun)."""
    (running,) = [task for task in asyncio.all_tasks() if _awaits(task.get_coro(), "Scheduler.run")]
    gateway.scheduler.stop()
    await running


# columns whose value is the same for every letter of one sender deposited alike (the others,
# ids, times, bytes, digests and addresses, are compared by their kind: set or NULL, and type)
_SAME = frozenset({
    "account_id", "sender_address", "sender_name", "sender_authentication", "sender_ip",
    "key_id", "attachments", "phone", "languages", "state", "kind", "type", "channel",
    "mail_from", "attempts", "claimed_by", "claimed_until", "last_error",
})  # fmt: skip


def _rows_of(db: Any, letter_id: str) -> dict[str, list[dict[str, Any]]]:
    """The rows a deposit made for the letter `letter_id`, by table: each column's value where
    every letter has the same (`_SAME`), else the name of its value's type."""
    deliveries = select(t.deliveries.c.id).where(t.deliveries.c.letter_id == letter_id)
    evidence = select(t.evidence.c.id).where(t.evidence.c.letter_id == letter_id)
    outbound = select(t.outbound.c.id).where(t.outbound.c.delivery_id.in_(deliveries))
    reads = {
        "letters": select(t.letters).where(t.letters.c.id == letter_id),
        "deliveries": select(t.deliveries).where(t.deliveries.c.letter_id == letter_id),
        "outbound": select(t.outbound).where(t.outbound.c.id.in_(outbound)),
        "outbound_messages": select(t.outbound_messages).where(
            t.outbound_messages.c.outbound_id.in_(outbound)
        ),
        "evidence": select(t.evidence).where(t.evidence.c.letter_id == letter_id),
        "seal_queue": select(t.seal_queue).where(t.seal_queue.c.evidence_id.in_(evidence)),
    }
    found = {}
    for table, read in reads.items():
        rows = [dict(row._mapping) for row in db.execute(read)]
        found[table] = sorted(
            (
                {
                    name: (value if name in _SAME else type(value).__name__)
                    for name, value in row.items()
                }
                for row in rows
            ),
            key=repr,
        )
    return found


async def test_letters_committed_together_are_stored_as_a_letter_committed_alone(
    gateway: Running, caplog: pytest.LogCaptureFixture
) -> None:
    """A group's rows go in a statement a table (on PostgreSQL each table's rows streamed with
    COPY), a letter's alone as one statement: every table holds the same for both — each column
    set alike (a queue's attempts, a mail's state), none left NULL by the group."""
    await _scheduler_stopped(gateway)  # nothing sealed, composed nor sent: the rows as made
    caplog.set_level(logging.INFO, logger="gateway.storage.store")
    alice = await gateway.registry.senders.authenticate(SENDER, PASSWORD)
    assert alice is not None
    count = 5
    with letters_locked(gateway.settings.database.url):  # the first alone, the others together
        first = asyncio.create_task(gateway.registry.deposits.deposit(_deposit(alice, 0)))
        await wait_for(lambda: waiting_for_a_commit() == 1, what="the first deposit to wait")
        tasks = [
            asyncio.create_task(gateway.registry.deposits.deposit(_deposit(alice, n)))
            for n in range(1, count)
        ]
        await wait_for(lambda: waiting_for_a_commit() == count, what="every deposit to wait")
    assert all(isinstance(r, str) for r in await asyncio.gather(first, *tasks))

    def read() -> list[dict[str, list[dict[str, Any]]]]:
        with gateway.store.engine.connect() as db:
            ids = dict(db.execute(select(t.letters.c.subject, t.letters.c.id)).all())
            return [_rows_of(db, ids[f"Lettre {n}"]) for n in range(count)]

    alone, *together = await asyncio.to_thread(read)
    # committed together indeed (a group that fails is committed again letter by letter)
    assert "could not be committed together" not in caplog.text
    # a notification's bytes are composed later (outbound_messages): the deposit's rows are these
    assert {table: len(rows) for table, rows in alone.items() if rows} == {
        "letters": 1,
        "deliveries": 1,
        "outbound": 1,
        "evidence": 1,
        "seal_queue": 1,
    }
    differing = [
        (table, name, row.get(name), mine.get(name))
        for rows in together
        for table, kept_rows in rows.items()
        for row, mine in zip(alone[table], kept_rows, strict=True)
        for name in row.keys() | mine.keys()
        if row.get(name) != mine.get(name)
    ]
    assert differing == []


def drawing(gateway: Running, references: list[str]) -> Deposits:
    """The gateway's deposit service, over its database and keys, drawing `references` first
    (then at random, as always)."""
    registry, drawn = gateway.registry, iter(references)
    return Deposits(
        settings=gateway.settings,
        store=gateway.store,
        vault=Vault(keys_dir(gateway.settings)),
        work=registry.work,
        clock=registry.now,
        outcomes=registry.outcomes,
        identity=registry.identity,
        letter_url=registry.letter_url,
        bounce_address=registry.bounce_address,
        metrics=registry.metrics,
        wake=registry.wake,
        references=lambda now: next(drawn, None) or new_reference(now),
    )


async def references_kept(gateway: Running) -> dict[str, str]:
    """Subject → reference of every letter kept, each checked against its deposit evidence."""
    stored = await kept(gateway)
    named = await deposit_evidence(gateway, lambda xml: from_xml(xml).letter_reference)
    assert named == {k.letter.id: [k.letter.reference] for k in stored}
    return {k.letter.subject: k.letter.reference for k in stored}


async def test_a_letter_that_draws_a_kept_letters_reference_is_kept_under_another(
    gateway: Running, caplog: pytest.LogCaptureFixture
) -> None:
    """A reference holds 40 random bits a day: a new letter may draw one a kept letter holds
    (in a 100,000-letter benchmark run, once). The letter is not refused (451) for it: it is
    kept under another reference, which its evidence states; the kept letter is untouched."""
    alice = await gateway.registry.senders.authenticate(SENDER, PASSWORD)
    assert alice is not None
    first = await gateway.registry.deposits.deposit(_deposit(alice, 0))
    second = await drawing(gateway, [first]).deposit(_deposit(alice, 1))
    assert REFERENCE.fullmatch(second)
    assert second != first
    assert await references_kept(gateway) == {"Lettre 0": first, "Lettre 1": second}
    assert f"the letter reference {first} is taken; drawing another" in caplog.text


async def test_letters_committed_together_that_draw_one_reference_are_both_kept(
    gateway: Running,
) -> None:
    """Two letters of one group commit draw the same reference: the group is committed again
    letter by letter, the first keeps the reference, the second draws another and is kept in
    the next commit."""
    alice = await gateway.registry.senders.authenticate(SENDER, PASSWORD)
    assert alice is not None
    service = drawing(gateway, ["LRE-20261205-AAAAAAAA", *["LRE-20261205-BBBBBBBB"] * 2])
    with letters_locked(gateway.settings.database.url):  # the first alone, the others together
        first = asyncio.create_task(service.deposit(_deposit(alice, 0)))
        await wait_for(lambda: waiting_for_a_commit() == 1, what="the first deposit to wait")
        together = [asyncio.create_task(service.deposit(_deposit(alice, n))) for n in (1, 2)]
        await wait_for(lambda: waiting_for_a_commit() == 3, what="every deposit to wait")
    references = await asyncio.gather(first, *together)
    assert references[0] == "LRE-20261205-AAAAAAAA"
    assert "LRE-20261205-BBBBBBBB" in references[1:]  # the first of the two to commit keeps it
    assert len(set(references)) == 3
    assert await references_kept(gateway) == {
        f"Lettre {n}": reference for n, reference in enumerate(references)
    }
