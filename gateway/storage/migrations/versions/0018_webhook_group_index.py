"""webhook_deliveries: an index on (endpoint_id, letter_id, seq)

Queuing a letter's event for an endpoint reads the greatest seq of that letter's events to it,
and claiming checks that no earlier event of the same letter and endpoint waits. Both looked
only at (endpoint_id, …) through uq_webhook_delivery: every event ever queued for the endpoint,
a sender's whole history once it has posted for years.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01 07:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_webhook_group", "webhook_deliveries", ["endpoint_id", "letter_id", "seq"])


def downgrade() -> None:
    op.drop_index("ix_webhook_group", table_name="webhook_deliveries")
