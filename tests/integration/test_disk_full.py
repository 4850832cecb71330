"""A full disk: the deposit is refused with 452 4.3.1 and nothing is kept; never a 250 then a loss.

The data directory (SQLite database, keys, outbox) is a real, small tmpfs filled up with a file:
the gateway meets ENOSPC from the kernel exactly as in production. Mounting needs root (the CI
runs as root); elsewhere the test says so and is skipped.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import aiosmtplib
import pytest

from tests.support.client import letter_bytes, notification_for, submit, wait_for
from tests.support.gateway import PASSWORD, SENDER, make_settings, start


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
    with filler.open("wb") as out:
        try:
            while True:
                out.write(chunk)
                out.flush()
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
