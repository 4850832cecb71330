"""proof PDFs made before PAdES-B-LTA at issue get their document timestamp now

Proofs sealed by earlier versions are PAdES-B-LT (seal, signature timestamp, DSS) with no
document timestamp: offline validation fails once their embedded 7-day CRL is stale. Making
their archive renewal due at once lets the PDF job add the document timestamp (PdfSealer.archive
upgrades a B-LT proof to B-LTA). Data only; the schema does not change.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 04:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "UPDATE proof_pdfs SET renew_at = made_at WHERE state = 'done' AND archived_at IS NULL"
    )


def downgrade() -> None:
    """Nothing to undo: an added document timestamp only strengthens a proof."""
