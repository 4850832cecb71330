"""Log-key rotation: both keys sign during the transition, old checkpoints keep verifying."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from gateway.cli import main
from gateway.evidence.log_audit import AuditFailure, DirSource, audit
from gateway.evidence.log_keys import (
    LOG_KEY_FILE,
    PREVIOUS_DIR,
    RotationError,
    finish_rotation,
    log_signers,
    published_verifiers,
    rotate,
)
from gateway.evidence.log_note import Checkpoint, NoteError, open_checkpoint, sign_checkpoint
from gateway.settings import load_settings
from gateway.storage import tables as t
from gateway.storage.database import open_engine
from tests.support.log_mirror import entries
from tests.support.log_mirror import publish as mirror

DOMAIN = "lre.example"


def _checkpoint(keys: Path, size: int) -> bytes:
    signers = log_signers(DOMAIN, keys)
    return sign_checkpoint(signers, Checkpoint(signers[0].name, size, bytes(32)))


def test_a_rotation_signs_with_both_keys_then_the_new_one_and_keeps_the_old_published(
    tmp_path: Path,
) -> None:
    keys = tmp_path / "keys"
    old = log_signers(DOMAIN, keys)[0].verifier()
    before = _checkpoint(keys, 1)

    new = rotate(DOMAIN, keys)
    assert new != old
    with pytest.raises(RotationError, match="already in transition"):
        rotate(DOMAIN, keys)
    assert [s.verifier() for s in log_signers(DOMAIN, keys)] == [new, old]
    during = _checkpoint(keys, 2)
    for known in ([old], [new], [old, new]):  # a verifier that knows either key accepts it
        assert open_checkpoint(during, known)[0].size == 2

    assert finish_rotation(DOMAIN, keys) == [old]
    assert not list((keys / PREVIOUS_DIR).iterdir())  # the old private key is gone
    with pytest.raises(RotationError, match="nothing to finish"):
        finish_rotation(DOMAIN, keys)
    assert [s.verifier() for s in log_signers(DOMAIN, keys)] == [new]
    assert published_verifiers(DOMAIN, keys) == [new, old]  # the old one stays published
    after = _checkpoint(keys, 3)
    assert open_checkpoint(before, [new, old])[0].size == 1
    assert open_checkpoint(after, [new, old])[0].size == 3
    with pytest.raises(NoteError, match=r"signed by an unknown key .* if the log rotated its key"):
        open_checkpoint(after, [old])


def test_log_verify_follows_the_log_across_a_rotation_when_given_both_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Checkpoints signed by the old key, both, then the new one form one audited chain."""
    keys, log, state = tmp_path / "keys", tmp_path / "log", tmp_path / "state"
    old = log_signers(DOMAIN, keys)[0].verifier()

    def publish(size: int) -> None:
        mirror(log, entries(size), log_signers(DOMAIN, keys))

    publish(3)
    assert audit(DirSource(log), old, state).checkpoint.size == 3
    new = rotate(DOMAIN, keys)
    publish(5)
    assert audit(DirSource(log), old, state).checkpoint.size == 5  # both keys sign it
    finish_rotation(DOMAIN, keys)
    publish(8)
    with pytest.raises(AuditFailure, match="signed by an unknown key"):
        audit(DirSource(log), old, state)

    args = ["log", "verify", str(log), "--state", str(state), "--key", old.vkey()]
    assert main(args) == 1
    assert "NOT SOUND: checkpoint: the checkpoint is signed by an unknown key" in (
        capsys.readouterr().out
    )
    assert main([*args, "--key", new.vkey()]) == 0
    out = capsys.readouterr().out
    assert "evidence log sound: 8 entries" in out
    assert "consistent with the checkpoint of 5 entries checked before" in out


def test_rotate_key_command_adds_then_retires_a_key_in_the_audit_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'[gateway]\ndata_dir = "{tmp_path / "var"}"\ndomain = "{DOMAIN}"\n'
        f'[database]\nurl = "sqlite:///{tmp_path / "gateway.db"}"\n'  # not the cwd's var/
    )
    keys = tmp_path / "var" / "keys"
    log_signers(DOMAIN, keys)  # as `init` does
    first = (keys / LOG_KEY_FILE).read_bytes()
    assert main(["--config", str(config), "log", "rotate-key"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"new log key: {DOMAIN}/evidence-log+")
    assert (keys / LOG_KEY_FILE).read_bytes() != first
    assert main(["--config", str(config), "log", "key", "--all"]) == 0
    listed = capsys.readouterr().out.split()
    assert listed == [v.vkey() for v in published_verifiers(DOMAIN, keys)]
    assert len(listed) == 2
    assert main(["--config", str(config), "log", "rotate-key"]) == 1
    assert "already in transition" in capsys.readouterr().err
    assert main(["--config", str(config), "log", "rotate-key", "--finish"]) == 0
    assert f"retired log key (still published at /log/keys): {listed[1]}" in (
        capsys.readouterr().out
    )
    assert main(["--config", str(config), "log", "key", "--all"]) == 0
    assert capsys.readouterr().out.split() == listed
    engine = open_engine(load_settings(config).database.url)
    try:
        with engine.connect() as db:
            rows = db.execute(select(t.audit_log.c.action, t.audit_log.c.details)).all()
    finally:
        engine.dispose()
    assert [(r.action, json.loads(r.details)) for r in rows] == [
        ("log.key_rotated", {"key": listed[0]}),
        ("log.key_retired", {"key": listed[1]}),
    ]
    assert main(["--config", str(config), "audit", "verify"]) == 0  # sealed, chained rows
