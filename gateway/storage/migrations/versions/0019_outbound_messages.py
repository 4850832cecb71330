"""outbound_messages: a mail's fixed bytes in a table of their own

The outbound row of a mail is updated at each claim and at its outcome; SQLite writes a row
whole at every update, its large values included: a proof mail's ~130 KB (its PDF in base64)
was written again with each claim and outcome, ~270 KB of WAL each, and again by the
checkpoint (~1 MB of disk writes per letter). The bytes now sit in outbound_messages, written
once when they are fixed and erased with the outcome; the outbound row stays small. On
PostgreSQL the new column is stored out of line without compression, as 0017 did for the old.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-01 06:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbound_messages",
        sa.Column("outbound_id", sa.String(32), sa.ForeignKey("outbound.id"), primary_key=True),
        sa.Column("message", sa.LargeBinary(), nullable=False),
    )
    op.execute(
        "INSERT INTO outbound_messages (outbound_id, message)"
        " SELECT id, message FROM outbound WHERE message IS NOT NULL"
    )
    op.execute("ALTER TABLE outbound DROP COLUMN message")  # SQLite 3.35 and later
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE outbound_messages ALTER COLUMN message SET STORAGE EXTERNAL")


def downgrade() -> None:
    op.add_column("outbound", sa.Column("message", sa.LargeBinary(), nullable=True))
    op.execute(
        "UPDATE outbound SET message ="
        " (SELECT message FROM outbound_messages WHERE outbound_id = outbound.id)"
    )
    op.drop_table("outbound_messages")
