"""What both SMTP handlers (submission and MX) read from an aiosmtpd session."""

from __future__ import annotations

from typing import Any

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
