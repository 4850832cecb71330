"""On SQLite, the SMTP processes' commits leave the write-ahead log's checkpoints to the main
process (gateway.storage.database.open_engine(checkpoints=False)): a deposit's COMMIT never
waits for megabytes of the log to be copied into the database file before its 250."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Column, Integer, LargeBinary, MetaData, Table, insert

from gateway.storage.database import open_engine

ROWS = Table(
    "rows", MetaData(), Column("id", Integer, primary_key=True), Column("data", LargeBinary)
)
MB = 1_000_000


def test_commits_without_checkpoints_leave_the_log_to_the_engine_that_makes_them(
    tmp_path: Path,
) -> None:
    path = tmp_path / "gateway.db"
    main = open_engine(f"sqlite:///{path}")
    smtp = open_engine(f"sqlite:///{path}", checkpoints=False)
    try:
        ROWS.create(main)
        for _ in range(60):  # 6 MB: past the 1,000 pages (4 MB) that start a checkpoint
            with smtp.begin() as db:
                db.execute(insert(ROWS), {"data": os.urandom(100_000)})
        wal = Path(f"{path}-wal")
        assert wal.stat().st_size > 6 * MB  # all of it still in the log
        assert path.stat().st_size < MB  # none of it copied into the database file
        with main.begin() as db:  # the main process's next commit copies it
            db.execute(insert(ROWS), {"data": b"x"})
        assert path.stat().st_size > 6 * MB
    finally:
        smtp.dispose()
        main.dispose()
