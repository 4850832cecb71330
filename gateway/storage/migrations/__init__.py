"""Alembic migrations of the gateway's schema (see gateway/storage/database.py)."""
