"""PostgreSQL: proof mails and PDF certificates stored out of line without compression

PostgreSQL tries to compress every large value it stores out of line (TOAST, pglz). A proof
mail (the PDF in base64, ~110 KB) and a sealed PDF certificate (its streams already
Flate-compressed, ~80 KB) barely compress: pglz ran over all of it and the value was stored
as it was, at ~3.8 and ~2.3 ms of the server's CPU per insert (0.6 ms without). EXTERNAL keeps
them out of line, uncompressed. Only rows written from now on; SQLite has no such setting.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01 03:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

COLUMNS = (("outbound", "message"), ("proof_pdfs", "pdf"))


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in COLUMNS:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET STORAGE EXTERNAL")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in COLUMNS:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET STORAGE EXTENDED")
