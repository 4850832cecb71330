"""RFC 9162 Merkle hashing and proofs of the evidence log, against published reference vectors."""

from __future__ import annotations

import base64
import hashlib

import pytest

from gateway.evidence import log_merkle as merkle

# The RFC 6962 reference leaves and tree heads (Certificate Transparency's test vectors, the same
# used by transparency-dev/merkle and by every CT implementation).
LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
INCLUSION_0_OF_8 = [
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
]
# transparency-dev/merkle testdata/consistency/1/happy-path.json: from size 1 to size 8
CONSISTENCY_1_TO_8 = [
    "lqKW0iTyhcZ77pPDD4owkVfw2qNdxbh+QQt4YwoJz8c=",
    "Xwg/ChozygdqlSeYMlgNs+DvRYS9/x9UyKNg9Q3jAx4=",
    "a0eq8p7jwq+a+Im8H7klTavTEXfxYjLdaqsDXKOb9uQ=",
]


def _tree(entries: list[bytes]) -> merkle.NodeReader:
    nodes = merkle.append(lambda h, i: b"", 0, [merkle.leaf_hash(e) for e in entries])
    return lambda height, index: nodes[height, index]


def _naive_root(leaves: list[bytes]) -> bytes:
    """MTH straight from RFC 9162 §2.1.1, recursing on the leaf list."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return merkle.node_hash(_naive_root(leaves[:k]), _naive_root(leaves[k:]))


def test_roots_match_the_rfc_6962_reference_heads() -> None:
    """Tree heads of the reference leaves equal the published ones for every size 0 to 8."""
    for size in range(len(LEAVES) + 1):
        node = _tree(LEAVES[:size])
        assert merkle.root_hash(node, size).hex() == ROOTS[size], size


def test_inclusion_and_consistency_proofs_match_reference_vectors() -> None:
    """Our proofs are byte-identical to the reference ones and verify against the heads."""
    node = _tree(LEAVES)
    proof = merkle.inclusion_proof(node, 0, 8)
    assert [p.hex() for p in proof] == INCLUSION_0_OF_8
    root8 = bytes.fromhex(ROOTS[8])
    merkle.verify_inclusion(0, 8, merkle.leaf_hash(LEAVES[0]), proof, root8)
    consistency = merkle.consistency_proof(node, 1, 8)
    assert [base64.b64encode(p).decode() for p in consistency] == CONSISTENCY_1_TO_8
    merkle.verify_consistency(1, 8, bytes.fromhex(ROOTS[1]), root8, consistency)


def test_every_proof_of_every_small_tree_verifies_and_a_changed_one_fails() -> None:
    """In trees of 1 to 40 entries every inclusion and consistency proof checks; a bad one fails."""
    entries = [f"entry {i}".encode() for i in range(40)]
    node = _tree(entries)
    leaves = [merkle.leaf_hash(e) for e in entries]
    for size in range(1, 41):
        root = merkle.root_hash(node, size)
        assert root == _naive_root(leaves[:size])
        for index in range(size):
            proof = merkle.inclusion_proof(node, index, size)
            merkle.verify_inclusion(index, size, leaves[index], proof, root)
            with pytest.raises(merkle.ProofError):
                merkle.verify_inclusion(index, size, leaves[(index + 1) % 40], proof, root)
        for old in range(1, size + 1):
            proof = merkle.consistency_proof(node, old, size)
            merkle.verify_consistency(old, size, merkle.root_hash(node, old), root, proof)
            if proof:
                bad = [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]]
                with pytest.raises(merkle.ProofError):
                    merkle.verify_consistency(old, size, merkle.root_hash(node, old), root, bad)


def test_a_tree_that_rewrites_an_old_entry_is_not_an_extension() -> None:
    """A tree whose third entry was rewritten fails the consistency check against the old head."""
    entries = [f"e{i}".encode() for i in range(10)]
    old_root = merkle.root_hash(_tree(entries), 5)
    forged = [*entries[:2], b"rewritten", *entries[3:]]
    node = _tree(forged)
    proof = merkle.consistency_proof(node, 5, 10)
    with pytest.raises(merkle.ProofError, match="not an extension"):
        merkle.verify_consistency(5, 10, old_root, merkle.root_hash(node, 10), proof)


def test_appending_in_batches_gives_the_same_subtrees_as_appending_at_once() -> None:
    """Growing the tree by batches of any size stores exactly the subtrees of the whole tree."""
    leaves = [merkle.leaf_hash(bytes([i])) for i in range(37)]
    whole = merkle.append(lambda h, i: b"", 0, leaves)
    stored: dict[tuple[int, int], bytes] = {}
    size = 0
    for batch in (1, 2, 5, 8, 3, 18):
        stored.update(merkle.append(lambda h, i: stored[h, i], size, leaves[size : size + batch]))
        size += batch
    assert stored == whole
    assert len(stored) < 2 * len(leaves)
