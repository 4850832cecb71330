"""Secrets kept in the data dir (never in the database) and content encryption at rest.

Each letter's bytes are encrypted with AES-256-GCM under a fresh data key; the data key is
wrapped (AES-256-GCM) by the current master key, whose id is stored beside the letter so that
master keys can be rotated: `lre-gateway keys rotate` adds a key, and the re-wrap job
(gateway.keys) wraps every letter's data key under it again (the content itself is not
re-encrypted: its data key does not change); once no letter uses an old key it may be destroyed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE = 12  # bytes, AES-GCM's recommended nonce size (NIST SP 800-38D §8.2)
RACY = 2_000_000_000  # ns: a listing this soon after its directory's mtime is not trusted


def _read_or_create(path: Path, size: int = 32) -> bytes:
    if path.exists():
        return path.read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = secrets.token_bytes(size)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    return data


@dataclass(frozen=True)
class Sealed:
    key_id: str
    wrapped_key: bytes
    ciphertext: bytes


class Vault:
    """Master keys (data_dir/keys/master-N.key), the link key and the web secret."""

    def __init__(self, keys_dir: Path) -> None:
        self._dir = keys_dir
        self._masters: dict[str, AESGCM] = {}
        self._current = ""
        self._seen: tuple[str, ...] = ()  # the master key files when last read
        # the keys directory's mtime when last listed, and whether a change could hide behind it
        self._listed_at: tuple[int, bool] = (-1, True)
        self.reload()
        self.link_key = (keys_dir / "link.key").read_bytes()
        self.web_secret = (keys_dir / "web.key").read_bytes()

    def reload(self) -> None:
        """Read the master keys again (one added by `keys rotate` or destroyed meanwhile)."""
        masters = master_key_files(self._dir)
        if not masters:
            raise FileNotFoundError(f"no master key in {self._dir}: run `lre-gateway init`")
        self._masters = {p.stem: AESGCM(p.read_bytes()) for p in masters}
        self._current = masters[-1].stem
        self._seen = tuple(p.name for p in masters)

    def refresh(self) -> None:
        """Reload when a master key was added or removed.

        Adding or removing a file changes its directory's mtime: the keys directory is listed
        again (~0.1 ms, at every letter's encryption before) only when its mtime moved since
        the last listing, or when that listing was made so soon after a change (RACY) that a
        change right after it could carry the same mtime (the clock stamping files moves in
        ticks)."""
        stamp = os.stat(self._dir).st_mtime_ns
        if stamp == self._listed_at[0] and not self._listed_at[1]:
            return
        racy = time.time_ns() - stamp < RACY
        if tuple(p.name for p in master_key_files(self._dir)) != self._seen:
            self.reload()
        self._listed_at = (stamp, racy)

    @property
    def current_key_id(self) -> str:
        """The master key new letters are wrapped under (the newest one)."""
        return self._current

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._masters)

    def rewrap(self, sealed: Sealed, *, aad: bytes, to: str) -> Sealed:
        """The same data key wrapped under master key `to` (content unchanged, not included)."""
        data_key = self._data_key(sealed, aad)
        wrap_nonce = os.urandom(NONCE)
        wrapped = wrap_nonce + self._masters[to].encrypt(wrap_nonce, data_key, aad)
        return Sealed(to, wrapped, b"")

    def decrypts(self, sealed: Sealed, *, aad: bytes) -> bool:
        """True when sealed decrypts: its master key is present and key and content intact."""
        try:
            self.decrypt(sealed, aad=aad)
        except (KeyError, InvalidTag, ValueError):
            return False
        return True

    @staticmethod
    def initialise(keys_dir: Path) -> None:
        """Create the keys that do not exist yet (idempotent)."""
        keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not any(keys_dir.glob("master-*.key")):
            _read_or_create(keys_dir / "master-1.key")
        _read_or_create(keys_dir / "link.key")
        _read_or_create(keys_dir / "web.key")

    @staticmethod
    def rotate(keys_dir: Path) -> str:
        """Add a new master key; new letters use it, the re-wrap job moves old letters to it."""
        numbers = [int(p.stem.split("-")[1]) for p in keys_dir.glob("master-*.key")]
        name = f"master-{max(numbers, default=0) + 1}"
        _read_or_create(keys_dir / f"{name}.key")
        return name

    @staticmethod
    def destroy(keys_dir: Path, key_id: str) -> None:
        """Overwrite and delete master key file key_id (the caller checks nothing uses it)."""
        masters = master_key_files(keys_dir)
        path = keys_dir / f"{key_id}.key"
        if path not in masters:
            raise FileNotFoundError(f"no master key {key_id!r} in {keys_dir}")
        if path == masters[-1]:
            raise ValueError(f"{key_id} is the current master key: rotate first")
        fd = os.open(path, os.O_WRONLY)
        try:
            os.write(fd, secrets.token_bytes(len(path.read_bytes())))
            os.fsync(fd)
        finally:
            os.close(fd)
        path.unlink()

    def encrypt(self, plaintext: bytes, *, aad: bytes) -> Sealed:
        self.refresh()  # a key rotated by `lre-gateway keys rotate` is used at once
        data_key = AESGCM.generate_key(bit_length=256)
        nonce, wrap_nonce = os.urandom(NONCE), os.urandom(NONCE)
        ciphertext = nonce + AESGCM(data_key).encrypt(nonce, plaintext, aad)
        wrapped = wrap_nonce + self._masters[self._current].encrypt(wrap_nonce, data_key, aad)
        return Sealed(self._current, wrapped, ciphertext)

    def decrypt(self, sealed: Sealed, *, aad: bytes) -> bytes:
        body = sealed.ciphertext
        return AESGCM(self._data_key(sealed, aad)).decrypt(body[:NONCE], body[NONCE:], aad)

    def encrypt_beside(
        self, sealed: Sealed, plaintext: bytes, *, aad: bytes, label: bytes
    ) -> bytes:
        """plaintext encrypted under sealed's data key (sealed made with aad), bound to label.

        For what is derived from a letter (the text its page shows): it needs no key of its
        own and follows the letter's wrapped key wherever that goes.
        """
        nonce = os.urandom(NONCE)
        cipher = AESGCM(self._data_key(sealed, aad))
        return nonce + cipher.encrypt(nonce, plaintext, aad + b"\x00" + label)

    def decrypt_beside(
        self, sealed: Sealed, ciphertext: bytes, *, aad: bytes, label: bytes
    ) -> bytes:
        """The plaintext of encrypt_beside (InvalidTag if anything, label included, differs)."""
        cipher = AESGCM(self._data_key(sealed, aad))
        return cipher.decrypt(ciphertext[:NONCE], ciphertext[NONCE:], aad + b"\x00" + label)

    def _data_key(self, sealed: Sealed, aad: bytes) -> bytes:
        master = self._masters[sealed.key_id]
        return master.decrypt(sealed.wrapped_key[:NONCE], sealed.wrapped_key[NONCE:], aad)

    def link_token(self, delivery_id: str) -> str:
        """The recipient's link token (256 bits), derived so the database never holds it."""
        digest = hmac.digest(self.link_key, delivery_id.encode(), "sha256")
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def verp_token(self, mail_id: str) -> str:
        """The VERP token of one outbound mail: 128 bits, lower-case base32 (local parts fold)."""
        digest = hmac.digest(self.link_key, b"verp:" + mail_id.encode(), "sha256")
        return base64.b32encode(digest[:16]).decode().rstrip("=").lower()


def master_key_files(keys_dir: Path) -> list[Path]:
    """data_dir/keys/master-N.key, oldest first (the last one is current)."""
    masters = [p for p in keys_dir.glob("master-*.key") if p.stem.split("-")[1].isdigit()]
    return sorted(masters, key=lambda p: int(p.stem.split("-")[1]))


def token_hash(token: str) -> str:
    """What the database keeps of a link token."""
    return hashlib.sha256(token.encode()).hexdigest()
