"""LetterStore: every SQL statement of the gateway; returns core types, never rows.

Methods are synchronous (SQLAlchemy Core) and run in the registry's executor. Every state change
is a compare-and-set on the delivery's state, so two processes never issue the same evidence
twice. The background work these changes queue (seals, mails, PDFs, SMS, webhook posts) is
leased by the queues of storage/queue.py; the seal queue is seal_queue.py.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Engine,
    Row,
    String,
    Table,
    and_,
    any_,
    bindparam,
    exists,
    insert,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError

from gateway.core.evidence import Attachment, EvidenceType, ProofStatus
from gateway.core.letter import Delivery, Letter, State
from gateway.errors import AccountDisabled, ReferenceTaken
from gateway.storage import tables as t
from gateway.storage.database import reading
from gateway.storage.outbound import NewOutbound as NewOutbound
from gateway.storage.outbound import PendingMail as PendingMail
from gateway.storage.outbound import (
    finish_mail_row,
    finish_mail_rows,
    insert_mails,
    mail_rows,
    message_rows,
)
from gateway.storage.queue import picked_by_key
from gateway.storage.rows import insert_into, insert_tables, inserted_then
from gateway.storage.seal_queue import queued_for_seal
from gateway.storage.times import maybe_utc
from gateway.storage.times import utc as utc  # re-exported for one step (its old home)
from gateway.storage.vault import Sealed
from gateway.storage.webhook_queue import enqueue_webhooks

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AccountRecord:
    id: str
    email: str
    name: str
    password_hash: str
    language: str
    disabled: bool = False  # accounts.disabled_at is set


@dataclass(frozen=True)
class NewEvidence:
    id: str
    letter_id: str
    delivery_id: str
    type: EvidenceType
    event_time: datetime
    xml: bytes
    xml_sha256: str
    channel: str | None = None  # None: email; "sms"


@dataclass(frozen=True)
class NewTransition:
    """One compare-and-set state change (`LetterStore.transition`, `LetterStore.outcomes`)."""

    delivery: Delivery
    new_state: State
    evidence: NewEvidence
    finish_mail: tuple[str, str, str | None] | None = None


@dataclass(frozen=True)
class NewDeposit:
    """One letter for `LetterStore.deposit`: its rows, and what else its transaction does.

    also(connection) runs in the deposit's transaction (e.g. queueing SMS notices); page is the
    released page's data, encrypted beside the content (Vault.encrypt_beside)."""

    letter: Letter
    content: Sealed
    retain_until: datetime
    deliveries: Sequence[tuple[Delivery, str]]  # each with its link token's hash
    evidence: Sequence[NewEvidence]
    mails: Sequence[NewOutbound]
    also: Callable[[Any], None] | None = None
    page: bytes | None = None


@dataclass(frozen=True)
class ProofSources:
    """What a proof mail or a PDF certificate is made of, read with one query."""

    xml: bytes
    p7s: bytes
    reference: str
    sender_address: str
    sender_account: str
    deposited_at: datetime
    language: str  # the sender account's; "fr" when it has none
    pdf: bytes | None  # the evidence's PDF certificate, when asked for and made
    event: EvidenceType  # the evidence's type (as its record in xml says)


@dataclass(frozen=True)
class StoredEvidence:
    id: str
    delivery_id: str
    type: EvidenceType
    event_time: datetime
    xml: bytes
    p7s: bytes | None


def _letter(row: Row[Any]) -> Letter:
    return Letter(
        id=row.id,
        reference=row.reference,
        sender_account=row.account_id,
        sender_address=row.sender_address,
        sender_name=row.sender_name,
        sender_declared_name=row.sender_declared_name,
        sender_authentication=row.sender_authentication,
        sender_ip=row.sender_ip,
        subject=row.subject,
        message_id=row.message_id,
        message_size=row.message_size,
        message_sha256=row.message_sha256,
        attachments=tuple(Attachment(**a) for a in json.loads(row.attachments)),
        deposited_at=utc(row.deposited_at),
    )


