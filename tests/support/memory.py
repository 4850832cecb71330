"""Resident memory of a process group, read from /proc (Linux): what each process keeps."""

from __future__ import annotations

import os
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")


def group_rss(pgid: int) -> dict[int, int]:
    """pid -> resident set size in bytes, for every live process of the process group."""
    sizes: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            statm = (entry / "statm").read_text()
        except OSError:  # it ended meanwhile
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
        state, group = fields[0], int(fields[2])
        if group == pgid and state != "Z":
            sizes[int(entry.name)] = int(statm.split()[1]) * PAGE
    return sizes


def megabytes(size: int) -> float:
    return size / 1_000_000
