"""Pure parts of the transports: reply parsing, error mapping, choosing a transport."""

import aiosmtplib
import aiosmtplib.email
import pytest
from aiosmtplib.protocol import PERIOD_REGEX, normalize_message_line_endings
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.compose.parts import base64_lines, with_attachment, without_attachment
from gateway.errors import ConfigError, SmtpReply
from gateway.settings import DeliverySettings
from gateway.smtp_out import transport
from gateway.smtp_out.modes import make_transport
from gateway.smtp_out.transport import (
    OutboxTransport,
    SmarthostTransport,
    dot_stuffed,
    failure_from,
    message_size,
    parse_reply,
)

WHERE = "smtp.example.org:25"


@pytest.mark.parametrize(
    ("code", "text", "reply"),
    [
        (550, "5.1.1 No such user", SmtpReply(550, "5.1.1", "No such user")),
        (451, "4.3.0 try later", SmtpReply(451, "4.3.0", "try later")),
        (550, "No such user here", SmtpReply(550, "5.0.0", "No such user here")),
        (452, "Too many recipients", SmtpReply(452, "4.0.0", "Too many recipients")),
        (550, "4.1.1 mismatched class", SmtpReply(550, "5.0.0", "4.1.1 mismatched class")),
        (
            554,
            "5.7.1 Rejected\n5.7.1 see https://x",
            SmtpReply(554, "5.7.1", "Rejected see https://x"),
        ),
        (550, "", SmtpReply(550, "5.0.0", "")),
    ],
)
def test_reply_parsing(code, text, reply):
    """The enhanced code is taken from the text when it starts with one of the same class."""
    assert parse_reply(code, text) == reply


@pytest.mark.parametrize(
    ("error", "reply"),
    [
        (
            aiosmtplib.SMTPRecipientsRefused(
                [aiosmtplib.SMTPRecipientRefused(550, "5.1.1 No such user", "bob@example.org")]
            ),
            SmtpReply(550, "5.1.1", "No such user"),
        ),
        (aiosmtplib.SMTPDataError(451, "4.3.0 try later"), SmtpReply(451, "4.3.0", "try later")),
        (
            aiosmtplib.SMTPSenderRefused(553, "sender rejected", "a@b"),
            SmtpReply(553, "5.0.0", "sender rejected"),
        ),
    ],
)
def test_server_replies_keep_their_code_and_text(error, reply):
    """A refusal by the server becomes RelayFailed carrying the server's own reply."""
    failure = failure_from(error, WHERE)
    assert failure.reply == reply
    assert failure.temporary == reply.temporary


@pytest.mark.parametrize(
    ("error", "enhanced"),
    [
        (aiosmtplib.SMTPConnectError("Error connecting to x: refused"), "4.4.1"),
        (ConnectionRefusedError(111, "Connection refused"), "4.4.1"),
        (aiosmtplib.SMTPConnectTimeoutError("Timed out connecting"), "4.4.1"),
        (aiosmtplib.SMTPReadTimeoutError("Timed out waiting for server response"), "4.4.1"),
        (aiosmtplib.SMTPServerDisconnected("Connection lost"), "4.4.2"),
        (aiosmtplib.SMTPNotSupported("SMTP STARTTLS extension not supported"), "4.7.0"),
        (aiosmtplib.SMTPAuthenticationError(535, "5.7.8 bad credentials"), "4.7.0"),
        (aiosmtplib.SMTPResponseException(-1, "Malformed SMTP response"), "4.5.0"),
    ],
)
def test_unreachable_or_misconfigured_next_hop_is_temporary(error, enhanced):
    """Network trouble and our own smarthost misconfiguration defer instead of bouncing."""
    failure = failure_from(error, WHERE)
    assert failure.reply.code == 451
    assert failure.reply.enhanced == enhanced
    assert failure.temporary
    assert WHERE in failure.reply.text


def test_outbox_mode_gives_an_outbox_under_the_data_dir(tmp_path):
    """delivery.mode = outbox writes to <data_dir>/outbox."""
    transport = make_transport(DeliverySettings(), tmp_path, local_hostname="lre.localhost")
    assert isinstance(transport, OutboxTransport)
    assert transport.directory == tmp_path / "outbox"


def test_smarthost_mode_gives_a_smarthost(tmp_path):
    """delivery.mode = smarthost relays with aiosmtplib."""
    settings = DeliverySettings(mode="smarthost")
    transport = make_transport(settings, tmp_path, local_hostname="lre.localhost")
    assert isinstance(transport, SmarthostTransport)


def test_mx_mode_delivers_to_mx_hosts(tmp_path):
    """delivery.mode = mx gives the MX transport (tested against real servers elsewhere)."""
    from gateway.smtp_out.mx import MxTransport

    settings = DeliverySettings(mode="mx", resolver=("127.0.0.1", 53))
    transport = make_transport(settings, tmp_path, local_hostname="lre.localhost")
    assert isinstance(transport, MxTransport)


