"""`lre-gateway log verify` and `log witness`: audit the evidence log from outside.

The auditor trusts only the log's verifier key. It reads the latest checkpoint and every entry
(through the tlog-tiles layout, from a URL or a directory), recomputes the tree, compares the
served hash tiles with it, and compares the checkpoint with the one it checked last time (kept
in its state directory): a smaller tree, a different tree of the same size (split view) or a
tree that does not extend the previous one (fork) is reported in a sentence.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from gateway.evidence import log_merkle as merkle
from gateway.evidence.log_note import (
    Checkpoint,
    NoCosignature,
    NoteError,
    Signer,
    Verifier,
    join_note,
    key_list,
    open_checkpoint,
    split_note,
)
from gateway.evidence.log_tiles import (
    TILE_WIDTH,
    Entry,
    TileError,
    encode_index,
    tile_path,
    unbundle,
)

LAST_CHECKPOINT = "checkpoint"  # in the state directory: the last checkpoint found sound
COSIGNED = "cosigned-checkpoint"
MAX_FETCH = 1 << 24  # a tile is at most 256 * 64 KiB


class Source(Protocol):
    def get(self, path: str) -> bytes | None: ...


@dataclass(frozen=True)
class DirSource:
    root: Path

    def get(self, path: str) -> bytes | None:
        target = self.root / path
        return target.read_bytes() if target.is_file() else None


@dataclass(frozen=True)
class UrlSource:
    base: str
    timeout: float = 30.0

    def get(self, path: str) -> bytes | None:
        url = f"{self.base.rstrip('/')}/{path}"
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as response:  # noqa: S310
                data: bytes = response.read(MAX_FETCH + 1)
        except urllib.error.HTTPError as err:
            if err.code == 404:
                return None
            raise AuditFailure(f"{url}: HTTP {err.code}") from None
        except (urllib.error.URLError, OSError) as err:
            raise AuditFailure(f"{url}: {err}") from None
        if len(data) > MAX_FETCH:
            raise AuditFailure(f"{url}: answer too large")
        return data


def open_source(where: str) -> Source:
    if where.startswith(("http://", "https://")):
        return UrlSource(where)
    path = Path(where)
    if not path.is_dir():
        raise AuditFailure(f"{where} is neither an http(s) URL nor a directory")
    return DirSource(path)


class AuditFailure(Exception):
    """The log is not sound (or could not be read): the message is the sentence to print."""


@dataclass
class Audit:
    checkpoint: Checkpoint
    note: bytes
    previous: Checkpoint | None
    notes: list[str] = field(default_factory=list)


def _tree(leaves: list[bytes]) -> dict[tuple[int, int], bytes]:
    nodes: dict[tuple[int, int], bytes] = {}
    added = merkle.append(lambda h, i: nodes[h, i], 0, leaves)
    nodes.update(added)
    return nodes


def _entries(source: Source, size: int) -> list[bytes]:
    entries: list[bytes] = []
    for n in range(-(-size // TILE_WIDTH)):
        width = min(TILE_WIDTH, size - n * TILE_WIDTH)
        data = source.get(tile_path("entries", n, width))
        if data is None and width < TILE_WIDTH:
            data = source.get(tile_path("entries", n, TILE_WIDTH))
        if data is None:
            raise AuditFailure(
                f"entries {n * TILE_WIDTH} to {n * TILE_WIDTH + width - 1} are missing from the "
                "log (removed?)"
            )
        try:
            bundle = unbundle(data)
        except TileError as err:
            raise AuditFailure(f"entry tile {encode_index(n)}: {err}") from None
        if len(bundle) < width:
            raise AuditFailure(
                f"entry {n * TILE_WIDTH + len(bundle)} is missing from the log (removed?)"
            )
        entries.extend(bundle[:width])
    return entries


def _check_entries(entries: list[bytes]) -> None:
    seen: dict[str, int] = {}
    for index, raw in enumerate(entries):
        try:
            entry = Entry.decode(raw)
        except TileError:
            raise AuditFailure(f"entry {index} is not an evidence log entry (rewritten?)") from None
        if entry.evidence_id in seen:
            raise AuditFailure(
                f"evidence {entry.evidence_id} appears twice, as entries {seen[entry.evidence_id]} "
                f"and {index} (inserted?)"
            )
        seen[entry.evidence_id] = index


def _check_hash_tiles(source: Source, leaves: list[bytes], checkpoint: Checkpoint) -> None:
    """The served level-0 tiles must hold the leaf hashes of the served entries."""
    size = checkpoint.size
    for n in range(-(-size // TILE_WIDTH)):
        width = min(TILE_WIDTH, size - n * TILE_WIDTH)
        data = source.get(tile_path(0, n, width))
        if data is None and width < TILE_WIDTH:
            data = source.get(tile_path(0, n, TILE_WIDTH))
        if data is None:
            continue  # a mirror may keep only entries; the root check below still holds
        for i in range(width):
            index = n * TILE_WIDTH + i
            if data[i * 32 : i * 32 + 32] != leaves[index]:
                raise AuditFailure(
                    f"entry {index} was changed: it no longer hashes to the leaf the log's tree "
                    "holds"
                )


def audit(source: Source, keys: Verifier | Sequence[Verifier], state: Path | None) -> Audit:
    """Check the log as served now against itself and against the last checkpoint seen.

    `keys` are the log's verifier keys: a checkpoint signed by any of them is accepted (across
    a log-key rotation, give the old and the new key).
    """
    keys = key_list(keys)
    note = source.get("checkpoint")
    if note is None:
        raise AuditFailure("the log has no checkpoint")
    try:
        checkpoint, _ = open_checkpoint(note, keys)
    except NoteError as err:
        raise AuditFailure(f"checkpoint: {err}") from None
    previous = _previous(state, keys)
    if previous is not None:
        if previous.size > checkpoint.size:
            raise AuditFailure(
                f"the log shrank from {previous.size} to {checkpoint.size} entries: entries "
                "were removed"
            )
        if previous.size == checkpoint.size and previous.root != checkpoint.root:
            raise AuditFailure(
                f"split view: two different checkpoints for {checkpoint.size} entries, both "
                "signed by the log key"
            )
    entries = _entries(source, checkpoint.size)
    _check_entries(entries)
    leaves = [merkle.leaf_hash(e) for e in entries]
    _check_hash_tiles(source, leaves, checkpoint)
    nodes = _tree(leaves)

    def node(height: int, index: int) -> bytes:
        return nodes[height, index]

    if merkle.root_hash(node, checkpoint.size) != checkpoint.root:
        raise AuditFailure(
            f"the {checkpoint.size} entries do not hash to the signed root: an entry was "
            "changed, removed, reordered or inserted"
        )
    result = Audit(checkpoint, note, previous)
    if previous is not None and previous.size > 0:
        proof = merkle.consistency_proof(node, previous.size, checkpoint.size)
        try:
            merkle.verify_consistency(
                previous.size, checkpoint.size, previous.root, checkpoint.root, proof
            )
        except merkle.ProofError:
            raise AuditFailure(
                f"fork: the tree of {checkpoint.size} entries is not an extension of the tree of "
                f"{previous.size} entries checked before"
            ) from None
        result.notes.append(
            f"consistent with the checkpoint of {previous.size} entries checked before "
            "(append-only)"
        )
    if state is not None:
        state.mkdir(parents=True, exist_ok=True, mode=0o700)
        (state / LAST_CHECKPOINT).write_bytes(note)
    return result


def _previous(state: Path | None, keys: list[Verifier]) -> Checkpoint | None:
    if state is None or not (state / LAST_CHECKPOINT).is_file():
        return None
    try:
        checkpoint, _ = open_checkpoint((state / LAST_CHECKPOINT).read_bytes(), keys)
    except NoteError as err:
        raise AuditFailure(f"the remembered checkpoint in {state} is unreadable: {err}") from None
    return checkpoint


def cosign(result: Audit, witness: Signer, clock: Callable[[], datetime]) -> bytes:
    """The checkpoint with the witness's cosignature added (C2SP tlog-cosignature)."""
    text, signatures = split_note(result.note)
    when = int(clock().timestamp())
    return join_note(text, [*signatures, witness.cosign(text, when)])


