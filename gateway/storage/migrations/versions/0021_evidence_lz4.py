"""PostgreSQL: the evidence's XML and seal compressed with lz4 instead of pglz

An evidence's XML (~2.9 KB) and its seal (~2.4 KB) make its row too large to stay in line, so
PostgreSQL compresses them (TOAST), with pglz unless told otherwise: ~0.04 ms of the server's
CPU per evidence, two evidence a letter, and again at every read. lz4 is faster at both, within
2 % of pglz's size (a throw-away timing on PostgreSQL 15, a row of both: inserted 0.130 -> 0.087
ms of the server's CPU, read 0.073 -> 0.063, 17,984 -> 18,257 bytes). Only values written
from now on; a server built without lz4 keeps pglz (nothing changes); SQLite has no such
setting.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05 02:30:00.000000
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import text

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

COLUMNS = (("evidence", "xml"), ("evidence", "p7s"))


def _lz4_available() -> bool:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return False
    methods = bind.execute(
        text("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")
    ).scalar()
    return "lz4" in (methods or [])


def upgrade() -> None:
    if not _lz4_available():
        return
    for table, column in COLUMNS:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION lz4")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in COLUMNS:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION DEFAULT")
