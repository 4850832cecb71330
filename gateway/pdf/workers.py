"""Processes that run jobs for the event loop, each with a pipe of its own that the loop reads.

`concurrent.futures.ProcessPoolExecutor` hands a job over through a queue fed by a thread of
the gateway's process and takes its result back in another (its manager thread): two threads
woken for every certificate, each taking the GIL from the event loop that serves the web, sends
the mails and runs the scheduler. Here the loop writes a job to an idle process's pipe and reads
the result when that pipe is readable: no thread, no queue (bench/pool.py measures both ways).

- A process is started (by the multiprocessing context given: the gateway's forkserver) when a
  job needs one or `start` asks, up to `count`; the start runs in a thread, since the first one
  waits for the forkserver's preload. Each process runs `initializer(*initargs)`, then says it
  is ready, then runs one job at a time until it reads None or its pipe closes.
- A job goes to a ready process, in the order the jobs came, first to one with nothing to do,
  else to one with fewer than `depth` jobs (default DEPTH): a process then finds its next job
  in its pipe as it answers one, without waiting for the loop to read the answer and write
  the next (under load the loop is busy for milliseconds at a time, and a certificate takes
  ~4). What a job returns or raises comes back to its caller.
- A process that dies fails only the job it was running (`ProcessDied`); the jobs written to
  it behind that one, never begun, go back to the front of the queue, and another process is
  started for the jobs that wait. One whose initializer fails fails the jobs that wait, with
  the initializer's error, and none is started again until the next job comes: no loop of
  failing starts.
- A process ignores SIGINT and SIGTERM: those sent to the whole process group (Ctrl-C in the
  terminal of `make run`, systemd stopping the service's control group) are the gateway's,
  which finishes its work and then ends the processes (`close`); a process also ends when its
  pipe closes, the gateway gone.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import signal
import struct
import traceback
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from multiprocessing.reduction import ForkingPickler
from typing import Any, Final

log = logging.getLogger(__name__)

READY: Final = "ready"
RESULT: Final = "result"
RAISED: Final = "raised"
FAILED: Final = "failed"  # the initializer raised: the process ends
JOIN_TIMEOUT: Final = 5.0  # seconds a process has to end at `close` before it is killed
READ_SIZE: Final = 1 << 18  # bytes read at a time from a process's pipe
DEPTH: Final = 2  # jobs a process holds at most: the one it runs, and the next


class ProcessDied(Exception):
    """The process running this job ended before it answered (killed, or out of memory)."""


class StartFailed(Exception):
    """A process could not start: its initializer raised (this error's message says what)."""


class RemoteTraceback(Exception):
    """The traceback of an exception raised in a process, as its `__cause__`."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


@dataclass
class _Job:
    future: asyncio.Future[Any]
    fn: Callable[..., Any]
    args: tuple[Any, ...]


@dataclass(eq=False)
class _Process:
    process: Any  # multiprocessing's BaseProcess
    connection: Connection  # its fd non-blocking: read and written by the loop (`frames`)
    ready: bool = False
    # its jobs in the order written: the first is the one it runs, the others wait in its pipe
    jobs: collections.deque[_Job] = field(default_factory=collections.deque)
    watched: list[int] = field(default_factory=list)  # fds the loop reads for it
    inbox: bytearray = field(default_factory=bytearray)  # read, not yet a whole message
    outbox: bytearray = field(default_factory=bytearray)  # to write once the pipe has room


def frame(message: Any) -> bytes:
    """`message` as multiprocessing's Connection.send writes it: its length, then its pickle."""
    data = ForkingPickler.dumps(message)
    if len(data) > 0x7FFFFFFF:
        return struct.pack("!i", -1) + struct.pack("!Q", len(data)) + data
    return struct.pack("!i", len(data)) + bytes(data)


def unframe(inbox: bytearray) -> Iterator[Any]:
    """The whole messages at the start of `inbox` (taken out of it), unpickled."""
    while len(inbox) >= 4:
        (size,) = struct.unpack_from("!i", inbox)
        start = 4
        if size == -1:
            if len(inbox) < 12:
                return
            (size,) = struct.unpack_from("!Q", inbox, 4)
            start = 12
        if len(inbox) < start + size:
            return
        try:
            with memoryview(inbox) as whole, whole[start : start + size] as data:
                message = ForkingPickler.loads(data)
        finally:  # taken out even when it does not unpickle: the next one follows it
            del inbox[: start + size]
        yield message


def serve(
    connection: Connection, initializer: Callable[..., None], initargs: tuple[Any, ...]
) -> None:
    """A process's life: its initializer, then one job at a time from `connection`; deaf to
    the signals that stop the gateway (the gateway ends it)."""
    for stop in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop, signal.SIG_IGN)
    try:
        initializer(*initargs)
    except BaseException as err:  # noqa: BLE001 - told to the gateway, then this process ends
        connection.send((FAILED, f"{type(err).__name__}: {err}"))
        return
    connection.send((READY, None))
    while True:
        try:
            job = connection.recv()
        except (EOFError, OSError):  # the gateway's end closed: it ended
            return
        if job is None:
            return
        fn, args = job
        try:
            answer: tuple[str, Any] = (RESULT, fn(*args))
        except BaseException as err:  # noqa: BLE001 - raised again in the gateway
            answer = (RAISED, (err, "".join(traceback.format_exception(err))))
        try:
            connection.send(answer)
        except Exception as err:  # noqa: BLE001 - a result or an error that does not pickle
            failed = RuntimeError(f"the job's answer could not be sent: {err!r}")
            connection.send((RAISED, (failed, "")))


