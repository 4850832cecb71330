"""Signed notes, checkpoints and cosignatures of the evidence log (C2SP signed-note)."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.evidence.log_note import (
    Checkpoint,
    NoteError,
    Signer,
    Verifier,
    join_note,
    open_checkpoint,
    sign_checkpoint,
    split_note,
)
from gateway.evidence.log_tiles import Entry, TileError, bundle, encode_index, parse_index, unbundle

# The example of Go's reference implementation, golang.org/x/mod/sumdb/note (its package doc)
GO_SEED = base64.b64decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")[1:]
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT + "\n— PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


def test_notes_match_the_go_reference_implementation_byte_for_byte() -> None:
    """Our signer reproduces Go's example note and vkey, and our verifier accepts it."""
    signer = Signer("PeterNeumann", Ed25519PrivateKey.from_private_bytes(GO_SEED))
    assert signer.verifier().vkey() == GO_VKEY
    assert join_note(GO_TEXT, [signer.sign(GO_TEXT)]).decode() == GO_NOTE
    text, signatures = split_note(GO_NOTE.encode())
    Verifier.parse(GO_VKEY).verify(text, signatures)


def test_a_changed_checkpoint_or_another_key_is_refused_with_a_sentence() -> None:
    """Editing the tree size of a signed checkpoint, or checking it with another key, fails."""
    signer = Signer("lre.example/evidence-log", Ed25519PrivateKey.generate())
    note = sign_checkpoint(signer, Checkpoint(signer.name, 7, bytes(32)))
    checkpoint, _ = open_checkpoint(note, signer.verifier())
    assert (checkpoint.size, checkpoint.root) == (7, bytes(32))
    forged = note.replace(b"\n7\n", b"\n8\n")
    with pytest.raises(NoteError, match="not valid"):
        open_checkpoint(forged, signer.verifier())
    other = Signer(signer.name, Ed25519PrivateKey.generate()).verifier()
    with pytest.raises(NoteError, match="signed by an unknown key"):
        open_checkpoint(note, other)
    stranger = Signer("another.example/log", Ed25519PrivateKey.generate()).verifier()
    with pytest.raises(NoteError, match=r"no signature by another\.example/log"):
        open_checkpoint(note, stranger)
    with pytest.raises(NoteError):
        Verifier.parse(GO_VKEY.replace("c74f20a3", "c74f20a4"))
    for _ in range(20):  # keys whose base64 holds a "+" read back too
        key = Signer("log", Ed25519PrivateKey.generate()).verifier()
        assert Verifier.parse(key.vkey()) == key


def test_a_witness_cosignature_verifies_and_binds_its_time() -> None:
    """A cosignature checks with the witness key and fails once its time is altered."""
    witness = Signer("witness.example", Ed25519PrivateKey.generate())
    text = Checkpoint("log", 3, bytes(32)).body()
    sig = witness.cosign(text, 1_700_000_000)
    assert witness.verifier().verify_cosignature(text, [sig]) == 1_700_000_000
    altered = type(sig)(sig.name, sig.key_id, (1_700_000_001).to_bytes(8, "big") + sig.blob[8:])
    with pytest.raises(NoteError):
        witness.verifier().verify_cosignature(text, [altered])


def test_tile_indexes_and_entry_bundles_follow_tlog_tiles() -> None:
    """Tile numbers are written in x-prefixed three-digit groups; bundles round-trip."""
    assert encode_index(1234067) == "x001/x234/067"
    assert encode_index(5) == "005"
    assert parse_index("x001/x234/067") == 1234067
    with pytest.raises(TileError):
        parse_index("1234")
    entries = [b"a", b"", b"x" * 300]
    data = bundle(entries)
    assert data[:3] == b"\x00\x01a"
    assert unbundle(data) == entries
    with pytest.raises(TileError):
        unbundle(data[:-1])
    with pytest.raises(TileError):
        Entry.decode(b"id 1\n")
