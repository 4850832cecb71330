"""Baseline for the deposit benchmark: aiosmtpd with the same TLS and AUTH, doing nothing.

python -m bench.noop_server CERT KEY PORT
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import sys
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


class Handler:
    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        return "250 2.0.0 OK"


def accept_all(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    return AuthResult(success=isinstance(auth_data, LoginPassword))


async def main(cert: str, key: str, port: int) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(
            Handler(),
            tls_context=context,
            require_starttls=True,
            authenticator=accept_all,
            auth_required=True,
            auth_require_tls=True,
        ),
        "127.0.0.1",
        port,
    )
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    logging.getLogger("mail.log").setLevel(logging.ERROR)  # aiosmtpd warns on every AUTH
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
