"""SMTP submission served by processes of their own (`smtp.processes`).

The gateway's main process binds the submission sockets and hands them to `count` child
processes, started afresh ("spawn": a new interpreter that imports the gateway). Not from the
certificate processes' forkserver: its preload (the gateway's imports, then the certificate
renderer's warm-up, seconds on a loaded machine) held every SMTP process's start, and with it
the main process's event loop, blocked in `Process.start()` until the forkserver answered; a
gateway stopped meanwhile (SIGTERM to its process group, the forkserver included) died there of
`EOFError`. Each child runs its own event loop with the submission handler and a registry over
database connections of its own: it reads, encrypts and commits the letter and its deposit
evidence, then answers 250 itself, on uvloop's event loop (`smtp.uvloop`: libuv's loop, in C,
where asyncio's is Python's; a paced letter costs the process ~0.3 ms less CPU; its TLS is
asyncio's TLS protocol all the same, smtp_in/tls.py). The acknowledgement path never waits
behind the main process's background work (composing, signing and sending mails, PDF jobs,
sealing), and on a machine with several cores it runs beside it. The main process keeps the
scheduler, the web, the inbound (MX) port and the sockets.

Two socket pairs tie them together (sockets, because a forkserver child receives only the
descriptors passed to it, and multiprocessing passes sockets):

- *events* (datagrams): a child reports each deposit, SMTP reply and DATA timing; the main
  process counts them in its own metrics (so /metrics shows every letter, whichever process
  took it) and wakes its scheduler after each deposit, exactly as for a deposit of its own.
  A child gathers its events and sends them together, counted (see ForwardedMetrics): at
  most a datagram per letter, and under load one for the letters of a few milliseconds;
- *life*: only the main process holds its write end. End of file means the main process is gone
  (even killed with SIGKILL): the child exits at once, so the listening sockets are released for
  a restarted gateway. A deposit the child had not committed is not acknowledged; one it had
  committed is in the database, as with a crash of a single process.

A child says *ready* on the events socket once it serves the sockets; the gateway's start waits
for every child's (within START_TIMEOUT; a child that exits or stays silent stops the start
with one sentence, `SmtpProcessFailed`). A child that dies later is started again. SIGTERM to a
child lets its deposits in flight finish (the same grace as a single process), then it exits;
it says *stopping* first, so that its exit is not logged as a crash (systemd's SIGTERM reaches
every process of the group, the children often before the main process has handled its own).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import multiprocessing
import os
import signal
import socket
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.process import BaseProcess
from typing import Any, Final, Protocol

from gateway.errors import SmtpProcessFailed
from gateway.metrics import Metrics
from gateway.priority import SPAWNER_THREAD, start_threads
from gateway.settings import Settings
from gateway.stopping import ignore_further, stop_requested

try:  # the SMTP processes' event loop (smtp.uvloop): libuv's, not built for Windows
    import uvloop
except ImportError:  # pragma: no cover - a platform without it
    uvloop = None  # type: ignore[assignment]

log = logging.getLogger(__name__)


class SubmissionServer(Protocol):
    """What an SMTP process runs: `submission_only` (gateway.submission), handed
    down by the main process (a module-level function, so it reaches the child by name)."""

    def __call__(
        self, settings: Settings, sockets: Mapping[str, socket.socket], *, metrics: Metrics
    ) -> contextlib.AbstractAsyncContextManager[None]: ...


# Their own start method, independent of the certificate processes' forkserver (see above).
_CONTEXT: Final = multiprocessing.get_context("spawn")
START_TIMEOUT: Final = 120.0  # seconds for a child to import the gateway and serve (loaded machine)
STOP_GRACE: Final = 10.0  # seconds a child gets on SIGTERM before it is killed
REAP_POLL: Final = 0.01  # seconds between looks for the exit status of a child that ended
RESTART_DELAY: Final = 1.0  # seconds before a child that died is started again (no busy loop)
EVENTS_MAX: Final = 65536  # bytes of one datagram of events (BATCH events are ~4 KB at most)
BATCH: Final = 100  # events a child gathers at most in one datagram
FLUSH_AFTER: Final = 0.2  # seconds an event waits at most in a child before it is sent
WAKE_GAP: Final = 0.02  # seconds at least between two datagrams telling of a deposit


class SmtpProcesses:
    """`count` child processes serving the submission `sockets`; their events are counted in
    `metrics`, and `wake` runs in the main loop after each of their deposits. Made and used in
    the main process's event loop."""

    def __init__(
        self,
        settings: Settings,
        count: int,
        sockets: Mapping[str, socket.socket],
        *,
        metrics: Metrics,
        wake: Callable[[], None],
        serve: SubmissionServer,
    ) -> None:
        self._settings = settings
        self._serve = serve
        self._count = count
        self._sockets = dict(sockets)
        self._metrics = metrics
        self._wake = wake
        self._children: list[BaseProcess | None] = [None] * count
        self._ready: dict[int, asyncio.Future[None]] = {}  # by pid, until the child says so
        self._told_stopping: set[int] = set()  # pids of children stopping on a SIGTERM
        self._stopping = False
        self._wake_read, self._wake_write = socket.socketpair(type=socket.SOCK_DGRAM)
        self._life_mine, self._life_theirs = socket.socketpair()
        self._wake_read.setblocking(False)
        self._wake_write.setblocking(False)  # children never wait on it (see ForwardedMetrics)
        self._loop = asyncio.get_running_loop()
        # the children are started from a thread of their own, at the priority the main process
        # has now: one started again after a crash, once the main process has lowered itself
        # (gateway.priority), would otherwise inherit its niceness and SCHED_IDLE
        self._spawner = ThreadPoolExecutor(1)
        start_threads(self._spawner, SPAWNER_THREAD)

    @property
    def pids(self) -> list[int]:
        return [child.pid for child in self._children if child is not None and child.pid]

    def start(self) -> None:
        self._loop.add_reader(self._wake_read.fileno(), self._woken)
        for index in range(self._count):
            pid = self._start(index)
            self._ready[pid] = self._loop.create_future()

    async def started(self, within: float = START_TIMEOUT) -> None:
        """Wait until every child serves; SmtpProcessFailed if one exits or is silent `within`."""
        pending = list(self._ready.values())
        if not pending:
            return
        done, late = await asyncio.wait(pending, timeout=within)
        for future in done:
            future.result()  # SmtpProcessFailed: the child exited first
        if late:
            raise SmtpProcessFailed(
                f"{len(late)} SMTP process(es) did not start serving within {within:.0f} s "
                "(a machine too loaded, or see the log above); set smtp.processes = 0 to serve "
                "SMTP in the main process"
            )

    def _start(self, index: int) -> int:
        child = _CONTEXT.Process(
            target=child_main,
            args=(
                self._serve,
                self._settings,
                self._sockets,
                self._wake_write,
                self._life_theirs,
            ),
            name=f"lre-smtp-{index}",
        )
        # a fork and exec, and the pickled arguments written to a pipe: quick
        self._spawner.submit(child.start).result()
        self._children[index] = child
        self._loop.add_reader(child.sentinel, self._exited, index)
        log.info("SMTP process %d started (pid %s)", index, child.pid)
        return child.pid or 0

    def _woken(self) -> None:
        deposits = 0
        with contextlib.suppress(BlockingIOError):
            while True:
                match json.loads(self._wake_read.recv(EVENTS_MAX)):
                    case ["ready", int(pid), str(loop)]:
                        self._serving(pid, loop)
                    case ["stopping", int(pid)]:
                        self._told_stopping.add(pid)
                    case ["events", dict(counts)]:
                        deposits += _count(self._metrics, counts)
                    case event:
                        log.error("unknown message from an SMTP process: %r", event)
        if deposits:
            self._wake()

    def _serving(self, pid: int, loop: str) -> None:
        ready = self._ready.pop(pid, None)
        if ready is not None and not ready.done():
            ready.set_result(None)
        log.info("SMTP process %s serves (event loop: %s)", pid, loop)

    def _exited(self, index: int) -> None:
        child = self._children[index]
        if child is None:
            return
        self._loop.remove_reader(child.sentinel)
        self._reap(index, child)

    def _reap(self, index: int, child: BaseProcess) -> None:
        """Close a child whose sentinel said it ended, and start another (after RESTART_DELAY).

        Its sentinel (a pipe) reads end of file once the dying child's descriptors are closed,
        a moment before the kernel makes its exit status available: until then, poll again."""
        if self._stopping:
            return  # stop() joins and closes it
        code = child.exitcode  # polls (waitpid WNOHANG)
        if code is None:
            self._loop.call_later(REAP_POLL, self._reap, index, child)
            return
        pid = child.pid or 0
        ready = self._ready.pop(pid, None)
        if ready is not None and not ready.done():  # died before serving
            ready.set_exception(
                SmtpProcessFailed(f"SMTP process {index} exited (code {code}) before serving")
            )
        self._woken()  # its last events, "stopping" among them, read before it is judged
        stopped = pid in self._told_stopping
        self._told_stopping.discard(pid)
        child.close()
        self._children[index] = None
        if not stopped:
            log.error("SMTP process %d exited (code %s): starting it again", index, code)
        # stopped on a SIGTERM: systemd's to the whole group, whose SIGTERM to the main process
        # may not have been handled yet (once it is, no_more_restarts cancels the restart), or
        # one sent to this child alone (started again: the gateway serves until it is stopped)
        self._loop.call_later(RESTART_DELAY, self._restart, index, stopped)

    def _restart(self, index: int, stopped: bool = False) -> None:
        if self._stopping:
            return
        if stopped:
            log.warning("SMTP process %d stopped on a SIGTERM of its own: starting it again", index)
        self._start(index)

    def no_more_restarts(self) -> None:
        """The gateway stops: a child that ends from now on is not started again (systemd's
        SIGTERM reaches the children too, which may end before `stop`)."""
        self._stopping = True

    async def stop(self) -> None:
        """SIGTERM to every child, wait for them (killed after STOP_GRACE), close the sockets."""
        self.no_more_restarts()
        children = [child for child in self._children if child is not None]
        for child in children:
            if child.is_alive():
                child.terminate()
        await asyncio.to_thread(_join, children, STOP_GRACE)
        self._loop.remove_reader(self._wake_read.fileno())
        for child in children:
            self._loop.remove_reader(child.sentinel)
        for end in (self._wake_read, self._wake_write, self._life_mine, self._life_theirs):
            end.close()
        for child in children:
            child.close()
        self._spawner.shutdown()


