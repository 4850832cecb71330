"""The command line (`lre-gateway COMMAND`): each command imports what it runs when it runs.

`serve` starts the gateway the composition root (gateway.app) wires; the other commands read
or change the installation and its database and return, without importing the gateway's
servers and certificate renderer: `init` starts in 0.7 s here, where importing them all took
2.2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import string
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway import logs
from gateway.errors import ConfigError, InstallationError, SmtpProcessFailed
from gateway.evidence import report
from gateway.evidence.log_note import NoteError
from gateway.i18n import LANGUAGES
from gateway.log_cli import add_log_parser, run_log_command
from gateway.settings import Settings, config_path, load_settings
from gateway.trust import anchors, evidence_sealer

DEMO_FILE = "demo-sender.txt"


def utcnow() -> datetime:
    return datetime.now(UTC)


def _audit_recorder(settings: Settings) -> Callable[[str, Mapping[str, Any]], None]:
    """Appends an operator action, by the Unix user running the command, to the audit log."""
    from gateway import audit
    from gateway.operator_keys import operator
    from gateway.storage.database import open_engine

    sealer = evidence_sealer(settings)

    def record(action: str, details: Mapping[str, Any]) -> None:
        engine = open_engine(settings.database.url)
        try:
            audit.record(
                engine,
                sealer,
                at=datetime.now(UTC),
                actor=operator(),
                action=action,
                details=details,
            )
        finally:
            engine.dispose()

    return record


def _initialise(settings: Settings) -> None:
    """The installation made and checked (gateway.startup, which needs the database layer: only
    the commands that use the installation import it; `verify` reads files and anchors)."""
    from gateway.startup import initialise

    initialise(settings)


def _demo(settings: Settings) -> None:
    """Create the demo sender on first run and print how to send a letter with it."""
    path = settings.gateway.data_dir / DEMO_FILE
    email = f"demo@{settings.gateway.domain}"
    if path.exists():
        password = path.read_text().strip()
    else:
        # letters and digits only: safe to paste into a shell and never read as an option
        password = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(16))
        from gateway.registry import offline_registry

        with offline_registry(settings) as registry:
            registry.senders.save_sender(email, "Demo Sender", password)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(password + "\n")
    host, port = settings.smtp.submission or ("127.0.0.1", 2587)
    outbox = settings.gateway.public_url.rstrip("/") + "/dev/outbox"
    print(f"""
Demo sender account (stored in {path}):
  address:  {email}
  password: {password}

Send a registered letter (STARTTLS + AUTH on the submission port):
  swaks --server {host}:{port} --tls --auth PLAIN \\
        --auth-user {email} --auth-password '{password}' \\
        --from {email} --to bob@example.com --header 'Subject: Mise en demeure' \\
        --body 'Madame, Monsieur, ...' \\
        --attach-type text/markdown --attach-name README.md --attach @README.md

