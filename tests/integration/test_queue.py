"""storage/queue.Queue, the one work queue: every queue of the gateway is one, and its lease,
finish, give-up and retry behave alike (real database, SQLite and PostgreSQL)."""

from __future__ import annotations

import ast
import dataclasses
import sqlite3
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Engine, event, insert, select, update
from sqlalchemy.exc import OperationalError

from gateway.compose.parts import base64_lines, without_attachment
from gateway.core.evidence import EvidenceType
from gateway.core.letter import State
from gateway.storage import tables as t
from gateway.storage.database import create_schema, open_engine
from gateway.storage.leases import PLAIN_INDEX_SCANS, QUEUES, with_lease_owner
from gateway.storage.log_store import LogStore
from gateway.storage.outbound import (
    MAILS,
    NewOutbound,
    OutboundQueue,
    finish_mail_rows,
    insert_mails,
)
from gateway.storage.pdf_queue import PDFS
from gateway.storage.queue import Queue
from gateway.storage.seal_queue import SEALS, NewSeal, SealQueue
from gateway.storage.sms_queue import SMS
from gateway.storage.store import LetterStore, NewEvidence, NewTransition
from gateway.storage.times import utc
from gateway.storage.webhook_queue import WEBHOOKS, enqueue_webhooks
from tests.support.leases import LEASE, NOW, queued_mails

STORAGE = Path(__file__).resolve().parents[2] / "gateway" / "storage"
EVERY_QUEUE = (SEALS, MAILS, PDFS, SMS, WEBHOOKS)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = open_engine(database_url)
    create_schema(engine)
    yield engine
    engine.dispose()


def test_every_queue_is_released_when_its_holder_dies() -> None:
    """Each Queue's table is one leases.release_leases frees (Instance.reclaim)."""
    assert {q.table.name for q in EVERY_QUEUE} == {table.name for table in QUEUES}


