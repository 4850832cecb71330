"""The certificate processes' messages as the event loop reads them (gateway.pdf.workers):
framed as multiprocessing's Connection frames them, read whole or not at all."""

from __future__ import annotations

import multiprocessing
import os

from gateway.pdf.workers import frame, unframe


def test_what_a_connection_sends_is_read_back_whole_however_it_arrives() -> None:
    """Connection.send (the process's side) framed it; unframe reads each message once all of
    it is there, and leaves a partial one for the next read."""
    ours, theirs = multiprocessing.Pipe(duplex=True)
    messages = [("ready", None), ("result", b"%PDF" * 30_000), ("raised", (ValueError("x"), ""))]
    for message in messages:
        theirs.send(message)
    theirs.close()
    wire = b""
    while chunk := os.read(ours.fileno(), 1 << 16):
        wire += chunk
    assert wire == b"".join(frame(message) for message in messages)
    inbox, read = bytearray(), []
    for at in range(0, len(wire), 7_777):  # in pieces, as a non-blocking pipe gives them
        inbox += wire[at : at + 7_777]
        read += list(unframe(inbox))
    assert [repr(message) for message in read] == [repr(message) for message in messages]
    assert inbox == b""


def test_a_message_that_does_not_unpickle_is_taken_out_and_the_next_one_read() -> None:
    inbox = bytearray(frame(("result", 1)) + b"\x00\x00\x00\x03abc" + frame(("result", 2)))
    read: list[object] = []
    try:
        read += unframe(inbox)
    except Exception as err:  # noqa: BLE001 - what the loop catches
        read.append(type(err).__name__)
    read += unframe(inbox)
    assert read == [("result", 1), "UnpicklingError", ("result", 2)]
    assert inbox == b""
