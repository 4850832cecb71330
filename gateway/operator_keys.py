"""`lre-gateway keys ...` and `lre-gateway audit verify`: the operator's key and audit commands.

rotate       add a master key; the running gateway re-wraps every letter under it (gateway.keys)
rewrap       do that re-wrap now, in the foreground (when no gateway runs)
status       the current key, live letters per master key, the rotation's progress
verify       decrypt every live letter with the keys present; name those that fail
destroy-old  overwrite and delete an old master key, refused while a letter still uses it
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from datetime import UTC, datetime
from typing import Any

from gateway import audit, keys
from gateway.evidence.cms import Sealer
from gateway.evidence.pki import load_certificates
from gateway.settings import Settings
from gateway.storage.database import open_engine
from gateway.storage.vault import Vault
from gateway.trust import keys_dir


def operator() -> str:
    """Who runs the command, as the audit log names them."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid {os.getuid()}"
    sudo = os.environ.get("SUDO_USER")
    return f"{sudo} (as {user})" if sudo and sudo != user else user


def _now() -> datetime:
    return datetime.now(UTC)


def run_keys(settings: Settings, args: argparse.Namespace, sealer: Sealer, anchors: bytes) -> int:
    del anchors  # the signature matches run_audit's; keys need none
    engine = open_engine(settings.database.url)
    try:
        command = args.keys_command
        if command == "rotate":
            return _rotate(settings, engine, sealer)
        vault = Vault(keys_dir(settings))
        if command == "rewrap":
            total = 0
            while moved := keys.rewrap_batch(engine, vault, now=_now()):  # 0: marked finished
                total += moved
            print(f"{total} letters re-wrapped under {vault.current_key_id}")
            return 0
        if command == "status":
            _print_status(keys.status(engine, vault.current_key_id))
            return 0
        if command == "verify":
            return _verify(engine, vault)
        return _destroy(settings, engine, vault, sealer, args.key_id)
    finally:
        engine.dispose()


def _rotate(settings: Settings, engine: Any, sealer: Sealer) -> int:
    name = Vault.rotate(keys_dir(settings))
    now = _now()
    with engine.begin() as db:
        keys.start_rotation(db, name, now=now)
        audit.append(
            db, sealer, at=now, actor=operator(), action="keys.rotated", details={"key": name}
        )
    left = keys.status(engine, name).remaining
    print(f"new master key {name}: new letters use it; the running gateway re-wraps the")
    print(f"{left} letters under older keys in the background (`lre-gateway keys status`;")
    print("`lre-gateway keys rewrap` does it now when no gateway runs)")
    return 0


def _print_status(status: keys.KeyStatus) -> None:
    print(f"current master key: {status.current}")
    for key, count in sorted(status.letters_by_key.items()):
        mark = " (current)" if key == status.current else ""
        print(f"  {key}: {count} letters{mark}")
    if status.started_at is not None:
        print(f"rotation to {status.current} started {status.started_at:%Y-%m-%d %H:%M:%S}")
    if status.remaining:
        print(f"re-wrap in progress: {status.remaining} letters still under older keys")
    else:
        print("re-wrap complete: every letter uses the current key")


def _verify(engine: Any, vault: Vault) -> int:
    failed = keys.undecryptable(engine, vault)
    if failed:
        print(f"{len(failed)} letters do not decrypt with the keys present:", file=sys.stderr)
        for reference in failed[:50]:
            print(f"  {reference}", file=sys.stderr)
        return 1
    status = keys.status(engine, vault.current_key_id)
    print(f"every letter decrypts ({sum(status.letters_by_key.values())} letters checked)")
    return 0


def _destroy(settings: Settings, engine: Any, vault: Vault, sealer: Sealer, key_id: str) -> int:
    if key_id not in vault.key_ids:
        print(f"error: there is no master key {key_id!r}", file=sys.stderr)
        return 2
    if key_id == vault.current_key_id:
        print(f"error: {key_id} is the current master key; rotate first", file=sys.stderr)
        return 1
    using = keys.letters_using(engine, key_id)
    if using:
        print(
            f"error: {using} letters still use {key_id}; wait for the re-wrap "
            "(`lre-gateway keys status`) or run `lre-gateway keys rewrap`",
            file=sys.stderr,
        )
        return 1
    Vault.destroy(keys_dir(settings), key_id)
    audit.record(
        engine,
        sealer,
        at=_now(),
        actor=operator(),
        action="keys.destroyed",
        details={"key": key_id},
    )
    print(f"master key {key_id} destroyed")
    return 0


def run_audit(settings: Settings, args: argparse.Namespace, anchors: bytes) -> int:
    del args  # one subcommand: verify
    engine = open_engine(settings.database.url)
    try:
        report = audit.verify(engine, load_certificates(anchors))
    finally:
        engine.dispose()
    if report.valid:
        print(f"audit log intact: {report.rows} rows, chain and seals verified")
        return 0
    print(f"audit log broken at row {report.broken_at}: {report.problem}", file=sys.stderr)
    return 1