def _join(children: list[BaseProcess], grace: float) -> None:
    for child in children:
        child.join(grace)
        if child.is_alive():
            log.error("SMTP process %s did not stop in %.0f s: killed", child.pid, grace)
            child.kill()
            child.join()


def _count(metrics: Metrics, counts: dict[str, Any]) -> int:
    """Count a child's events (ForwardedMetrics.flush) in the main process's metrics; the
    number of letters deposited among them."""
    deposits = 0
    try:
        for listener, code, n in counts.get("replies", []):
            metrics.smtp_reply(str(listener), str(code), int(n))
        for authentication, letters, recipients in counts.get("deposited", []):
            metrics.deposited(str(authentication), int(recipients), int(letters))
            deposits += int(letters)
        for listener, seconds in counts.get("answered", []):
            metrics.data_answered(str(listener), float(seconds))
    except (TypeError, ValueError):
        log.error("events of an SMTP process not understood: %r", counts)
    return deposits


@contextlib.asynccontextmanager
async def smtp_processes(
    settings: Settings,
    count: int,
    sockets: Mapping[str, socket.socket],
    *,
    metrics: Metrics,
    wake: Callable[[], None],
    serve: SubmissionServer,
) -> AsyncIterator[SmtpProcesses]:
    if settings.smtp.uvloop and uvloop is None:
        log.warning(
            "smtp.uvloop is set but uvloop is not installed: the SMTP processes run on asyncio's "
            "event loop"
        )
    processes = SmtpProcesses(settings, count, sockets, metrics=metrics, wake=wake, serve=serve)
    processes.start()
    try:
        await processes.started()
        yield processes
    finally:
        await processes.stop()