def _delivery(row: Row[Any]) -> Delivery:
    return Delivery(
        id=row.id,
        letter_id=row.letter_id,
        recipient=row.recipient,
        phone=row.phone,
        languages=tuple(row.languages.split(",")) if row.languages else (),
        state=State(row.state),
        deadline=utc(row.deadline),
        updated_at=utc(row.updated_at),
        notified_at=maybe_utc(row.notified_at),
        decided_at=maybe_utc(row.decided_at),
        handed_over_at=maybe_utc(row.handed_over_at),
        last_evidence_sha256=row.last_evidence_sha256,
    )


_STATE_TIME = {
    State.NOTIFIED: "notified_at",
    State.ACCEPTED: "decided_at",
    State.REFUSED: "decided_at",
    State.NEGLECTED: "decided_at",
    State.UNDELIVERABLE: "decided_at",
    State.HANDED_OVER: "handed_over_at",
}


class LetterStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # deposit ----------------------------------------------------------------------------

    def deposit(self, deposits: Sequence[NewDeposit]) -> list[Exception | None]:
        """Commit letters, each with its deliveries, deposit evidence and notifications, in one
        transaction (one commit, one fsync on SQLite); what refused each, None when kept.

        When one of several deposits fails (AccountDisabled, a constraint), the transaction is
        rolled back and made again with each deposit in a SAVEPOINT of its own: the one that
        fails is rolled back alone and its error returned in its place, the others are committed
        (a savepoint costs two round trips on PostgreSQL: only a group that failed pays them).
        A failure of the transaction itself (the commit, a savepoint that cannot be rolled back,
        the connection) is raised: then none is kept. A letter refused because its reference is
        taken (by a letter kept, or by one before it in the group) is refused with
        ReferenceTaken: its deposit draws another."""
        try:
            with self.engine.begin() as db:
                if len(deposits) > 1:
                    _insert_deposits_together(db, deposits)
                else:
                    for new in deposits:
                        _insert_deposit(db, new)
        except Exception as err:
            if len(deposits) == 1:
                if isinstance(err, IntegrityError):
                    with reading(self.engine) as db:
                        taken = _reference_taken(db, deposits[0].letter.reference)
                    if taken:
                        raise ReferenceTaken(deposits[0].letter.reference) from err
                raise
            log.info(
                "%d letters could not be committed together (%s): each in turn",
                len(deposits), type(err).__name__,
            )  # fmt: skip
        else:
            return [None] * len(deposits)
        return self._deposit_each(deposits)

    def _deposit_each(self, deposits: Sequence[NewDeposit]) -> list[Exception | None]:
        failures: list[Exception | None] = []
        with self.engine.begin() as db:
            for new in deposits:
                savepoint = db.begin_nested()
                try:
                    _insert_deposit(db, new)
                except Exception as error:  # noqa: BLE001 - returned: that deposit's own failure
                    savepoint.rollback()  # raises if it cannot: the whole transaction fails
                    reference = new.letter.reference
                    if isinstance(error, IntegrityError) and _reference_taken(db, reference):
                        error = ReferenceTaken(reference)
                    failures.append(error)
                else:
                    savepoint.commit()
                    failures.append(None)
        return failures

    @staticmethod
    def _insert_evidence(db: Any, evidence: Iterable[NewEvidence], now: datetime) -> None:
        evidence = list(evidence)
        rows = _evidence_rows(evidence)
        if rows:
            queued = queued_for_seal((e.id for e in evidence), now)
            insert_tables(db, [(t.evidence, rows), (t.seal_queue, queued)])
            enqueue_webhooks(db, evidence, now)  # the sender's webhooks, in this transaction

    # reading ----------------------------------------------------------------------------

    def by_token(self, token_hash: str) -> tuple[Letter, Delivery] | None:
        return self._joined(_JOINED_BY_TOKEN, token_hash)

    def by_delivery(self, delivery_id: str) -> tuple[Letter, Delivery] | None:
        return self._joined(_JOINED_BY_ID, delivery_id)

    def delivery(self, delivery_id: str) -> tuple[Letter, Delivery]:
        """The delivery and its letter; LookupError if there is none (a queue's dangling row)."""
        found = self.by_delivery(delivery_id)
        if found is None:
            raise LookupError(f"no delivery {delivery_id}")
        return found

    def deliveries(self, delivery_ids: Iterable[str]) -> dict[str, tuple[Letter, Delivery]]:
        """Each delivery found, with its letter, by id: one query for a batch of mails."""
        keys = list(dict.fromkeys(delivery_ids))
        if not keys:
            return {}
        with reading(self.engine) as db:
            rows = db.execute(_JOINED_BY_IDS, {"keys": keys}).all()
        return {pair[1].id: pair for pair in map(_joined_row, rows)}

    def _joined(self, query: Any, key: str) -> tuple[Letter, Delivery] | None:
        with reading(self.engine) as db:
            row = db.execute(query, {"key": key}).first()
        return None if row is None else _joined_row(row)

    def content(self, letter_id: str) -> Sealed:
        query = select(t.letters.c.key_id, t.letters.c.wrapped_key, t.letters.c.content).where(
            t.letters.c.id == letter_id
        )
        with reading(self.engine) as db:
            row = db.execute(query).one()
        return Sealed(row.key_id, row.wrapped_key, row.content)

    def page(self, letter_id: str) -> tuple[Sealed, bytes | None]:
        """The letter's key (Sealed without content) and its encrypted page data, if stored."""
        columns = (t.letters.c.key_id, t.letters.c.wrapped_key, t.letters.c.page)
        with reading(self.engine) as db:
            row = db.execute(select(*columns).where(t.letters.c.id == letter_id)).one()
        return Sealed(row.key_id, row.wrapped_key, b""), row.page

    def deliveries_of(self, letter_id: str) -> list[Delivery]:
        query = select(t.deliveries).where(t.deliveries.c.letter_id == letter_id)
        with reading(self.engine) as db:
            return [_delivery(r) for r in db.execute(query)]

    def evidence_of(self, delivery_id: str) -> list[StoredEvidence]:
        query = (
            select(t.evidence)
            .where(t.evidence.c.delivery_id == delivery_id)
            .order_by(t.evidence.c.event_time, t.evidence.c.id)
        )
        with reading(self.engine) as db:
            return [self._stored(r) for r in db.execute(query)]

    def sealed_evidence(self, evidence_id: str | None) -> tuple[bytes, bytes]:
        """evidence.xml and evidence.xml.p7s of a sealed evidence; LookupError otherwise."""
        stored = self.evidence(evidence_id or "")
        if stored.p7s is None:
            raise LookupError(f"evidence {evidence_id} is not sealed")
        return stored.xml, stored.p7s

    def proof_sources(self, evidence_id: str | None, *, pdf: bool = False) -> ProofSources:
        """A sealed evidence with its letter's sender, the account's language and (`pdf`) its
        PDF certificate; LookupError when the evidence is unknown or not sealed."""
        with reading(self.engine) as db:
            query = _PROOF_WITH_PDF if pdf else _PROOF  # made once (see _JOINED)
            row = db.execute(query, {"evidence_id": evidence_id or ""}).first()
        if row is None or row.p7s is None:
            raise LookupError(f"evidence {evidence_id} is not sealed")
        return _proof_sources(row)

    def proof_sources_of(self, evidence_ids: Iterable[str]) -> dict[str, ProofSources]:
        """`proof_sources` (without the PDF) of each sealed evidence found, by id: one query
        for a batch of certificates."""
        keys = list(dict.fromkeys(evidence_ids))
        if not keys:
            return {}
        with reading(self.engine) as db:
            rows = db.execute(_PROOFS_BY_IDS, {"keys": keys}).all()
        return {row.id: _proof_sources(row) for row in rows if row.p7s is not None}

    def proof_status(self, evidence_id: str) -> ProofStatus | None:
        """Type, letter reference, event time and sealed-or-not of an evidence; None if unknown."""
        query = (
            select(
                t.evidence.c.type,
                t.evidence.c.event_time,
                t.evidence.c.sealed_at,
                t.letters.c.reference,
            )
            .join(t.letters, t.letters.c.id == t.evidence.c.letter_id)
            .where(t.evidence.c.id == evidence_id)
        )
        with reading(self.engine) as db:
            row = db.execute(query).first()
        if row is None:
            return None
        return ProofStatus(
            evidence_id,
            EvidenceType(row.type),
            row.reference,
            utc(row.event_time),
            row.sealed_at is not None,
        )

    def evidence(self, evidence_id: str) -> StoredEvidence:
        with reading(self.engine) as db:
            row = db.execute(select(t.evidence).where(t.evidence.c.id == evidence_id)).one()
        return self._stored(row)

    @staticmethod
    def _stored(row: Row[Any]) -> StoredEvidence:
        return StoredEvidence(
            row.id, row.delivery_id, EvidenceType(row.type), utc(row.event_time), row.xml, row.p7s
        )

    # transitions ------------------------------------------------------------------------

    def transition(
        self,
        delivery: Delivery,
        new_state: State,
        evidence: NewEvidence,
        mails: Sequence[NewOutbound] = (),
        *,
        now: datetime,
        finish_mail: tuple[str, str, str | None] | None = None,
        also: Callable[[Any], None] | None = None,
    ) -> bool:
        """Move delivery from its current state to new_state with its evidence, atomically.

        Returns False (and changes nothing) when the delivery is no longer in the state the
        caller saw: another request or process got there first. finish_mail (id, state, error)
        closes the outbound mail whose outcome caused this transition, in the same transaction;
        also(connection) runs in it too (e.g. closing the SMS whose outcome this records).
        """
        with self.engine.begin() as db:
            change = NewTransition(delivery, new_state, evidence, finish_mail)
            if not self._transition(db, change, now=now):
                return False
            insert_mails(db, mails, now)
            if also:
                also(db)
        return True

    def outcomes(
        self,
        changes: Sequence[NewTransition],
        closed: Sequence[tuple[str, str, str | None]] = (),
        *,
        now: datetime,
    ) -> list[bool]:
        """Several mails' outcomes in one transaction (one commit): the transitions they cause,
        each a compare-and-set that closes its mail (False at its index: it changed nothing,
        its mail stays open), and the mails `closed` (id, state, error) that change no state."""
        with self.engine.begin() as db:
            done = _moved_all(db, changes, now)
            moved = [change for change, ok in zip(changes, done, strict=True) if ok]
            self._insert_evidence(db, [change.evidence for change in moved], now)
            finished = [*(c.finish_mail for c in moved if c.finish_mail), *closed]
            finish_mail_rows(db, finished, now=now)
        return done

    def _transition(self, db: Any, change: NewTransition, *, now: datetime) -> bool:
        if not _moved(db, change, now):
            return False
        self._insert_evidence(db, [change.evidence], now)
        if change.finish_mail:
            finish_mail_row(db, *change.finish_mail, now=now)
        return True

    def due_deadlines(self, now: datetime, limit: int = 100) -> list[str]:
        query = (
            select(t.deliveries.c.id)
            .where(t.deliveries.c.state == State.NOTIFIED.value, t.deliveries.c.deadline < now)
            .order_by(t.deliveries.c.deadline)
            .limit(limit)
        )
        with reading(self.engine) as db:
            return list(db.execute(query).scalars())


