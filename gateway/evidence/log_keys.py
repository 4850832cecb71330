"""The log's keys in the data directory, and their rotation (`lre-gateway log rotate-key`).

    keys/log-ed25519.pem                  the current log key: signs every checkpoint
    keys/log-ed25519.previous/<id>.pem    the key(s) it replaced, still signing while the
                                          rotation is in transition (checkpoints carry both)
    keys/log-ed25519.retired              verifier keys of retired log keys, one a line (their
                                          private keys are destroyed; the public ones stay
                                          published at /log/keys so old checkpoints verify)

`rotate` moves the current key aside and creates a new one: from the next checkpoint on, both
sign, so a verifier knowing either key accepts it and one knowing the old key can learn the new
one from a checkpoint it already trusts. `finish_rotation` retires the old key(s): later
checkpoints carry the new key's signature only.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from gateway.errors import EvidenceError
from gateway.evidence.log_note import ED25519, NoteError, Signer, Verifier, key_id

LOG_KEY_FILE = "log-ed25519.pem"
PREVIOUS_DIR = "log-ed25519.previous"
RETIRED_FILE = "log-ed25519.retired"


class RotationError(Exception):
    """A rotation step that cannot be done now, in a sentence."""


def log_origin(domain: str) -> str:
    """The log's name in its checkpoints (C2SP: a schema-less URL-like string)."""
    return f"{domain}/evidence-log"


def ensure_ed25519_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 key (PEM, PKCS#8) at path, created on first use with mode 0600."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        pem = Ed25519PrivateKey.generate().private_bytes(
            Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
        )
        with contextlib.suppress(FileExistsError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(pem)
                out.flush()
                os.fsync(out.fileno())
    return _load(path)


def _load(path: Path) -> Ed25519PrivateKey:
    key = load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise EvidenceError(f"{path}: the log key must be an Ed25519 key")
    return key


def ensure_log_key(keys_dir: Path) -> Ed25519PrivateKey:
    """The current log key in keys_dir, created on first use."""
    return ensure_ed25519_key(keys_dir / LOG_KEY_FILE)


def log_signer(domain: str, keys_dir: Path) -> Signer:
    """The current log key as a note signer."""
    return Signer(log_origin(domain), ensure_log_key(keys_dir))


def _previous(keys_dir: Path) -> list[Path]:
    folder = keys_dir / PREVIOUS_DIR
    return sorted(folder.glob("*.pem")) if folder.is_dir() else []


def log_signers(domain: str, keys_dir: Path) -> list[Signer]:
    """Who signs the next checkpoint: the current key, then any key in transition."""
    name = log_origin(domain)
    return [log_signer(domain, keys_dir), *(Signer(name, _load(p)) for p in _previous(keys_dir))]


def retired_verifiers(keys_dir: Path) -> list[Verifier]:
    path = keys_dir / RETIRED_FILE
    if not path.is_file():
        return []
    try:
        return [Verifier.parse(line) for line in path.read_text().splitlines() if line.strip()]
    except NoteError as err:
        raise EvidenceError(f"{path}: {err}") from None


def published_verifiers(domain: str, keys_dir: Path) -> list[Verifier]:
    """Every log key's verifier, current first: the ones that sign, then the retired ones."""
    signing = [s.verifier() for s in log_signers(domain, keys_dir)]
    return [*signing, *(v for v in retired_verifiers(keys_dir) if v not in signing)]


def existing_verifiers(domain: str, keys_dir: Path) -> list[Verifier]:
    """As published_verifiers, but creating nothing: [] where there is no log key."""
    if not (keys_dir / LOG_KEY_FILE).is_file():
        return []
    return published_verifiers(domain, keys_dir)


def rotate(domain: str, keys_dir: Path) -> Verifier:
    """Add a new current log key; the old one keeps signing until `finish_rotation`."""
    if _previous(keys_dir):
        raise RotationError(
            "a log-key rotation is already in transition: finish it first "
            "(`lre-gateway log rotate-key --finish`)"
        )
    current = keys_dir / LOG_KEY_FILE
    old = log_signer(domain, keys_dir).verifier()
    folder = keys_dir / PREVIOUS_DIR
    folder.mkdir(mode=0o700, exist_ok=True)
    os.replace(current, folder / f"{key_id(old.name, ED25519, old.public).hex()}.pem")
    _sync(folder)
    _sync(keys_dir)
    return log_signer(domain, keys_dir).verifier()


def finish_rotation(domain: str, keys_dir: Path) -> list[Verifier]:
    """Retire the keys in transition: their verifier keys stay published, their keys go."""
    retired = []
    name = log_origin(domain)
    for path in _previous(keys_dir):
        verifier = Signer(name, _load(path)).verifier()
        if verifier not in retired_verifiers(keys_dir):
            with (keys_dir / RETIRED_FILE).open("a") as out:
                out.write(verifier.vkey() + "\n")
                out.flush()
                os.fsync(out.fileno())
        path.unlink()
        retired.append(verifier)
    if not retired:
        raise RotationError("no log-key rotation is in transition (nothing to finish)")
    _sync(keys_dir / PREVIOUS_DIR)
    return retired


def _sync(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
