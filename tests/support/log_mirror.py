"""A public evidence log written as a mirror of /log/ (tlog-tiles) in a directory, for audits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from gateway.evidence import log_merkle as merkle
from gateway.evidence.log_note import Checkpoint, Signer, sign_checkpoint
from gateway.evidence.log_tiles import TILE_WIDTH, Entry, bundle, tile_path


def entries(n: int, tag: str = "") -> list[bytes]:
    """n distinct log entries (the tag makes another set of the same size)."""
    at = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)
    return [
        Entry(f"ev{tag}{i}", "SubmissionAcceptance", at, f"{i:064x}", f"{i + 1:064x}").encode()
        for i in range(n)
    ]


def publish(root: Path, logged: list[bytes], signers: Signer | Sequence[Signer]) -> None:
    """Write the log as its tiles and a checkpoint signed by `signers`, as /log/ serves it."""
    leaves = [merkle.leaf_hash(e) for e in logged]
    nodes = merkle.append(lambda h, i: b"", 0, leaves)
    for n in range(-(-len(logged) // TILE_WIDTH)):
        chunk = logged[n * TILE_WIDTH : (n + 1) * TILE_WIDTH]
        for path, data in (
            (tile_path("entries", n, len(chunk)), bundle(chunk)),
            (
                tile_path(0, n, len(chunk)),
                b"".join(leaves[n * TILE_WIDTH : n * TILE_WIDTH + len(chunk)]),
            ),
        ):
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_bytes(data)
    root_hash = merkle.root_hash(lambda h, i: nodes[h, i], len(logged))
    every = [signers] if isinstance(signers, Signer) else list(signers)
    note = sign_checkpoint(every, Checkpoint(every[0].name, len(logged), root_hash))
    (root / "checkpoint").write_bytes(note)
