"""The SMTP protocol class's short dir(): aiosmtpd still finds every command and AUTH method."""

from aiosmtpd.smtp import SMTP

from gateway.smtp_in.handler import SubmissionHandler
from gateway.smtp_in.server import _Protocol


async def test_the_protocol_finds_the_same_commands_hooks_and_auth_methods_as_aiosmtpd():
    """Listing only the auth_/smtp_ names for aiosmtpd's per-connection look-up loses none."""
    handler = SubmissionHandler(None, None, max_recipients=10, max_message_size=1000)  # type: ignore[arg-type]
    ours, theirs = _Protocol(handler, hostname="x"), SMTP(handler, hostname="x")
    assert ours._smtp_methods.keys() == theirs._smtp_methods.keys()
    assert {"EHLO", "STARTTLS", "AUTH", "DATA", "QUIT"} <= ours._smtp_methods.keys()
    assert ours._auth_methods.keys() == theirs._auth_methods.keys() == {"LOGIN", "PLAIN"}
    assert ours._handle_hooks.keys() == theirs._handle_hooks.keys()