class Workers:
    """Up to `count` processes of `context`, each running `initializer(*initargs)` first. Used
    from one event loop (`run`, `start`, `close`)."""

    def __init__(
        self,
        count: int,
        context: BaseContext,
        initializer: Callable[..., None],
        initargs: tuple[Any, ...] = (),
        *,
        depth: int = DEPTH,
    ) -> None:
        if count < 1 or depth < 1:
            raise ValueError("at least one process, and one job a process, are needed")
        self.count = count
        self._depth = depth
        self._context = context
        self._initializer = initializer
        self._initargs = initargs
        self._processes: list[_Process] = []
        self._starting = 0
        self._waiting: collections.deque[_Job] = collections.deque()
        self._ready_changed = asyncio.Event()  # a process became ready, failed or ended
        self._loop: asyncio.AbstractEventLoop | None = None  # the one loop that uses them
        self._tasks: set[asyncio.Task[None]] = set()  # the starts under way
        self._failed: StartFailed | None = None  # why the last start failed
        self._buffer = memoryview(bytearray(READ_SIZE))  # what a read of a pipe lands in
        self._closed = False

    @property
    def pids(self) -> list[int]:
        """The processes running now (started, ready or not)."""
        return [each.process.pid for each in self._processes]

    @property
    def held(self) -> list[int]:
        """The jobs each running process holds (the one it runs and those behind it)."""
        return [len(each.jobs) for each in self._processes]

    @property
    def ready(self) -> int:
        """The processes ready for jobs now."""
        return sum(each.ready for each in self._processes)

    @property
    def starting(self) -> int:
        """The processes being started now (not running yet)."""
        return self._starting

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """fn(*args) in one of the processes (fn and args must pickle)."""
        if self._closed:
            raise RuntimeError("the processes are closed")
        future = asyncio.get_running_loop().create_future()
        self._waiting.append(_Job(future, fn, args))
        self._fill()
        self._dispatch()
        return await future

    async def start(self) -> None:
        """Start every process now and return once each is ready; StartFailed as soon as one
        fails to start."""
        self._failed = None
        self._fill()
        event = self._ready_changed
        while sum(each.ready for each in self._processes) < self.count:
            if self._failed is not None:
                raise self._failed
            event.clear()
            await event.wait()

    def close(self) -> None:
        """End every process (each finishes the job it has); jobs still waiting are cancelled."""
        self._closed = True
        while self._waiting:
            self._waiting.popleft().future.cancel()
        for task in self._tasks:
            task.cancel()
        for each in list(self._processes):
            self._unwatch(each)
            os.set_blocking(each.connection.fileno(), True)
            with contextlib.suppress(OSError):  # ended already
                while each.outbox:  # the rest of a job being written: the process reads it
                    del each.outbox[: os.write(each.connection.fileno(), each.outbox)]
                each.connection.send(None)
        for each in list(self._processes):
            each.process.join(JOIN_TIMEOUT)
            if each.process.is_alive():
                each.process.kill()
                each.process.join()
            each.connection.close()
            for job in each.jobs:
                job.future.cancel()
            each.jobs.clear()
        self._processes.clear()

    # -- the loop's side

    def _changed(self) -> None:
        self._ready_changed.set()

    def _fill(self) -> None:
        """Start processes until `count` run or are starting."""
        self._loop = asyncio.get_running_loop()
        while not self._closed and len(self._processes) + self._starting < self.count:
            self._starting += 1
            self._later(self._start_one())

    async def _start_one(self) -> None:
        try:
            started = await asyncio.to_thread(self._spawn)
        except Exception as err:  # noqa: BLE001 - the jobs waiting are told
            self._starting -= 1
            log.error("a certificate process could not be started: %s", err)
            self._fail_waiting(StartFailed(f"a process could not be started: {err}"))
            return
        self._starting -= 1
        if self._closed:
            started.connection.send(None)
            started.connection.close()
            return
        self._processes.append(started)
        os.set_blocking(started.connection.fileno(), False)
        loop = asyncio.get_running_loop()
        for fd, callback in (
            (started.connection.fileno(), self._readable),
            (started.process.sentinel, self._ended),
        ):
            loop.add_reader(fd, callback, started)
            started.watched.append(fd)

    def _spawn(self) -> _Process:
        """(In a thread.) A new process, its end of the pipe closed here."""
        ours, theirs = self._context.Pipe(duplex=True)
        process = self._context.Process(  # type: ignore[attr-defined]
            target=serve,
            args=(theirs, self._initializer, self._initargs),
            name="certificate",
            daemon=True,  # ended at the interpreter's exit if `close` was not called
        )
        process.start()
        theirs.close()
        return _Process(process, ours)

    def _readable(self, each: _Process) -> None:
        """Read what the process wrote (never waiting: it may be descheduled mid-message, at
        its low priority), and act on each whole message."""
        ended = False
        while True:
            try:  # into one buffer: os.read would allocate (and map) READ_SIZE bytes each time
                read = os.readv(each.connection.fileno(), [self._buffer])
            except BlockingIOError:
                break
            except OSError:
                ended = True
                break
            if not read:
                ended = True
                break
            each.inbox += self._buffer[:read]
        try:
            for message in unframe(each.inbox):
                self._answered(each, message)
                if each not in self._processes:
                    return
        except Exception as err:  # noqa: BLE001 - read whole, but it did not unpickle
            unread = RuntimeError(f"the job's answer could not be read: {err!r}")
            self._answered(each, (RAISED, (unread, "")))
        if ended:  # the process is ending: its sentinel (`_ended`) says how, once it has
            fd = each.connection.fileno()
            if fd in each.watched and self._loop is not None:
                self._loop.remove_reader(fd)
                each.watched.remove(fd)
        else:
            self._dispatch()

    def _answered(self, each: _Process, message: tuple[str, Any]) -> None:
        kind, value = message
        if kind == READY:
            each.ready = True
            self._changed()
        elif kind == FAILED:
            log.error("a certificate process did not start: %s", value)
            self._remove(each)
            if each.process.exitcode is None:  # reaped once it has ended
                self._later(asyncio.to_thread(each.process.join, JOIN_TIMEOUT))
            self._fail_waiting(StartFailed(value))
        else:
            job = each.jobs.popleft() if each.jobs else None
            if job is not None and not job.future.done():
                if kind == RESULT:
                    job.future.set_result(value)
                else:
                    raised, remote = value
                    raised.__cause__ = RemoteTraceback(remote)
                    job.future.set_exception(raised)

    def _ended(self, each: _Process) -> None:
        """The process's sentinel: it has ended. What it wrote before is read first."""
        if each in self._processes and each.connection.fileno() in each.watched:
            self._readable(each)
        self._died(each)

    def _send(self, each: _Process, message: Any) -> None:
        """Write `message` to the process, the rest of it once its pipe has room (never
        waiting). Raises what pickling it raised (nothing written then), or OSError if the
        process has ended."""
        data = frame(message)
        if not each.outbox:
            try:
                written = os.write(each.connection.fileno(), data)
            except BlockingIOError:
                written = 0
            data = data[written:]
            if data:
                asyncio.get_running_loop().add_writer(
                    each.connection.fileno(), self._writable, each
                )
        each.outbox += data

    def _writable(self, each: _Process) -> None:
        try:
            written = os.write(each.connection.fileno(), each.outbox)
        except BlockingIOError:
            return
        except OSError:
            self._died(each)
            return
        del each.outbox[:written]
        if not each.outbox:
            asyncio.get_running_loop().remove_writer(each.connection.fileno())

    def _died(self, each: _Process) -> None:
        if each not in self._processes:
            return
        self._remove(each)
        self._later(self._buried(each))

    async def _buried(self, each: _Process) -> None:
        """The job it ran failed, and those behind it wait again, once its exit code is read
        (its pipe may close first)."""
        if each.process.exitcode is None:
            await asyncio.to_thread(each.process.join, JOIN_TIMEOUT)
        code = each.process.exitcode
        log.error("a certificate process ended (exit code %s); another one starts", code)
        if each.jobs:
            running = each.jobs.popleft()
            if not running.future.done():
                running.future.set_exception(
                    ProcessDied(f"the certificate process ended (exit code {code}) during the job")
                )
            self._waiting.extendleft(reversed(each.jobs))  # never begun: first in line again
            each.jobs.clear()
        self._changed()
        if self._waiting:
            self._fill()
            self._dispatch()

    def _remove(self, each: _Process) -> None:
        self._unwatch(each)
        self._processes.remove(each)
        each.connection.close()
        each.process.join(0)  # reaped, if it has ended already

    def _later(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _unwatch(self, each: _Process) -> None:
        if self._loop is not None and not self._loop.is_closed():
            for fd in each.watched:
                self._loop.remove_reader(fd)
            if each.outbox:
                self._loop.remove_writer(each.connection.fileno())
        each.watched.clear()

    def _fail_waiting(self, err: StartFailed) -> None:
        self._failed = err
        self._changed()
        while self._waiting:
            job = self._waiting.popleft()
            if not job.future.done():
                job.future.set_exception(err)

    def _dispatch(self) -> None:
        """The jobs that wait go to the ready processes, each to one of those holding the
        fewest jobs (so that jobs that come together run together), up to `depth` each."""
        for held in range(self._depth):
            for each in self._processes:
                while each.ready and len(each.jobs) == held and self._waiting:
                    job = self._waiting.popleft()
                    if job.future.done():  # its caller gave up
                        continue
                    try:
                        self._send(each, (job.fn, job.args))
                    except OSError:
                        self._waiting.appendleft(job)  # not begun: for another process
                        self._died(each)
                        return self._dispatch()
                    except Exception as err:  # noqa: BLE001 - it did not pickle: nothing sent
                        job.future.set_exception(err)
                        continue
                    each.jobs.append(job)
