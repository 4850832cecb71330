"""A gateway delivering by MX: loopback DNS and two sink MTAs (fixtures dns_server, world)."""

from __future__ import annotations

import base64
import email
import email.policy
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway.app import Running
from tests.support.client import Proof, attachments_of, letter_bytes
from tests.support.dns import DnsServer
from tests.support.gateway import SENDER, free_port, make_settings, start
from tests.support.letters import BOB, BODY
from tests.support.sink_mta import SinkMTA


@dataclass
class World:
    gateway: Running
    dns: DnsServer
    recipient_mx: SinkMTA  # example.ma (Bob)
    sender_mx: SinkMTA  # cabinet-dupont.ma (receives the proofs)


@pytest.fixture
def dns_server() -> Iterator[DnsServer]:
    with DnsServer() as server:
        server.add("example.ma", "MX", "10 mx.example.ma.")
        server.add("mx.example.ma", "A", "127.0.0.2")
        server.add("cabinet-dupont.ma", "MX", "10 mx.cabinet-dupont.ma.")
        server.add("mx.cabinet-dupont.ma", "A", "127.0.0.3")
        yield server


@pytest.fixture
async def world(
    tmp_path: Path, database_url: str, dns_server: DnsServer, request: pytest.FixtureRequest
) -> AsyncIterator[World]:
    port = free_port()
    delivery = {
        "mode": "mx",
        "resolver": dns_server.address,
        "mx_port": port,
        "retry_base": "1s",
        "retry_max": "1s",
    }
    delivery.update(getattr(request, "param", {}))
    settings = make_settings(
        tmp_path, database_url, delivery=delivery, smtp={"inbound": "127.0.0.1:0"}
    )
    async with (
        SinkMTA(host="127.0.0.2", port=port, tls="starttls") as recipient_mx,
        SinkMTA(host="127.0.0.3", port=port) as sender_mx,
        start(settings) as gateway,
    ):
        yield World(gateway, dns_server, recipient_mx, sender_mx)


def proofs(sink: SinkMTA, event: str) -> list[Proof]:
    found = []
    for received in sink.messages:
        files = attachments_of(received.data)
        if f"/Event/{event}<".encode() in files.get("evidence.xml", b""):
            found.append(Proof("", "", files["evidence.xml"], files["evidence.xml.p7s"]))
    return found


async def send_inbound(world: World, mail_from: str, rcpt: str, data: bytes) -> tuple[int, str]:
    host, port = world.gateway.smtp["inbound"]
    client = aiosmtplib.SMTP(
        hostname=host, port=port, start_tls=False, local_hostname="mx.example.ma"
    )
    await client.connect()
    try:
        await client.ehlo()
        await client.mail(mail_from)
        code, text = await client.rcpt(rcpt)
        if code >= 400:
            return code, text
        reply = await client.data(data)
        return reply.code, reply.message
    except aiosmtplib.SMTPResponseException as err:
        return err.code, err.message
    finally:
        client.close()


MX_ADDRESS = "bob.martin=example.ma@lre.localhost"


def publish_dkim_key(dns: DnsServer, selector: str, domain: str) -> bytes:
    """A new RSA key: its public half published in DNS, its private half (PKCS#1 PEM) returned."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    value = f"v=DKIM1; k=rsa; p={base64.b64encode(public).decode()}"
    chunks = " ".join(f'"{value[i : i + 200]}"' for i in range(0, len(value), 200))
    dns.add(f"{selector}._domainkey.{domain}", "TXT", chunks)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def letter(sender: str = SENDER) -> bytes:
    return letter_bytes(sender, [BOB], "Mise en demeure", BODY)


def parsed(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message