def _moved(db: Any, change: NewTransition, now: datetime) -> bool:
    """The delivery's compare-and-set to its new state (its evidence is the caller's)."""
    query = _move(*_move_shape(change))
    return bool(db.execute(query, {**_move_params(change), "new_updated_at": now}).rowcount == 1)


def _moved_all(db: Any, changes: Sequence[NewTransition], now: datetime) -> list[bool]:
    """`_moved` of several changes: those of one shape (the column of the new state's time,
    chained or not) with one UPDATE that returns the deliveries it moved (on PostgreSQL one
    round trip instead of one each); one after the other when a delivery is named twice (its
    second change must see its first)."""
    if len(changes) < 2 or len({c.delivery.id for c in changes}) < len(changes):
        return [_moved(db, change, now) for change in changes]
    shapes: dict[tuple[str | None, bool], list[int]] = {}
    for index, change in enumerate(changes):
        shapes.setdefault(_move_shape(change), []).append(index)
    done = [False] * len(changes)
    for shape, indexes in shapes.items():
        if len(indexes) == 1:
            done[indexes[0]] = _moved(db, changes[indexes[0]], now)
            continue
        params: dict[str, Any] = {"new_updated_at": now}
        for n, index in enumerate(indexes):
            params.update({f"{k}_{n}": v for k, v in _move_params(changes[index]).items()})
        moved = set(db.execute(_move_each(*shape, len(indexes)), params).scalars())
        for index in indexes:
            done[index] = changes[index].delivery.id in moved
    return done