def test_user_without_password_file_is_a_config_error():
    """A smarthost user needs a password file."""
    settings = DeliverySettings(mode="smarthost", smarthost_user="relay")
    with pytest.raises(ConfigError, match="smarthost_password_file"):
        SmarthostTransport(settings, local_hostname="lre.localhost")


def test_missing_password_file_is_a_config_error(tmp_path):
    """An unreadable password file is reported at startup, naming the key."""
    settings = DeliverySettings(
        mode="smarthost", smarthost_user="relay", smarthost_password_file=tmp_path / "none"
    )
    with pytest.raises(ConfigError, match="smarthost_password_file"):
        SmarthostTransport(settings, local_hostname="lre.localhost")


def test_outbox_is_created_lazily(tmp_path):
    """Building the outbox touches no disk; listing an absent outbox gives nothing."""
    outbox = OutboxTransport(tmp_path / "outbox")
    assert not (tmp_path / "outbox").exists()
    assert outbox.list() == []


@pytest.mark.parametrize(
    "message",
    [
        b"Subject: a\r\n\r\nbody\r\n",
        b"Subject: a\r\n\r\nno line end at the end",
        b"Subject: a\n\nbare LF\n",
        b"Subject: a\r\rbare CR\r\n",
        b"Subject: a\r\n\r\nmixed\nends\r\n",
        b"",
    ],
)
def test_message_size_is_what_data_sends(message):
    """SIZE= announces the octets DATA will send (aiosmtplib makes every line end CRLF)."""
    assert message_size(message) == len(normalize_message_line_endings(message))


@pytest.mark.parametrize(
    "message",
    [
        b"Subject: a\r\n\r\nbody\r\n",
        b".starts with a period\r\n",
        b"Subject: a\r\n\r\n.\r\n..\r\n.x\r\n.\r\n",
        b"Subject: a\r\n\r\n\r\n.\r\n\r\n. \r\nend.\r\n",
        b"\r\n",
    ],
)
def test_dot_stuffed_is_what_aiosmtplib_sends(message):
    """For a message that is CRLF throughout, the payload written after DATA is byte for byte
    what aiosmtplib's own `data` writes: its line ends, its doubled periods, the final dot."""
    expected = PERIOD_REGEX.sub(b"..", normalize_message_line_endings(message)) + b".\r\n"
    assert dot_stuffed(message) == expected


@pytest.mark.parametrize(
    "message",
    [b"no line end at the end", b"bare LF\n", b"bare CR\r\r\n", b"mixed\nends\r\n", b""],
)
def test_dot_stuffed_leaves_other_messages_to_aiosmtplib(message):
    """Anything not CRLF throughout goes through aiosmtplib's `data` (None here)."""
    assert dot_stuffed(message) is None


_ADDRESS_PARTS = st.sampled_from(
    ["a", "Z9", "bounce+tok=en", "o'brien", "x.y", ".", "..", "@", "example", ".ma", "-", "_",
     " ", "<", ">", '"', "(", ")", ",", ":", ";", "\\", "é", "[1.2.3.4]", "a@b@c", "\r\n"]
)  # fmt: skip


@settings(max_examples=800, deadline=None)
@given(
    st.from_regex(transport._PLAIN_ADDRESS, fullmatch=True)
    | st.lists(_ADDRESS_PARTS, max_size=8).map("".join)
)
def test_a_plain_address_is_written_as_aiosmtplib_quotes_it(address: str) -> None:
    """MAIL FROM and RCPT TO carry what aiosmtplib's quote_address makes of the address:
    written directly for a plain one (`bracketed`), by aiosmtplib for any other."""
    ours = transport.bracketed(address)
    if ours is None:
        return
    assert ours == aiosmtplib.email.quote_address(address).encode("ascii")


@pytest.mark.parametrize(
    "address", ["", "bounce+x=y@gateway.example.ma", "bob@example.com", "a.b-c@d-e.f.g"]
)
def test_the_gateways_own_addresses_are_plain(address: str) -> None:
    assert transport.bracketed(address) == f"<{address}>".encode()


_MAIL_BYTES = st.lists(
    st.sampled_from([b"x", b".", b"\r\n", b"\r", b"\n", b"..", b"\r\n.", b" "]), max_size=12
).map(b"".join)


@settings(max_examples=600, deadline=None)
@given(_MAIL_BYTES, st.binary(max_size=200), _MAIL_BYTES)
def test_a_mail_made_whole_is_dot_stuffed_as_any_other(
    head: bytes, attachment: bytes, tail: bytes
) -> None:
    """A proof mail made whole with its PDF (gateway.compose.parts.WholeMail) is dot-stuffed
    looking only around the PDF's base64 lines: the same payload as for its bytes alone, or
    None as for them."""
    stored = without_attachment(head + base64_lines(attachment) + tail, attachment)
    whole = with_attachment(stored, attachment)
    assert dot_stuffed(whole) == dot_stuffed(bytes(whole))
