"""Which witness cosignatures the log collects (gateway.evidence.log_cosign)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.evidence.log_cosign import CosignatureRefused, check_cosignatures
from gateway.evidence.log_note import (
    Checkpoint,
    Signature,
    Signer,
    join_note,
    sign_checkpoint,
    split_note,
)

LOG = Signer("lre.example/evidence-log", Ed25519PrivateKey.generate())
WITNESS = Signer("witness.example", Ed25519PrivateKey.generate())
PUBLISHED = sign_checkpoint(LOG, Checkpoint(LOG.name, 5, bytes(32)))


def _cosigned(note: bytes, witness: Signer = WITNESS) -> bytes:
    text, signatures = split_note(note)
    return join_note(text, [*signatures, witness.cosign(text, 1_700_000_000)])


def _forged() -> bytes:
    """A cosignature line whose signature was changed (its length kept)."""
    text, signatures = split_note(_cosigned(PUBLISHED))
    *own, cosignature = signatures
    blob = cosignature.blob[:-1] + bytes([cosignature.blob[-1] ^ 1])
    return join_note(text, [*own, Signature(cosignature.name, cosignature.key_id, blob)])


def test_a_listed_witness_cosigning_the_published_checkpoint_is_collected() -> None:
    cosigned = check_cosignatures(_cosigned(PUBLISHED), PUBLISHED, [WITNESS.verifier()])
    assert cosigned.size == 5
    assert [name for name, _ in cosigned.witnesses] == ["witness.example"]


@pytest.mark.parametrize(
    ("submitted", "published", "status", "says"),
    [
        (_cosigned(PUBLISHED), None, 404, "published no checkpoint of 5 entries"),
        (PUBLISHED, PUBLISHED, 400, "carries no new witness cosignature"),
        (
            _cosigned(PUBLISHED, Signer("witness.example", Ed25519PrivateKey.generate())),
            PUBLISHED,
            403,
            "unknown witness key: witness.example+",
        ),
        (
            _cosigned(sign_checkpoint(LOG, Checkpoint(LOG.name, 5, bytes(31) + b"\1"))),
            PUBLISHED,
            409,
            "split view",
        ),
        (
            _forged(),
            PUBLISHED,
            403,
            "cosignature of witness.example is not valid",
        ),
        (b"garbage", PUBLISHED, 400, "not a cosigned checkpoint"),
    ],
)
def test_other_cosignatures_are_refused_with_a_status_and_a_sentence(
    submitted: bytes, published: bytes | None, status: int, says: str
) -> None:
    with pytest.raises(CosignatureRefused, match=says) as refused:
        check_cosignatures(submitted, published, [WITNESS.verifier()])
    assert refused.value.status == status
