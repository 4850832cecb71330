"""TLS on the SMTP listeners by asyncio's own TLS protocol, on whichever event loop serves them.

uvloop's TLS (its `SSLProtocol` in C, behind its `loop.start_tls` and `create_server(ssl=...)`)
keeps memory for every connection it served, about 1.4 KB (MagicStack/uvloop#565, open): an
SMTP process on uvloop grew by 2.5 MB every 10,000 letters, without end (docs/performance.md,
"The session of 2026-12-05, evening"). asyncio's `sslproto.SSLProtocol` (Python; the design
uvloop's came from) works over any loop's transports, and what it holds does not grow with the
connections served (`bench.tls_memory`): both listeners' TLS is made with it, on either loop, as
asyncio's `loop.start_tls` and `create_server(ssl=...)` make it.
"""

from __future__ import annotations

import asyncio
import ssl
from asyncio import sslproto
from typing import cast


def implicit_tls(
    loop: asyncio.AbstractEventLoop, protocol: asyncio.Protocol, context: ssl.SSLContext
) -> asyncio.BaseProtocol:
    """The protocol of a connection that is TLS from its first byte (port 465): the server's
    handshake, then `protocol.connection_made` with the TLS transport. A failed handshake
    closes the connection (logged at debug, as the loop's own server does)."""
    handshake = loop.create_future()  # its failure is the protocol's to log: retrieved here
    handshake.add_done_callback(lambda done: done.cancelled() or done.exception())
    return sslproto.SSLProtocol(loop, protocol, context, handshake, server_side=True)


async def start_tls(
    loop: asyncio.AbstractEventLoop,
    transport: asyncio.BaseTransport,
    protocol: asyncio.BaseProtocol,
    context: ssl.SSLContext,
) -> asyncio.Transport:
    """`loop.start_tls(transport, protocol, context, server_side=True)` as asyncio's own loop
    makes it (STARTTLS): the TLS transport once the handshake is done; what the handshake
    raised otherwise, the connection closed."""
    waiter = loop.create_future()
    tls = sslproto.SSLProtocol(
        loop, protocol, context, waiter, server_side=True, call_connection_made=False
    )
    plain = cast(asyncio.Transport, transport)
    plain.pause_reading()  # nothing reaches the TLS layer before its connection_made
    plain.set_protocol(tls)
    made = loop.call_soon(tls.connection_made, plain)
    resumed = loop.call_soon(plain.resume_reading)
    try:
        await waiter
    except BaseException:
        plain.close()
        made.cancel()
        resumed.cancel()
        raise
    return cast(asyncio.Transport, tls._app_transport)  # what asyncio's start_tls returns