def _move_shape(change: NewTransition) -> tuple[str | None, bool]:
    """The column of the new state's time (None: the state stays), and whether the delivery
    has no evidence chained yet."""
    delivery = change.delivery
    column = _STATE_TIME.get(change.new_state) if change.new_state != delivery.state else None
    return column, delivery.last_evidence_sha256 is None


def _move_params(change: NewTransition) -> dict[str, Any]:
    delivery, evidence = change.delivery, change.evidence
    return {
        "delivery_id": delivery.id,
        "seen_state": delivery.state.value,
        "seen_chain": delivery.last_evidence_sha256,
        "new_state": change.new_state.value,
        "new_chain": evidence.xml_sha256,
        "new_time": evidence.event_time,
    }


@functools.cache
def _move(column: str | None, unchained: bool) -> Any:
    """The UPDATE of `_moved` for a state whose time goes in `column`, made once per shape."""
    chain = t.deliveries.c.last_evidence_sha256
    values: dict[str, Any] = {
        "state": bindparam("new_state"),
        "updated_at": bindparam("new_updated_at"),
        "last_evidence_sha256": bindparam("new_chain"),
    }
    if column:
        values[column] = bindparam("new_time")
    return (
        update(t.deliveries)
        .where(
            t.deliveries.c.id == bindparam("delivery_id"),
            t.deliveries.c.state == bindparam("seen_state"),
            chain.is_(None) if unchained else chain == bindparam("seen_chain"),
        )
        .values(**values)
    )