Then open {outbox} to read the notification and follow its link.
""")


def _sender_add(settings: Settings, args: argparse.Namespace) -> int:
    from gateway.accounts import address_problem
    from gateway.registry import offline_registry

    problem = address_problem(args.email)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    if not args.password_stdin:
        print("error: give the password on standard input with --password-stdin", file=sys.stderr)
        return 2
    password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < 8:
        print("error: the password must have at least 8 characters", file=sys.stderr)
        return 2
    with offline_registry(settings) as registry:
        registry.senders.save_sender(args.email, args.name or args.email, password, args.language)
    _audit(settings, "sender.saved", {"email": args.email.lower(), "language": args.language})
    print(f"sender {args.email} saved")
    return 0


def _audit(settings: Settings, action: str, details: dict[str, str]) -> None:
    """Append one operator action to the sealed audit log (gateway.audit)."""
    _audit_recorder(settings)(action, details)


def _sender(settings: Settings, args: argparse.Namespace) -> int:
    """`sender add|list|disable|enable|remove`."""
    if args.sender_command == "add":
        return _sender_add(settings, args)
    from gateway.accounts import AccountCommands
    from gateway.storage.account_store import AccountStore
    from gateway.storage.database import open_engine

    engine = open_engine(settings.database.url)
    try:
        commands = AccountCommands(
            AccountStore(engine),
            utcnow,
            out=print,
            err=lambda text: print(text, file=sys.stderr),
        )
        if args.sender_command == "list":
            return commands.list()
        action = {
            "disable": commands.disable,
            "enable": commands.enable,
            "remove": commands.remove,
        }[args.sender_command]
        status = action(args.email)
    finally:
        engine.dispose()
    if status == 0:  # an operator action on an account: in the sealed audit log
        done = {"disable": "disabled", "enable": "enabled", "remove": "removed"}[
            args.sender_command
        ]
        _audit(settings, f"sender.{done}", {"email": args.email.lower()})
    return status


def _api_commands(
    sender_commands: argparse._SubParsersAction,  # type: ignore[type-arg]
    common: argparse.ArgumentParser,
) -> None:
    """`sender token create|list|revoke` and `sender webhook add|list|remove|enable`."""
    shared: dict[str, Any] = {"parents": [common]}
    token = sender_commands.add_parser("token", **shared, help="the sender's REST API tokens")
    tokens = token.add_subparsers(dest="api_key_action", required=True)
    create = tokens.add_parser("create", **shared, help="make a token; it is printed once, keep it")
    create.add_argument("email")
    create.add_argument("--label", default="", help="what the token is for, shown by list")
    tokens.add_parser(
        "list", **shared, help="the sender's tokens (never the tokens themselves)"
    ).add_argument("email")
    revoke = tokens.add_parser("revoke", **shared, help="revoke a token at once")
    revoke.add_argument("email")
    revoke.add_argument("token", help="the token's id or its first 12 characters (lre_...)")
    webhook = sender_commands.add_parser("webhook", **shared, help="the sender's webhook endpoints")
    hooks = webhook.add_subparsers(dest="webhook_command", required=True)
    for name, text in (
        ("add", "register an endpoint; its signing secret is printed once"),
        ("remove", "remove an endpoint (by URL or id) and its queued events"),
        ("enable", "enable again an endpoint disabled after failures (by URL or id)"),
    ):
        command = hooks.add_parser(name, **shared, help=text)
        command.add_argument("email")
        command.add_argument("url", help="https://... (or the endpoint's id)")
    hooks.add_parser("list", **shared, help="the sender's endpoints and their state").add_argument(
        "email"
    )


def _sender_api(settings: Settings, args: argparse.Namespace) -> int:
    from gateway.api.problems import Problem
    from gateway.api.service import ApiService
    from gateway.registry import offline_registry
    from gateway.storage.database import open_engine
    from gateway.storage.pdf_queue import PdfQueue
    from gateway.storage.store import LetterStore

    with offline_registry(settings) as registry:
        account = registry.senders.account_record(args.email)
        if account is None:
            print(f"error: no sender {args.email} (lre-gateway sender add)", file=sys.stderr)
            return 2
        store = LetterStore(open_engine(settings.database.url))
        try:
            service = ApiService(
                settings=settings, registry=registry, store=store, pdfs=PdfQueue(store.engine)
            )
            now = utcnow()
            if args.sender_command == "token":
                if args.api_key_action == "create":
                    made = service.create_token(account, args.label, now)
                    print(made.token)
                    print(f"(token {made.prefix}... for {account.email}: shown once, keep it)")
                elif args.api_key_action == "list":
                    for t in service.tokens(account):
                        state = f"revoked {t.revoked_at:%Y-%m-%d}" if t.revoked_at else "live"
                        used = f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never"
                        print(f"{t.prefix}...  {state:18}  last used {used:16}  {t.label}")
                elif not service.api.revoke_token(account.id, args.token, now):
                    print(f"error: no live token {args.token} of {account.email}", file=sys.stderr)
                    return 1
                else:
                    print(f"token {args.token} revoked")
            elif args.webhook_command == "add":
                try:
                    endpoint = service.add_webhook(account, args.url, now)
                except Problem as problem:
                    print(f"error: {problem.detail}", file=sys.stderr)
                    return 2
                print(f"webhook {endpoint.id} added for {endpoint.url}")
                print(f"signing secret (shown once, keep it): {endpoint.secret}")
            elif args.webhook_command == "list":
                for e in service.api.endpoints(account.id):
                    state = f"disabled: {e.disabled_reason}" if e.disabled_at else "live"
                    print(f"{e.id}  {e.url}  {state}")
            elif args.webhook_command == "remove":
                if not service.api.remove_endpoint(account.id, args.url):
                    print(f"error: no webhook {args.url} of {account.email}", file=sys.stderr)
                    return 1
                print(f"webhook {args.url} removed")
            elif not service.api.enable_endpoint(account.id, args.url):
                print(f"error: no webhook {args.url} of {account.email}", file=sys.stderr)
                return 1
            else:
                print(f"webhook {args.url} enabled")
        finally:
            store.engine.dispose()
    return 0


def _verify(
    settings: Settings,
    files: Sequence[str],
    anchors_file: str | None,
    at: datetime | None,
    log_keys: Sequence[str] | None = None,
    lang: str = report.DEFAULT,
) -> int:
    from gateway.evidence.log_note import Verifier
    from gateway.evidence.pki import load_certificates
    from gateway.log_cli import existing_log_verifiers
    from gateway.verification.files import verify_paths
    from gateway.verification.log_inclusion import judge, split_paths

    pem = Path(anchors_file).read_bytes() if anchors_file else anchors(settings)
    trusted = load_certificates(pem)
    if at is not None:
        as_of = report.say(lang, "verify.report.as_of", time=report.when(at))
        print(f"{as_of}\n")
    files, inclusions, unreadable = split_paths(files)  # the evidence log's inclusion proofs
    log_verifiers = (
        [Verifier.parse(k) for k in log_keys] if log_keys else existing_log_verifiers(settings)
    )
    verdicts = verify_paths([Path(f) for f in files], trusted, at=at)
    logged = True
    for verdict in verdicts:
        print(verdict.describe(lang))
        included = judge(verdict, inclusions, log_verifiers, trusted, at)
        if included is not None:
            print(f"  {included.say(lang)}")
            logged = logged and included.ok
        print()
    for problem in unreadable:
        print(f"{problem}\n")
    valid = logged and not unreadable and all(v.valid for v in verdicts)
    return 0 if verdicts and valid else 1


def validation_moment(text: str) -> datetime:
    """`--at`: an ISO 8601 date (midnight UTC) or date and time (UTC unless a zone is given)."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 date or date and time, e.g. 2031-06-30 or "
            "2031-06-30T12:00:00+02:00"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _dkim_record(settings: Settings) -> str:
    """The zone-file line of the DKIM key: TXT character-strings of at most 255 octets."""
    from gateway.evidence.pki import pki_paths
    from gateway.smtp_out.dkim import DEFAULT_SELECTOR, DkimSigner

    signer = DkimSigner.from_file(
        settings.gateway.domain, DEFAULT_SELECTOR, pki_paths(settings.gateway.data_dir).dkim_key
    )
    value = signer.dns_record()
    strings = " ".join(f'"{value[i : i + 255]}"' for i in range(0, len(value), 255))
    return f"{DEFAULT_SELECTOR}._domainkey.{settings.gateway.domain}. IN TXT ( {strings} )"