def witnessed(note: bytes, witnesses: Sequence[Verifier]) -> list[str]:
    """The names of the given witnesses whose valid cosignature the note carries."""
    text, signatures = split_note(note)
    names = []
    for witness in witnesses:
        try:
            witness.verify_cosignature(text, signatures)
        except NoCosignature:
            continue
        except NoteError as err:
            raise AuditFailure(f"checkpoint: {err}") from None
        if witness.name not in names:
            names.append(witness.name)
    return names


def require_witnesses(result: Audit, witnesses: Sequence[Verifier], required: int) -> str:
    """A sentence naming the witnesses that cosigned; AuditFailure if fewer than required."""
    names = witnessed(result.note, witnesses)
    if len(names) < required:
        have = ", ".join(names) or "none"
        raise AuditFailure(
            f"the checkpoint of {result.checkpoint.size} entries carries {len(names)} valid "
            f"witness cosignature(s) of the {required} required (cosigned by: {have})"
        )
    return f"cosigned by {len(names)} witness(es): {', '.join(names)}" if names else ""


def submit_cosignature(base: str, cosigned: bytes, timeout: float = 30.0) -> str:
    """POST the cosigned checkpoint to the log (`/log/cosignature`): the log's answer."""
    url = f"{base.rstrip('/')}/cosignature"
    request = urllib.request.Request(  # noqa: S310 - the operator's own log URL
        url, data=cosigned, method="POST", headers={"Content-Type": "text/plain; charset=utf-8"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return bytes(response.read(4096)).decode("utf-8", "replace").strip()
    except urllib.error.HTTPError as err:
        answer = err.read(4096).decode("utf-8", "replace").strip()
        raise AuditFailure(f"the log refused the cosignature (HTTP {err.code}): {answer}") from None
    except (urllib.error.URLError, OSError) as err:
        raise AuditFailure(f"{url}: {err}") from None
