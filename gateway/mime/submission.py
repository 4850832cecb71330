"""What a deposit reads from a submitted message, whatever door it came in by (pure, CPU-bound).

parse_message runs the bounded pre-scan first, so the email package only ever parses bounded
input. Callers run `read_submission` in an executor, never on the loop.
"""

from __future__ import annotations

from collections.abc import Mapping

from gateway.mime.languages import recipient_languages
from gateway.mime.limits import MimeLimits
from gateway.mime.message import ParsedMessage, check_line_endings, read_message
from gateway.mime.phones import recipient_phones


def read_submission(
    content: bytes,
    recipients: tuple[str, ...],
    region: str,
    aliases: Mapping[str, str] | None = None,
    *,
    limits: MimeLimits,
) -> tuple[ParsedMessage, dict[str, str], dict[str, tuple[str, ...]]]:
    """The message, the recipients' phones and their languages; `ContentRefused` when unreadable."""
    check_line_endings(content)
    parsed, message = read_message(content, limits)  # the headers parsed once, read by all
    phones = recipient_phones(message, recipients, region, aliases)
    return parsed, phones, recipient_languages(message, recipients, aliases)
