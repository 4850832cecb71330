"""Database schema (SQLAlchemy Core): the same tables on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()


def _id(name: str = "id") -> Column[str]:
    return Column(name, String(32), primary_key=True)


def _time(name: str, nullable: bool = False) -> Column[object]:
    return Column(name, DateTime(timezone=True), nullable=nullable)


accounts = Table(
    "accounts",
    metadata,
    _id(),
    Column("email", String(320), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("password_hash", String(300), nullable=False),
    Column("language", String(8), nullable=False, default="fr"),
    _time("created_at"),
    _time("updated_at"),
    _time("disabled_at", nullable=True),  # set: AUTH and MX-address deposits are refused
)

letters = Table(
    "letters",
    metadata,
    _id(),
    Column("reference", String(40), nullable=False, unique=True),
    Column("account_id", String(32), ForeignKey("accounts.id"), nullable=False),
    Column("sender_address", String(320), nullable=False),
    Column("sender_name", String(200), nullable=False),
    Column("sender_declared_name", String(200)),  # the From: display name, when it differs
    Column("sender_authentication", String(200), nullable=False),
    Column("sender_ip", String(45)),  # IPv4 or IPv6 text form
    Column("subject", Text, nullable=False),
    Column("message_id", Text),
    Column("message_size", Integer, nullable=False),
    Column("message_sha256", String(64), nullable=False),
    Column("attachments", Text, nullable=False),  # JSON list of {name, content_type, size, sha256}
    _time("deposited_at"),
    _time("retain_until"),
    # the exact DATA bytes, AES-256-GCM under a per-letter data key wrapped by a master key
    Column("key_id", String(40), nullable=False),
    Column("wrapped_key", LargeBinary, nullable=False),
    Column("content", LargeBinary, nullable=False),
    # what the recipient's page shows once released (JSON: the text), read once at deposit and
    # encrypted under the same data key; NULL for letters deposited before migration 0006
    Column("page", LargeBinary),
    # set when the retention period ended and content and personal data were erased
    _time("purged_at", nullable=True),
    Index("ix_letters_retain_until", "retain_until"),  # the retention job's search
    Index("ix_letters_key_id", "key_id"),  # the re-wrap job's and `keys destroy-old`'s count
)

deliveries = Table(
    "deliveries",
    metadata,
    _id(),
    Column("letter_id", String(32), ForeignKey("letters.id"), nullable=False, index=True),
    Column("recipient", String(320), nullable=False),
    Column("phone", String(20)),  # E.164 mobile number given by the sender, if any
    Column("languages", String(16)),  # "ar" or "ar,fr": the recipient's, as the sender gave them
    Column("token_hash", String(64), nullable=False, unique=True),  # SHA-256 of the link token
    Column("state", String(20), nullable=False),
    _time("deadline"),
    _time("updated_at"),
    _time("notified_at", nullable=True),
    _time("decided_at", nullable=True),
    _time("handed_over_at", nullable=True),
    Column("last_evidence_sha256", String(64)),
    Index("ix_deliveries_state_deadline", "state", "deadline"),
)

evidence = Table(
    "evidence",
    metadata,
    _id(),
    Column("letter_id", String(32), ForeignKey("letters.id"), nullable=False, index=True),
    Column("delivery_id", String(32), ForeignKey("deliveries.id"), nullable=False, index=True),
    Column("type", String(40), nullable=False),
    Column("channel", String(10)),  # NULL: email; "sms" for the SMS notice's evidence
    _time("event_time"),
    Column("xml", LargeBinary, nullable=False),
    Column("xml_sha256", String(64), nullable=False),
    Column("p7s", LargeBinary),  # NULL until sealed and timestamped
    _time("sealed_at", nullable=True),
)

# The seal queue (gateway.storage.seal_queue): a row for each evidence not sealed yet, inserted
# with it and deleted in the commit that stores its seal. The evidence, kept ten years, is then
# written once and sealed once, and read by key only: no lease, try or error is written into it,
# and no index over it lists what is waiting (on PostgreSQL such an index kept an entry for each
# old version of every row sealed since the last vacuum, and the claims read them).
seal_queue = Table(
    "seal_queue",
    metadata,
    Column("evidence_id", String(32), ForeignKey("evidence.id"), primary_key=True),
    Column("attempts", Integer, nullable=False, default=0),
    _time("next_attempt_at"),
    _time("claimed_until", nullable=True),
    Column("claimed_by", String(40)),  # the lease holder's instance (storage/instances.py)
    Column("last_error", Text),
    Index("ix_seal_queue_due", "next_attempt_at"),
)

outbound = Table(
    "outbound",
    metadata,
    _id(),
    Column("kind", String(20), nullable=False),  # notification | proof
    Column("delivery_id", String(32), ForeignKey("deliveries.id"), nullable=False, index=True),
    Column("evidence_id", String(32), ForeignKey("evidence.id")),
    Column("mail_from", String(320), nullable=False),
    Column("rcpt", String(320), nullable=False),
    Column("state", String(20), nullable=False),  # pending | sent | failed
    Column("attempts", Integer, nullable=False, default=0),
    _time("created_at"),
    _time("next_attempt_at"),
    _time("claimed_until", nullable=True),
    Column("claimed_by", String(40)),  # the lease holder's instance (storage/instances.py)
    _time("sent_at", nullable=True),
    Column("last_error", Text),
    UniqueConstraint("kind", "evidence_id", name="uq_outbound_evidence"),
    Index("ix_outbound_due", "state", "next_attempt_at"),
)

# A mail's exact bytes, fixed before its first hand-over so that a resend is identical, erased
# once its outcome is recorded. A table of its own: the outbound row is updated at each claim
# and outcome, and SQLite writes a row whole at every update, its large values included (a
# proof mail's ~130 KB written again twice: ~1 MB of WAL and checkpoint per letter).
outbound_messages = Table(
    "outbound_messages",
    metadata,
    Column("outbound_id", String(32), ForeignKey("outbound.id"), primary_key=True),
    Column("message", LargeBinary, nullable=False),
)

# One-time codes a recipient must give before Accept or Refuse (gateway.services.identity).
recipient_codes = Table(
    "recipient_codes",
    metadata,
    _id(),
    Column("delivery_id", String(32), ForeignKey("deliveries.id"), nullable=False, index=True),
    Column("channel", String(10), nullable=False),  # sms | email
    Column("destination", String(320), nullable=False),  # E.164 number or email address
    Column("code_hash", String(64), nullable=False),  # HMAC-SHA256, its key off the database
    Column("pending_code", String(12)),  # the clear code until its SMS or mail is handed over
    Column("language", String(8), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),  # tries made against this code
    _time("created_at"),
    _time("expires_at"),
    _time("used_at", nullable=True),
)

# SMS waiting to be handed to the SMS provider (notices and codes), with retries like mail.
sms_outbound = Table(
    "sms_outbound",
    metadata,
    _id(),
    Column("kind", String(20), nullable=False),  # notice | code
    Column("delivery_id", String(32), ForeignKey("deliveries.id"), nullable=False, index=True),
    Column("phone", String(20), nullable=False),
    Column("text", Text),  # erased once handed over or failed (it holds a link or a code)
    Column("state", String(20), nullable=False),  # pending | sent | failed
    Column("attempts", Integer, nullable=False, default=0),
    _time("created_at"),
    _time("next_attempt_at"),
    _time("claimed_until", nullable=True),
    Column("claimed_by", String(40)),  # the lease holder's instance (storage/instances.py)
    _time("sent_at", nullable=True),
    Column("last_error", Text),
    Index("ix_sms_outbound_due", "state", "next_attempt_at"),
)

# PDF certificates: rendered and PAdES-sealed in the background; the proof mail is queued only
# once its PDF is stored. `renew_at` is when the archive job must add a document timestamp.
proof_pdfs = Table(
    "proof_pdfs",
    metadata,
    Column("evidence_id", String(32), ForeignKey("evidence.id"), primary_key=True),
    Column("delivery_id", String(32), ForeignKey("deliveries.id"), nullable=False),
    Column("state", String(20), nullable=False),  # pending | done
    Column("pdf", LargeBinary),
    Column("attempts", Integer, nullable=False, default=0),
    _time("next_attempt_at"),
    _time("claimed_until", nullable=True),
    Column("claimed_by", String(40)),  # the lease holder's instance (storage/instances.py)
    _time("made_at", nullable=True),
    _time("renew_at", nullable=True),
    _time("archived_at", nullable=True),
    Column("last_error", Text),
    Index("ix_proof_pdfs_due", "state", "next_attempt_at"),
    Index("ix_proof_pdfs_renew", "state", "renew_at"),
)

# VERP return paths: bounce+<token>@domain, the token derived with HMAC and kept only hashed
bounce_tokens = Table(
    "bounce_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("outbound_id", String(32), ForeignKey("outbound.id"), nullable=False, unique=True),
)

# delivery status notifications (RFC 3464) received for our mail, one row per recipient block
dsn_reports = Table(
    "dsn_reports",
    metadata,
    _id(),
    Column("outbound_id", String(32), ForeignKey("outbound.id"), nullable=False, index=True),
    Column("action", String(20), nullable=False),  # failed | delayed | delivered | relayed | ...
    Column("status", String(20), nullable=False),
    Column("diagnostic", Text, nullable=False),
    Column("reporting_mta", String(300), nullable=False),
    _time("received_at"),
)

# Browser sessions that may read a released letter: opened by a one-time code (or the
# acceptance itself), short-lived, the token kept only as its SHA-256
# (gateway.services.content_access).
content_sessions = Table(
    "content_sessions",
    metadata,
    _id(),
    Column("delivery_id", String(32), ForeignKey("deliveries.id"), nullable=False, index=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("opened_by", String(20), nullable=False),  # acceptance | code | no_code
    _time("created_at"),
    _time("expires_at"),
)

# Every time released content is handed to a session: the letter page's opening and each
# download (the first download of an accepted letter is also recorded as ContentHandover).
content_releases = Table(
    "content_releases",
    metadata,
    _id(),
    Column("delivery_id", String(32), ForeignKey("deliveries.id"), nullable=False, index=True),
    Column("session_id", String(32), ForeignKey("content_sessions.id"), nullable=False),
    Column("what", String(40), nullable=False),  # session | letter.eml | attachment:<n>
    _time("released_at"),
)

# Signed-in browsers of the sender's portal (gateway.web.portal): the cookie's token is kept only
# as its SHA-256; a session ends when idle too long, when too old, or at sign-out.
portal_sessions = Table(
    "portal_sessions",
    metadata,
    _id(),
    Column("account_id", String(32), ForeignKey("accounts.id"), nullable=False, index=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    _time("created_at"),
    _time("last_seen_at"),
    _time("expires_at"),  # the absolute end, whatever the activity
)

# The public evidence log (gateway.evidence.log_*): sealed evidence waiting to be appended (queued
# in the transaction that stores the seal), the entries in order, every complete subtree hash
# (height 0 = leaf hashes; fewer than two rows per entry), the size reached and each checkpoint.
log_queue = Table(
    "log_queue",
    metadata,
    Column("evidence_id", String(32), ForeignKey("evidence.id"), primary_key=True),
    _time("queued_at"),
)

log_entries = Table(
    "log_entries",
    metadata,
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("evidence_id", String(32), nullable=False, unique=True),
    Column("entry", LargeBinary, nullable=False),
)

log_nodes = Table(
    "log_nodes",
    metadata,
    Column("height", Integer, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary, nullable=False),
)

log_checkpoints = Table(
    "log_checkpoints",
    metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("note", LargeBinary, nullable=False),  # the signed checkpoint, as served
    Column("timestamp", LargeBinary),  # RFC 3161 token over SHA-256(note); NULL until obtained
    _time("created_at"),
)

# Witness cosignatures of checkpoints (`log witness --submit`), checked against
# evidence.log_witnesses, served appended to the checkpoint: one per witness and tree size.
log_cosignatures = Table(
    "log_cosignatures",
    metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("witness", String(200), primary_key=True),  # the witness's name
    Column("line", String(400), nullable=False),  # its signature line, as served
    _time("received_at"),
)

# `lre-gateway keys rotate`: one row per new master key; the scheduler re-wraps every letter's
# data key under it (letters.key_id tells which are left, so the job resumes by itself).
key_rotations = Table(
    "key_rotations",
    metadata,
    Column("key_id", String(40), primary_key=True),  # the new master key, e.g. master-2
    _time("started_at"),
    _time("finished_at", nullable=True),
    Column("rewrapped", Integer, nullable=False, default=0),
)

# Operator actions, append-only: each row carries the SHA-256 of the previous row's statement
# and a CMS seal of its own statement (gateway.audit).
audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    _time("at"),
    Column("actor", String(100), nullable=False),
    Column("action", String(40), nullable=False),
    Column("details", Text, nullable=False),  # JSON object
    Column("previous_sha256", String(64), nullable=False),
    Column("statement", LargeBinary, nullable=False),  # the exact bytes sealed
    Column("sha256", String(64), nullable=False),
    Column("p7s", LargeBinary, nullable=False),
)

# REST API (gateway.api): per-sender bearer tokens, kept only as their SHA-256.
api_tokens = Table(
    "api_tokens",
    metadata,
    _id(),
    Column("account_id", String(32), ForeignKey("accounts.id"), nullable=False, index=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),  # the first characters, to recognise it in a list
    Column("label", String(200), nullable=False),
    _time("created_at"),
    _time("last_used_at", nullable=True),
    _time("revoked_at", nullable=True),
)

# Idempotency-Key of API deposits: the same key and body give back the same letter.
api_idempotency = Table(
    "api_idempotency",
    metadata,
    Column("account_id", String(32), ForeignKey("accounts.id"), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("request_sha256", String(64), nullable=False),
    Column("reference", String(40), nullable=False),
    _time("created_at"),
)

# Webhook endpoints a sender registered, with the secret its payloads are signed with.
webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    _id(),
    Column("account_id", String(32), ForeignKey("accounts.id"), nullable=False, index=True),
    Column("url", Text, nullable=False),
    Column("secret", String(100), nullable=False),  # whsec_<base64>: needed to sign, so kept
    Column("failures", Integer, nullable=False, default=0),  # consecutive failed attempts
    _time("created_at"),
    _time("disabled_at", nullable=True),
    Column("disabled_reason", Text),
)

# The durable webhook queue: one row per (endpoint, evidence), posted in order per letter.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    _id(),
    Column("endpoint_id", String(32), ForeignKey("webhook_endpoints.id"), nullable=False),
    Column("letter_id", String(32), ForeignKey("letters.id"), nullable=False),
    Column("evidence_id", String(32), ForeignKey("evidence.id"), nullable=False),
    Column("seq", Integer, nullable=False),  # order of the events of one letter
    Column("state", String(20), nullable=False),  # pending | sent | dropped
    Column("attempts", Integer, nullable=False, default=0),
    _time("created_at"),
    _time("next_attempt_at"),
    _time("claimed_until", nullable=True),  # lease of the process posting it
    Column("claimed_by", String(40)),  # the lease holder's instance (storage/instances.py)
    _time("sent_at", nullable=True),
    Column("last_error", Text),
    UniqueConstraint("endpoint_id", "evidence_id", name="uq_webhook_delivery"),
    Index("ix_webhook_due", "state", "next_attempt_at"),
    # one letter's events to one endpoint: the next seq when one is queued, the head of the
    # group when one is claimed (else every row of the endpoint, kept for years, is read)
    Index("ix_webhook_group", "endpoint_id", "letter_id", "seq"),
)

# Shared rate limits (gateway.storage.buckets): one token bucket per (scope, subject), kept here
# so that every gateway process on this database counts against the same limit. The key is the
# SHA-256 of "scope:subject" (no address or token in clear); `at` is POSIX seconds.
rate_buckets = Table(
    "rate_buckets",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("tokens", Float, nullable=False),
    Column("at", Float, nullable=False, index=True),
)
