"""The inclusion proof that travels with a proof: `<evidence id>.log-proof.json` (pure).

It holds the evidence's log entry, its index, the audit path to the checkpoint's root, the
signed checkpoint and the TSA's token over that checkpoint. `check_inclusion` says, in one
sentence, whether the evidence (its evidence.xml and .p7s digests) is in the tree the log key
signed, and when the TSA dated that tree.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from gateway.evidence import log_merkle as merkle
from gateway.evidence.log_note import NoteError, Verifier, open_checkpoint
from gateway.evidence.log_tiles import Entry, TileError

FORMAT = "lre-gateway/log-inclusion/v1"


class InclusionError(ValueError):
    """The evidence is not (provably) in the log: the sentence says why."""


@dataclass(frozen=True)
class InclusionProof:
    evidence_id: str
    index: int
    entry: bytes
    proof: list[bytes]
    checkpoint: bytes  # the signed note
    timestamp: bytes | None  # RFC 3161 token over SHA-256(checkpoint)

    def to_json(self) -> bytes:
        doc: dict[str, Any] = {
            "format": FORMAT,
            "evidence_id": self.evidence_id,
            "index": self.index,
            "entry": base64.b64encode(self.entry).decode(),
            "proof": [base64.b64encode(h).decode() for h in self.proof],
            "checkpoint": self.checkpoint.decode(),
            "timestamp": None
            if self.timestamp is None
            else base64.b64encode(self.timestamp).decode(),
        }
        return json.dumps(doc, indent=1).encode() + b"\n"

    @classmethod
    def from_json(cls, data: bytes) -> InclusionProof:
        try:
            doc = json.loads(data)
            if doc.get("format") != FORMAT:
                raise ValueError
            stamp = doc.get("timestamp")
            return cls(
                evidence_id=str(doc["evidence_id"]),
                index=int(doc["index"]),
                entry=base64.b64decode(doc["entry"], validate=True),
                proof=[base64.b64decode(h, validate=True) for h in doc["proof"]],
                checkpoint=str(doc["checkpoint"]).encode(),
                timestamp=None if stamp is None else base64.b64decode(stamp, validate=True),
            )
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise InclusionError("the file is not an evidence log inclusion proof") from None


@dataclass(frozen=True)
class Included:
    entry: Entry
    size: int
    sentence: str


def check_inclusion(
    proof: InclusionProof, verifier: Verifier, *, xml: bytes, p7s: bytes | None
) -> Included:
    """Check that this evidence is in the signed tree; InclusionError with a sentence if not."""
    try:
        checkpoint, _ = open_checkpoint(proof.checkpoint, verifier)
        entry = Entry.decode(proof.entry)
    except (NoteError, TileError) as err:
        raise InclusionError(f"evidence log: {err}") from None
    if entry.evidence_id != proof.evidence_id:
        raise InclusionError("evidence log: the entry is another evidence's")
    if entry.xml_sha256 != hashlib.sha256(xml).hexdigest():
        raise InclusionError(
            "evidence log: this evidence's digest is absent from the log (the entry states "
            "another evidence.xml)"
        )
    if p7s is not None and entry.p7s_sha256 != hashlib.sha256(p7s).hexdigest():
        raise InclusionError("evidence log: the entry states another seal (evidence.xml.p7s)")
    try:
        merkle.verify_inclusion(
            proof.index,
            checkpoint.size,
            merkle.leaf_hash(proof.entry),
            proof.proof,
            checkpoint.root,
        )
    except merkle.ProofError as err:
        raise InclusionError(f"evidence log: {err}") from None
    return Included(
        entry,
        checkpoint.size,
        f"in the public evidence log: entry {proof.index} of the {checkpoint.size} entries "
        f"signed by {checkpoint.origin}",
    )
