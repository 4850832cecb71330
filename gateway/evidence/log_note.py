"""C2SP signed-note, tlog-checkpoint and tlog-cosignature (pure, Ed25519).

A checkpoint is the note text `origin\\nsize\\nbase64(root)\\n`, then a blank line, then one
signature line per signer: `— name base64(key id ‖ signature)`. The key id is the first four
bytes of SHA-256(name ‖ 0x0A ‖ algorithm ‖ public key): 0x01 for an Ed25519 note signature,
0x04 for a witness cosignature, which signs `cosignature/v1\\ntime T\\n` + the note text and
carries T (8 bytes, big-endian) before its signature. A verifier key is written
`name+hex(key id)+base64(0x01 ‖ public key)` (the vkey of Go's golang.org/x/mod/sumdb/note).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ED25519 = 0x01
COSIGNATURE = 0x04
DASH = "\u2014"  # EM DASH, the signature line's mark
MAX_NOTE = 1 << 16  # a checkpoint is a few hundred bytes; refuse anything absurd


class NoteError(ValueError):
    """A note that is malformed or whose signature does not verify, in a sentence."""


class NoCosignature(NoteError):
    """The note carries no cosignature by the witness asked about."""


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def body(self) -> str:
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode()]
        return "".join(f"{line}\n" for line in (*lines, *self.extensions))


@dataclass(frozen=True)
class Signature:
    name: str
    key_id: bytes
    blob: bytes  # the bytes after the key id

    def line(self) -> str:
        return f"{DASH} {self.name} {base64.b64encode(self.key_id + self.blob).decode()}\n"


def key_id(name: str, algorithm: int, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([algorithm]) + public).digest()[:4]


def _raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _check_name(name: str) -> None:
    if not name or any(c.isspace() for c in name) or "+" in name:
        raise NoteError(f"{name!r} is not a key name (no spaces or '+')")


@dataclass(frozen=True)
class Signer:
    """A note signer: its name (the log's origin, or a witness's name) and Ed25519 key."""

    name: str
    key: Ed25519PrivateKey

    def verifier(self) -> Verifier:
        return Verifier(self.name, _raw(self.key.public_key()))

    def sign(self, text: str) -> Signature:
        kid = key_id(self.name, ED25519, _raw(self.key.public_key()))
        return Signature(self.name, kid, self.key.sign(text.encode()))

    def cosign(self, text: str, when: int) -> Signature:
        kid = key_id(self.name, COSIGNATURE, _raw(self.key.public_key()))
        message = f"cosignature/v1\ntime {when}\n{text}".encode()
        return Signature(self.name, kid, struct.pack(">Q", when) + self.key.sign(message))


@dataclass(frozen=True)
class Verifier:
    name: str
    public: bytes

    @classmethod
    def parse(cls, vkey: str) -> Verifier:
        """Read `name+hex id+base64(0x01 ‖ key)`; NoteError if it is not such a key."""
        try:
            name, kid, encoded = vkey.strip().split("+", 2)  # base64 may hold "+"
            blob = base64.b64decode(encoded, validate=True)
            wanted = bytes.fromhex(kid)
        except (ValueError, binascii.Error):
            raise NoteError(f"{vkey!r} is not a verifier key (name+id+key)") from None
        if len(blob) != 33 or blob[0] != ED25519:
            raise NoteError(f"{vkey!r} is not an Ed25519 verifier key")
        verifier = cls(name, blob[1:])
        if key_id(name, ED25519, verifier.public) != wanted:
            raise NoteError(f"{vkey!r}: its key id does not match its name and key")
        return verifier

    def vkey(self) -> str:
        kid = key_id(self.name, ED25519, self.public).hex()
        return f"{self.name}+{kid}+{base64.b64encode(bytes([ED25519]) + self.public).decode()}"

    def verify(self, text: str, signatures: list[Signature]) -> None:
        kid = key_id(self.name, ED25519, self.public)
        for sig in signatures:
            if sig.name == self.name and sig.key_id == kid:
                try:
                    Ed25519PublicKey.from_public_bytes(self.public).verify(sig.blob, text.encode())
                except InvalidSignature:
                    raise NoteError(f"the signature of {self.name} is not valid") from None
                return
        raise NoteError(f"the note carries no signature by {self.name}")

    def verify_cosignature(self, text: str, signatures: list[Signature]) -> int:
        """The time the witness co-signed at; NoteError if it did not (validly)."""
        kid = key_id(self.name, COSIGNATURE, self.public)
        for sig in signatures:
            if sig.name == self.name and sig.key_id == kid and len(sig.blob) == 72:
                (when,) = struct.unpack(">Q", sig.blob[:8])
                message = f"cosignature/v1\ntime {when}\n{text}".encode()
                try:
                    Ed25519PublicKey.from_public_bytes(self.public).verify(sig.blob[8:], message)
                except InvalidSignature:
                    raise NoteError(f"the cosignature of {self.name} is not valid") from None
                return int(when)
        raise NoCosignature(f"the note carries no cosignature by {self.name}")


def split_note(note: bytes) -> tuple[str, list[Signature]]:
    """The text (ending in a newline) and the signature lines of a signed note."""
    if len(note) > MAX_NOTE:
        raise NoteError("the note is too long")
    try:
        whole = note.decode("utf-8")
    except UnicodeDecodeError:
        raise NoteError("the note is not UTF-8") from None
    text, sep, lines = whole.rpartition("\n\n")
    if not sep or not whole.endswith("\n"):
        raise NoteError("the note has no signature block")
    signatures = []
    for line in lines.splitlines():
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != DASH:
            raise NoteError(f"malformed signature line {line!r}")
        try:
            blob = base64.b64decode(parts[2], validate=True)
        except binascii.Error:
            raise NoteError(f"malformed signature line {line!r}") from None
        if len(blob) < 5:
            raise NoteError(f"malformed signature line {line!r}")
        signatures.append(Signature(parts[1], blob[:4], blob[4:]))
    return text + "\n", signatures


def join_note(text: str, signatures: list[Signature]) -> bytes:
    return (text + "\n" + "".join(s.line() for s in signatures)).encode()


def parse_checkpoint(text: str) -> Checkpoint:
    lines = text.split("\n")[:-1]
    if len(lines) < 3:
        raise NoteError("a checkpoint has an origin, a size and a root hash")
    origin, size, root = lines[:3]
    try:
        if not size.isdigit() or (size != "0" and size.startswith("0")):
            raise ValueError
        value = base64.b64decode(root, validate=True)
    except (ValueError, binascii.Error):
        raise NoteError("the checkpoint's size or root hash is malformed") from None
    if len(value) != 32:
        raise NoteError("the checkpoint's root hash is not a SHA-256 hash")
    return Checkpoint(origin, int(size), value, tuple(lines[3:]))


def key_list(keys: Verifier | Sequence[Verifier]) -> list[Verifier]:
    return [keys] if isinstance(keys, Verifier) else list(keys)


def sign_checkpoint(signers: Signer | Sequence[Signer], checkpoint: Checkpoint) -> bytes:
    """The signed note: one signature line per signer (two during a log-key rotation)."""
    every = [signers] if isinstance(signers, Signer) else list(signers)
    if not every:
        raise NoteError("a checkpoint needs at least one signer")
    for signer in every:
        _check_name(signer.name)
    body = checkpoint.body()
    return join_note(body, [signer.sign(body) for signer in every])


def verify_by_any(text: str, signatures: list[Signature], keys: Sequence[Verifier]) -> Verifier:
    """The first known key whose signature the note carries and which verifies.

    A signature by a known key that does not verify is refused outright; a note signed only by
    keys the verifier does not know is refused with a sentence naming their key ids (after a
    log-key rotation, the verifier must learn the new key out of band).
    """
    if not keys:
        raise NoteError("no log key to check the note with")
    for key in keys:
        kid = key_id(key.name, ED25519, key.public)
        if any(sig.name == key.name and sig.key_id == kid for sig in signatures):
            key.verify(text, signatures)
            return key
    names = sorted({key.name for key in keys})
    strangers = [
        f"{sig.name}+{sig.key_id.hex()}"
        for sig in signatures
        if sig.name in names and len(sig.blob) == 64
    ]
    if len(keys) == 1 and not strangers:
        raise NoteError(f"the note carries no signature by {keys[0].name}")
    known = ", ".join(f"{k.name}+{key_id(k.name, ED25519, k.public).hex()}" for k in keys)
    if strangers:
        raise NoteError(
            f"the checkpoint is signed by an unknown key ({', '.join(strangers)}), not by a log "
            f"key this verifier knows ({known}); if the log rotated its key, check the new key "
            "out of band (the log lists its keys at /log/keys) and give it too"
        )
    raise NoteError(f"the note carries no signature by a known key of {', '.join(names)}")


def open_checkpoint(
    note: bytes, keys: Verifier | Sequence[Verifier]
) -> tuple[Checkpoint, list[Signature]]:
    """The checkpoint a known log key signed; NoteError if no signature or the format is wrong.

    `keys` are the log's verifier keys (several across a key rotation, all for one origin).
    """
    text, signatures = split_note(note)
    known = key_list(keys)
    signer = verify_by_any(text, signatures, known)
    checkpoint = parse_checkpoint(text)
    if checkpoint.origin != signer.name:
        raise NoteError(f"the checkpoint is for {checkpoint.origin}, not {signer.name}")
    return checkpoint, signatures