# the child --------------------------------------------------------------------------------


def child_main(
    serve: SubmissionServer,
    settings: Settings,
    sockets: Mapping[str, socket.socket],
    wake: socket.socket,
    life: socket.socket,
) -> None:
    """Entry point of an SMTP process: serve the submission sockets until SIGTERM."""
    from gateway import logs

    logs.configure(settings.logging.format)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the main process, which stops us
    serving = _serve(serve, settings, sockets, wake, life)
    if settings.smtp.uvloop and uvloop is not None:
        uvloop.run(serving)
    else:
        asyncio.run(serving)


async def _serve(
    serve: SubmissionServer,
    settings: Settings,
    sockets: Mapping[str, socket.socket],
    wake_socket: socket.socket,
    life: socket.socket,
) -> None:
    loop = asyncio.get_running_loop()
    stop = stop_requested([signal.SIGTERM])
    life.setblocking(False)
    loop.add_reader(life.fileno(), _main_process_gone, life)
    metrics = ForwardedMetrics(wake_socket)
    try:
        async with serve(settings, sockets, metrics=metrics):
            metrics.ready()
            await stop.wait()
            ignore_further([signal.SIGTERM])
            metrics.stopping()
    finally:
        metrics.flush()  # the replies of the sessions cut at the stop


class ForwardedMetrics(Metrics):
    """An SMTP process's metrics: its events go to the main process, which counts them.

    Events are gathered and sent in one datagram, counted rather than listed (the replies by
    listener and code, the deposits by authentication; each DATA timing is an observation of
    its own): a send per SMTP reply cost more CPU than the reply, and each event read, matched
    and counted by the main process was 4-6 % of its samples (29 µs a letter alone, 6 now),
    on the loop that also feeds the certificate processes. A deposit's datagram wakes the main
    process's scheduler: it is sent with the reply that follows the deposit (the DATA reply, so
    that the letter is counted with its DATA timing and its 250), or WAKE_GAP after the previous
    datagram when that one is more recent (under load, the letters of those milliseconds share
    one datagram). Otherwise they go once BATCH events are gathered, or FLUSH_AFTER seconds
    after the first of them (the replies of a session that deposits nothing). Made and used in
    the child's event loop.

    A datagram the main process has not read yet waits in the socket's buffer; were it full
    (the main process stalled for thousands of letters), the events are dropped rather than the
    250 delayed: a counter may then run short, a letter is never held back."""

    def __init__(self, events: socket.socket) -> None:
        super().__init__()
        events.setblocking(False)
        self._events = events
        self._loop = asyncio.get_running_loop()
        self._replies: collections.Counter[tuple[str, str]] = collections.Counter()
        self._deposits: dict[str, list[int]] = {}  # authentication -> [letters, recipients]
        self._answered: list[tuple[str, float]] = []  # (listener, seconds) of each DATA
        self._gathered = 0  # events since the last datagram
        self._sent_at = -WAKE_GAP  # the loop's time of the last datagram
        # uvloop gives a timer due within a millisecond as a plain Handle, without when():
        # when it is due is kept here
        self._timer: asyncio.Handle | None = None
        self._timer_due = 0.0

    def _send(self, *message: object) -> None:
        with contextlib.suppress(BlockingIOError):
            self._events.send(json.dumps(message).encode())

    def _add(self, *, wake: bool = False) -> None:
        """One more event gathered; `wake`: a deposit waits to be told (see the class)."""
        self._gathered += 1
        now = self._loop.time()
        due = self._sent_at + WAKE_GAP if wake else now + FLUSH_AFTER
        if self._gathered >= BATCH or due <= now:
            self.flush()
        elif self._timer is None or self._timer_due > due:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = self._loop.call_at(due, self.flush)
            self._timer_due = due

    def flush(self) -> None:
        """Send the gathered events now, in one datagram."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._gathered:
            return
        counts = {
            "replies": [[listener, code, n] for (listener, code), n in self._replies.items()],
            "deposited": [[auth, *numbers] for auth, numbers in self._deposits.items()],
            "answered": self._answered,
        }
        self._replies, self._deposits, self._answered = collections.Counter(), {}, []
        self._gathered = 0
        self._sent_at = self._loop.time()
        self._send("events", counts)

    def ready(self) -> None:
        """This process serves its sockets: the start-up handshake, this process's first event
        (with the name of the event loop it runs: uvloop or asyncio)."""
        loop = type(asyncio.get_running_loop()).__module__.partition(".")[0]
        self._send("ready", os.getpid(), loop)

    def stopping(self) -> None:
        """This process stops on a SIGTERM (its exit is no crash): its last event but the
        replies of the sessions cut at the stop."""
        self._send("stopping", os.getpid())

    def deposited(self, authentication: str, recipients: int, letters: int = 1) -> None:
        numbers = self._deposits.setdefault(authentication, [0, 0])
        numbers[0] += letters
        numbers[1] += recipients
        self._add()

    def smtp_reply(self, listener: str, code: str, count: int = 1) -> None:
        self._replies[(listener, code)] += count
        self._add(wake=bool(self._deposits))

    def data_answered(self, listener: str, seconds: float) -> None:
        self._answered.append((listener, float(seconds)))
        self._add()


def _main_process_gone(life: socket.socket) -> None:
    """The life socket is readable only at end of file: the main process has died."""
    try:
        if life.recv(1) != b"":
            return  # nothing is ever sent on it; ignore
    except BlockingIOError:
        return
    except OSError:
        pass  # reset: gone too
    os._exit(0)  # no cleanup: release the sockets now, a restarted gateway binds them
