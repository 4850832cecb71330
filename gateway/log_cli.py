"""`lre-gateway log key|verify|witness`: the public evidence log from the command line."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway.evidence.log_audit import AuditFailure, audit, cosign, open_source
from gateway.evidence.log_note import NoteError, Signer, Verifier
from gateway.services.log_publisher import LOG_KEY_FILE, ensure_ed25519_key, log_signer
from gateway.settings import Settings

WITNESS_KEY = "witness-ed25519.pem"


def add_log_parser(commands: Any, parents: Sequence[Any] = ()) -> None:
    """`log key|verify|witness`; `parents` give every command the common options (--config)."""
    common = {"parents": list(parents)}
    log = commands.add_parser("log", help="the public evidence log: key, audit, witness", **common)
    sub = log.add_subparsers(dest="log_command", required=True)
    sub.add_parser(
        "key", help="print the log's verifier key (give it to auditors and witnesses)", **common
    )
    for name, text in (
        ("verify", "check the log is append-only and its entries hash to its signed checkpoint"),
        ("witness", "verify, then co-sign the checkpoint (run it on another machine)"),
    ):
        cmd = sub.add_parser(name, help=text, **common)
        cmd.add_argument("source", metavar="URL_OR_DIR", help="e.g. https://lre.example/log")
        cmd.add_argument("--key", help="the log's verifier key (default: this gateway's)")
        cmd.add_argument(
            "--state",
            type=Path,
            help="where the last checked checkpoint is kept (default: "
            "$XDG_STATE_HOME/lre-gateway/<log name>)",
        )
    sub.choices["witness"].add_argument(
        "--name", required=True, help="the witness's name, e.g. witness.example.org"
    )


def _verifier(settings: Settings, vkey: str | None) -> Verifier:
    if vkey:
        return Verifier.parse(vkey)
    own = existing_log_verifier(settings)
    if own is None:
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


def run_log_command(settings: Settings, args: argparse.Namespace) -> int:
    try:
        verifier = _verifier(settings, getattr(args, "key", None))
    except NoteError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.log_command == "key":
        print(verifier.vkey())
        return 0
    state = _state(args.state, verifier)
    try:
        source = open_source(args.source)
    except AuditFailure as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        result = audit(source, verifier, state)
    except AuditFailure as err:
        print(f"evidence log NOT SOUND: {err}")
        return 1
    print(
        f"evidence log sound: {result.checkpoint.size} entries under the root signed by "
        f"{verifier.name}"
    )
    for note in result.notes:
        print(f"  {note}")
    if args.log_command == "witness":
        witness = Signer(args.name, ensure_ed25519_key(state / WITNESS_KEY))
        cosigned = cosign(result, witness, lambda: datetime.now(UTC))
        (state / "cosigned-checkpoint").write_bytes(cosigned)
        print(f"co-signed as {witness.name} (witness key {witness.verifier().vkey()}):")
        sys.stdout.write(cosigned.decode())
    return 0


def existing_log_verifier(settings: Settings) -> Verifier | None:
    """This gateway's log verifier key when its data dir has one (verify creates nothing)."""
    keys = settings.gateway.data_dir / "keys"
    if not (keys / LOG_KEY_FILE).is_file():
        return None
    return log_signer(settings.gateway.domain, keys).verifier()
