"""Evidence log cost per evidence: queueing, appending (sequencing) and checkpoints.

Runs on a SQLite file in a temporary directory with the gateway's schema and pragmas (WAL,
synchronous=FULL). It stores `--entries` sealed evidence rows, then measures what the log adds:
  - queue: the log_queue row written inside the seal's transaction (marginal cost of one insert
    in a batch of 100, as the scheduler stores seals);
  - append: `LogStore.sequence()` turning queued evidence into entries and subtree hashes
    (batches of up to 1000, one transaction each);
  - checkpoint: root hash + Ed25519 signature + store, once per `evidence.log_interval`
    (the TSA request is not counted: one per interval, not per evidence).
Prints microseconds per evidence (median of `--rounds`).

    python -m bench.log [--entries 5000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import event, insert

from gateway.evidence.log_note import Checkpoint, Signer, sign_checkpoint
from gateway.storage import tables as t
from gateway.storage.database import create_schema, open_engine
from gateway.storage.log_store import LogStore


def _no_foreign_keys(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA foreign_keys=OFF")


def _round(directory: Path, entries: int) -> tuple[float, float, float, float]:
    engine = open_engine(f"sqlite:///{directory}/bench.db")
    event.listen(engine, "connect", _no_foreign_keys)  # evidence rows without their letters
    try:
        create_schema(engine)
        now = datetime.now(UTC)
        rows = [
            {
                "id": f"ev{i:030d}",
                "letter_id": "letter",
                "delivery_id": "delivery",
                "type": "SubmissionAcceptance",
                "event_time": now,
                "xml": b"<x/>",
                "xml_sha256": hashlib.sha256(str(i).encode()).hexdigest(),
                "p7s": b"0" * 2000,
                "sealed_at": now,
                "attempts": 0,
                "next_attempt_at": now,
            }
            for i in range(entries)
        ]
        with engine.connect() as db:
            with db.begin():
                db.execute(insert(t.evidence), rows)
            # one insert per seal, inside the transaction that stores the seal (its commit is
            # the seal's own: not counted here)
            started = time.perf_counter()
            with db.begin():
                for row in rows:
                    db.execute(insert(t.log_queue).values(evidence_id=row["id"], queued_at=now))
            queue = time.perf_counter() - started
        store = LogStore(engine)
        started, cpu = time.perf_counter(), time.process_time()
        while store.sequence():
            pass
        append, append_cpu = time.perf_counter() - started, time.process_time() - cpu
        signer = Signer("bench/evidence-log", Ed25519PrivateKey.generate())
        started = time.perf_counter()
        size = store.size()
        note = sign_checkpoint(signer, Checkpoint(signer.name, size, store.root(size)))
        store.add_checkpoint(size, note, now=now)
        checkpoint = time.perf_counter() - started
        return queue / entries, append / entries, append_cpu / entries, checkpoint
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    results = []
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory() as directory:
            results.append(_round(Path(directory), args.entries))
    queue, append, cpu, checkpoint = (statistics.median(r[i] for r in results) for i in range(4))
    print(f"entries per round:          {args.entries}")
    print(f"queue (in the seal's txn):  {queue * 1e6:7.1f} µs per evidence")
    print(
        f"append (sequencing):        {append * 1e6:7.1f} µs per evidence ({cpu * 1e6:.1f} µs CPU)"
    )
    print(f"checkpoint (per interval):  {checkpoint * 1e3:7.2f} ms, whatever the number of entries")


if __name__ == "__main__":
    main()
