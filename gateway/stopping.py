"""How a process of the gateway (the main one, an SMTP process) stops on a signal.

`stop_requested` turns the signals into an event of the running loop. Once the process stops,
`ignore_further` takes the loop's handlers off and ignores those signals until the process
exits: the stop is under way, and a second signal (systemd's SIGTERM to the whole control
group reaches an SMTP process both directly and from the main process) must neither kill the
process half-way through its shutdown nor reach the loop while it closes. Left to the loop,
its `close()` closes its self-pipe before it takes its handlers off: a signal in between is
written to a closed descriptor ("Exception ignored when trying to write to the signal wakeup
fd"), and one after it meets the default action again (SIGTERM: killed, not exit code 0)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterable


def stop_requested(signals: Iterable[signal.Signals]) -> asyncio.Event:
    """An event of the running loop, set when one of `signals` arrives."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in signals:
        loop.add_signal_handler(signum, stop.set)
    return stop


def ignore_further(signals: Iterable[signal.Signals]) -> None:
    """From now until the process exits, `signals` are ignored and the running loop has no
    handler of them left to take off as it closes."""
    loop = asyncio.get_running_loop()
    for signum in signals:
        signal.signal(signum, signal.SIG_IGN)
        # the loop restores the default action as it takes its handler off: ignored again at
        # once (a signal in between, a few C calls long, would meet the default)
        loop.remove_signal_handler(signum)
        signal.signal(signum, signal.SIG_IGN)
