"""The main process lowers every thread it has but the named ones it keeps (gateway.priority):
its database threads and the SMTP processes' spawner stay at the start's niceness and policy, the
others — those started before the call too, and those started after it — run nicer and under
SCHED_IDLE. Run in a process of its own: a thread put under SCHED_IDLE cannot leave it without
privileges, and the test process's own threads must keep their priority."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

LOWERING = textwrap.dedent(
    """
    import json, threading
    from concurrent.futures import ThreadPoolExecutor
    from pathlib import Path
    from gateway.priority import DATABASE_THREAD, lower_threads, start_threads

    def priority(task):
        stat = (task / "stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        return [int(fields[16]), int(fields[38])]

    writers = ThreadPoolExecutor(2)  # PostgreSQL's database threads, say
    start_threads(writers, DATABASE_THREAD, 2)
    before = ThreadPoolExecutor(1)
    before.submit(lambda: None).result()  # an unnamed thread, started before
    lower_threads(5, True)
    after = ThreadPoolExecutor(1)
    after.submit(lambda: None).result()  # started after: inherits the main thread's
    found = {"kept": [], "others": []}
    for task in Path("/proc/self/task").iterdir():
        name = (task / "comm").read_text().strip()
        found["kept" if name == DATABASE_THREAD else "others"].append(priority(task))
    print(json.dumps(found))
    """
)


def test_every_thread_but_the_kept_ones_is_lowered_those_started_before_too() -> None:
    run = subprocess.run(
        [sys.executable, "-c", LOWERING], capture_output=True, text=True, check=True, timeout=60
    )
    start = [os.getpriority(os.PRIO_PROCESS, 0), os.SCHED_OTHER]
    lowered = [min(start[0] + 5, 19), os.SCHED_IDLE]
    # the two database threads kept; the main thread, the one before and the one after lowered
    assert json.loads(run.stdout) == {"kept": [start, start], "others": [lowered] * 3}
