"""What both SMTP handlers (submission and MX) read from an aiosmtpd session, and the short
dir() they and the protocol class show aiosmtpd."""

from __future__ import annotations

from typing import Any, ClassVar

from aiosmtpd.smtp import SMTP, Session


def tls_of(server: SMTP) -> str | None:
    """'STARTTLS (TLSv1.3)' or 'implicit TLS (TLSv1.3)', or None on a clear-text session."""
    transport = server.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    if ssl_object is None:
        return None
    how = "STARTTLS" if server.session is not None and server.session.ssl else "implicit TLS"
    return f"{how} ({ssl_object.version()})"


def peer_of(session: Session | None) -> str:
    """The client's IP address, or 'unknown'."""
    peer: Any = session.peer if session is not None else None
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return str(peer or "unknown")


class HookNames:
    """A short dir(): only the names aiosmtpd looks for, listed once per class.

    aiosmtpd's SMTP.__init__ runs on every connection and finds the handler's hooks and AUTH
    methods, and its own commands, with dir() and inspect.getmembers(), which read every
    attribute of the handler and of the protocol object (sorted, then filtered by prefix);
    here dir() lists only the attributes with one of `HOOK_PREFIXES`."""

    HOOK_PREFIXES: ClassVar[tuple[str, ...]] = ("auth_", "handle_")

    def __dir__(self) -> list[str]:
        return list(hook_names(type(self), self.HOOK_PREFIXES))


_HOOK_NAMES: dict[tuple[type, tuple[str, ...]], tuple[str, ...]] = {}


def hook_names(cls: type, prefixes: tuple[str, ...]) -> tuple[str, ...]:
    """The attributes of `cls` whose names start with one of `prefixes` (computed once)."""
    names = _HOOK_NAMES.get((cls, prefixes))
    if names is None:
        # dir() of the class itself: its attributes and its bases' (not this __dir__)
        names = _HOOK_NAMES[(cls, prefixes)] = tuple(
            name for name in dir(cls) if name.startswith(prefixes)
        )
    return names