def test_only_the_queue_and_the_leases_write_a_lease() -> None:
    """Finishing, giving up and retrying are written once: no other storage module sets
    claimed_until or claimed_by."""
    writers = []
    for path in sorted(STORAGE.glob("*.py")):
        if path.name in ("queue.py", "leases.py", "tables.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.keyword) and node.arg in ("claimed_until", "claimed_by"):
                writers.append(f"{path.name}:{node.lineno}")
            if isinstance(node, ast.Constant) and node.value in ("claimed_until", "claimed_by"):
                writers.append(f"{path.name}:{node.lineno}")
    assert writers == []


def row(engine: Engine, mail_id: str) -> Any:
    with engine.connect() as db:
        return db.execute(select(t.outbound).where(t.outbound.c.id == mail_id)).one()


def test_finish_frees_the_lease_and_clears_the_error_once(engine: Engine) -> None:
    queue = Queue(t.outbound, waiting=t.outbound.c.state == "pending")
    first, second = queued_mails(engine, 2)
    claimed = queue.claim(engine, now=NOW, lease=LEASE, limit=5)
    assert sorted(r.id for r in claimed) == sorted([first, second])
    assert queue.claim(engine, now=NOW, lease=LEASE, limit=5) == []  # both leased
    with engine.begin() as db:
        queue.retry_row(db, first, "busy", retry_at=NOW)
    [again] = queue.claim(engine, now=NOW, lease=LEASE, limit=5)
    assert (again.id, again.last_error) == (first, "busy")
    with engine.begin() as db:
        assert queue.finish_row(db, first, where=queue.waiting, counted=True, state="sent")
        # a second finish of the same job (another process got there first) changes nothing
        assert not queue.finish_row(db, first, where=queue.waiting, counted=True, state="sent")
    done = row(engine, first)
    assert (done.state, done.attempts, done.claimed_until, done.last_error) == (
        "sent",
        2,
        None,
        None,
    )


def test_give_up_counts_the_try_keeps_the_error_and_is_never_claimed_again(engine: Engine) -> None:
    [mail] = queued_mails(engine, 1)
    MAILS.claim(engine, now=NOW, lease=LEASE, limit=1)
    with engine.begin() as db:
        MAILS.give_up_row(db, mail, "550 5.1.1 " + "x" * 3000)
    failed = row(engine, mail)
    assert (failed.state, failed.attempts, failed.claimed_until) == ("failed", 1, None)
    assert failed.last_error == ("550 5.1.1 " + "x" * 3000)[:2000]
    later = NOW + timedelta(days=1)
    assert MAILS.claim(engine, now=later, lease=LEASE, limit=1) == []
    with engine.connect() as db:
        assert MAILS.next_due(db) is None


def test_a_renewal_leases_again_only_the_waiting_rows_this_process_holds(engine: Engine) -> None:
    """A hand-over taking long renews its mail's lease: not a row another process holds now
    (its lease had run out and the other claimed it), nor one finished meanwhile."""
    ours, theirs = with_lease_owner(engine, "us"), with_lease_owner(engine, "them")
    kept, taken, finished = queued_mails(engine, 3)
    MAILS.claim(ours, now=NOW, lease=LEASE, limit=3)
    with engine.begin() as db:
        MAILS.retry_row(db, taken, "busy", retry_at=NOW)
        MAILS.finish_row(db, finished, counted=True, state="sent")
    [claimed] = MAILS.claim(theirs, now=NOW, lease=LEASE, limit=3)
    assert claimed.id == taken
    until = NOW + 2 * LEASE
    assert MAILS.renew(ours, [kept, taken, finished], until) == {kept}
    assert utc(row(engine, kept).claimed_until) == until
    assert (utc(row(engine, taken).claimed_until), row(engine, taken).claimed_by) == (
        NOW + LEASE,
        "them",
    )
    assert row(engine, finished).claimed_until is None
    later = NOW + LEASE + timedelta(seconds=1)  # the first leases' end: not the renewed one's
    assert [r.id for r in MAILS.claim(theirs, now=later, lease=LEASE, limit=3)] == [taken]
    assert MAILS.renew(ours, [], until) == set()


def test_a_claim_skips_the_mails_to_crowded_domains_whatever_their_case(engine: Engine) -> None:
    """The scheduler claims no mail for a crowded domain (MxTransport.crowded, lower case):
    an address at it in any case, or in its absolute form (a final dot), is left for later;
    a domain that only looks alike to LIKE ("_" and "%" are no wildcards here) is not."""
    ids = queued_mails(engine, 6)
    rcpts = [
        "a@example.ma",
        "b@EXAMPLE.MA",
        "c@example.ma.",
        "d@sub.example.ma",  # another domain, ending like it
        "e@axb.example",  # "a_b.example" with "_" as a wildcard would match it
        "f@other.example",
    ]
    with engine.begin() as db:
        for mail_id, rcpt in zip(ids, rcpts, strict=True):
            db.execute(update(t.outbound).where(t.outbound.c.id == mail_id).values(rcpt=rcpt))
    queue = OutboundQueue(engine)
    claimed = queue.claim(NOW, LEASE, 10, ["example.ma", "a_b.example", "100%.example"])
    assert sorted(mail.rcpt for mail in claimed) == [
        "d@sub.example.ma",
        "e@axb.example",
        "f@other.example",
    ]
    later = queue.claim(NOW, LEASE, 10)  # the domain uncrowded: its mails are claimed
    assert sorted(mail.rcpt for mail in later) == ["a@example.ma", "b@EXAMPLE.MA", "c@example.ma."]


def test_a_claim_that_skips_reads_no_further_than_its_window(engine: Engine) -> None:
    """A claim skipping crowded domains reads the queue's oldest `skip_window` rows due and
    no further (a backlog of a million mails to one domain costs each claim the same), oldest
    first among those it may take."""
    ids = queued_mails(engine, 6)
    rcpts = ["a@big.example", "b@big.example", "c@other.example", "d@big.example"]
    rcpts += ["e@other.example", "f@other.example"]
    with engine.begin() as db:
        for n, (mail_id, rcpt) in enumerate(zip(ids, rcpts, strict=True)):
            when = NOW - timedelta(minutes=10 - n)  # oldest first, in this order
            db.execute(
                update(t.outbound)
                .where(t.outbound.c.id == mail_id)
                .values(rcpt=rcpt, next_attempt_at=when)
            )
    narrow = dataclasses.replace(MAILS, skip_window=4)
    claimed = narrow.claim(engine, now=NOW, lease=LEASE, limit=5, unless=["%@big.example"])
    assert [row.rcpt for row in claimed] == ["c@other.example"]  # the others beyond the window
    claimed = MAILS.claim(engine, now=NOW, lease=LEASE, limit=5, unless=["%@big.example"])
    assert [row.rcpt for row in claimed] == ["e@other.example", "f@other.example"]


def test_a_leased_row_is_due_for_the_others_only_when_its_lease_ends(engine: Engine) -> None:
    """The scheduler sleeps until the next row it could claim: not a row in another's hands."""
    first, second = queued_mails(engine, 2)
    with engine.begin() as db:
        MAILS.retry_row(db, second, "busy", retry_at=NOW + timedelta(hours=1))
    MAILS.claim(engine, now=NOW, lease=LEASE, limit=1)
    with engine.connect() as db:
        assert MAILS.next_due(db) == NOW + LEASE  # first's lease ends before second is due
    assert MAILS.claim(engine, now=NOW + LEASE - timedelta(seconds=1), lease=LEASE, limit=5) == []
    [again] = MAILS.claim(engine, now=NOW + LEASE + timedelta(seconds=1), lease=LEASE, limit=5)
    assert again.id == first


def test_the_rounds_due_times_are_each_queues_own_read_in_one_statement(engine: Engine) -> None:
    """The scheduler's round reads when each kind of work is next due with one statement: the
    same times as each queue's own `next_due`, None for an empty queue."""
    from gateway.storage.queue_stats import due_times

    assert due_times(engine) == dict.fromkeys(("seal", "mail", "sms", "deadline"))
    _, second = queued_mails(engine, 2)
    with engine.begin() as db:
        MAILS.retry_row(db, second, "busy", retry_at=NOW + timedelta(hours=1))
    MAILS.claim(engine, now=NOW, lease=LEASE, limit=1)
    with selects_of(engine) as statements:
        times = due_times(engine)
    assert len(statements) == 1
    with engine.connect() as db:
        alone = {"seal": SEALS.next_due(db), "mail": MAILS.next_due(db), "sms": SMS.next_due(db)}
    assert times == {**alone, "deadline": None}
    assert times["mail"] == NOW + LEASE  # the first mail's lease ends before the second is due


def test_on_sqlite_a_claim_takes_the_write_lock_only_to_lease_what_it_found(
    tmp_path: Path,
) -> None:
    """Another process holds SQLite's write lock (a deposit's commit, say): a claim that finds
    nothing due returns at once, without the lock; one that finds a row waits for the lock to
    lease it (here, with a busy timeout of 0.2 s, it gives up: "database is locked")."""
    path = tmp_path / "gateway.db"
    engine = open_engine(f"sqlite:///{path}", busy_timeout=0.2)
    create_schema(engine)
    [mail] = queued_mails(engine, 1)
    with engine.begin() as db:
        MAILS.retry_row(db, mail, "busy", retry_at=NOW + timedelta(hours=1))
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        assert MAILS.claim(engine, now=NOW, lease=LEASE, limit=5) == []  # nothing due yet
        later = NOW + timedelta(hours=2)
        with pytest.raises(OperationalError, match="database is locked"):
            MAILS.claim(engine, now=later, lease=LEASE, limit=5)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    [claimed] = MAILS.claim(engine, now=NOW + timedelta(hours=2), lease=LEASE, limit=5)
    assert claimed.id == mail
    engine.dispose()


def test_past_the_head_of_a_queue_its_next_due_time_is_never_late(engine: Engine) -> None:
    """`next_due` reads the waiting rows due first, at most a head of them: exact when the head
    holds them all; past it, never later than the exact time (the round looks for work early
    rather than late). Mails m0, m1 in another's hands until NOW + LEASE, m2 due at NOW + 1 s,
    m3 an hour later."""
    first, second, third, fourth = queued_mails(engine, 4)
    with engine.begin() as db:
        MAILS.retry_row(db, third, "busy", retry_at=NOW + timedelta(seconds=1))
        MAILS.retry_row(db, fourth, "busy", retry_at=NOW + timedelta(hours=1))
    assert {r.id for r in MAILS.claim(engine, now=NOW, lease=LEASE, limit=2)} == {first, second}

    def next_due(head: int) -> datetime | None:
        with engine.connect() as db:
            found = db.execute(MAILS.next_due_query(head=head)).scalar()
        return None if found is None else utc(found)

    exact = NOW + timedelta(seconds=1)  # m2: the leased m0 and m1 come back later
    assert next_due(head=5) == next_due(head=4) == exact
    assert next_due(head=3) == exact  # the head's last row is m2 itself
    assert next_due(head=2) == NOW  # m0 and m1 only: no later than their own due time
    assert next_due(head=1) == NOW
    with engine.connect() as db:
        assert MAILS.next_due(db) == exact


def test_the_rounds_look_at_a_long_queue_reads_its_head_through_the_due_index(
    tmp_path: Path,
) -> None:
    """The round's read of when each queue is next due costs the same with a backlog of
    100,000 seals (after a timestamping outage, say) as with none: SQLite reads each queue in
    the order of its due index and stops after the head, with no sort of the whole queue.
    (SQLite only: PostgreSQL's plan depends on its statistics.)"""
    from gateway.storage.queue_stats import due_times

    engine = open_engine(f"sqlite:///{tmp_path}/gateway.db")
    create_schema(engine)
    many_evidence(engine, 3)
    with selects_of(engine) as selects:
        assert due_times(engine)["seal"] == NOW
    with engine.connect() as db:
        [plan] = [query_plan(db, statement, parameters) for statement, parameters in selects]
    engine.dispose()
    assert "seal_queue USING INDEX ix_seal_queue_due" in plan, plan
    assert "outbound USING INDEX ix_outbound_due (state=?)" in plan, plan
    assert "TEMP B-TREE" not in plan, plan


def test_the_seal_queue_reads_only_its_own_rows_and_the_evidence_by_key(tmp_path: Path) -> None:
    """A claim of the seal queue, made every round, costs the same after 100,000 letters as
    after one: SQLite reads the queue through ix_seal_queue_due and the claimed evidence by its
    key, never every evidence ever sealed. (SQLite only: PostgreSQL's plan depends on its
    statistics, not on the query alone; see the plain index scan's test below.)"""
    engine = open_engine(f"sqlite:///{tmp_path}/gateway.db")
    create_schema(engine)
    many_evidence(engine, 3)
    with selects_of(engine) as selects:
        assert len(SealQueue(engine).claim(NOW, LEASE)) == 3
    plans = []
    with engine.connect() as db:
        for statement, parameters in selects:
            plans.append(query_plan(db, statement, parameters))
    engine.dispose()
    claim, read = plans
    assert "ix_seal_queue_due" in claim, claim
    assert "evidence" not in claim.replace("evidence_id", ""), claim
    assert "SCAN evidence" not in read, read
    assert "evidence USING" in read, read


def test_the_webhook_queue_reads_one_letters_events_through_their_index(tmp_path: Path) -> None:
    """Queuing an event (the next seq of its letter to that endpoint) and claiming (no earlier
    event of the same letter and endpoint waits) read that letter's events to the endpoint
    through ix_webhook_group, not every event the endpoint was ever sent: the same cost for a
    sender who has posted for ten years as for a new one. (SQLite only, as above.)"""
    engine = open_engine(f"sqlite:///{tmp_path}/gateway.db")
    create_schema(engine)
    webhook_posts(engine, {"e1": ["p1", "p2"]})
    with selects_of(engine) as selects:
        with engine.begin() as db:
            db.execute(
                insert(t.evidence).values(
                    id="e1-p3", letter_id="l1", delivery_id="d1", type="SubmissionAcceptance",
                    event_time=NOW, xml=b"<x/>", xml_sha256="0" * 64,
                )
            )  # fmt: skip
            enqueue_webhooks(db, [SimpleNamespace(id="e1-p3", letter_id="l1")], NOW)
        WEBHOOKS.claim(engine, now=NOW, lease=LEASE, limit=10)
    with engine.connect() as db:
        assert db.scalar(select(t.webhook_deliveries.c.seq).where(
            t.webhook_deliveries.c.evidence_id == "e1-p3"
        )) == 3  # fmt: skip
        plans = {
            statement: query_plan(db, statement, parameters)
            for statement, parameters in selects
            if "max(webhook_deliveries.seq)" in statement or "earlier" in statement
        }
    engine.dispose()
    assert len(plans) == 2, list(plans)  # the next seq, the claim
    for steps in plans.values():
        assert "ix_webhook_group (endpoint_id=? AND letter_id=?" in steps, steps


@contextmanager
def selects_of(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """The SELECT statements `engine` runs meanwhile, with their parameters."""
    selects: list[tuple[str, Any]] = []

    def seen(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", seen)
    try:
        yield selects
    finally:
        event.remove(engine, "before_cursor_execute", seen)


def query_plan(db: Any, statement: str, parameters: Any) -> str:
    """SQLite's plan of `statement`, its steps joined by " / "."""
    plan = db.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
    return " / ".join(str(step[-1]) for step in plan)


def webhook_posts(engine: Engine, plan: dict[str, list[str]]) -> None:
    """Endpoint → its posts (ids, in seq order) about one letter's evidence, all pending now;
    endpoint "off" is disabled."""
    queued_mails(engine, 0)  # the account a1, the letter l1 and its delivery d1
    with engine.begin() as db:
        for endpoint, posts in plan.items():
            db.execute(
                insert(t.webhook_endpoints).values(
                    id=endpoint, account_id="a1", url="https://hooks.example/", secret="s",
                    failures=0, created_at=NOW, disabled_at=NOW if endpoint == "off" else None,
                )
            )  # fmt: skip
            for seq, post in enumerate(posts, start=1):
                evidence = f"{endpoint}-{post}"
                db.execute(
                    insert(t.evidence).values(
                        id=evidence, letter_id="l1", delivery_id="d1",
                        type="SubmissionAcceptance", event_time=NOW, xml=b"<x/>",
                        xml_sha256="0" * 64,
                    )
                )  # fmt: skip
                db.execute(
                    insert(t.webhook_deliveries).values(
                        id=post, endpoint_id=endpoint, letter_id="l1", evidence_id=evidence,
                        seq=seq, state="pending", attempts=0, created_at=NOW,
                        next_attempt_at=NOW,
                    )
                )  # fmt: skip


def claimed(engine: Engine, at: datetime) -> list[str]:
    return sorted(r.id for r in WEBHOOKS.claim(engine, now=at, lease=LEASE, limit=10))


def test_an_ordered_queue_hands_out_each_group_one_row_at_a_time_in_order(
    engine: Engine,
) -> None:
    """The webhook queue claims only the first waiting post of each (endpoint, letter): a
    leased, deferred or finished head decides for its own group alone, and the sleep until
    the next due post counts heads only."""
    webhook_posts(engine, {"e1": ["a1", "a2", "a3"], "e2": ["b1", "b2"], "off": ["c1"]})
    later = NOW + timedelta(minutes=10)
    with engine.begin() as db:  # e2's head was deferred: b2 waits behind it, though due
        WEBHOOKS.retry_row(db, "b1", "HTTP 503", retry_at=later)
    assert claimed(engine, NOW) == ["a1"]
    assert claimed(engine, NOW) == []  # a1 leased holds back a2 and a3
    with engine.begin() as db:
        assert WEBHOOKS.finish_row(db, "a1", counted=True, state="sent", sent_at=NOW)
        assert WEBHOOKS.next_due(db) == NOW  # a2, now e1's head
    assert claimed(engine, NOW) == ["a2"]
    with engine.begin() as db:
        WEBHOOKS.retry_row(db, "a2", "HTTP 500", retry_at=later + timedelta(minutes=1))
        assert WEBHOOKS.next_due(db) == later  # b1; a3 and b2 are due but not heads
    assert claimed(engine, later) == ["b1"]
    assert claimed(engine, later + timedelta(minutes=1)) == ["a2"]
    with engine.begin() as db:
        WEBHOOKS.finish_row(db, "b1", counted=True, state="sent", sent_at=NOW)
        WEBHOOKS.finish_row(db, "a2", counted=True, state="sent", sent_at=NOW)
    assert claimed(engine, later) == ["a3", "b2"]  # never c1: its endpoint is disabled


def test_claims_racing_in_threads_never_lease_a_row_twice(engine: Engine) -> None:
    """Four claimers racing over the same rows, each in its own connection and under its own
    owner, never lease a row twice (one compare-and-set per claim); the rows none of them won
    are still there to claim."""
    mails = queued_mails(engine, 60)
    start = threading.Barrier(4)

    def claimer(owner: str) -> list[str]:
        start.wait()
        won = []
        for _ in range(10):
            rows = MAILS.claim(with_lease_owner(engine, owner), now=NOW, lease=LEASE, limit=4)
            assert all(r.claimed_by == owner for r in rows)
            won += [r.id for r in rows]
        return won

    with ThreadPoolExecutor(4) as pool:
        claimed = list(pool.map(claimer, ["p1", "p2", "p3", "p4"]))
    every = [mail for won in claimed for mail in won]
    assert len(every) == len(set(every)) > 4  # no row leased by two claimers
    rest = MAILS.claim(engine, now=NOW, lease=LEASE, limit=100)  # what the race left
    assert sorted(every + [r.id for r in rest]) == sorted(mails)
    with engine.connect() as db:
        owners = dict(db.execute(select(t.outbound.c.id, t.outbound.c.claimed_by)).all())
    assert all(owners[mail] == f"p{n + 1}" for n, won in enumerate(claimed) for mail in won)


def test_a_claim_returns_the_rows_oldest_due_first(engine: Engine) -> None:
    """Rows come back in the order they fell due, whatever their keys."""
    mails = queued_mails(engine, 5)
    with engine.begin() as db:
        for minutes, mail_id in zip([4, 2, 0, 3, 1], mails, strict=True):
            db.execute(
                update(t.outbound)
                .where(t.outbound.c.id == mail_id)
                .values(next_attempt_at=NOW - timedelta(minutes=minutes))
            )
    claimed = MAILS.claim(engine, now=NOW, lease=LEASE, limit=5)
    assert [r.id for r in claimed] == [mails[0], mails[3], mails[1], mails[4], mails[2]]
    assert all(r.claimed_until is not None for r in claimed)


# PostgreSQL only: SQLite's claim holds the write lock from its SELECT, no process gets in
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_row_finished_by_another_process_during_a_claim_is_not_leased_again(
    engine: Engine, database_url: str
) -> None:
    """PostgreSQL lets another process lease, send and finish a row between a claim's SELECT
    and its UPDATE: the UPDATE checks the row is still due, so the mail is not sent twice."""
    [mail] = queued_mails(engine, 1)
    other = open_engine(database_url)

    finished: list[bool] = []

    def finish_meanwhile(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE OUTBOUND") and not finished:
            finished.append(True)
            with other.begin() as db:  # the other process's whole hand-over, committed
                MAILS.finish_row(db, mail, counted=True, state="sent", sent_at=NOW)

    event.listen(engine, "before_cursor_execute", finish_meanwhile)
    try:
        assert MAILS.claim(engine, now=NOW, lease=LEASE, limit=10) == []
    finally:
        event.remove(engine, "before_cursor_execute", finish_meanwhile)
        other.dispose()
    assert finished  # the other process did get in between
    with engine.connect() as db:
        row = db.execute(select(t.outbound).where(t.outbound.c.id == mail)).one()
    assert (row.state, row.claimed_until) == ("sent", None)


def test_a_mails_bytes_are_fixed_once_kept_apart_and_erased_with_its_outcome(
    engine: Engine,
) -> None:
    """A mail's bytes live in outbound_messages: fixed once (a second fix, a resend after a
    crash, keeps the first bytes), handed out with each claim, erased when the outcome is
    recorded; the outbound row updated at each claim never holds them."""
    queued_mails(engine, 0)
    with engine.begin() as db:
        insert_mails(
            db,
            [
                NewOutbound("proof", "proof", "d1", "b@x", "s@example.ma", message=b"PROOF\r\n"),
                NewOutbound("notice", "notification", "d1", "b@x", "r@example.com"),
            ],
            NOW,
        )
    queue = OutboundQueue(engine)
    queue.fix_messages([("notice", b"NOTICE\r\n"), ("proof", b"OTHER\r\n")])
    queue.fix_messages([("notice", b"AGAIN\r\n")])
    claimed = {m.id: m.message for m in queue.claim(NOW, LEASE)}
    assert claimed == {"proof": b"PROOF\r\n", "notice": b"NOTICE\r\n"}
    assert "message" not in t.outbound.c
    queue.finish("proof", "sent", None, now=NOW)
    queue.finish("notice", "failed", "550 5.1.1 no such user", now=NOW)
    with engine.connect() as db:
        assert db.scalars(select(t.outbound_messages.c.outbound_id)).all() == []
        assert sorted(db.execute(select(t.outbound.c.id, t.outbound.c.state)).all()) == [
            ("notice", "failed"),
            ("proof", "sent"),
        ]


def test_mails_finished_together_are_closed_and_erased_as_one_by_one(engine: Engine) -> None:
    """The outcomes committed together (GroupCommit): the mails sent are closed and their
    bytes erased with one statement each, as `finish` closes one (its try counted, sent_at,
    no lease, no error); a failure among them is given up with its error; a mail not named
    is left as it was."""
    ids = queued_mails(engine, 4)
    queue = OutboundQueue(engine)
    queue.fix_messages([(mail_id, b"MAIL\r\n") for mail_id in ids])
    queue.claim(NOW, LEASE)
    later = NOW + timedelta(minutes=1)
    finished = [(ids[0], "sent", None), (ids[1], "failed", "550 5.1.1 no"), (ids[2], "sent", None)]
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    with engine.begin() as db:
        finish_mail_rows(db, finished, now=later)
    updates = [s for s in statements if s.lstrip().startswith("UPDATE outbound")]
    deletes = [s for s in statements if s.lstrip().startswith("DELETE FROM outbound_messages")]
    assert (len(updates), len(deletes)) == (2, 2)  # the sent mails' and the failed one's
    rows = {r.id: r for r in (row(engine, mail_id) for mail_id in ids)}
    for sent in (ids[0], ids[2]):
        assert (rows[sent].state, rows[sent].attempts, rows[sent].claimed_until) == (
            "sent", 1, None,
        )  # fmt: skip
        assert (utc(rows[sent].sent_at), rows[sent].last_error) == (later, None)
    failed = rows[ids[1]]
    assert (failed.state, failed.attempts, failed.last_error) == ("failed", 1, "550 5.1.1 no")
    assert (rows[ids[3]].state, rows[ids[3]].attempts) == ("pending", 0)
    assert rows[ids[3]].claimed_until is not None
    with engine.connect() as db:
        assert db.scalars(select(t.outbound_messages.c.outbound_id)).all() == [ids[3]]


def test_a_proof_mail_is_stored_without_its_pdf_and_claimed_with_it(engine: Engine) -> None:
    """The proof mail's bytes are stored without the PDF the proofs hold already (half of what
    a letter writes): each claim hands the mail out whole, byte for byte; if its PDF changed
    meanwhile (an archive timestamp), it is handed out without bytes, to be composed again."""
    queued_mails(engine, 0)
    pdf = b"%PDF-1.7 sealed certificate " * 2000
    mail = b"Subject: Preuve\r\n\r\n--b\r\n" + base64_lines(pdf) + b"--b--\r\n"
    with engine.begin() as db:
        db.execute(
            insert(t.evidence).values(
                id="e1", letter_id="l1", delivery_id="d1", type="SubmissionAcceptance",
                event_time=NOW, xml=b"<x/>", xml_sha256="0" * 64,
            )
        )  # fmt: skip
        db.execute(
            insert(t.proof_pdfs).values(
                evidence_id="e1", delivery_id="d1", state="done", pdf=pdf, next_attempt_at=NOW
            )
        )
        insert_mails(
            db,
            [
                NewOutbound(
                    "e1", "proof", "d1", "b@x", "s@example.ma", evidence_id="e1",
                    message=without_attachment(mail, pdf),
                )
            ],
            NOW,
        )  # fmt: skip
    with engine.connect() as db:
        stored = db.scalars(select(t.outbound_messages.c.message)).one()
    assert len(stored) < len(mail) - len(pdf)
    queue = OutboundQueue(engine)
    assert [m.message for m in queue.claim(NOW, LEASE)] == [mail]
    with engine.begin() as db:  # an archive timestamp added to the PDF
        db.execute(update(t.proof_pdfs).values(pdf=pdf + b"archived"))
    assert [m.message for m in queue.claim(NOW + 2 * LEASE, LEASE)] == [None]


def test_jobs_finished_each_with_its_own_values_are_one_compare_and_set_statement(
    engine: Engine,
) -> None:
    """`finish_each`: several jobs finished with values of their own (a date among them) and
    values they share, with one UPDATE; each as `finish_row` would leave it (no lease, no
    error), a job finished meanwhile by another process keeps what that process wrote (False
    at its index), a job not named is left as it was."""
    queue = Queue(t.outbound, waiting=t.outbound.c.state == "pending")
    ids = queued_mails(engine, 4)
    queue.claim(engine, now=NOW, lease=LEASE, limit=5)
    with engine.begin() as db:  # the other process's finish of the second job
        assert queue.finish_row(db, ids[1], where=queue.waiting, state="sent", rcpt="other@x")
    times = [NOW + timedelta(minutes=n) for n in range(3)]
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    with engine.begin() as db:
        done = queue.finish_each(
            db,
            [(m, {"rcpt": f"{m}@x", "sent_at": at}) for m, at in zip(ids, times, strict=False)],
            where=queue.waiting,
            state="sent",
        )
    assert done == [True, False, True]
    assert [s for s in statements if s.lstrip().startswith("UPDATE")] == statements
    assert len(statements) == 1
    rows = {mail_id: row(engine, mail_id) for mail_id in ids}
    for mail_id, at in ((ids[0], times[0]), (ids[2], times[2])):
        found = rows[mail_id]
        assert (found.state, found.rcpt, utc(found.sent_at)) == ("sent", f"{mail_id}@x", at)
        assert (found.claimed_until, found.last_error) == (None, None)
    assert (rows[ids[1]].rcpt, rows[ids[1]].sent_at) == ("other@x", None)
    assert (rows[ids[3]].state, rows[ids[3]].rcpt) == ("pending", "r@example.com")
    assert rows[ids[3]].claimed_until is not None
    with engine.begin() as db:  # one job: finish_row's own statement
        assert queue.finish_each(db, [(ids[3], {"rcpt": "last@x"})], where=queue.waiting) == [True]
    assert row(engine, ids[3]).rcpt == "last@x"


def test_seals_stored_together_release_only_what_this_process_sealed(engine: Engine) -> None:
    """SealQueue.store: each evidence gets its own seal and leaves the queue; one sealed
    meanwhile by another process keeps that seal, and queues no log entry, mail or PDF job a
    second time."""
    many_evidence(engine, 3)
    ids = ["e0000", "e0001", "e0002"]
    seals = SealQueue(engine)
    assert sorted(p.id for p in seals.claim(NOW, LEASE)) == ids
    assert SealQueue(engine).store([NewSeal("e0001", b"theirs")], now=NOW) == [True]
    later = NOW + timedelta(seconds=1)
    stored = seals.store(
        [
            NewSeal(evidence_id, b"ours-" + evidence_id.encode(), pdf_for="d1")
            for evidence_id in ids
        ],
        now=later,
    )
    assert stored == [True, False, True]
    with engine.connect() as db:
        p7s = dict(db.execute(select(t.evidence.c.id, t.evidence.c.p7s)).all())
        jobs = db.scalars(select(t.proof_pdfs.c.evidence_id)).all()
        logged = db.scalars(select(t.log_queue.c.evidence_id)).all()
        sealed_at = dict(db.execute(select(t.evidence.c.id, t.evidence.c.sealed_at)).all())
        queued = db.scalars(select(t.seal_queue.c.evidence_id)).all()
    assert {k: bytes(v) for k, v in p7s.items()} == {
        "e0000": b"ours-e0000", "e0001": b"theirs", "e0002": b"ours-e0002",
    }  # fmt: skip
    assert (sorted(jobs), sorted(logged)) == (["e0000", "e0002"], ids)  # e0001 logged once
    assert (utc(sealed_at["e0000"]), utc(sealed_at["e0001"])) == (later, NOW)
    assert queued == []
    assert seals.claim(later, LEASE) == []


def test_an_evidence_sealed_twice_in_one_store_keeps_its_first_seal(engine: Engine) -> None:
    many_evidence(engine, 1)
    seals = SealQueue(engine)
    assert seals.store([NewSeal("e0000", b"first"), NewSeal("e0000", b"second")], now=NOW) == [
        True,
        False,
    ]
    with engine.connect() as db:
        assert db.scalars(select(t.evidence.c.p7s)).all() == [b"first"]


def test_a_seal_tried_and_failed_waits_in_the_queue_with_its_error(engine: Engine) -> None:
    """A seal that failed for now (its timestamp): the try and the error are the queue row's,
    the evidence is untouched, and the row comes back when due."""
    many_evidence(engine, 1)
    seals = SealQueue(engine)
    [pending] = seals.claim(NOW, LEASE)
    assert (pending.id, pending.attempts, pending.xml) == ("e0000", 0, b"<x/>" * 200)
    seals.failed("e0000", "TSA unreachable", retry_at=NOW + timedelta(minutes=1))
    assert seals.claim(NOW + timedelta(seconds=59), LEASE) == []
    with engine.connect() as db:
        row = db.execute(select(t.seal_queue)).one()
    assert (row.attempts, row.last_error, row.claimed_until) == (1, "TSA unreachable", None)
    [again] = seals.claim(NOW + timedelta(minutes=1), LEASE)
    assert (again.id, again.attempts) == ("e0000", 1)


def test_outcomes_committed_together_move_each_delivery_as_one_by_one(engine: Engine) -> None:
    """LetterStore.outcomes: the deliveries moved together, each a compare-and-set on the
    state and chain its caller read, with one UPDATE for those of one shape; one moved
    meanwhile by another process is left as that process left it and gets no evidence; a
    delivery named twice is moved by its first change only, as one change after the other."""
    queued_mails(engine, 0)
    with engine.begin() as db:
        for n, chain in ((2, None), (3, None), (4, "a" * 64)):
            db.execute(
                insert(t.deliveries).values(
                    id=f"d{n}", letter_id="l1", recipient=f"r{n}@example.com",
                    token_hash=str(n) * 64, state="deposited", deadline=NOW, updated_at=NOW,
                    last_evidence_sha256=chain,
                )
            )  # fmt: skip
    store = LetterStore(engine)
    read = {
        d_id: delivery for d_id, (_, delivery) in store.deliveries(["d1", "d2", "d3", "d4"]).items()
    }
    with engine.begin() as db:  # another process notified d2 meanwhile
        db.execute(update(t.deliveries).where(t.deliveries.c.id == "d2").values(state="notified"))

    def change(delivery_id: str, state: State, n: int) -> NewTransition:
        evidence = NewEvidence(
            f"e{delivery_id}-{n}", "l1", delivery_id, EvidenceType.NotificationForAcceptance,
            NOW + timedelta(minutes=n), b"<x/>", f"{n}" * 64,
        )  # fmt: skip
        return NewTransition(read[delivery_id], state, evidence)

    later = NOW + timedelta(hours=1)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    changes = [change(d_id, State.NOTIFIED, n) for n, d_id in enumerate(["d1", "d2", "d3", "d4"])]
    assert store.outcomes(changes, now=later) == [True, False, True, True]
    moves = [s for s in statements if s.lstrip().startswith("UPDATE deliveries")]
    assert len(moves) == 2  # d1, d2 and d3 unchained: one statement; d4 chained: its own
    with engine.connect() as db:
        rows = {r.id: r for r in db.execute(select(t.deliveries))}
        evidence = db.scalars(select(t.evidence.c.id).order_by(t.evidence.c.id)).all()
    for n, d_id in ((0, "d1"), (2, "d3"), (3, "d4")):
        found = rows[d_id]
        assert (found.state, found.last_evidence_sha256) == ("notified", f"{n}" * 64)
        assert (utc(found.notified_at), utc(found.updated_at)) == (
            NOW + timedelta(minutes=n),
            later,
        )
    assert (rows["d2"].state, rows["d2"].last_evidence_sha256, rows["d2"].notified_at) == (
        "notified", None, None,
    )  # fmt: skip
    assert evidence == ["ed1-0", "ed3-2", "ed4-3"]
    read = {d_id: delivery for d_id, (_, delivery) in store.deliveries(["d1", "d3"]).items()}
    twice = [
        change("d1", State.ACCEPTED, 5),
        change("d1", State.REFUSED, 6),
        change("d3", State.REFUSED, 7),
    ]
    assert store.outcomes(twice, now=later) == [True, False, True]
    with engine.connect() as db:
        states = dict(db.execute(select(t.deliveries.c.id, t.deliveries.c.state)).all())
    assert (states["d1"], states["d3"]) == ("accepted", "refused")


def test_the_log_sequencer_reads_only_the_queued_evidence(engine: Engine) -> None:
    """The evidence log appends the oldest queued evidence, in queue order, reading each by
    its key: never the whole evidence table (every proof ever made), which PostgreSQL did
    while the queue was joined from the evidence side."""
    many_evidence(engine, 2000, p7s=b"seal", sealed_at=NOW)
    with engine.begin() as db:
        queued = ["e1999", "e0007", "e1234"]  # in this order
        db.execute(
            insert(t.log_queue),
            [
                {"evidence_id": e, "queued_at": NOW + timedelta(seconds=n)}
                for n, e in enumerate(queued)
            ],
        )
        if engine.dialect.name == "postgresql":
            db.exec_driver_sql("ANALYZE evidence")
    store = LogStore(engine)
    with selects_of(engine) as selects:
        assert store.sequence(limit=2) == 2
    (statement, parameters) = next(s for s in selects if "log_queue" in s[0])
    with engine.connect() as db:
        if engine.dialect.name == "postgresql":
            plan = " / ".join(
                row[0] for row in db.exec_driver_sql(f"EXPLAIN {statement}", parameters)
            )
            assert "Seq Scan on evidence" not in plan, plan
            assert "evidence_pkey" in plan, plan
        else:
            plan = query_plan(db, statement, parameters)
            assert "SCAN evidence" not in plan, plan
        entries = db.execute(select(t.log_entries.c.evidence_id).order_by(t.log_entries.c.idx))
        assert list(entries.scalars()) == queued[:2]
    assert store.sequence() == 1


def test_a_claim_reads_its_queue_alone_and_never_as_a_bitmap(engine: Engine) -> None:
    """Every evidence sealed leaves an old entry in the seal queue's index until a vacuum.
    A claim reads its queue's index, if at all, as a plain index scan, which marks the entries
    it finds dead so that later claims skip them; PostgreSQL chose a bitmap scan, which never
    marks them, and read every page of the evidence sealed since the last vacuum at every claim
    (when the queue was the evidence table itself). The claim never reads the evidence."""
    many_evidence(engine, 2000)
    SealQueue(engine).store(
        [NewSeal(f"e{n:04}", b"seal") for n in range(2000)], now=NOW
    )  # all sealed: out of the queue
    statements: list[tuple[str, Any]] = []

    def seen(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", seen)
    try:
        assert SealQueue(with_lease_owner(engine, "me")).claim(NOW, LEASE) == []
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    at, (statement, parameters) = next(
        (i, s) for i, s in enumerate(statements) if "FROM seal_queue" in s[0]
    )
    with engine.connect() as db:
        if engine.dialect.name == "postgresql":
            assert PLAIN_INDEX_SCANS in [s for s, _ in statements[:at]]  # in its transaction
            db.exec_driver_sql(PLAIN_INDEX_SCANS)
            plan = [s[0] for s in db.exec_driver_sql(f"EXPLAIN {statement}", parameters)]
            assert any("on seal_queue" in step for step in plan), plan  # small: maybe a scan
            assert not any("Bitmap" in step or "evidence" in step for step in plan), plan
        else:
            assert "USING INDEX ix_seal_queue_due" in query_plan(db, statement, parameters)


def many_evidence(engine: Engine, count: int, **columns: Any) -> None:
    """The letter l1 with its delivery d1, and `count` evidence e0000, e0001, ... of it: unsealed,
    each with its row in the seal queue, unless `columns` give their p7s."""
    queued_mails(engine, 0)
    with engine.begin() as db:
        db.execute(
            insert(t.evidence),
            [
                {
                    "id": f"e{n:04}", "letter_id": "l1", "delivery_id": "d1",
                    "type": "SubmissionAcceptance", "event_time": NOW, "xml": b"<x/>" * 200,
                    "xml_sha256": "0" * 64, **columns,
                }
                for n in range(count)
            ],
        )  # fmt: skip
        if "p7s" not in columns:  # waiting for their seals
            db.execute(
                insert(t.seal_queue),
                [
                    {"evidence_id": f"e{n:04}", "attempts": 0, "next_attempt_at": NOW}
                    for n in range(count)
                ],
            )
