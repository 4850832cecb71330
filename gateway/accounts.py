"""The operator's sender accounts: the address check of `sender add` and the account commands.

`sender list|disable|enable|remove` work on the database directly (the gateway may be running:
a disabled account is refused at its next AUTH or MX-address letter). Nothing here deletes a
letter or a proof: an account that has letters is retired (password erased, disabled) instead.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from gateway.core.address import is_mailbox
from gateway.storage.account_store import AccountStore, AccountSummary

MAX_ADDRESS = 254  # RFC 5321 path limit less the angle brackets
MAX_LOCAL = 64


def address_problem(address: str) -> str | None:
    """Why `address` cannot be a sender account's address, or None when it can.

    The same mailbox check as RCPT TO on the submission port, plus what a From: header must
    satisfy to match it: no spaces or angle brackets, a dotted domain name (no address literal).
    """
    local, _, domain = address.rpartition("@")
    if not address or any(c.isspace() or c in '<>()[],;:\\"' for c in address):
        return f"{address!r} is not an email address (no spaces, brackets or quotes)"
    if not is_mailbox(address):
        return f"{address!r} is not an email address such as name@example.ma"
    if "." not in domain:
        return f"{address!r}: the domain {domain!r} is not a full domain name such as example.ma"
    if len(local) > MAX_LOCAL or len(address) > MAX_ADDRESS:
        return f"{address!r} is too long for an email address"
    if not address.isascii():
        return f"{address!r}: use the ASCII form of the address (xn-- for the domain)"
    return None


class AccountCommands:
    """What `lre-gateway sender list|disable|enable|remove` do; each returns the exit status and
    prints one sentence per outcome through `out`, or `err` for a refusal."""

    def __init__(
        self,
        store: AccountStore,
        clock: Callable[[], datetime],
        out: Callable[[str], None],
        err: Callable[[str], None],
    ) -> None:
        self._store = store
        self._clock = clock
        self._out = out
        self._err = err

    def list(self) -> int:
        accounts = self._store.summaries()
        if not accounts:
            self._out("no sender accounts (add one with `lre-gateway sender add`)")
            return 0
        self._out(_table(accounts))
        return 0

    def disable(self, email: str) -> int:
        if not self._store.set_disabled(email, self._clock()):
            return self._missing(email)
        self._out(f"sender {email} disabled: its AUTH and its letters to MX addresses are refused")
        return 0

    def enable(self, email: str) -> int:
        if not self._store.set_disabled(email, None):
            return self._missing(email)
        self._out(f"sender {email} enabled")
        return 0

    def remove(self, email: str) -> int:
        outcome = self._store.remove(email, self._clock())
        if outcome == "missing":
            return self._missing(email)
        if outcome == "busy":
            self._err(
                f"error: sender {email} has letters in progress (a recipient has not decided yet "
                "or a proof is not mailed yet); disable it now and remove it once they are done"
            )
            return 1
        if outcome == "deleted":
            self._out(f"sender {email} removed (it had no letters)")
        else:
            self._out(
                f"sender {email} removed: it can no longer log in; its letters and proofs are kept"
            )
        return 0

    def _missing(self, email: str) -> int:
        self._err(f"error: no sender account {email} (see `lre-gateway sender list`)")
        return 1


def _table(accounts: list[AccountSummary]) -> str:
    rows = [("ADDRESS", "NAME", "LANG", "STATUS", "LETTERS", "IN PROGRESS", "CREATED")]
    for a in accounts:
        status = f"disabled {a.disabled_at:%Y-%m-%d}" if a.disabled_at else "enabled"
        rows.append(
            (
                a.email,
                a.name,
                a.language,
                status,
                str(a.letters),
                str(a.in_progress),
                f"{a.created_at:%Y-%m-%d}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
