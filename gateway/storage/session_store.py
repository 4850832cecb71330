"""SQL of content sessions and content releases (see gateway.services.content_access)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, insert, select

from gateway.storage import tables as t
from gateway.storage.database import reading


@dataclass(frozen=True)
class Release:
    """One hand-over of released content to a session."""

    session_id: str
    what: str
    released_at: datetime


class SessionStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def open(
        self,
        *,
        session_id: str,
        delivery_id: str,
        token_hash: str,
        opened_by: str,
        now: datetime,
        expires_at: datetime,
        release_id: str,
    ) -> None:
        """Store a new session and record its opening as a release, in one transaction."""
        with self.engine.begin() as db:
            db.execute(
                insert(t.content_sessions).values(
                    id=session_id,
                    delivery_id=delivery_id,
                    token_hash=token_hash,
                    opened_by=opened_by,
                    created_at=now,
                    expires_at=expires_at,
                )
            )
            db.execute(
                insert(t.content_releases).values(
                    id=release_id,
                    delivery_id=delivery_id,
                    session_id=session_id,
                    what="session",
                    released_at=now,
                )
            )

    def find(self, delivery_id: str, token_hash: str, now: datetime) -> str | None:
        """The id of the delivery's live session with this token hash, else None."""
        c = t.content_sessions.c
        query = select(c.id).where(
            c.delivery_id == delivery_id, c.token_hash == token_hash, c.expires_at > now
        )
        with reading(self.engine) as db:
            return db.execute(query).scalar_one_or_none()

    def record(
        self, *, release_id: str, delivery_id: str, session_id: str, what: str, now: datetime
    ) -> None:
        with self.engine.begin() as db:
            db.execute(
                insert(t.content_releases).values(
                    id=release_id,
                    delivery_id=delivery_id,
                    session_id=session_id,
                    what=what,
                    released_at=now,
                )
            )

    def releases(self, delivery_id: str) -> list[Release]:
        c = t.content_releases.c
        query = (
            select(c.session_id, c.what, c.released_at)
            .where(c.delivery_id == delivery_id)
            .order_by(c.released_at, c.id)
        )
        with reading(self.engine) as db:
            return [Release(r.session_id, r.what, r.released_at) for r in db.execute(query)]
