"""Leases of a dead process are released at once; a live process's leases are never touched.

Real processes take real leases on the real database and are killed with SIGKILL; the kernel
releasing their instance lock (flock) is the only signal the survivor gets.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, select

from gateway.storage import tables as t
from gateway.storage.api_store import ApiStore
from gateway.storage.database import create_schema, open_engine
from gateway.storage.instances import Instance
from gateway.storage.leases import QUEUES, claim, with_lease_owner
from gateway.storage.outbound import MAILS
from tests.support.leases import LEASE, NOW, due, queued_mails

HOLDER = """
import sys
from datetime import timedelta
from pathlib import Path
from gateway.storage.database import open_engine
from gateway.storage.instances import Instance
from gateway.storage.leases import QUEUES, claim, with_lease_owner
from gateway.storage import tables as t
from gateway.storage.api_store import ApiStore
from tests.support.leases import NOW, due
instance = Instance.start(Path(sys.argv[2]))
engine = with_lease_owner(open_engine(sys.argv[1]), instance.id)
rows = claim(engine, t.outbound, due(), now=NOW, lease=timedelta(minutes=2), limit=1)
print(rows[0].id, flush=True)
sys.stdin.read()  # hold the lease until killed
"""

WEBHOOK_HOLDER = """
import sys
from pathlib import Path
from gateway.storage.api_store import ApiStore
from gateway.storage.database import open_engine
from gateway.storage.instances import Instance
from gateway.storage.leases import with_lease_owner
from tests.support.leases import NOW
instance = Instance.start(Path(sys.argv[2]))
engine = with_lease_owner(open_engine(sys.argv[1]), instance.id)
print(ApiStore(engine).due_webhooks(NOW)[0].id, flush=True)
sys.stdin.read()  # hold the lease until killed
"""


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = open_engine(database_url)
    create_schema(engine)
    yield engine
    engine.dispose()


def queued_webhook(engine: Engine) -> str:
    """An evidence of the letter of `queued_mails` and one webhook post of it, as rows."""
    with engine.begin() as db:
        db.execute(
            insert(t.evidence).values(
                id="e1", letter_id="l1", delivery_id="d1", type="SubmissionAcceptance",
                event_time=NOW, xml=b"<x/>", xml_sha256="0" * 64,
            )
        )  # fmt: skip
        db.execute(
            insert(t.webhook_endpoints).values(
                id="w1", account_id="a1", url="https://hooks.example/x", secret="whsec_x",
                failures=0, created_at=NOW,
            )
        )  # fmt: skip
        db.execute(
            insert(t.webhook_deliveries).values(
                id="h1", endpoint_id="w1", letter_id="l1", evidence_id="e1", seq=0,
                state="pending", attempts=0, created_at=NOW, next_attempt_at=NOW,
            )
        )  # fmt: skip
    return "h1"


def holder(
    database_url: str, data_dir: Path, script: str = HOLDER
) -> tuple[subprocess.Popen[str], str]:
    """A process that leases one row (a mail by default) and holds it; the row's id."""
    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(
        [sys.executable, "-c", script, database_url, str(data_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


def test_a_killed_process_leases_are_released_and_a_live_ones_kept(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    """Two holders lease a mail each; after one is SIGKILLed only its mail can be claimed."""
    queued_mails(engine, 2)
    first, first_mail = holder(database_url, tmp_path)
    second, second_mail = holder(database_url, tmp_path)
    try:
        assert {first_mail, second_mail} == {"m0", "m1"}
        me = Instance.start(tmp_path)
        mine = with_lease_owner(engine, me.id)
        assert me.reclaim(mine) == 0  # both alive: nothing released
        assert claim(mine, t.outbound, due(), now=NOW, lease=LEASE, limit=5) == []
        first.send_signal(signal.SIGKILL)
        first.wait()
        assert me.reclaim(mine) == 1
        claimed = claim(mine, t.outbound, due(), now=NOW, lease=LEASE, limit=5)
        assert [row.id for row in claimed] == [first_mail]
        with engine.connect() as db:
            owner = db.execute(
                select(t.outbound.c.claimed_by).where(t.outbound.c.id == second_mail)
            ).scalar_one()
        assert owner is not None  # the live holder keeps its lease
        assert owner != me.id
        assert me.reclaim(mine) == 0  # the dead one's lock file is gone
        me.close()
    finally:
        for process in (first, second):
            process.kill()
            process.communicate()


def test_every_leased_table_is_released_when_its_holder_dies() -> None:
    """A queue whose rows carry a lease but not its holder would wait for the lease to expire
    after a crash (minutes): every table with `claimed_until` names the holder and is released."""
    leased = {table.name for table in t.metadata.sorted_tables if "claimed_until" in table.c}
    assert leased == {table.name for table in QUEUES}
    assert all("claimed_by" in table.c for table in QUEUES)


def test_a_killed_process_webhook_post_is_released(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    """The webhook queue too: a post leased by a SIGKILLed process is taken up at once."""
    queued_mails(engine, 0)
    job = queued_webhook(engine)
    process, leased = holder(database_url, tmp_path, WEBHOOK_HOLDER)
    try:
        assert leased == job
        me = Instance.start(tmp_path)
        store = ApiStore(with_lease_owner(engine, me.id))
        assert store.due_webhooks(NOW) == []  # leased by the live holder
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert me.reclaim(store.engine) == 1
        assert [j.id for j in store.due_webhooks(NOW)] == [job]
        me.close()
    finally:
        process.kill()
        process.communicate()


def test_a_retry_counts_the_try_keeps_its_error_frees_the_lease_and_sets_the_next_time(
    engine: Engine,
) -> None:
    """Queue.retry, the one retry of every queue: the row comes back at retry_at, unleased."""
    queued_mails(engine, 1)
    [row] = claim(engine, t.outbound, due(), now=NOW, lease=LEASE, limit=1)
    assert row.claimed_until is not None
    later = NOW + timedelta(minutes=7)
    MAILS.retry(engine, row.id, "451 4.3.0 busy" + "x" * 3000, retry_at=later)
    with engine.connect() as db:
        after = db.execute(select(t.outbound).where(t.outbound.c.id == row.id)).one()
    assert (after.attempts, after.claimed_until) == (1, None)
    assert after.last_error == ("451 4.3.0 busy" + "x" * 3000)[:2000]
    assert after.next_attempt_at.replace(tzinfo=UTC) == later

    def due_at(now: datetime) -> object:
        return (t.outbound.c.state == "pending") & (t.outbound.c.next_attempt_at <= now)

    assert claim(engine, t.outbound, due_at(NOW), now=NOW, lease=LEASE, limit=1) == []
    again = claim(engine, t.outbound, due_at(later), now=later, lease=LEASE, limit=1)
    assert [r.id for r in again] == [row.id]
