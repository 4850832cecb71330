"""The database unreachable while letters are deposited: 451 4.3.0 or a 250 kept, never a loss.

PostgreSQL is reached through a TCP proxy on loopback (tests/support/tcp_proxy.py) that the
test cuts: the gateway's connections die mid-use and new ones are refused, as when the database
host goes down; then it is restored and the gateway must carry on by itself. SQLite is held
locked by another process past the gateway's busy timeout (30 s).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import aiosmtplib
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from gateway.storage.database import open_engine
from tests.support import faults
from tests.support.client import letter_bytes, notification_for, proofs_for, submit, wait_for
from tests.support.gateway import PASSWORD, SENDER, Clock, make_settings, start
from tests.support.letters import assert_nothing_kept
from tests.support.tcp_proxy import tcp_proxy

TRY_LATER = "4.3.0 Temporary problem on our side; nothing was kept, please try again later"


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_postgresql_going_down_mid_run_gets_451_and_the_gateway_recovers(
    tmp_path: Path, database_url: str
) -> None:
    """A letter acknowledged just before the outage gets its proof after it, once; a DATA during
    it gets 451 4.3.0 and nothing is kept; once the database is back the same session deposits
    the letter, without restarting the gateway."""
    server = make_url(database_url)
    with tcp_proxy(server.host or "127.0.0.1", server.port or 5432) as proxy:
        url = server.set(port=proxy.port).render_as_string(hide_password=False)
        clock = Clock()
        async with start(make_settings(tmp_path, url), clock) as gateway:
            host, port = gateway.smtp["submission"]
            before = letter_bytes(SENDER, ["bob@example.ma"], "Avant", "Lettre avant.")
            code, _ = await submit(gateway, SENDER, PASSWORD, ["bob@example.ma"], before)
            assert code == 250
            smtp = aiosmtplib.SMTP(hostname=host, port=port, start_tls=True, validate_certs=False)
            await smtp.connect()
            try:
                await smtp.login(SENDER, PASSWORD)
                during = letter_bytes(SENDER, ["carol@example.ma"], "Pendant", "Lettre pendant.")
                proxy.cut()
                # the first letter's proof of deposit (sealed, with its PDF) is still to come
                assert not proofs_for(gateway, SENDER, "SubmissionAcceptance")
                with pytest.raises(aiosmtplib.SMTPDataError) as refused:
                    await smtp.sendmail(SENDER, ["carol@example.ma"], during)
                assert (refused.value.code, refused.value.message) == (451, TRY_LATER)
                # the background work keeps trying while the database is away
                tried = proxy.refused
                await wait_for(lambda: proxy.refused > tried + 2, what="the scheduler's retries")
                proxy.restore()
                await smtp.sendmail(SENDER, ["carol@example.ma"], during)  # raises unless 250
            finally:
                smtp.close()
            # work leased when the connections were cut (a mail being handed over, a PDF being
            # made) waits out its lease, never lost: move the gateway's clock past the longest
            clock.advance(timedelta(minutes=6))
            gateway.registry.wake()
            await wait_for(
                lambda: notification_for(gateway, "carol@example.ma"), within=30, what="notice"
            )
            await wait_for(
                lambda: notification_for(gateway, "bob@example.ma"), within=30, what="notice"
            )
            await wait_for(
                lambda: len(proofs_for(gateway, SENDER, "SubmissionAcceptance")) == 2,
                within=60,
                what="both proofs of deposit",
            )
            await gateway.scheduler.tick()
            assert len(notification_for(gateway, "bob@example.ma")) == 1
            assert len(notification_for(gateway, "carol@example.ma")) == 1  # the 451 kept none
            assert len(proofs_for(gateway, SENDER, "SubmissionAcceptance")) == 2


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_sqlite_locked_past_the_busy_timeout_gets_451_and_the_gateway_recovers(
    tmp_path: Path, database_url: str
) -> None:
    """Another process holds SQLite's write lock longer than the gateway's busy timeout
    (`database.busy_timeout`, 2 s here): DATA gets 451 4.3.0 and nothing is kept; once the lock
    is gone the same session deposits."""
    settings = make_settings(tmp_path, database_url, database={"busy_timeout": "2s"})
    async with start(settings) as gateway:
        host, port = gateway.smtp["submission"]
        smtp = aiosmtplib.SMTP(
            hostname=host, port=port, start_tls=True, validate_certs=False, timeout=90
        )
        await smtp.connect()
        try:
            await smtp.login(SENDER, PASSWORD)
            during = letter_bytes(SENDER, ["carol@example.ma"], "Pendant", "Lettre pendant.")
            with (
                faults.database_locked(database_url),
                pytest.raises(aiosmtplib.SMTPDataError) as refused,
            ):
                await smtp.sendmail(SENDER, ["carol@example.ma"], during)
            assert (refused.value.code, refused.value.message) == (451, TRY_LATER)
            await assert_nothing_kept(gateway)
            await smtp.sendmail(SENDER, ["carol@example.ma"], during)  # raises unless 250
        finally:
            smtp.close()
        await wait_for(lambda: notification_for(gateway, "carol@example.ma"), what="notice")
        await gateway.scheduler.tick()
        assert len(notification_for(gateway, "carol@example.ma")) == 1


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_pooled_postgresql_connection_idle_past_the_check_is_replaced_when_it_died(
    database_url: str,
) -> None:
    """The server side of the pool's connection is gone while it waits in the pool: lent
    after `idle_check` seconds it is checked first, found dead and replaced, and the query
    runs; lent sooner it is not checked (no round trip per use under load), so the query
    fails, as any transaction fails when its connection dies during use, and the next one
    gets a new connection."""
    server = make_url(database_url)
    with tcp_proxy(server.host or "127.0.0.1", server.port or 5432) as proxy:
        url = server.set(port=proxy.port).render_as_string(hide_password=False)
        for idle_check, survives in ((0.0, True), (3600.0, False)):
            engine = open_engine(url, idle_check=idle_check)
            try:
                with engine.connect() as db:
                    assert db.execute(text("SELECT 1")).scalar() == 1
                proxy.cut()
                proxy.restore()
                if survives:
                    with engine.connect() as db:
                        assert db.execute(text("SELECT 2")).scalar() == 2
                else:
                    with pytest.raises(OperationalError), engine.connect() as db:
                        db.execute(text("SELECT 2"))
                with engine.connect() as db:  # a new connection either way
                    assert db.execute(text("SELECT 3")).scalar() == 3
            finally:
                engine.dispose()
