"""OutboxTransport: the development Maildir on a real file system."""

import asyncio
import email
import os
from datetime import UTC, datetime

import pytest

from gateway.smtp_out.transport import OutboxTransport, Outgoing


def mail(id: str, subject: str = "Hello", rcpt: str = "bob@example.org") -> Outgoing:
    message = (
        f"From: noreply@lre.localhost\r\nTo: {rcpt}\r\nSubject: {subject}\r\n"
        "Date: Fri, 01 Mar 2024 12:00:00 +0000\r\n\r\nBody.\r\n"
    ).encode()
    return Outgoing(mail_from="noreply@lre.localhost", rcpt=rcpt, message=message, id=id)


@pytest.fixture
def outbox(tmp_path):
    return OutboxTransport(tmp_path / "outbox")


async def test_send_writes_a_maildir_message(outbox):
    """A sent message lands in new/ with Return-Path and Delivered-To on top, tmp/ left empty."""
    where = await outbox.send(mail("o1"))
    path = outbox.directory / "new" / "o1.eml"
    assert where == str(path)
    assert sorted(p.name for p in outbox.directory.iterdir()) == ["cur", "new", "tmp"]
    assert not list((outbox.directory / "tmp").iterdir())
    data = path.read_bytes()
    assert data.startswith(
        b"Return-Path: <noreply@lre.localhost>\r\nDelivered-To: bob@example.org\r\n"
    )
    assert data.endswith(mail("o1").message)


async def test_same_id_is_delivered_once(outbox):
    """Sending the same outbound id again (a retry) does not duplicate or rewrite the message."""
    first = await outbox.send(mail("o1", subject="First"))
    second = await outbox.send(mail("o1", subject="Second"))
    assert first == second
    assert [e.subject for e in outbox.list()] == ["First"]


async def test_concurrent_sends_of_the_same_id_leave_one_file(outbox):
    """Two racing retries of one id still leave one message and no stray tmp file."""
    await asyncio.gather(*(outbox.send(mail("o1")) for _ in range(5)))
    assert [e.name for e in outbox.list()] == ["o1.eml"]
    assert not list((outbox.directory / "tmp").iterdir())


async def test_message_moved_to_cur_is_still_the_same_id(outbox):
    """A mail reader moving the message to cur/ (flags appended) does not cause a duplicate."""
    await outbox.send(mail("o1"))
    os.rename(outbox.directory / "new" / "o1.eml", outbox.directory / "cur" / "o1.eml:2,S")
    await outbox.send(mail("o1"))
    assert [e.name for e in outbox.list()] == ["o1.eml:2,S"]
    assert outbox.read("o1.eml:2,S").endswith(mail("o1").message)


async def test_list_newest_first_with_summary(outbox):
    """list() describes each message, the most recent delivery first."""
    await outbox.send(mail("o1", subject="Older"))
    os.utime(outbox.directory / "new" / "o1.eml", (1_000_000_000, 1_000_000_000))
    await outbox.send(mail("o2", subject="=?utf-8?q?Lettre_recommand=C3=A9e?=", rcpt="eve@x.org"))
    newest, oldest = outbox.list()
    assert newest.name == "o2.eml"
    assert newest.subject == "Lettre recommandée"
    assert newest.to == "eve@x.org"
    assert newest.mail_from == "noreply@lre.localhost"
    assert newest.date == datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
    assert newest.size == (outbox.directory / "new" / "o2.eml").stat().st_size
    assert oldest.subject == "Older"


async def test_read_returns_the_stored_bytes(outbox):
    """read() gives back the stored message, parseable as mail."""
    await outbox.send(mail("o1"))
    parsed = email.message_from_bytes(outbox.read("o1.eml"))
    assert parsed["Subject"] == "Hello"
    assert parsed["Delivered-To"] == "bob@example.org"


@pytest.mark.parametrize(
    "name",
    [
        "../outbox/new/o1.eml",
        "new/o1.eml",
        "..",
        ".",
        "/etc/passwd",
        "o1.eml/../o1.eml",
        "",
        "missing.eml",
    ],
)
async def test_read_path_traversal_is_refused(outbox, name, tmp_path):
    """read() only serves names from the listing: traversal and unknown names are KeyError."""
    await outbox.send(mail("o1"))
    (tmp_path / "secret").write_text("secret")
    with pytest.raises(KeyError):
        outbox.read(name)


@pytest.mark.parametrize("id", ["../evil", "a/b", ".hidden", "x:2,S", ""])
async def test_unsafe_id_is_refused(outbox, id):
    """An outbound id that cannot be a plain file name is a bug, refused before any write."""
    with pytest.raises(ValueError, match="cannot name"):
        await outbox.send(mail(id))


async def test_header_injection_through_the_envelope_is_refused(outbox):
    """An envelope address with a line break cannot add header fields to the stored message."""
    bad = Outgoing(
        mail_from="a@b\r\nBcc: x@y", rcpt="bob@example.org", message=b"Subject: x\r\n\r\n", id="o1"
    )
    with pytest.raises(ValueError, match="line break"):
        await outbox.send(bad)
