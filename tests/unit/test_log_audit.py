"""`lre-gateway log verify` and `log witness` on a log mirrored in a directory (tlog-tiles)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.cli import main
from gateway.evidence import log_merkle as merkle
from gateway.evidence.log_audit import AuditFailure, DirSource, audit
from gateway.evidence.log_note import Checkpoint, Signer, Verifier, sign_checkpoint, split_note
from tests.support.log_mirror import entries, publish

LOG = Signer("lre.example/evidence-log", Ed25519PrivateKey.generate())


def _entries(n: int, tag: str = "") -> list[bytes]:
    return entries(n, tag)


def _publish(root: Path, logged: list[bytes]) -> None:
    publish(root, logged, LOG)


def test_an_honest_log_that_grows_verifies_as_append_only(tmp_path: Path) -> None:
    """A log of 300 entries, then 520, is sound and consistent with what was checked before."""
    log, state = tmp_path / "log", tmp_path / "state"
    _publish(log, _entries(300))
    assert audit(DirSource(log), LOG.verifier(), state).checkpoint.size == 300
    _publish(log, _entries(520))
    result = audit(DirSource(log), LOG.verifier(), state)
    assert result.notes == [
        "consistent with the checkpoint of 300 entries checked before (append-only)"
    ]


@pytest.mark.parametrize(
    ("later", "sentence"),
    [
        (_entries(4), "the log shrank from 5 to 4 entries: entries were removed"),
        (_entries(5, tag="x"), "split view: two different checkpoints for 5 entries"),
        ([*_entries(2), *_entries(6, tag="y")[2:]], "fork: the tree of 6 entries is not"),
    ],
    ids=["removal", "split-view", "fork"],
)
def test_a_rewritten_history_signed_by_the_log_key_is_caught(
    tmp_path: Path, later: list[bytes], sentence: str
) -> None:
    """Even re-signed with the log key, a shrunk, forked or split-view log fails the audit."""
    log, state = tmp_path / "log", tmp_path / "state"
    _publish(log, _entries(5))
    audit(DirSource(log), LOG.verifier(), state)
    fresh = tmp_path / "rewritten"
    _publish(fresh, later)
    with pytest.raises(AuditFailure, match=sentence):
        audit(DirSource(fresh), LOG.verifier(), state)


def test_a_checkpoint_not_signed_by_the_log_key_is_refused(tmp_path: Path) -> None:
    """A checkpoint signed by another key under the log's name is not accepted."""
    impostor = Signer(LOG.name, Ed25519PrivateKey.generate())
    (tmp_path / "checkpoint").write_bytes(
        sign_checkpoint(impostor, Checkpoint(LOG.name, 0, merkle.EMPTY_ROOT))
    )
    with pytest.raises(
        AuditFailure, match=r"signed by an unknown key \(lre\.example/evidence-log\+"
    ):
        audit(DirSource(tmp_path), LOG.verifier(), None)


def test_a_witness_cosigns_only_what_it_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`log witness` prints the checkpoint with its cosignature; a forked log gets none."""
    log, state = tmp_path / "log", tmp_path / "witness"
    _publish(log, _entries(3))
    args = ["log", "witness", str(log), "--key", LOG.verifier().vkey(), "--state", str(state)]
    assert main([*args, "--name", "witness.example"]) == 0
    out = capsys.readouterr().out
    cosigned = (state / "cosigned-checkpoint").read_bytes()
    assert cosigned.decode() in out
    text, signatures = split_note(cosigned)
    witness_key = out.split("witness key ", 1)[1].split(")", 1)[0]
    assert Verifier.parse(witness_key).verify_cosignature(text, signatures) > 0
    LOG.verifier().verify(text, signatures)

    _publish(log, _entries(3, tag="forged"))
    assert main([*args, "--name", "witness.example"]) == 1
    assert "NOT SOUND: split view" in capsys.readouterr().out
    assert (state / "cosigned-checkpoint").read_bytes() == cosigned


def test_log_verify_without_a_key_asks_for_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Away from the gateway's data dir, `log verify` refuses to guess the key and says so."""
    monkeypatch.chdir(tmp_path)
    _publish(tmp_path / "log", _entries(1))
    assert main(["log", "verify", str(tmp_path / "log"), "--state", str(tmp_path / "s")]) == 2
    assert "give the log's verifier key with --key" in capsys.readouterr().err
