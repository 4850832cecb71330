"""Which gateway processes are alive: one locked file per running instance in data_dir.

Each process takes an exclusive `flock` on `data_dir/instances/<id>.lock` for its whole life;
the kernel releases it when the process dies, however it dies (SIGKILL included). A process
that can lock another instance's file has proof that instance is dead and releases its leases
at once (storage/leases.py), instead of waiting for them to expire: after a crash and restart
the work in hand is taken up again within a second. Processes on other hosts (PostgreSQL
shared by several machines, each with its own data_dir) never see each other's files: their
leases only expire, which is always safe. The lock file is made under a temporary name and
renamed once locked, so nobody ever sees a live instance's file unlocked.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import secrets
from pathlib import Path

from sqlalchemy import Engine

from gateway.storage.leases import release_leases

log = logging.getLogger(__name__)

DIRECTORY = "instances"
_SUFFIX = ".lock"


class Instance:
    """This process's instance: its id (the lease owner) and its held lock."""

    def __init__(self, directory: Path, instance_id: str, fd: int) -> None:
        self.directory = directory
        self.id = instance_id
        self._fd = fd

    @classmethod
    def start(cls, data_dir: Path) -> Instance:
        directory = data_dir / DIRECTORY
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        instance_id = f"{os.uname().nodename[:16]}-{os.getpid()}-{secrets.token_hex(6)}"
        temporary = directory / f".{instance_id}.tmp"
        fd = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.rename(temporary, directory / f"{instance_id}{_SUFFIX}")
        return cls(directory, instance_id, fd)

    def reclaim(self, engine: Engine) -> int:
        """Release the leases of every dead instance of this data_dir; rows released.

        The lock file is removed only after its leases are released: a crash in between leaves
        it for the next look.
        """
        released = 0
        for path in sorted(self.directory.glob(f"*{_SUFFIX}")):
            instance_id = path.name[: -len(_SUFFIX)]
            if instance_id == self.id or not self._is_dead(path):
                continue
            count = release_leases(engine, instance_id)
            if count:
                log.warning("released %d leases of dead instance %s", count, instance_id)
            released += count
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        return released

    @staticmethod
    def _is_dead(path: Path) -> bool:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            return False  # another process cleaned it up first
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        finally:
            os.close(fd)  # closing our descriptor drops our lock too
        return True

    def close(self, engine: Engine | None = None) -> None:
        """At a clean stop, once the scheduler has stopped: release what is still leased (work
        cut short at the end of the grace period) when given the engine, and go."""
        if engine is not None:
            try:
                release_leases(engine, self.id)
            except Exception:  # the database is gone: the leases will expire
                log.exception("could not release the leases of instance %s", self.id)
        with contextlib.suppress(FileNotFoundError):
            (self.directory / f"{self.id}{_SUFFIX}").unlink()
        os.close(self._fd)
