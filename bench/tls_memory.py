"""Memory an SMTP listener keeps for each TLS connection it served, by event loop and TLS layer.

A server process (this module with `--serve`) runs aiosmtpd with the gateway's `_Protocol` on
uvloop or asyncio's loop, its TLS made either by the loop itself (uvloop's `SSLProtocol` in C:
its `start_tls` for STARTTLS, `create_server(ssl=...)` for implicit TLS) or by asyncio's
`sslproto` (gateway.smtp_in.tls, what the gateway uses); this process opens CONNECTIONS
sessions against it (8 at a time; EHLO, STARTTLS or implicit TLS, one message, QUIT) and prints
the server's RSS every EVERY connections, and its count of objects the garbage collector
tracks (after a collection). RSS that grows while the object count stays is memory kept below
Python (MagicStack/uvloop#565: uvloop's TLS, ~1.4 KB a connection on 2026-12-05, uvloop 0.23).

    python -m bench.tls_memory [--connections 15000] [--every 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import signal
import smtplib
import ssl
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

WAYS = (  # (event loop, TLS layer, how the session starts TLS)
    ("uvloop", "loop", "starttls"),
    ("uvloop", "asyncio", "starttls"),
    ("uvloop", "loop", "implicit"),
    ("uvloop", "asyncio", "implicit"),
    ("asyncio", "asyncio", "starttls"),
)


class _Accept:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 OK"


def _objects() -> None:
    gc.collect()
    print(len(gc.get_objects()), flush=True)


async def _serve(layer: str, start: str, directory: Path) -> None:
    from gateway.evidence.pki import ensure_dev_pki
    from gateway.smtp_in import server as smtp_server
    from gateway.smtp_in.tls import implicit_tls

    paths = ensure_dev_pki(directory, "bench.localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(paths.tls_cert, paths.tls_key)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, _objects)
    if layer == "loop":  # STARTTLS by the loop's own TLS, as the gateway made it before ffd4ce8

        async def loop_tls(_loop: Any, plain: Any, protocol: Any, tls: ssl.SSLContext) -> Any:
            return await loop.start_tls(plain, protocol, tls, server_side=True)

        smtp_server.start_tls = loop_tls  # type: ignore[assignment,attr-defined] # here only

    def session() -> Any:
        if start == "starttls":
            return smtp_server._Protocol(
                _Accept(), loop=loop, hostname="bench", auth_required=False,
                auth_require_tls=False, decode_data=False, tls_context=context,
                require_starttls=True,
            )  # fmt: skip
        return smtp_server._Protocol(
            _Accept(), loop=loop, hostname="bench", auth_required=False, auth_require_tls=False,
            decode_data=False,
        )  # fmt: skip

    if start == "implicit" and layer == "loop":
        server = await loop.create_server(session, "127.0.0.1", 0, ssl=context)
    elif start == "implicit":
        server = await loop.create_server(
            lambda: implicit_tls(loop, session(), context), "127.0.0.1", 0
        )
    else:
        server = await loop.create_server(session, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def measure(way: tuple[str, str, str], connections: int, every: int, directory: Path) -> None:
    loop_name, layer, start = way
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.tls_memory", "--serve", loop_name, layer, start,
         str(directory)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    if server.stdout is None:
        raise RuntimeError("the server's output is not piped")
    port = int(server.stdout.readline())
    client = ssl.create_default_context()
    client.check_hostname, client.verify_mode = False, ssl.CERT_NONE

    def one(_: int) -> None:
        if start == "implicit":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL("127.0.0.1", port, context=client)
        else:
            smtp = smtplib.SMTP("127.0.0.1", port)
            smtp.starttls(context=client)
        smtp.sendmail("a@example.org", ["b@example.org"], b"Subject: x\r\n\r\nx\r\n")
        smtp.quit()

    figures = []
    try:
        with ThreadPoolExecutor(8) as pool:
            for _ in range(every, connections + 1, every):
                list(pool.map(one, range(every)))
                time.sleep(0.2)
                server.send_signal(signal.SIGUSR1)
                objects = server.stdout.readline().strip()
                figures.append(f"{_rss_kb(server.pid) / 1024:.1f} MB ({objects} objects)")
    finally:
        server.kill()
        server.wait()
    print(f"| {loop_name} | {layer} | {start} | " + " | ".join(figures) + " |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--connections", type=int, default=15000)
    parser.add_argument("--every", type=int, default=3000)
    parser.add_argument("--serve", nargs=4, metavar=("LOOP", "LAYER", "START", "DIRECTORY"))
    args = parser.parse_args()
    if args.serve:
        loop_name, layer, start, directory = args.serve
        serving = _serve(layer, start, Path(directory))
        if loop_name == "uvloop":
            import uvloop

            uvloop.run(serving)
        else:
            asyncio.run(serving)
        return
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)  # the servers' development PKI (its TLS certificate)
        steps = range(args.every, args.connections + 1, args.every)
        print("| loop | TLS by | TLS | " + " | ".join(f"after {n:,}" for n in steps) + " |")
        print("|---|---|---|" + "---|" * len(steps))
        for way in WAYS:
            measure(way, args.connections, args.every, directory)


if __name__ == "__main__":
    main()
