"""Postfix behind the gateway (its smarthost) and in front of it (the public MX), for real.

Each test starts its own Postfix (tests/support/postfix.py) on a loopback port and stops it.
"""

from __future__ import annotations

import smtplib
from pathlib import Path

import dkim

from gateway.core.letter import State
from tests.support.client import wait_for
from tests.support.gateway import SENDER, free_port, make_settings, smarthost, start
from tests.support.letters import BOB, delivery_state, deposit
from tests.support.mx_world import (
    MX_ADDRESS,
    World,
    dns_server,
    letter,
    proofs,
    publish_dkim_key,
    world,
)
from tests.support.postfix import Postfix
from tests.support.sink_mta import SinkMTA

__all__ = ["dns_server", "world"]


async def test_postfix_as_the_gateways_smarthost(tmp_path: Path, database_url: str) -> None:
    """gateway → Postfix on loopback → the recipient's mailbox: notified, VERP kept, via Postfix."""
    mailbox_port = free_port()
    relay_port = free_port()
    settings = make_settings(
        tmp_path,
        database_url,
        delivery=smarthost(relay_port),
    )
    async with SinkMTA(host="127.0.0.2", port=mailbox_port) as mailbox:
        with Postfix(relay_port, main={"relayhost": f"[127.0.0.2]:{mailbox_port}"}) as postfix:
            async with start(settings) as gateway:
                await deposit(gateway)
                notices = await wait_for(
                    lambda: [m for m in mailbox.messages if m.rcpt_tos == (BOB,)],
                    within=30,
                    what=f"notification through Postfix; its log:\n{postfix.maillog()}",
                )
                assert notices[0].mail_from.startswith("bounce+")
                assert b"by relay.test (Postfix)" in notices[0].data
                assert b"DKIM-Signature:" in notices[0].data
                await wait_for(lambda: delivery_state(gateway) is State.NOTIFIED, what="NOTIFIED")


async def test_postfix_as_public_mx_hands_the_gateway_domain_to_the_inbound_port(
    world: World,
) -> None:
    """Postfix receives for lre.localhost and relays it to the inbound port by a transport map;
    the DKIM-signed letter survives the hop and is deposited; other domains are refused."""
    private = publish_dkim_key(world.dns, "s2026", "cabinet-dupont.ma")
    message = letter()
    signed = dkim.sign(message, b"s2026", b"cabinet-dupont.ma", private) + message
    inbound_host, inbound_port = world.gateway.smtp["inbound"]
    port = free_port()
    main = {
        "mynetworks": "127.0.0.255/32",  # nobody: relaying only for relay_domains
        "relay_domains": "lre.localhost",
        "transport_maps": f"inline:{{ lre.localhost=smtp:[{inbound_host}]:{inbound_port} }}",
    }
    with Postfix(port, main=main) as postfix:
        with smtplib.SMTP("127.0.0.1", port, local_hostname="mail.cabinet-dupont.ma") as client:
            client.sendmail(SENDER, [MX_ADDRESS], signed)
            try:
                client.sendmail(SENDER, ["someone@elsewhere.example"], message)
                refused = None
            except smtplib.SMTPRecipientsRefused as err:
                refused = err.recipients["someone@elsewhere.example"]
        assert refused is not None  # reject_unauth_destination: relay_domains_reject_code 554
        assert refused == (554, b"5.7.1 <someone@elsewhere.example>: Relay access denied")
        [proof] = await wait_for(
            lambda: proofs(world.sender_mx, "SubmissionAcceptance"),
            within=30,
            what=f"proof of deposit via Postfix; its log:\n{postfix.maillog()}",
        )
    assert b"DKIM signature d=cabinet-dupont.ma s=s2026 aligned" in proof.xml
    [notice] = await wait_for(lambda: world.recipient_mx.messages, what="notification")
    assert notice.rcpt_tos == (BOB,)
