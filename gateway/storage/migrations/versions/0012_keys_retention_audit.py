"""key rotations (re-wrap job), purged letters, the operator audit log

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 04:05:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("letters", schema=None) as batch_op:
        batch_op.add_column(sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_letters_retain_until", "letters", ["retain_until"], unique=False)
    op.create_index("ix_letters_key_id", "letters", ["key_id"], unique=False)
    op.create_table(
        "key_rotations",
        sa.Column("key_id", sa.String(length=40), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rewrapped", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key_id"),
    )
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("previous_sha256", sa.String(length=64), nullable=False),
        sa.Column("statement", sa.LargeBinary(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("p7s", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_table("key_rotations")
    op.drop_index("ix_letters_key_id", table_name="letters")
    op.drop_index("ix_letters_retain_until", table_name="letters")
    with op.batch_alter_table("letters", schema=None) as batch_op:
        batch_op.drop_column("purged_at")
