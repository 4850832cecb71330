"""A full disk: the deposit is refused with 452 4.3.1 and nothing is kept; never a 250 then a loss.

The data directory (SQLite database, keys, outbox) is a real, small tmpfs filled up with a file:
the gateway meets ENOSPC from the kernel exactly as in production. With PostgreSQL the letters
are in the database and the full data directory only delays what is written there (the outbox).
Mounting needs root (the CI runs as root); elsewhere the test says so and is skipped.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import aiosmtplib
import pytest
from sqlalchemy import func, select

from gateway.app import Running
from gateway.storage import tables as t
from tests.support.client import letter_bytes, notification_for, submit, wait_for
from tests.support.gateway import PASSWORD, SENDER, Clock, make_settings, start


@contextlib.contextmanager
def small_tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs root): {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(directory: Path) -> Path:
    """Write a file until the file system is full; the file is returned for freeing it."""
    filler = directory / "filler"
    chunk = b"\0" * 65536
    with filler.open("wb", buffering=0) as out:  # unbuffered: closing it writes nothing
        try:
            while True:
                out.write(chunk)
        except OSError:
            pass
    with contextlib.suppress(OSError):  # the last bytes, one at a time
        fd = os.open(filler, os.O_WRONLY | os.O_APPEND)
        try:
            while os.write(fd, b"\0"):
                pass
        finally:
            os.close(fd)
    return filler


async def test_a_full_disk_refuses_the_letter_with_452_and_keeps_nothing(tmp_path: Path) -> None:
    """Disk full: 452 4.3.1, no notification for it; once freed the next letter gets its 250."""
    with small_tmpfs(tmp_path / "disk", "24m") as disk:
        settings = make_settings(disk, f"sqlite:///{disk}/gateway.db")
        async with start(settings) as gateway:
            first = letter_bytes(SENDER, ["bob@example.ma"], "Avant", "Lettre avant.")
            code, _ = await submit(gateway, SENDER, PASSWORD, ["bob@example.ma"], first)
            assert code == 250
            await wait_for(lambda: notification_for(gateway, "bob@example.ma"), what="notice")
            filler = fill(disk)
            big = letter_bytes(
                SENDER,
                ["carol@example.ma"],
                "Pendant",
                "Lettre pendant.",
                [("annexe.bin", "application/octet-stream", os.urandom(2_000_000))],
            )
            with pytest.raises(aiosmtplib.SMTPResponseException) as refused:
                await submit(gateway, SENDER, PASSWORD, ["carol@example.ma"], big)
            assert (refused.value.code, refused.value.message[:5]) == (452, "4.3.1")
            filler.unlink()
            after = letter_bytes(SENDER, ["dave@example.ma"], "Après", "Lettre après.")
            code, _ = await submit(gateway, SENDER, PASSWORD, ["dave@example.ma"], after)
            assert code == 250
            await wait_for(lambda: notification_for(gateway, "dave@example.ma"), what="notice")
            await gateway.scheduler.tick()
            assert not notification_for(gateway, "carol@example.ma")


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_full_data_directory_beside_postgresql_delays_mail_and_loses_nothing(
    tmp_path: Path, database_url: str
) -> None:
    """On PostgreSQL the letters live in the database; the data directory holds the keys, the
    instance lock files and (here) the mail outbox. Full, it refuses nothing, and the mail it
    cannot take waits: once space is freed the notification is written, exactly once."""
    clock = Clock()
    with small_tmpfs(tmp_path / "disk", "24m") as disk:
        settings = make_settings(disk, database_url)
        async with start(settings, clock) as gateway:
            first = letter_bytes(SENDER, ["bob@example.ma"], "Avant", "Lettre avant.")
            code, _ = await submit(gateway, SENDER, PASSWORD, ["bob@example.ma"], first)
            assert code == 250
            await wait_for(lambda: notification_for(gateway, "bob@example.ma"), what="notice")
            filler = fill(disk)
            during = letter_bytes(SENDER, ["carol@example.ma"], "Pendant", "Lettre pendant.")
            code, _ = await submit(gateway, SENDER, PASSWORD, ["carol@example.ma"], during)
            assert code == 250
            await wait_for(
                lambda: mail_attempts(gateway, "carol@example.ma"), what="a failed write"
            )
            assert not notification_for(gateway, "carol@example.ma")
            filler.unlink()
            clock.advance(timedelta(hours=2))  # past the retry's backoff
            await wait_for(lambda: notification_for(gateway, "carol@example.ma"), what="notice")
            await gateway.scheduler.tick()
            assert len(notification_for(gateway, "carol@example.ma")) == 1


def mail_attempts(gateway: Running, rcpt: str) -> int:
    """Failed attempts recorded for the notification to rcpt."""
    with gateway.store.engine.connect() as db:
        attempts = db.scalar(
            select(func.max(t.outbound.c.attempts)).where(
                t.outbound.c.rcpt == rcpt, t.outbound.c.kind == "notification"
            )
        )
    return int(attempts or 0)
