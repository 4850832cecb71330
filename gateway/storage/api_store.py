"""ApiStore: the SQL of the REST API and the webhooks (tokens, idempotency, listings, queue).

Synchronous SQLAlchemy Core, run in the registry's executor like LetterStore. Tokens are kept
only as their SHA-256; a webhook endpoint's secret is kept in clear because signing needs it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, delete, func, insert, or_, select, update

from gateway.core.evidence import EvidenceType
from gateway.core.letter import Delivery, Letter, State
from gateway.storage import tables as t
from gateway.storage.database import reading
from gateway.storage.store import AccountRecord, _delivery, _letter
from gateway.storage.times import maybe_utc, utc
from gateway.storage.webhook_queue import WEBHOOKS

LEASE = timedelta(minutes=2)  # a webhook post's lease: longer than its timeout


@dataclass(frozen=True)
class TokenRecord:
    id: str
    prefix: str
    label: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class EndpointRecord:
    id: str
    account_id: str
    url: str
    secret: str
    failures: int
    created_at: datetime
    disabled_at: datetime | None
    disabled_reason: str | None


@dataclass(frozen=True)
class LetterFilter:
    """What `letters` selects; `cursor` continues after the last letter of a previous page."""

    state: State | None = None
    recipient: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    cursor: str | None = None
    limit: int = 50


@dataclass(frozen=True)
class Notice:
    """A mail to queue in the outbound table with its bytes fixed (e.g. "endpoint disabled")."""

    id: str
    mail_from: str
    message: bytes


NOTICE_KIND = "webhook_disabled"  # outbound.kind of the mail telling that an endpoint stopped


@dataclass(frozen=True)
class WebhookJob:
    """One event to post to one endpoint, with what the payload says."""

    id: str
    endpoint: EndpointRecord
    letter_id: str
    attempts: int
    evidence_id: str
    event: EvidenceType
    event_time: datetime
    channel: str | None
    reference: str
    recipient: str


def encode_cursor(deposited_at: datetime, letter_id: str) -> str:
    raw = json.dumps([deposited_at.isoformat(), letter_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The position a cursor names; ValueError for anything this API did not hand out."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        when, letter_id = json.loads(raw)
        return utc(datetime.fromisoformat(when)), str(letter_id)
    except Exception as err:  # any malformed cursor is the client's error
        raise ValueError("not a cursor of this API") from err


def _token(row: Any) -> TokenRecord:
    return TokenRecord(
        row.id,
        row.prefix,
        row.label,
        utc(row.created_at),
        maybe_utc(row.last_used_at),
        maybe_utc(row.revoked_at),
    )


def _endpoint(row: Any) -> EndpointRecord:
    return EndpointRecord(
        row.id,
        row.account_id,
        row.url,
        row.secret,
        row.failures,
        utc(row.created_at),
        maybe_utc(row.disabled_at),
        row.disabled_reason,
    )


class ApiStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # tokens -----------------------------------------------------------------------------

    def add_token(
        self, *, id: str, account_id: str, token_hash: str, prefix: str, label: str, now: datetime
    ) -> None:
        with self.engine.begin() as db:
            db.execute(
                insert(t.api_tokens).values(
                    id=id,
                    account_id=account_id,
                    token_hash=token_hash,
                    prefix=prefix,
                    label=label,
                    created_at=now,
                )
            )

    def tokens(self, account_id: str) -> list[TokenRecord]:
        query = (
            select(t.api_tokens)
            .where(t.api_tokens.c.account_id == account_id)
            .order_by(t.api_tokens.c.created_at, t.api_tokens.c.id)
        )
        with reading(self.engine) as db:
            return [_token(row) for row in db.execute(query)]

    def revoke_token(self, account_id: str, which: str, now: datetime) -> bool:
        """Revoke the account's live token whose id or prefix is `which`; False if none."""
        with self.engine.begin() as db:
            done = db.execute(
                update(t.api_tokens)
                .where(
                    t.api_tokens.c.account_id == account_id,
                    t.api_tokens.c.revoked_at.is_(None),
                    or_(t.api_tokens.c.id == which, t.api_tokens.c.prefix == which),
                )
                .values(revoked_at=now)
            )
            return bool(done.rowcount)

    def account_by_token(self, token_hash: str, now: datetime) -> AccountRecord | None:
        """The account of a live token (and note its use), or None."""
        query = (
            select(t.accounts, t.api_tokens.c.id.label("token_id"))
            .join(t.api_tokens, t.api_tokens.c.account_id == t.accounts.c.id)
            .where(t.api_tokens.c.token_hash == token_hash, t.api_tokens.c.revoked_at.is_(None))
        )
        with self.engine.begin() as db:
            row = db.execute(query).first()
            if row is None:
                return None
            db.execute(
                update(t.api_tokens)
                .where(t.api_tokens.c.id == row.token_id)
                .values(last_used_at=now)
            )
        return AccountRecord(row.id, row.email, row.name, row.password_hash, row.language)

    # idempotency ------------------------------------------------------------------------

    def idempotent(self, account_id: str, key: str) -> tuple[str, str] | None:
        """(request digest, letter reference) stored under this key, or None."""
        query = select(t.api_idempotency.c.request_sha256, t.api_idempotency.c.reference).where(
            t.api_idempotency.c.account_id == account_id, t.api_idempotency.c.key == key
        )
        with reading(self.engine) as db:
            row = db.execute(query).first()
        return None if row is None else (row.request_sha256, row.reference)

    @staticmethod
    def remember(
        db: Any, *, account_id: str, key: str, digest: str, reference: str, now: datetime
    ) -> None:
        """Store the key in the deposit's own transaction (a concurrent twin fails on it)."""
        db.execute(
            insert(t.api_idempotency).values(
                account_id=account_id,
                key=key,
                request_sha256=digest,
                reference=reference,
                created_at=now,
            )
        )

    # letters ----------------------------------------------------------------------------

    def letters(
        self, account_id: str, where: LetterFilter
    ) -> tuple[list[tuple[Letter, list[Delivery]]], str | None]:
        """One page of the account's letters, newest first, and the cursor of the next page."""
        query = select(t.letters).where(t.letters.c.account_id == account_id)
        if where.since is not None:
            query = query.where(t.letters.c.deposited_at >= where.since)
        if where.until is not None:
            query = query.where(t.letters.c.deposited_at < where.until)
        matching = select(t.deliveries.c.letter_id)
        if where.state is not None:
            matching = matching.where(t.deliveries.c.state == where.state.value)
        if where.recipient is not None:
            matching = matching.where(
                func.lower(t.deliveries.c.recipient) == where.recipient.lower()
            )
        if where.state is not None or where.recipient is not None:
            query = query.where(t.letters.c.id.in_(matching))
        if where.cursor is not None:
            when, letter_id = decode_cursor(where.cursor)
            query = query.where(
                or_(
                    t.letters.c.deposited_at < when,
                    and_(t.letters.c.deposited_at == when, t.letters.c.id < letter_id),
                )
            )
        query = query.order_by(t.letters.c.deposited_at.desc(), t.letters.c.id.desc())
        with reading(self.engine) as db:
            rows = db.execute(query.limit(where.limit + 1)).all()
            letters = [_letter(row) for row in rows[: where.limit]]
            ids = [letter.id for letter in letters]
            deliveries: dict[str, list[Delivery]] = {i: [] for i in ids}
            if ids:
                found = db.execute(
                    select(t.deliveries)
                    .where(t.deliveries.c.letter_id.in_(ids))
                    .order_by(t.deliveries.c.recipient)
                )
                for row in found:
                    deliveries[row.letter_id].append(_delivery(row))
        more = len(rows) > where.limit
        cursor = encode_cursor(letters[-1].deposited_at, letters[-1].id) if more else None
        return [(letter, deliveries[letter.id]) for letter in letters], cursor

    def letter(self, account_id: str, reference: str) -> Letter | None:
        query = select(t.letters).where(
            t.letters.c.account_id == account_id, t.letters.c.reference == reference
        )
        with reading(self.engine) as db:
            row = db.execute(query).first()
        return None if row is None else _letter(row)

    def evidence_of_letter(self, account_id: str, evidence_id: str) -> tuple[str, bool] | None:
        """(letter id, sealed) of an evidence of one of the account's letters, or None."""
        query = (
            select(t.evidence.c.letter_id, t.evidence.c.sealed_at)
            .join(t.letters, t.letters.c.id == t.evidence.c.letter_id)
            .where(t.evidence.c.id == evidence_id, t.letters.c.account_id == account_id)
        )
        with reading(self.engine) as db:
            row = db.execute(query).first()
        return None if row is None else (row.letter_id, row.sealed_at is not None)

    def account_email(self, account_id: str) -> str:
        with reading(self.engine) as db:
            query = select(t.accounts.c.email).where(t.accounts.c.id == account_id)
            return str(db.execute(query).scalar_one())

    # webhook endpoints ------------------------------------------------------------------

    def add_endpoint(
        self, *, id: str, account_id: str, url: str, secret: str, now: datetime
    ) -> EndpointRecord:
        with self.engine.begin() as db:
            db.execute(
                insert(t.webhook_endpoints).values(
                    id=id, account_id=account_id, url=url, secret=secret, failures=0, created_at=now
                )
            )
        return EndpointRecord(id, account_id, url, secret, 0, now, None, None)

    def endpoints(self, account_id: str) -> list[EndpointRecord]:
        query = (
            select(t.webhook_endpoints)
            .where(t.webhook_endpoints.c.account_id == account_id)
            .order_by(t.webhook_endpoints.c.created_at, t.webhook_endpoints.c.id)
        )
        with reading(self.engine) as db:
            return [_endpoint(row) for row in db.execute(query)]

    def remove_endpoint(self, account_id: str, which: str) -> bool:
        """Remove the account's endpoint whose id or URL is `which`, with its queue."""
        with self.engine.begin() as db:
            ids = db.execute(
                select(t.webhook_endpoints.c.id).where(
                    t.webhook_endpoints.c.account_id == account_id,
                    or_(t.webhook_endpoints.c.id == which, t.webhook_endpoints.c.url == which),
                )
            ).scalars()
            found = list(ids)
            if not found:
                return False
            db.execute(
                delete(t.webhook_deliveries).where(t.webhook_deliveries.c.endpoint_id.in_(found))
            )
            db.execute(delete(t.webhook_endpoints).where(t.webhook_endpoints.c.id.in_(found)))
        return True

    # the webhook queue ------------------------------------------------------------------

    def due_webhooks(
        self, now: datetime, lease: timedelta = LEASE, limit: int = 100
    ) -> list[WebhookJob]:
        """Lease the first pending event of each (endpoint, letter) when it is due: the order
        per letter (WEBHOOKS is a Queue in_order). A leased head holds back its letter's later
        events; each lease is a compare-and-set, so two gateway processes never post the same
        event at once."""
        claimed = WEBHOOKS.claim(self.engine, now=now, lease=lease, limit=limit)
        if not claimed:
            return []
        d, e, x, lt, dv = (
            t.webhook_deliveries,
            t.webhook_endpoints,
            t.evidence,
            t.letters,
            t.deliveries,
        )
        query = (
            select(
                d.c.id.label("job_id"),
                d.c.letter_id,
                d.c.attempts.label("job_attempts"),
                d.c.evidence_id,
                e,
                x.c.type,
                x.c.event_time,
                x.c.channel,
                lt.c.reference,
                dv.c.recipient,
            )
            .join(e, e.c.id == d.c.endpoint_id)
            .join(x, x.c.id == d.c.evidence_id)
            .join(lt, lt.c.id == d.c.letter_id)
            .join(dv, dv.c.id == x.c.delivery_id)
            .where(d.c.id.in_([row.id for row in claimed]))
            .order_by(d.c.endpoint_id, d.c.letter_id, d.c.seq, d.c.id)
        )
        with reading(self.engine) as db:
            rows = db.execute(query).all()
        return [
            WebhookJob(
                row.job_id,
                _endpoint(row),
                row.letter_id,
                row.job_attempts,
                row.evidence_id,
                EvidenceType(row.type),
                utc(row.event_time),
                row.channel,
                row.reference,
                row.recipient,
            )
            for row in rows
        ]

    def next_webhook_due(self) -> datetime | None:
        with reading(self.engine) as db:
            return WEBHOOKS.next_due(db)

    def webhook_sent(self, job: WebhookJob, now: datetime) -> None:
        with self.engine.begin() as db:
            WEBHOOKS.finish_row(db, job.id, counted=True, state="sent", sent_at=now)
            db.execute(
                update(t.webhook_endpoints)
                .where(t.webhook_endpoints.c.id == job.endpoint.id)
                .values(failures=0)
            )

    def webhook_failed(
        self,
        job: WebhookJob,
        error: str,
        *,
        retry_at: datetime,
        max_failures: int,
        now: datetime,
        notice: Callable[[EndpointRecord, str, str, datetime], Notice],
    ) -> bool:
        """Record a failed post and schedule the retry; True when the endpoint is now disabled.

        Disabling queues `notice` to the account's address in the outbound table, in the same
        commit: the scheduler sends it (retried, durable) like every other mail."""
        with self.engine.begin() as db:
            WEBHOOKS.retry_row(db, job.id, error, retry_at=retry_at, max_error=500)
            failures = db.execute(
                update(t.webhook_endpoints)
                .where(t.webhook_endpoints.c.id == job.endpoint.id)
                .values(failures=t.webhook_endpoints.c.failures + 1)
                .returning(t.webhook_endpoints.c.failures)
            ).scalar_one()
            if failures < max_failures:
                return False
            db.execute(
                update(t.webhook_endpoints)
                .where(t.webhook_endpoints.c.id == job.endpoint.id)
                .values(disabled_at=now, disabled_reason=f"{failures} failed posts: {error}"[:500])
            )
            self._queue_notice(db, job, notice, now)
            return True

    @staticmethod
    def _queue_notice(
        db: Any,
        job: WebhookJob,
        notice: Callable[[EndpointRecord, str, str, datetime], Notice],
        now: datetime,
    ) -> None:
        to, language = db.execute(
            select(t.accounts.c.email, t.accounts.c.language).where(
                t.accounts.c.id == job.endpoint.account_id
            )
        ).one()
        delivery_id = db.execute(  # the outbound row names the delivery whose event failed
            select(t.evidence.c.delivery_id).where(t.evidence.c.id == job.evidence_id)
        ).scalar_one()
        mail = notice(job.endpoint, to, language or "fr", now)
        db.execute(
            insert(t.outbound).values(
                id=mail.id,
                kind=NOTICE_KIND,
                delivery_id=delivery_id,
                mail_from=mail.mail_from,
                rcpt=to,
                state="pending",
                attempts=0,
                created_at=now,
                next_attempt_at=now,
            )
        )
        db.execute(insert(t.outbound_messages).values(outbound_id=mail.id, message=mail.message))

    def enable_endpoint(self, account_id: str, which: str) -> bool:
        """Enable a disabled endpoint again; its queued events go on from where they stopped."""
        with self.engine.begin() as db:
            done = db.execute(
                update(t.webhook_endpoints)
                .where(
                    t.webhook_endpoints.c.account_id == account_id,
                    or_(t.webhook_endpoints.c.id == which, t.webhook_endpoints.c.url == which),
                )
                .values(disabled_at=None, disabled_reason=None, failures=0)
            )
            return bool(done.rowcount)

    def webhook_states(self, endpoint_id: str) -> Sequence[tuple[str, str, int]]:
        """(evidence id, state, attempts) of an endpoint's queue in order (tests, the CLI)."""
        d = t.webhook_deliveries
        query = (
            select(d.c.evidence_id, d.c.state, d.c.attempts)
            .where(d.c.endpoint_id == endpoint_id)
            .order_by(d.c.letter_id, d.c.seq)
        )
        with reading(self.engine) as db:
            return [(row.evidence_id, row.state, row.attempts) for row in db.execute(query)]
