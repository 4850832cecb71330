"""A process of the gateway that has begun to stop ignores the stop signals that follow (the
main process's SIGTERM after systemd's reached an SMTP process already): it finishes its
shutdown and exits with code 0, its event loop closed without a word on stderr."""

from __future__ import annotations

import subprocess
import sys
import textwrap

STOPPING = textwrap.dedent(
    """
    import asyncio, os, signal
    from gateway.stopping import ignore_further, stop_requested

    SIGNALS = [signal.SIGTERM, signal.SIGINT]

    async def main():
        stop = stop_requested(SIGNALS)
        os.kill(os.getpid(), signal.SIGTERM)
        await stop.wait()
        ignore_further(SIGNALS)
        for signum in SIGNALS:  # while the loop still runs
            os.kill(os.getpid(), signum)
        await asyncio.sleep(0)

    asyncio.run(main())
    for signum in SIGNALS:  # the loop closed, the process not yet ended
        os.kill(os.getpid(), signum)
    print("stopped")
    """
)


def test_signals_after_the_stop_began_neither_kill_the_process_nor_reach_its_closed_loop() -> None:
    run = subprocess.run(
        [sys.executable, "-c", STOPPING], capture_output=True, text=True, timeout=60
    )
    assert (run.returncode, run.stdout, run.stderr) == (0, "stopped\n", "")
