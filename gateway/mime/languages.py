"""Recipients' languages, as a sender gives them in a letter's headers (pure, no I/O).

The gateway cannot know which language a recipient reads. A sender who knows may say so, for
programs in a repeatable header beside LRE-Recipient-Phone:

    LRE-Recipient-Language: bob@example.ma ar
    LRE-Recipient-Language: alice@example.fr fr, ar

The notification to that recipient is then in those languages, in that order (the SMS in the
first); recipients without one get letters.notification_languages. A header naming a language
the gateway does not speak, or an address that is not a recipient, refuses the letter (550):
nothing is stored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from email import policy
from email.message import Message
from email.parser import BytesHeaderParser
from typing import Any, Final

from gateway import i18n
from gateway.errors import ContentReason, RecipientHeaderRefused

HEADER: Final = "LRE-Recipient-Language"
MAX_LANGUAGES: Final = len(i18n.LANGUAGES)
_SEPARATORS: Final = re.compile(r"[\s,;]+")


def recipient_languages(
    content: bytes | Message,
    recipients: Sequence[str],
    aliases: Mapping[str, str] | None = None,
) -> dict[str, tuple[str, ...]]:
    """Envelope recipient → languages (site language codes, in the sender's order, once each).

    content is the message's bytes, or the message already parsed (mime.message.read_message;
    its raw header values are read as `policy.compat32` reads them). aliases maps other
    addresses the headers may use for a recipient (the MX address bob=example.ma@gateway for
    bob@example.ma) to that recipient.
    """
    by_address = {address.casefold(): address for address in recipients}
    by_address.update({alias.casefold(): to for alias, to in (aliases or {}).items()})
    found: dict[str, tuple[str, ...]] = {}
    for value in _values(content):
        address, languages = parse_header(str(value))
        recipient = by_address.get(address.casefold())
        if recipient is None:
            raise RecipientHeaderRefused(ContentReason.LANGUAGE_FOR_STRANGER, recipient=address)
        found[recipient] = languages
    return found


def _values(content: bytes | Message) -> list[Any]:
    """The LRE-Recipient-Language values, as compat32 reads them (raw, unfolded by split())."""
    if not isinstance(content, Message):
        return BytesHeaderParser(policy=policy.compat32).parsebytes(content).get_all(HEADER) or []
    wanted = HEADER.lower()
    return [
        policy.compat32.header_fetch_parse(name, value)
        for name, value in content.raw_items()
        if name.lower() == wanted
    ]


def parse_header(value: str) -> tuple[str, tuple[str, ...]]:
    """ "bob@example.ma ar, fr" → ("bob@example.ma", ("ar", "fr")); refused if malformed."""
    text = " ".join(value.split())
    address, _, rest = text.partition(" ")
    address = address.strip("<>")
    codes = [code for code in _SEPARATORS.split(rest) if code]
    languages = tuple(dict.fromkeys(i18n.valid(code) for code in codes))
    if "@" not in address or not codes or None in languages or len(codes) > MAX_LANGUAGES:
        raise RecipientHeaderRefused(ContentReason.BAD_LANGUAGE_HEADER, value=text)
    return address, tuple(lang for lang in languages if lang)
