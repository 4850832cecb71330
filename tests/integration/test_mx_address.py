"""Letters emailed to bob=example.ma@<gateway domain>: sender authenticated by DKIM, SPF+DMARC or a
trusted relay; everything else refused with 550 5.7.x. DNS answers come from a loopback server."""

from __future__ import annotations

import re

import dkim
import pytest

from tests.support.client import letter_bytes, wait_for
from tests.support.gateway import SENDER
from tests.support.letters import BOB, BODY
from tests.support.mx_world import (
    MX_ADDRESS,
    World,
    dns_server,
    letter,
    proofs,
    publish_dkim_key,
    send_inbound,
    world,
)

__all__ = ["dns_server", "world"]


async def deposited(world: World, reply: tuple[int, str]) -> bytes:
    code, text = reply
    assert code == 250, text
    reference = re.search(r"LRE-\d{8}-[A-Z2-7]{8}", text)
    assert reference, text
    [notice] = await wait_for(lambda: world.recipient_mx.messages, what="notification")
    assert notice.rcpt_tos == (BOB,)
    [proof] = await wait_for(
        lambda: proofs(world.sender_mx, "SubmissionAcceptance"), what="proof of deposit"
    )
    return proof.xml


async def test_aligned_dkim_signature_deposits_the_letter(world):
    """A DKIM signature of the From: domain: deposited; the proof says how."""
    private = publish_dkim_key(world.dns, "s2026", "cabinet-dupont.ma")
    message = letter()
    signed = dkim.sign(message, b"s2026", b"cabinet-dupont.ma", private) + message
    xml = await deposited(world, await send_inbound(world, SENDER, MX_ADDRESS, signed))
    assert b"DKIM signature d=cabinet-dupont.ma s=s2026 aligned" in xml


async def test_a_phone_in_the_mx_address_display_name_reaches_the_evidence(world):
    """To: "Bob (+212 6…)" <bob.martin=example.ma@gateway>: Bob's number, as on submission."""
    private = publish_dkim_key(world.dns, "s2026", "cabinet-dupont.ma")
    message = letter_bytes(
        SENDER, [f'"Bob Martin (+212 6 12 34 56 78)" <{MX_ADDRESS}>'], "Mise en demeure", BODY
    )
    signed = dkim.sign(message, b"s2026", b"cabinet-dupont.ma", private) + message
    xml = await deposited(world, await send_inbound(world, SENDER, MX_ADDRESS, signed))
    assert b"<lre:PhoneNumber>+212612345678</lre:PhoneNumber>" in xml


async def test_unaligned_or_missing_authentication_is_refused(world):
    """No signature and no SPF; a signature of another domain; an unregistered sender: 550 5.7.x."""
    code, text = await send_inbound(world, SENDER, MX_ADDRESS, letter())
    assert (code, text[:6]) == (550, "5.7.26")
    assert "DKIM" in text
    private = publish_dkim_key(world.dns, "x", "mailer.example")
    world.dns.add("mailer.example", "TXT", '"v=spf1 -all"')
    message = letter()
    other = dkim.sign(message, b"x", b"mailer.example", private) + message
    code, text = await send_inbound(world, SENDER, MX_ADDRESS, other)
    assert (code, text[:6]) == (550, "5.7.26")
    code, text = await send_inbound(
        world, "eve@mailer.example", MX_ADDRESS, letter("eve@mailer.example")
    )
    assert (code, text[:5]) == (550, "5.7.1")
    assert "not a registered sender" in text
    assert not world.recipient_mx.messages


async def test_spf_pass_counts_only_with_dmarc_alignment(world):
    """SPF pass alone is refused; with a DMARC record of the From: domain it deposits."""
    world.dns.add("cabinet-dupont.ma", "TXT", '"v=spf1 mx ip4:127.0.0.0/8 -all"')
    code, text = await send_inbound(world, SENDER, MX_ADDRESS, letter())
    assert (code, text[:6]) == (550, "5.7.26")
    assert "DMARC" in text
    world.dns.add("_dmarc.cabinet-dupont.ma", "TXT", '"v=DMARC1; p=reject"')
    xml = await deposited(world, await send_inbound(world, SENDER, MX_ADDRESS, letter()))
    assert b"SPF pass for cabinet-dupont.ma from 127.0.0.1" in xml


RESULTS = (
    b"Authentication-Results: mx.lre.localhost; dkim=pass header.d=cabinet-dupont.ma; "
    b"dmarc=pass header.from=cabinet-dupont.ma\r\n"
)


async def test_authentication_results_are_ignored_from_untrusted_peers(world):
    """Anybody can write Authentication-Results: from an unlisted peer it counts for nothing."""
    code, _ = await send_inbound(world, SENDER, MX_ADDRESS, RESULTS + letter())
    assert code == 550


@pytest.mark.parametrize("world", [{}], indirect=True)
async def test_trusted_relay_results_deposit(world, tmp_path, database_url):
    """A relay in smtp.trusted_relays vouches with dmarc=pass for the From: domain."""
    from dataclasses import replace

    from tests.support.gateway import start

    settings = world.gateway.settings
    trusted = replace(
        settings,
        smtp=replace(settings.smtp, trusted_relays=("127.0.0.0/8",)),
        web=replace(settings.web, listen=("127.0.0.1", 0)),
    )
    async with start(trusted) as gateway:
        relay = World(gateway, world.dns, world.recipient_mx, world.sender_mx)
        xml = await deposited(
            relay, await send_inbound(relay, SENDER, MX_ADDRESS, RESULTS + letter())
        )
    assert b"d=cabinet-dupont.ma reported by the trusted relay mx.lre.localhost" in xml
