"""A tiny authoritative DNS server on loopback (UDP and TCP), built on dnspython's wire functions.

    with DnsServer() as dns_server:
        dns_server.add("example.ma", "MX", "10 mx1.example.ma.")
        dns_server.add("mx1.example.ma", "A", "127.0.0.2")
        ...  # delivery.resolver = dns_server.address

A name that has no record at all answers NXDOMAIN; a name that has records, but not of the type
asked, answers NOERROR with an empty answer (NODATA). It runs in its own threads, so blocking
look-ups from the test's thread or the gateway's worker threads are answered too.
"""

from __future__ import annotations

import socket
import socketserver
import struct
import threading
from collections import defaultdict
from types import TracebackType

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

HOST = "127.0.0.1"
TTL = 60


class _Tcp(socketserver.ThreadingTCPServer):
    allow_reuse_address = True


class DnsServer:
    def __init__(self) -> None:
        self._records: defaultdict[dns.name.Name, list[tuple[str, str]]] = defaultdict(list)
        self._lock = threading.Lock()
        self._servers: list[socketserver.BaseServer] = []
        self.port = 0
        self.queries: list[tuple[str, str]] = []

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    def add(self, name: str, rdtype: str, text: str) -> None:
        with self._lock:
            self._records[dns.name.from_text(name)].append((rdtype.upper(), text))

    def answer(self, wire: bytes) -> bytes:
        query = dns.message.from_wire(wire)
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        question = query.question[0]
        self.queries.append((question.name.to_text(), dns.rdatatype.to_text(question.rdtype)))
        with self._lock:
            known = question.name in self._records
            texts = [
                text
                for rdtype, text in self._records.get(question.name, [])
                if rdtype == dns.rdatatype.to_text(question.rdtype)
            ]
        if not known:
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif texts:
            response.answer.append(
                dns.rrset.from_text_list(
                    question.name, TTL, dns.rdataclass.IN, question.rdtype, texts
                )
            )
        return response.to_wire()

    def __enter__(self) -> DnsServer:
        server = self

        class Udp(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                data, sock = self.request
                sock.sendto(server.answer(data), self.client_address)

        class Tcp(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                conn: socket.socket = self.request
                header = conn.recv(2)
                if len(header) < 2:
                    return
                (length,) = struct.unpack("!H", header)
                data = b""
                while len(data) < length:
                    chunk = conn.recv(length - len(data))
                    if not chunk:
                        return
                    data += chunk
                reply = server.answer(data)
                conn.sendall(struct.pack("!H", len(reply)) + reply)

        for _ in range(50):  # a port free for both TCP and UDP
            tcp = _Tcp((HOST, 0), Tcp)
            self.port = tcp.server_address[1]
            try:
                udp = socketserver.ThreadingUDPServer((HOST, self.port), Udp)
            except OSError:
                tcp.server_close()
                continue
            break
        else:
            raise RuntimeError("no port free for both TCP and UDP")
        for each in (udp, tcp):
            each.daemon_threads = True
            threading.Thread(target=each.serve_forever, args=(0.05,), daemon=True).start()
            self._servers.append(each)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for each in self._servers:
            each.shutdown()
            each.server_close()