DESCRIPTION = """\
LRE Gateway: electronic registered mail by email. Senders deposit letters over SMTP; the
gateway stores them encrypted, issues sealed and timestamped proofs, and lets each recipient
accept or refuse on a web page.

Every command reads its settings from --config FILE (before or after the command's name), or
else from $LRE_GATEWAY_CONFIG, or else from config/gateway.toml if it exists; without any, the
development defaults apply."""

EPILOG = """\
examples:
  lre-gateway --config /etc/lre/gateway.toml serve
  lre-gateway sender add maitre@cabinet.ma --name "Maître Dupont" --password-stdin
  lre-gateway sender list --config /etc/lre/gateway.toml
  lre-gateway verify proof.pdf

`lre-gateway COMMAND --help` describes one command."""


def _config_option() -> argparse.ArgumentParser:
    """--config, accepted after any command too (`lre-gateway ca --config F`)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        metavar="FILE",
        default=argparse.SUPPRESS,  # after the command: only overrides when given there
        help="the gateway's TOML configuration file",
    )
    return common


def _add_keys_commands(commands: Any, parents: Sequence[Any] = ()) -> None:
    """The `keys` and `audit` subcommands, which gateway.operator_keys runs (commands: the top
    parser's subparsers; parents: the options every command takes, such as --config)."""
    common = {"parents": list(parents)}
    keys_parser = commands.add_parser(
        "keys", help="the keys that encrypt the stored letters", **common
    )
    sub = keys_parser.add_subparsers(dest="keys_command", required=True)
    sub.add_parser(
        "rotate", help="add a master key; the gateway re-wraps every letter under it", **common
    )
    sub.add_parser(
        "rewrap", help="re-wrap every letter under the current key now (foreground)", **common
    )
    sub.add_parser("status", help="current key, letters per key, re-wrap progress", **common)
    sub.add_parser(
        "verify", help="check that every letter decrypts with the keys present", **common
    )
    destroy = sub.add_parser(
        "destroy-old", help="delete an old master key no letter uses", **common
    )
    destroy.add_argument("key_id", metavar="KEY_ID", help="e.g. master-1")
    audit_parser = commands.add_parser(
        "audit", help="the sealed audit log of operator actions", **common
    )
    audit_sub = audit_parser.add_subparsers(dest="audit_command", required=True)
    audit_sub.add_parser("verify", help="check the audit log's chain and seals", **common)


def _parser() -> argparse.ArgumentParser:
    common = _config_option()
    parser = argparse.ArgumentParser(
        prog="lre-gateway",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", metavar="FILE", help="the gateway's TOML configuration file")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        parent: argparse._SubParsersAction[argparse.ArgumentParser], name: str, text: str
    ) -> argparse.ArgumentParser:
        return parent.add_parser(name, help=text, description=text, parents=[common])

    command(commands, "init", "create the data directory, the database tables and the keys")
    command(commands, "serve", "run the gateway: SMTP ports, web site and background work")
    command(commands, "demo", "create a demo sender (first run) and print how to send a letter")
    sender = command(commands, "sender", "manage the sender accounts allowed to deposit letters")
    senders = sender.add_subparsers(dest="sender_command", required=True, metavar="ACTION")
    add = command(senders, "add", "create a sender account, or change its name and password")
    add.add_argument("email", help="the sender's email address (its login and From: address)")
    add.add_argument("--name", default="", help="the name proofs give (default: the address)")
    add.add_argument(
        "--language",
        default="fr",
        choices=("fr", "en", "ar"),
        help="language of the proofs mailed to this sender (default: fr)",
    )
    add.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password (at least 8 characters) from the first line of standard input",
    )
    command(senders, "list", "list the sender accounts, their status and letters in progress")
    for name, text in (
        ("disable", "refuse this sender's logins and letters until it is enabled again"),
        ("enable", "accept this sender's logins and letters again"),
        (
            "remove",
            "remove a sender account (refused while letters are in progress; "
            "letters and proofs are always kept)",
        ),
    ):
        command(senders, name, text).add_argument("email", help="the sender's email address")
    _api_commands(senders, common)
    command(commands, "ca", "print the trust anchors (PEM) that verify this gateway's proofs")
    verify = command(commands, "verify", "check proofs offline: seal, timestamp, certificates")
    verify.add_argument(
        "files", nargs="+", help="proof.pdf, a proof mail (.eml), or evidence.xml and its .p7s"
    )
    verify.add_argument("--anchors", help="PEM trust anchors (default: this gateway's, see `ca`)")
    verify.add_argument(
        "--at",
        type=validation_moment,
        metavar="DATETIME",
        help="validate as of this ISO 8601 date or date and time (UTC unless it names a zone); "
        "default now",
    )
    verify.add_argument(
        "--log-key",
        action="append",
        metavar="VKEY",
        help="the evidence log's verifier key, to check inclusion proofs; repeat it across a "
        "log-key rotation (default: this gateway's, see `log key --all`)",
    )
    verify.add_argument(
        "--lang",
        choices=LANGUAGES,
        default=report.DEFAULT,
        help=f"the report's language (default: {report.DEFAULT})",
    )
    command(commands, "dkim-record", "print the DKIM TXT record to publish in DNS")
    _add_keys_commands(commands, [common])
    add_log_parser(commands, [common])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logs.configure()
    try:
        settings = load_settings(config_path(args.config))
        logs.configure(settings.logging.format)
        if args.command == "init":
            _initialise(settings)
            print(f"initialised {settings.gateway.data_dir}")
        elif args.command == "serve":
            _initialise(settings)  # refuses without the keys the stored letters need
            from gateway.app import serve

            asyncio.run(serve(settings))
        elif args.command == "demo":
            _initialise(settings)
            _demo(settings)
        elif args.command == "sender":
            _initialise(settings)
            if args.sender_command in ("token", "webhook"):
                return _sender_api(settings, args)
            return _sender(settings, args)
        elif args.command == "ca":
            _initialise(settings)
            sys.stdout.write(anchors(settings).decode())
        elif args.command == "verify":
            return _verify(settings, args.files, args.anchors, args.at, args.log_key, args.lang)
        elif args.command == "dkim-record":
            _initialise(settings)
            print(_dkim_record(settings))
        elif args.command == "log":
            if args.log_command == "rotate-key":
                _initialise(settings)
                return run_log_command(settings, args, _audit_recorder(settings))
            return run_log_command(settings, args)
        elif args.command == "keys":
            _initialise(settings)
            from gateway.operator_keys import run_keys

            return run_keys(settings, args, evidence_sealer(settings), anchors(settings))
        elif args.command == "audit":
            _initialise(settings)
            from gateway.operator_keys import run_audit

            return run_audit(settings, args, anchors(settings))
    except NoteError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except ConfigError as err:
        print(f"configuration error: {err}", file=sys.stderr)
        return 2
    except (InstallationError, SmtpProcessFailed) as err:
        print(f"lre-gateway cannot start: {err}", file=sys.stderr)
        return 2
    return 0
