"""the public evidence log: queue, entries, subtree hashes, checkpoints

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 04:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "log_queue",
        sa.Column("evidence_id", sa.String(32), sa.ForeignKey("evidence.id"), primary_key=True),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "log_entries",
        sa.Column("idx", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("evidence_id", sa.String(32), nullable=False, unique=True),
        sa.Column("entry", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "log_nodes",
        sa.Column("height", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("idx", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "log_checkpoints",
        sa.Column("size", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("note", sa.LargeBinary(), nullable=False),
        sa.Column("timestamp", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    # evidence sealed before the log existed joins it first, in the order it was sealed
    op.execute(
        "INSERT INTO log_queue (evidence_id, queued_at) "
        "SELECT id, sealed_at FROM evidence WHERE p7s IS NOT NULL AND sealed_at IS NOT NULL"
    )


def downgrade() -> None:
    for table in ("log_checkpoints", "log_nodes", "log_entries", "log_queue"):
        op.drop_table(table)
