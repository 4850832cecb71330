"""Retention: letters past `letters.retention` (letters.retain_until) are purged.

What is erased (the working copy of personal data and the content):
- the letter's bytes, its wrapped data key and its released page's data;
- in the letter: subject, Message-ID, the sender's registered and declared names, the sender's
  IP address, the attachments' names (their sizes and SHA-256 stay: they are not personal);
- in each delivery: the recipient's address, phone and languages, and the link (its token hash
  is replaced, so the link answers like any unknown link);
- the one-time codes (their destinations), the SMS queue's phone numbers and texts, the
  recipients of queued mails and the diagnostics of delivery reports.
What stays: the sender's account (it is a live account, not a letter's data), the letter's
reference, size and digest, the deliveries' states and times, and every sealed evidence
(evidence.xml, its .p7s, the PDF certificates). Those are the proofs the service issued; they
name the parties and the subject by nature, and altering them would break their seals, so they
are kept for as long as a proof may be asked for (see README, "Keys, retention and audit").

Each purge is one transaction: the erasure, one `ContentPurged` evidence per delivery chained
after its last evidence (sealed and timestamped by the scheduler like any other) and a row in
the audit log. A letter is purged only once nothing is pending for it: every delivery decided,
every evidence sealed, no mail, SMS or PDF certificate waiting.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from sqlalchemy import Connection, Engine, delete, exists, select, update

from gateway import audit
from gateway.core.evidence import Attachment, EvidenceType, Provider
from gateway.core.letter import DECIDED, Delivery, Letter
from gateway.core.records import evidence_record
from gateway.evidence.cms import Sealer
from gateway.evidence.xml import to_xml
from gateway.storage import tables as t
from gateway.storage.database import reading
from gateway.storage.outbound import forget_messages
from gateway.storage.store import LetterStore, NewEvidence

log = logging.getLogger(__name__)

BATCH = 20  # letters purged per round


class ChainMoved(Exception):
    """A delivery got a new evidence while its purge was prepared: try again next round."""


def anonymised(letter: Letter) -> Letter:
    """The letter as its purge evidence states it: no subject, names, IP or file names."""
    return replace(
        letter,
        sender_name="",
        sender_declared_name=None,
        sender_ip=None,
        subject="",
        message_id=None,
        attachments=tuple(
            Attachment(f"attachment-{n}", a.content_type, a.size, a.sha256)
            for n, a in enumerate(letter.attachments, start=1)
        ),
    )


def due(engine: Engine, now: datetime, limit: int = BATCH) -> list[str]:
    """Ids of letters past their retention with nothing pending."""
    d, letters = t.deliveries, t.letters
    undecided = exists().where(
        d.c.letter_id == letters.c.id, d.c.state.not_in([s.value for s in DECIDED])
    )
    unsealed = exists().where(t.evidence.c.letter_id == letters.c.id, t.evidence.c.p7s.is_(None))
    mine = select(d.c.id).where(d.c.letter_id == letters.c.id)
    queued = (
        exists().where(t.outbound.c.delivery_id.in_(mine), t.outbound.c.state == "pending"),
        exists().where(t.sms_outbound.c.delivery_id.in_(mine), t.sms_outbound.c.state == "pending"),
        exists().where(t.proof_pdfs.c.delivery_id.in_(mine), t.proof_pdfs.c.state == "pending"),
    )
    query = (
        select(letters.c.id)
        .where(letters.c.retain_until <= now, letters.c.purged_at.is_(None))
        .where(~undecided, ~unsealed, *(~q for q in queued))
        .order_by(letters.c.retain_until)
        .limit(limit)
    )
    with reading(engine) as db:
        return list(db.execute(query).scalars())


def purge_letter(
    store: LetterStore,
    letter_id: str,
    *,
    provider: Provider,
    sealer: Sealer,
    now: datetime,
    new_id: Callable[[], str],
) -> bool:
    """Erase one letter's content and personal data with its purge evidence; False if done."""
    found = [store.by_delivery(d.id) for d in store.deliveries_of(letter_id)]
    pairs = [pair for pair in found if pair is not None]
    if not pairs:
        return False
    letter = anonymised(pairs[0][0])
    evidence = [_purge_evidence(letter, delivery, provider, now, new_id()) for _, delivery in pairs]
    with store.engine.begin() as db:
        done = db.execute(
            update(t.letters)
            .where(t.letters.c.id == letter_id, t.letters.c.purged_at.is_(None))
            .values(
                purged_at=now,
                subject="",
                message_id=None,
                sender_name="",
                sender_declared_name=None,
                sender_ip=None,
                attachments=json.dumps([a.__dict__ for a in letter.attachments]),
                key_id="",
                wrapped_key=b"",
                content=b"",
                page=None,
            )
        ).rowcount
        if not done:
            return False
        for (_, delivery), new in zip(pairs, evidence, strict=True):
            _erase_delivery(db, delivery, new, now)
        LetterStore._insert_evidence(db, evidence, now)
        audit.append(
            db,
            sealer,
            at=now,
            actor="retention",
            action="letters.purged",
            details={
                "letter": letter.reference,
                "deposited_at": letter.deposited_at.isoformat(),
                "evidence": [e.id for e in evidence],
            },
        )
    log.info("letter %s purged (retention ended)", letter.reference)
    return True


def _purge_evidence(
    letter: Letter, delivery: Delivery, provider: Provider, now: datetime, evidence_id: str
) -> NewEvidence:
    record = evidence_record(
        letter,
        replace(delivery, phone=None),
        EvidenceType.ContentPurged,
        evidence_id=evidence_id,
        at=now,
        provider=provider,
    )
    xml = to_xml(record)
    return NewEvidence(
        evidence_id,
        letter.id,
        delivery.id,
        EvidenceType.ContentPurged,
        now,
        xml,
        hashlib.sha256(xml).hexdigest(),
        None,
    )


def _erase_delivery(db: Connection, delivery: Delivery, new: NewEvidence, now: datetime) -> None:
    d = t.deliveries.c
    last, seen = d.last_evidence_sha256, delivery.last_evidence_sha256
    chained = last.is_(None) if seen is None else last == seen
    moved = db.execute(
        update(t.deliveries)
        .where(d.id == delivery.id, chained)
        .values(
            recipient="",
            phone=None,
            languages=None,
            token_hash=hashlib.sha256(f"purged:{delivery.id}".encode()).hexdigest(),
            last_evidence_sha256=new.xml_sha256,
            updated_at=now,
        )
    ).rowcount
    if not moved:
        raise ChainMoved(delivery.id)
    db.execute(delete(t.recipient_codes).where(t.recipient_codes.c.delivery_id == delivery.id))
    db.execute(
        update(t.sms_outbound)
        .where(t.sms_outbound.c.delivery_id == delivery.id)
        .values(phone="", text=None)
    )
    db.execute(update(t.outbound).where(t.outbound.c.delivery_id == delivery.id).values(rcpt=""))
    mails = select(t.outbound.c.id).where(t.outbound.c.delivery_id == delivery.id)
    forget_messages(db, mails)  # a mail's bytes name its recipient (erased once sent anyway)
    db.execute(
        update(t.dsn_reports).where(t.dsn_reports.c.outbound_id.in_(mails)).values(diagnostic="")
    )