@functools.cache
def _move_each(column: str | None, unchained: bool, count: int) -> Any:
    """`_move` of `count` deliveries at once: each row's values picked by its id (CASE), each
    row's own compare-and-set (its seen state and chain); returns the ids of the rows moved."""
    d = t.deliveries
    chain = d.c.last_evidence_sha256
    ids = [bindparam(f"delivery_id_{n}", type_=d.c.id.type) for n in range(count)]
    values: dict[str, Any] = {
        "state": picked_by_key(d.c.id, ids, "new_state", d.c.state),
        "updated_at": bindparam("new_updated_at"),
        "last_evidence_sha256": picked_by_key(d.c.id, ids, "new_chain", chain),
    }
    if column:
        values[column] = picked_by_key(d.c.id, ids, "new_time", d.c[column])
    seen = [
        and_(
            d.c.id == i,
            d.c.state == bindparam(f"seen_state_{n}", type_=d.c.state.type),
            chain.is_(None)
            if unchained
            else chain == bindparam(f"seen_chain_{n}", type_=chain.type),
        )
        for n, i in enumerate(ids)
    ]
    return update(d).where(or_(*seen)).values(**values).returning(d.c.id)


# a delivery with its letter, less the letter's sealed bytes (content, page: read on their own);
# made once, by delivery id and by link token hash (a statement built per call costs its cache key)
_JOINED = select(
    *[c for c in t.letters.c if c.name not in ("content", "wrapped_key", "page")],
    *[c.label(f"d_{c.name}") for c in t.deliveries.c],
).join_from(t.letters, t.deliveries, t.deliveries.c.letter_id == t.letters.c.id)
_JOINED_BY_ID = _JOINED.where(t.deliveries.c.id == bindparam("key"))
_JOINED_BY_TOKEN = _JOINED.where(t.deliveries.c.token_hash == bindparam("key"))
_JOINED_BY_IDS = _JOINED.where(t.deliveries.c.id.in_(bindparam("keys", expanding=True)))

_PROOF_COLUMNS = (
    t.evidence.c.xml,
    t.evidence.c.p7s,
    t.evidence.c.type,
    t.letters.c.reference,
    t.letters.c.sender_address,
    t.letters.c.account_id,
    t.letters.c.deposited_at,
    t.accounts.c.language,
)
_PROOF_FROM = t.evidence.join(t.letters, t.letters.c.id == t.evidence.c.letter_id).outerjoin(
    t.accounts, t.accounts.c.id == t.letters.c.account_id
)
_PROOF = (
    select(*_PROOF_COLUMNS, null().label("pdf"))
    .select_from(_PROOF_FROM)
    .where(t.evidence.c.id == bindparam("evidence_id"))
)
_PROOF_WITH_PDF = (
    select(*_PROOF_COLUMNS, t.proof_pdfs.c.pdf)
    .select_from(_PROOF_FROM.outerjoin(t.proof_pdfs, t.proof_pdfs.c.evidence_id == t.evidence.c.id))
    .where(t.evidence.c.id == bindparam("evidence_id"))
)
_PROOFS_BY_IDS = (
    select(t.evidence.c.id, *_PROOF_COLUMNS, null().label("pdf"))
    .select_from(_PROOF_FROM)
    .where(t.evidence.c.id.in_(bindparam("keys", expanding=True)))
)


