"""`lre-gateway log key|verify|witness|rotate-key`: the public evidence log, command line."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway.evidence.log_audit import (
    AuditFailure,
    audit,
    cosign,
    open_source,
    require_witnesses,
    submit_cosignature,
)
from gateway.evidence.log_keys import (
    RotationError,
    ensure_ed25519_key,
    existing_verifiers,
    finish_rotation,
    rotate,
)
from gateway.evidence.log_note import NoteError, Signer, Verifier
from gateway.settings import Settings

WITNESS_KEY = "witness-ed25519.pem"
# appends an operator action to the sealed audit log: (action, details)
Recorder = Callable[[str, Mapping[str, Any]], None]


def add_log_parser(commands: Any, parents: Sequence[Any] = ()) -> None:
    """`log key|verify|witness|rotate-key`; `parents` give every command the common options."""
    common = {"parents": list(parents)}
    log = commands.add_parser("log", help="the public evidence log: keys, audit, witness", **common)
    sub = log.add_subparsers(dest="log_command", required=True)
    key = sub.add_parser(
        "key", help="print the log's verifier key (give it to auditors and witnesses)", **common
    )
    key.add_argument(
        "--all",
        action="store_true",
        help="print every published log key, current first (old ones verify old checkpoints)",
    )
    rotate_key = sub.add_parser(
        "rotate-key",
        help="add a new log key; checkpoints are signed by both until --finish retires the old",
        **common,
    )
    rotate_key.add_argument(
        "--finish",
        action="store_true",
        help="end the transition: the old key stops signing (its verifier key stays published)",
    )
    for name, text in (
        ("verify", "check the log is append-only and its entries hash to its signed checkpoint"),
        ("witness", "verify, then co-sign the checkpoint (run it on another machine)"),
    ):
        cmd = sub.add_parser(name, help=text, **common)
        cmd.add_argument("source", metavar="URL_OR_DIR", help="e.g. https://lre.example/log")
        cmd.add_argument(
            "--key",
            action="append",
            metavar="VKEY",
            help="a log verifier key (repeat it across a key rotation; default: this gateway's)",
        )
        cmd.add_argument(
            "--state",
            type=Path,
            help="where the last checked checkpoint is kept (default: "
            "$XDG_STATE_HOME/lre-gateway/<log name>)",
        )
    verify = sub.choices["verify"]
    verify.add_argument(
        "--witness-key",
        action="append",
        default=[],
        metavar="VKEY",
        help="a witness's verifier key whose cosignature counts (repeatable)",
    )
    verify.add_argument(
        "--witnesses",
        type=int,
        default=0,
        metavar="N",
        help="require cosignatures of the latest checkpoint by N of the --witness-key witnesses",
    )
    witness = sub.choices["witness"]
    witness.add_argument(
        "--name", required=True, help="the witness's name, e.g. witness.example.org"
    )
    witness.add_argument(
        "--submit",
        action="store_true",
        help="send the cosignature to the log (POST URL/cosignature) for it to serve",
    )


def _verifiers(settings: Settings, vkeys: Sequence[str] | None) -> list[Verifier]:
    if vkeys:
        return [Verifier.parse(vkey) for vkey in vkeys]
    own = existing_verifiers(settings.gateway.domain, settings.gateway.data_dir / "keys")
    if not own:
        raise NoteError(
            "no log key here: give the log's verifier key with --key (see `lre-gateway log key` "
            "on the gateway)"
        )
    return own


def _state(given: Path | None, verifier: Verifier) -> Path:
    if given is not None:
        return given
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return base / "lre-gateway" / verifier.name.replace("/", "_")


def run_log_command(
    settings: Settings, args: argparse.Namespace, record: Recorder | None = None
) -> int:
    """Run `log …`; `record` audits a key rotation (`rotate-key` refuses to run without it)."""
    if args.log_command == "rotate-key":
        if record is None:
            raise ValueError("rotate-key is an operator action: it needs the audit log")
        return _rotate_key(settings, finish=args.finish, record=record)
    try:
        keys = _verifiers(settings, getattr(args, "key", None))
        witnesses = [Verifier.parse(v) for v in getattr(args, "witness_key", [])]
    except NoteError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.log_command == "key":
        for verifier in keys if args.all else keys[:1]:
            print(verifier.vkey())
        return 0
    required = getattr(args, "witnesses", 0)
    if required > len(witnesses):
        print(f"error: --witnesses {required} needs as many --witness-key", file=sys.stderr)
        return 2
    state = _state(args.state, keys[0])
    try:
        source = open_source(args.source)
    except AuditFailure as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        result = audit(source, keys, state)
        witnessed = require_witnesses(result, witnesses, required) if witnesses else ""
    except AuditFailure as err:
        print(f"evidence log NOT SOUND: {err}")
        return 1
    print(
        f"evidence log sound: {result.checkpoint.size} entries under the root signed by "
        f"{keys[0].name}"
    )
    for note in [*result.notes, witnessed] if witnessed else result.notes:
        print(f"  {note}")
    if args.log_command == "witness":
        return _witness(args, result, state)
    return 0


def _witness(args: argparse.Namespace, result: Any, state: Path) -> int:
    witness = Signer(args.name, ensure_ed25519_key(state / WITNESS_KEY))
    cosigned = cosign(result, witness, lambda: datetime.now(UTC))
    (state / "cosigned-checkpoint").write_bytes(cosigned)
    print(f"co-signed as {witness.name} (witness key {witness.verifier().vkey()}):")
    sys.stdout.write(cosigned.decode())
    if args.submit:
        if not args.source.startswith(("http://", "https://")):
            print("error: --submit needs the log's URL", file=sys.stderr)
            return 2
        try:
            answer = submit_cosignature(args.source, cosigned)
        except AuditFailure as err:
            print(f"cosignature NOT ACCEPTED: {err}")
            return 1
        print(f"cosignature accepted by the log: {answer}")
    return 0


def _rotate_key(settings: Settings, *, finish: bool, record: Recorder) -> int:
    keys = settings.gateway.data_dir / "keys"
    domain = settings.gateway.domain
    try:
        if finish:
            for old in finish_rotation(domain, keys):
                record("log.key_retired", {"key": old.vkey()})
                print(f"retired log key (still published at /log/keys): {old.vkey()}")
            return 0
        new = rotate(domain, keys)
    except RotationError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    record("log.key_rotated", {"key": new.vkey()})
    print(f"new log key: {new.vkey()}")
    print(
        "checkpoints are now signed by the new and the old key; give auditors and witnesses the "
        "new key, then run `lre-gateway log rotate-key --finish`"
    )
    return 0


def existing_log_verifiers(settings: Settings) -> list[Verifier]:
    """This gateway's published log keys when its data dir has them (verify creates nothing)."""
    return existing_verifiers(settings.gateway.domain, settings.gateway.data_dir / "keys")
