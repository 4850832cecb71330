"""RFC 9162 §2.1 Merkle tree hashing, inclusion and consistency proofs (pure).

Leaves hash as SHA-256(0x00 ‖ entry), interior nodes as SHA-256(0x01 ‖ left ‖ right). The tree
is never held whole: every function takes `node(height, index)`, the hash of the complete
subtree of 2**height leaves starting at leaf index * 2**height, which storage answers from its
table of complete subtrees (a tree of n leaves has fewer than 2n of them). A ragged range (the
right edge of a tree whose size is not a power of two) is folded from the complete subtrees it
is made of, so a proof costs O(log² n) lookups at worst.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

HASH_SIZE = 32  # SHA-256
EMPTY_ROOT = hashlib.sha256(b"").digest()  # RFC 9162 §2.1.1: MTH({}) = SHA-256()

NodeReader = Callable[[int, int], bytes]


class ProofError(ValueError):
    """A proof that does not lead to the root it claims, or asks for an impossible range."""


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(size: int) -> int:
    """The largest power of two smaller than size (size > 1): RFC 9162's k."""
    return 1 << ((size - 1).bit_length() - 1)


def range_hash(node: NodeReader, start: int, end: int) -> bytes:
    """MTH(D[start:end]) for a range that starts on a subtree boundary of its own size's split."""
    size = end - start
    if size <= 0:
        raise ProofError(f"empty range {start}:{end}")
    if size & (size - 1) == 0 and start % size == 0:
        return node(size.bit_length() - 1, start // size)
    k = _split(size)
    return node_hash(range_hash(node, start, start + k), range_hash(node, start + k, end))


def root_hash(node: NodeReader, size: int) -> bytes:
    return EMPTY_ROOT if size == 0 else range_hash(node, 0, size)


def inclusion_proof(node: NodeReader, index: int, size: int) -> list[bytes]:
    """PATH(index, D[0:size]) of RFC 9162 §2.1.3.1, leaf to root."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of {size} entries")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            path.append(range_hash(node, start + k, end))
            end = start + k
        else:
            path.append(range_hash(node, start, start + k))
            start = start + k
    path.reverse()
    return path


def consistency_proof(node: NodeReader, old: int, new: int) -> list[bytes]:
    """PROOF(old, D[0:new]) of RFC 9162 §2.1.4.1."""
    if not 0 < old <= new:
        raise ProofError(f"no consistency proof from {old} to {new} entries")
    return _subproof(node, old, 0, new, complete=True)


def _subproof(node: NodeReader, m: int, start: int, end: int, *, complete: bool) -> list[bytes]:
    n = end - start
    if m == n:
        return [] if complete else [range_hash(node, start, end)]
    k = _split(n)
    if m <= k:
        return [
            *_subproof(node, m, start, start + k, complete=complete),
            range_hash(node, start + k, end),
        ]
    return [
        *_subproof(node, m - k, start + k, end, complete=False),
        range_hash(node, start, start + k),
    ]


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root an inclusion proof leads to (RFC 9162 §2.1.3.2); ProofError if malformed."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of {size} entries")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("the inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the inclusion proof is shorter than the tree is deep")
    return r


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    if root_from_inclusion(index, size, leaf, proof) != root:
        raise ProofError(f"entry {index} is not in the tree of {size} entries with this root")


def verify_consistency(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """RFC 9162 §2.1.4.2: the tree of `new` entries extends the tree of `old` entries."""
    if not 0 < old <= new:
        raise ProofError(f"no consistency proof from {old} to {new} entries")
    if old == new:
        if proof or old_root != new_root:
            raise ProofError(f"two different trees of {old} entries (a split view)")
        return
    path = list(proof)
    if old & (old - 1) == 0:
        path.insert(0, old_root)
    if not path:
        raise ProofError("empty consistency proof")
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("the consistency proof is too long")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0 or fr != old_root or sr != new_root:
        raise ProofError(
            f"the tree of {new} entries is not an extension of the tree of {old} entries"
        )


def frontier(size: int) -> list[tuple[int, int]]:
    """The complete subtrees (height, index) a tree of `size` leaves is made of, left first."""
    nodes, start = [], 0
    for height in range(size.bit_length() - 1, -1, -1):
        if size >> height & 1:
            nodes.append((height, start >> height))
            start += 1 << height
    return nodes


def append(node: NodeReader, size: int, leaves: Sequence[bytes]) -> dict[tuple[int, int], bytes]:
    """The complete subtrees that appending `leaves` to a tree of `size` leaves creates.

    Reads only the old tree's frontier (at most log2(size) nodes).
    """
    known = {key: node(*key) for key in frontier(size)}
    new: dict[tuple[int, int], bytes] = {}
    for offset, leaf in enumerate(leaves):
        height, index, value = 0, size + offset, leaf
        new[height, index] = value
        while index & 1:
            left = known.get((height, index - 1)) or new[height, index - 1]
            value = node_hash(left, value)
            height, index = height + 1, index >> 1
            new[height, index] = value
    return new