def _proof_sources(row: Any) -> ProofSources:
    return ProofSources(
        xml=row.xml,
        p7s=row.p7s,
        reference=row.reference,
        sender_address=row.sender_address,
        sender_account=row.account_id,
        deposited_at=utc(row.deposited_at),
        language=row.language or "fr",
        pdf=None if row.pdf is None else bytes(row.pdf),
        event=EvidenceType(row.type),
    )


def _joined_row(row: Any) -> tuple[Letter, Delivery]:
    values = row._mapping
    delivery = _Obj({c.name: values[f"d_{c.name}"] for c in t.deliveries.c})
    return _letter(row), _delivery(delivery)  # type: ignore[arg-type]


class _Obj:
    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)


def _reference_taken(db: Any, reference: str) -> bool:
    """Whether a letter holds `reference` (as db's transaction sees the letters)."""
    found = db.execute(select(t.letters.c.id).where(t.letters.c.reference == reference))
    return found.first() is not None


def _insert_deposit(db: Any, new: NewDeposit) -> None:
    """Insert one letter with its deliveries, deposit evidence and notifications in db's
    transaction. Raises AccountDisabled if the sender's account is disabled or removed, as read
    at the end of the inserts; on PostgreSQL the inserts and that check are one statement (one
    round trip), and the webhook enqueue runs only for an account that has endpoints."""
    rows = _deposit_rows(new)
    account = {"account": new.letter.sender_account}
    if db.dialect.name == "postgresql":
        # one round trip: the rows go in as data-modifying WITH queries of the statement
        # that reads the sender (PostgreSQL checks their foreign keys at its end)
        shape = tuple((table.name, len(v), tuple(v[0]) if v else ()) for table, v in rows)
        params = {
            f"{table.name}_{i}_{column}": value
            for table, values in rows
            for i, row in enumerate(values)
            for column, value in row.items()
        }
        sender = db.execute(_deposit_statement(shape), params | account).first()
    else:  # SQLite: no round trips, and no INSERT in a WITH clause
        for table, values in rows:
            if values:
                db.execute(insert_into(table), values)
        sender = db.execute(_SENDER, account).first()
    _after_inserts(db, new, sender)


def _insert_deposits_together(db: Any, deposits: Sequence[NewDeposit]) -> None:
    """Several deposits as _insert_deposit would insert them one after the other, but each
    table's rows together — on SQLite in one executemany, on PostgreSQL all of them and the
    read of their senders in one statement (gateway.storage.rows: the statements' own cost, in
    SQLAlchemy, the driver and the round trips, is most of a small deposit's)."""
    by_table: dict[str, tuple[Table, list[dict[str, Any]]]] = {}
    for new in deposits:
        for table, values in _deposit_rows(new):
            by_table.setdefault(table.name, (table, []))[1].extend(values)
    tables = list(by_table.values())
    accounts = sorted({new.letter.sender_account for new in deposits})
    read = None
    if db.dialect.name == "postgresql":
        read = inserted_then(db, tables, _SENDERS_ANY, {"accounts": accounts})
    if read is None:  # SQLite, or rows that cannot go in so
        insert_tables(db, tables)
        read = db.execute(_SENDERS, {"accounts": accounts})
    senders = {row.id: row for row in read}
    for new in deposits:
        _after_inserts(db, new, senders.get(new.letter.sender_account))


def _after_inserts(db: Any, new: NewDeposit, sender: Any) -> None:
    """The deposit's sender as read after its inserts: refuse a disabled or removed account
    (AccountDisabled), queue the sender's webhooks, run the door's `also`."""
    if sender is None or sender.disabled_at is not None:  # since the login
        raise AccountDisabled(sender.email if sender else new.letter.sender_address)
    if sender.webhooks and new.evidence:
        enqueue_webhooks(db, new.evidence, new.letter.deposited_at)  # in this transaction
    if new.also:
        new.also(db)


