"""The garbage collector in a long-running gateway process: what start-up made is frozen out of
its reach, and it runs less often.

A process serving letters holds a few hundred thousand objects made once at start (modules,
SQLAlchemy's compiled statements, fonts and memos in the certificate processes) that never
become garbage. With CPython's thresholds (700, 10, 10) a full collection walks all of them
every ~70,000 allocations net: in a certificate process rendering fr, en and ar certificates in
turn, 2.0-3.3 ms of collection per certificate; in the main process ~0.5 ms per letter
(gc.callbacks, bench.profile's load). `settle()` once start-up is done:
`gc.freeze()` moves what exists to the permanent generation (a full collection walks only what
was made since, and a forked child's copy of those pages is left shared), and young collections
run every 10,000 allocations instead of 700. Cycles are still collected: memory stays flat
(`bench.throughput --soak`). Not in the SMTP processes: there it saved nothing measurable (their
collections are their imports'), and their RSS grew with it (225 -> 277 MB over 10,000 letters,
251 -> 261 MB without, as before this change).
"""

from __future__ import annotations

import gc
from typing import Final

THRESHOLDS: Final = (10_000, 10, 10)


def settle() -> None:
    """Start-up is done: freeze what it made, then collect less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
