"""Rows for the queue and lease tests: an account, a letter, a delivery and pending mails."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, insert

from gateway.storage import tables as t

LEASE = timedelta(minutes=2)
NOW = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)


def due() -> object:
    return t.outbound.c.state == "pending"


def queued_mails(engine: Engine, count: int) -> list[str]:
    """An account, a letter, a delivery and `count` pending mails, inserted as rows."""
    with engine.begin() as db:
        db.execute(
            insert(t.accounts).values(
                id="a1", email="s@example.ma", name="S", password_hash="x", language="fr",
                created_at=NOW, updated_at=NOW,
            )
        )  # fmt: skip
        db.execute(
            insert(t.letters).values(
                id="l1", reference="LRE-20261130-AAAAAAAA", account_id="a1",
                sender_address="s@example.ma", sender_name="S", sender_authentication="test",
                subject="", message_size=0, message_sha256="0" * 64, attachments="[]",
                deposited_at=NOW, retain_until=NOW, key_id="k", wrapped_key=b"k", content=b"c",
            )
        )  # fmt: skip
        db.execute(
            insert(t.deliveries).values(
                id="d1", letter_id="l1", recipient="r@example.com", token_hash="t" * 64,
                state="deposited", deadline=NOW, updated_at=NOW,
            )
        )  # fmt: skip
        ids = [f"m{n}" for n in range(count)]
        for mail_id in ids:
            db.execute(
                insert(t.outbound).values(
                    id=mail_id, kind="notification", delivery_id="d1", mail_from="b@x",
                    rcpt="r@example.com", state="pending", attempts=0, created_at=NOW,
                    next_attempt_at=NOW,
                )
            )  # fmt: skip
    return ids
