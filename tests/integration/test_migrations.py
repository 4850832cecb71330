"""The migrations build exactly the schema the code declares, on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, insert, inspect, text

from gateway.storage import tables as t
from gateway.storage.database import (
    MIGRATIONS,
    alembic_config,
    create_schema,
    head_revision,
    open_engine,
)
from gateway.storage.tables import metadata
from tests.support.leases import NOW, queued_mails


def test_migrations_match_the_declared_schema(empty_database_url: str) -> None:
    """After `init`, the database is at the newest revision and nothing differs from tables.py.

    A change to gateway/storage/tables.py without its migration fails here.
    """
    engine = open_engine(empty_database_url)
    try:
        create_schema(engine)
        create_schema(engine)  # idempotent, like `lre-gateway init`
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
            script = ScriptDirectory.from_config(alembic_config(connection))
            version = connection.execute(text("SELECT version_num FROM alembic_version"))
            assert version.scalar_one() == script.get_current_head() == head_revision()
    finally:
        engine.dispose()


def test_a_database_at_the_newest_revision_is_not_migrated_again(empty_database_url: str) -> None:
    """Every command and `serve` bring the schema up to date at start; a database already at
    the newest revision is read, not handed to alembic (~0.1 s a start): in a process of its
    own, alembic is not even imported."""
    engine = open_engine(empty_database_url)
    try:
        create_schema(engine)
    finally:
        engine.dispose()
    program = (
        "import sys\n"
        "from gateway.storage.database import create_schema, open_engine\n"
        f"engine = open_engine({empty_database_url!r})\n"
        "create_schema(engine)\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] == 'alembic'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("empty_database_url", ["postgresql"], indirect=True)
def test_proof_mails_and_pdfs_are_stored_uncompressed_on_postgresql(
    empty_database_url: str,
) -> None:
    """PostgreSQL stores a proof mail and a PDF certificate out of line without trying to
    compress them (migrations 0017 and 0019: pglz cost ~3 ms of server CPU per value and saved
    nothing);
    `\\d+ outbound` in psql shows `external` (SQLite has no such setting)."""
    engine = open_engine(empty_database_url)
    try:
        create_schema(engine)
        columns = [("outbound_messages", "message"), ("proof_pdfs", "pdf"), ("letters", "content")]
        assert _attributes(engine, "attstorage", columns) == {
            "outbound_messages.message": "e",  # external: out of line, uncompressed
            "proof_pdfs.pdf": "e",
            "letters.content": "x",  # extended (the default): ciphertext, pglz gives up at once
        }
    finally:
        engine.dispose()


@pytest.mark.parametrize("empty_database_url", ["postgresql"], indirect=True)
def test_the_evidence_is_compressed_with_lz4_on_postgresql(empty_database_url: str) -> None:
    """Migration 0021: an evidence's XML and seal, stored out of line, are compressed with lz4
    (`\\d+ evidence` in psql shows `lz4`), and a stored XML reads back as written."""
    engine = open_engine(empty_database_url)
    try:
        create_schema(engine)
        columns = [("evidence", "xml"), ("evidence", "p7s"), ("evidence", "type")]
        # this machine's PostgreSQL (Debian's) is built with lz4; one without keeps pglz
        assert _attributes(engine, "attcompression", columns) == {
            "evidence.xml": "l",
            "evidence.p7s": "l",
            "evidence.type": "",  # the server's default_toast_compression
        }
        xml = b"<Evidence>" + b"<Event>deposit</Event>" * 400 + b"</Evidence>"
        queued_mails(engine, 0)  # an account, a letter l1 and its delivery d1
        with engine.begin() as connection:
            connection.execute(
                insert(t.evidence).values(
                    id="e1", letter_id="l1", delivery_id="d1", type="Submission",
                    event_time=NOW, xml=xml, xml_sha256="0" * 64,
                )
            )  # fmt: skip
        with engine.connect() as connection:
            stored, method = connection.execute(
                text("SELECT xml, pg_column_compression(xml) FROM evidence WHERE id = 'e1'")
            ).one()
        assert (bytes(stored), method) == (xml, "lz4")
    finally:
        engine.dispose()


def _attributes(engine: Engine, attribute: str, columns: list[tuple[str, str]]) -> dict[str, str]:
    """PostgreSQL's pg_attribute `attribute` (attstorage or attcompression) of each column, by
    "table.column"."""
    query = text(
        "SELECT c.relname || '.' || a.attname AS name, a.attstorage, a.attcompression"
        " FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
        " WHERE c.relname || '.' || a.attname = ANY(:names)"
    )
    names = [f"{table}.{column}" for table, column in columns]
    with engine.connect() as connection:
        rows = connection.execute(query, {"names": names}).mappings().all()
    return {row["name"]: str(row[attribute]) for row in rows}


def test_a_queued_mails_bytes_move_to_their_own_table(empty_database_url: str) -> None:
    """Migration 0019: the bytes of a mail queued before it (a proof mail waiting to be
    handed over) are in outbound_messages after it, and the outbound row no longer holds them."""
    engine = at_revision(empty_database_url, "0018")
    try:
        with engine.begin() as connection:
            for mail, message in (("m1", b"Subject: proof\r\n\r\nPDF\r\n"), ("m2", None)):
                connection.execute(
                    text(
                        "INSERT INTO outbound (id, kind, delivery_id, mail_from, rcpt, state,"
                        " attempts, created_at, next_attempt_at, message) VALUES (:id, 'proof',"
                        " 'd1', 'b@lre.example.ma', 's@example.ma', 'pending', 0, :now, :now,"
                        " :message)"
                    ),
                    {"id": mail, "now": NOW, "message": message},
                )
        create_schema(engine)  # to the newest revision, as `lre-gateway init` after an upgrade
        with engine.connect() as connection:
            moved = connection.execute(
                text("SELECT outbound_id, message FROM outbound_messages")
            ).all()
            columns = {c["name"] for c in inspect(connection).get_columns("outbound")}
        assert [(mail, bytes(message)) for mail, message in moved] == [
            ("m1", b"Subject: proof\r\n\r\nPDF\r\n")
        ]
        assert "message" not in columns
    finally:
        engine.dispose()


def test_the_unsealed_evidence_moves_to_the_seal_queue(empty_database_url: str) -> None:
    """Migration 0020: an evidence waiting for its seal before it (tried twice, its error
    kept) waits in seal_queue after it, with its tries and error; a sealed one is not queued;
    the evidence table no longer holds a lease."""
    engine = at_revision(empty_database_url, "0019")
    try:
        with engine.begin() as connection:
            for evidence, p7s, attempts, error in (
                ("e1", None, 2, "TSA unreachable"),
                ("e2", b"seal", 0, None),
            ):
                connection.execute(
                    text(
                        "INSERT INTO evidence (id, letter_id, delivery_id, type, event_time, xml,"
                        " xml_sha256, p7s, attempts, next_attempt_at, last_error) VALUES (:id,"
                        " 'l1', 'd1', 'SubmissionAcceptance', :now, :xml, :sha, :p7s, :attempts,"
                        " :now, :error)"
                    ),
                    {
                        "id": evidence, "now": NOW, "xml": b"<x/>", "sha": "0" * 64, "p7s": p7s,
                        "attempts": attempts, "error": error,
                    },
                )  # fmt: skip
        create_schema(engine)  # to the newest revision, as `lre-gateway init` after an upgrade
        with engine.connect() as connection:
            queued = connection.execute(
                text("SELECT evidence_id, attempts, last_error, claimed_until FROM seal_queue")
            ).all()
            columns = {c["name"] for c in inspect(connection).get_columns("evidence")}
        assert [tuple(row) for row in queued] == [("e1", 2, "TSA unreachable", None)]
        assert columns.isdisjoint({"attempts", "next_attempt_at", "claimed_until", "last_error"})
    finally:
        engine.dispose()


def at_revision(url: str, revision: str) -> Engine:
    """The empty database at `url` brought to an older `revision`, with an account, a letter
    and its delivery (tables the later migrations tested here leave alone)."""
    engine = open_engine(url)
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), revision)
    queued_mails(engine, 0)
    return engine


def test_the_migrations_directory_ships_with_the_package() -> None:
    assert (MIGRATIONS / "env.py").is_file()
    assert list((MIGRATIONS / "versions").glob("0001_*.py"))
