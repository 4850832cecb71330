"""Letters deposited over real SMTP, and what the gateway kept of them."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

import aiohttp
from sqlalchemy import func, select

from gateway.app import Running
from gateway.core.letter import Letter, State
from gateway.storage import tables as t
from tests.support.client import (
    csrf_field,
    letter_bytes,
    link_in,
    notification_for,
    outbox,
    submit,
    wait_for,
)
from tests.support.gateway import PASSWORD, SENDER

BOB = "bob.martin@example.ma"
BODY = "Madame, Monsieur, je vous mets en demeure de payer la somme de 12 000 dirhams."
CONTRACT = b"%PDF-1.4 fake contract bytes \x00\x01\x02"


def anchors(gateway: Running) -> bytes:
    from gateway import trust

    return trust.anchors(gateway.settings)


async def deposit(gateway: Running, to: list[str] | None = None) -> tuple[bytes, str]:
    data = letter_bytes(
        SENDER, to or [BOB], "Mise en demeure", BODY, [("contrat.pdf", "application/pdf", CONTRACT)]
    )
    code, reply = await submit(gateway, SENDER, PASSWORD, to or [BOB], data)
    assert code == 250
    reference = re.search(r"LRE-\d{8}-[A-Z2-7]{8}", reply)
    assert reference, reply
    return data, reference.group(0)


async def open_link(gateway: Running, recipient: str = BOB) -> str:
    notices = await wait_for(lambda: notification_for(gateway, recipient), what="notification")
    return link_in(notices[0])


@dataclass(frozen=True)
class Kept:
    """A letter as the gateway stored it."""

    letter: Letter
    recipients: list[str]
    content: bytes  # decrypted by the gateway's own vault


async def kept(gateway: Running) -> list[Kept]:
    """Every letter in the database, oldest first, with its deliveries and exact content."""

    def read() -> list[tuple[Letter, list[str]]]:
        with gateway.store.engine.connect() as db:
            ids = db.scalars(select(t.letters.c.id).order_by(t.letters.c.deposited_at)).all()
            deliveries = [
                db.execute(
                    select(t.deliveries.c.id, t.deliveries.c.recipient).where(
                        t.deliveries.c.letter_id == letter_id
                    )
                ).all()
                for letter_id in ids
            ]
        found = []  # read the letters once the connection is closed (SQLite: one writer)
        for letter_id, rows in zip(ids, deliveries, strict=True):
            assert rows, f"letter {letter_id} has no delivery"
            joined = gateway.store.by_delivery(rows[0].id)
            assert joined is not None
            found.append((joined[0], sorted(row.recipient for row in rows)))
        return found

    return [
        Kept(letter, recipients, await gateway.registry.decisions.content(letter))
        for letter, recipients in await asyncio.to_thread(read)
    ]


async def assert_nothing_kept(gateway: Running) -> None:
    """No letter, delivery, evidence or queued mail in the database, and nothing in the outbox."""

    def counts() -> dict[str, int]:
        with gateway.store.engine.connect() as db:
            return {
                table.name: db.scalar(select(func.count()).select_from(table)) or 0
                for table in (t.letters, t.deliveries, t.evidence, t.outbound)
            }

    assert await asyncio.to_thread(counts) == {
        "letters": 0,
        "deliveries": 0,
        "evidence": 0,
        "outbound": 0,
    }
    assert outbox(gateway) == []


def delivery_state(gateway: Running) -> State:
    """The state of the only delivery of the only letter."""
    from sqlalchemy import select

    from gateway.storage import tables

    with gateway.store.engine.connect() as db:
        [letter_id] = db.execute(select(tables.letters.c.id)).scalars()
    [delivery] = gateway.store.deliveries_of(letter_id)
    return delivery.state


async def post(session: aiohttp.ClientSession, link: str, action: str) -> aiohttp.ClientResponse:
    """Press a button of a form posting to action (letters.recipient_verification = none)."""
    async with session.get(link) as page:
        html = await page.text()
    fields = csrf_field(html, f"/{action}")
    response = await session.post(f"{link}/{action}", data=fields, allow_redirects=False)
    await response.read()
    return response