def _deposit_rows(new: NewDeposit) -> list[tuple[Table, list[dict[str, Any]]]]:
    """The rows of one deposit, by table, in the order they are inserted."""
    letter, content, evidence = new.letter, new.content, new.evidence
    attachments = json.dumps([a.__dict__ for a in letter.attachments], ensure_ascii=False)
    now = letter.deposited_at
    letter_row = {
        "id": letter.id,
        "reference": letter.reference,
        "account_id": letter.sender_account,
        "sender_address": letter.sender_address,
        "sender_name": letter.sender_name,
        "sender_declared_name": letter.sender_declared_name,
        "sender_authentication": letter.sender_authentication,
        "sender_ip": letter.sender_ip,
        "subject": letter.subject,
        "message_id": letter.message_id,
        "message_size": letter.message_size,
        "message_sha256": letter.message_sha256,
        "attachments": attachments,
        "deposited_at": now,
        "retain_until": new.retain_until,
        "key_id": content.key_id,
        "wrapped_key": content.wrapped_key,
        "content": content.ciphertext,
        "page": new.page,
    }
    delivery_rows = [
        {
            "id": d.id,
            "letter_id": d.letter_id,
            "recipient": d.recipient,
            "phone": d.phone,
            "languages": ",".join(d.languages) or None,
            "token_hash": token_hash,
            "state": d.state.value,
            "deadline": d.deadline,
            "updated_at": now,
            "last_evidence_sha256": d.last_evidence_sha256,
        }
        for d, token_hash in new.deliveries
    ]
    return [
        (t.letters, [letter_row]),
        (t.deliveries, delivery_rows),
        (t.outbound, mail_rows(new.mails, now)),
        (t.outbound_messages, message_rows(new.mails)),
        (t.evidence, _evidence_rows(evidence)),
        (t.seal_queue, queued_for_seal((e.id for e in evidence), now)),
    ]


def _evidence_rows(evidence: Iterable[NewEvidence]) -> list[dict[str, Any]]:
    return [
        {
            "id": e.id,
            "letter_id": e.letter_id,
            "delivery_id": e.delivery_id,
            "type": e.type.value,
            "channel": e.channel,
            "event_time": e.event_time,
            "xml": e.xml,
            "xml_sha256": e.xml_sha256,
        }
        for e in evidence
    ]


@functools.lru_cache(maxsize=64)
def _deposit_statement(shape: tuple[tuple[str, int, tuple[str, ...]], ...]) -> Any:
    """PostgreSQL's deposit statement for `shape` (table, rows, columns), built once and cached
    by SQLAlchemy once compiled: one insert per row as a WITH query of _SENDER, each value a
    bound parameter named table_row_column."""
    query = _SENDER
    for name, count, columns in shape:
        table = t.metadata.tables[name]
        for i in range(count):  # a WITH query per row: SQLAlchemy caches no multi-row VALUES
            values = {c: bindparam(f"{name}_{i}_{c}", type_=table.c[c].type) for c in columns}
            query = query.add_cte(insert(table).values(values).cte(f"new_{name}_{i}"))
    return query


# A depositing account: whether it may deposit (not disabled) and whether it has webhook
# endpoints (enabled or not: a disabled endpoint's events wait in its queue), in one statement.
_SENDER_COLUMNS = (
    t.accounts.c.id,
    t.accounts.c.email,
    t.accounts.c.disabled_at,
    exists().where(t.webhook_endpoints.c.account_id == t.accounts.c.id).label("webhooks"),
)
_SENDER = select(*_SENDER_COLUMNS).where(t.accounts.c.id == bindparam("account"))
_SENDERS = select(*_SENDER_COLUMNS).where(
    t.accounts.c.id.in_(bindparam("accounts", expanding=True))
)
_SENDERS_ANY = select(*_SENDER_COLUMNS).where(  # PostgreSQL's, the accounts in one array
    t.accounts.c.id == any_(bindparam("accounts", type_=postgresql.ARRAY(String)))
)
