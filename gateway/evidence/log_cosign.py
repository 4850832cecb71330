"""Witness cosignatures the log collects (`POST /log/cosignature`), checked (pure).

A witness (`lre-gateway log witness --submit`) sends the checkpoint it checked, with its C2SP
tlog-cosignature line appended. The log accepts the cosignature only when the checkpoint is the
very one it published for that size (anything else is a split view it refuses to collect), the
witness's key is one of `evidence.log_witnesses`, and the cosignature verifies. Accepted lines
are served appended to the checkpoint, as a signed note allows several signature lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gateway.evidence.log_note import (
    COSIGNATURE,
    NoteError,
    Signature,
    Verifier,
    key_id,
    parse_checkpoint,
    split_note,
)


class CosignatureRefused(Exception):
    """The cosignature is not collected: an HTTP status and the sentence why."""

    def __init__(self, status: int, sentence: str) -> None:
        super().__init__(sentence)
        self.status = status


@dataclass(frozen=True)
class Cosigned:
    size: int
    witnesses: tuple[tuple[str, Signature], ...]  # (witness name, its cosignature)


def size_of(submitted: bytes) -> int:
    """The tree size the submitted note states; CosignatureRefused (400) if it is no note."""
    try:
        text, _ = split_note(submitted)
        return parse_checkpoint(text).size
    except NoteError as err:
        raise CosignatureRefused(400, f"not a cosigned checkpoint: {err}") from None


def check_cosignatures(
    submitted: bytes, published: bytes | None, witnesses: Sequence[Verifier]
) -> Cosigned:
    """The witness cosignatures of `submitted` to collect; CosignatureRefused if none may be.

    `published` is the note the log serves for the tree size `submitted` states (with the
    cosignatures it already collected: a witness re-submitting them is not asked about them).
    """
    size = size_of(submitted)
    text, signatures = split_note(submitted)
    if published is None:
        raise CosignatureRefused(404, f"the log published no checkpoint of {size} entries")
    published_text, own = split_note(published)
    if text != published_text:
        raise CosignatureRefused(
            409,
            f"split view: this is not the checkpoint the log published for {size} entries; "
            "the log refuses to collect a cosignature of it",
        )
    others = [sig for sig in signatures if sig not in own]
    if not others:
        raise CosignatureRefused(400, "the note carries no new witness cosignature")
    accepted = []
    for sig in others:
        witness = next(
            (
                w
                for w in witnesses
                if w.name == sig.name and key_id(w.name, COSIGNATURE, w.public) == sig.key_id
            ),
            None,
        )
        if witness is None:
            raise CosignatureRefused(
                403,
                f"unknown witness key: {sig.name}+{sig.key_id.hex()} is not among the witnesses "
                "this log accepts (evidence.log_witnesses)",
            )
        try:
            witness.verify_cosignature(text, [sig])
        except NoteError as err:
            raise CosignatureRefused(403, str(err)) from None
        accepted.append((witness.name, sig))
    return Cosigned(size, tuple(accepted))
