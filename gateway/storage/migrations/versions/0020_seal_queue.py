"""seal_queue: the evidence waiting for its seal in a table of its own

The seal queue was the evidence table itself: each evidence's row held its lease, tries and
last error, and an index over (sealed_at, next_attempt_at) found the unsealed ones. Every
evidence, kept ten years, was so written three times (inserted, leased, sealed), and on
PostgreSQL that index kept an entry for each old version of every row sealed since the last
vacuum, which the claims and the scheduler's look at the queue read. The queue is now a row per
unsealed evidence in `seal_queue`, deleted with the commit that stores the seal; the evidence is
inserted, then sealed, and read by key only.

On SQLite each dropped column rewrites the evidence table (SQLite 3.35's DROP COLUMN): an
upgrade of a large embedded database takes a while, once.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04 05:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

LEASE_COLUMNS = ("attempts", "next_attempt_at", "claimed_until", "claimed_by", "last_error")


def upgrade() -> None:
    op.create_table(
        "seal_queue",
        sa.Column("evidence_id", sa.String(32), sa.ForeignKey("evidence.id"), primary_key=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(40), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
    )
    op.create_index("ix_seal_queue_due", "seal_queue", ["next_attempt_at"])
    # found through ix_evidence_unsealed, not by reading ten years of evidence; a lease held
    # across the upgrade is dropped (the gateway is stopped to upgrade)
    op.execute(
        "INSERT INTO seal_queue (evidence_id, attempts, next_attempt_at, last_error)"
        " SELECT id, attempts, next_attempt_at, last_error FROM evidence"
        " WHERE sealed_at IS NULL AND p7s IS NULL"
    )
    op.drop_index("ix_evidence_unsealed", table_name="evidence")
    for column in LEASE_COLUMNS:
        op.execute(f"ALTER TABLE evidence DROP COLUMN {column}")  # SQLite 3.35 and later


def downgrade() -> None:
    op.add_column(
        "evidence", sa.Column("attempts", sa.Integer(), nullable=False, server_default="0")
    )
    op.add_column(
        "evidence",
        sa.Column(
            "next_attempt_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default="1970-01-01 00:00:00+00:00",
        ),
    )
    op.add_column("evidence", sa.Column("claimed_until", sa.DateTime(timezone=True)))
    op.add_column("evidence", sa.Column("claimed_by", sa.String(40)))
    op.add_column("evidence", sa.Column("last_error", sa.Text()))
    for column in ("attempts", "next_attempt_at", "last_error"):  # names of our own
        op.execute(
            f"UPDATE evidence SET {column} = (SELECT {column} FROM seal_queue"  # noqa: S608
            " WHERE seal_queue.evidence_id = evidence.id)"
            " WHERE id IN (SELECT evidence_id FROM seal_queue)"
        )
    op.create_index("ix_evidence_unsealed", "evidence", ["sealed_at", "next_attempt_at"])
    op.drop_table("seal_queue")
