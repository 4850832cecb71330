"""Recipients' mobile numbers, as a sender gives them in a letter's headers (pure, no I/O).

Two ways, both read at DATA:

- in the display name of a To: or Cc: address, in parentheses or at its end:
  `"Bob Martin (+212 6 12 34 56 78)" <bob@example.ma>` (any mail client can do this);
- in a header for programs, repeatable: `LRE-Recipient-Phone: bob@example.ma +212612345678`
  (it wins over a display name).

Numbers are read with Google's libphonenumber rules (`phonenumbers`), in the gateway's default
region when they have no +country code, and kept in E.164. A number that is not a valid mobile
number refuses the letter (a RecipientHeaderRefused naming the recipient): nothing is stored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from email.message import Message
from email.parser import BytesHeaderParser
from typing import Any, Final

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType

from gateway.errors import ContentReason, RecipientHeaderRefused, UnreadableMessage
from gateway.mime.policy import READING

HEADER: Final = "LRE-Recipient-Phone"
ADDRESS_HEADERS: Final = ("To", "Cc")
MOBILE_TYPES: Final = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})
# "(+212 6 12 34 56 78)" anywhere in a display name, or "+212612345678" at its end
_IN_PARENTHESES: Final = re.compile(r"\(\s*(\+?[\d][\d\s.\-/()]*\d)\s*\)")
_AT_END: Final = re.compile(r"(\+?\d[\d\s.\-/]{5,}\d)\s*$")
MAX_NUMBER_TEXT: Final = 40  # characters of a number echoed back in a refusal


def recipient_phones(
    content: bytes | Message,
    recipients: Sequence[str],
    region: str,
    aliases: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Envelope recipient → E.164 mobile number, for the recipients the sender gave one.

    content is the message's bytes, or the message already parsed with `policy.default`
    (or gateway.mime.policy.READING)
    (mime.message.read_message). aliases maps other addresses the headers may use for a
    recipient (the MX address bob=example.ma@gateway for bob@example.ma) to that recipient.
    """
    headers = (
        content
        if isinstance(content, Message)
        else BytesHeaderParser(policy=READING).parsebytes(content)
    )
    by_address = {address.casefold(): address for address in recipients}
    by_address.update({alias.casefold(): to for alias, to in (aliases or {}).items()})
    found: dict[str, str] = {}
    for address, text in _display_name_numbers(headers):
        recipient = by_address.get(address.casefold())
        if recipient is not None:
            found[recipient] = mobile_number(text, recipient, region)
    for address, text in _header_numbers(headers):
        recipient = by_address.get(address.casefold())
        if recipient is None:
            raise RecipientHeaderRefused(ContentReason.PHONE_FOR_STRANGER, recipient=address)
        found[recipient] = mobile_number(text, recipient, region)
    return found


def mobile_number(text: str, recipient: str, region: str) -> str:
    """text as an E.164 mobile number, else refused naming the recipient."""
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException:
        number = None
    if (
        number is None
        or not phonenumbers.is_valid_number(number)
        or phonenumbers.number_type(number) not in MOBILE_TYPES
    ):
        raise RecipientHeaderRefused(
            ContentReason.NOT_A_MOBILE, recipient=recipient, value=text[:MAX_NUMBER_TEXT]
        )
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def number_in(display_name: str) -> str | None:
    """The phone number written in a display name, if it holds one."""
    match = _IN_PARENTHESES.search(display_name) or _AT_END.search(display_name)
    return match.group(1) if match else None


# what a To: or Cc: value must hold for a display name in it to hold a number (`number_in`):
# a run of digits and separators (quotes among them: the parser drops them), a parenthesis
# then a digit, a digit then a comment (the parser drops a comment, letters and all, so that
# "212(bureau 3)212" is the name "212 212"); or what the parser turns into other characters
# (an encoded word, a quoted pair, bytes outside ASCII): parsing the field (~70 µs) is then
# needed, else it is not
_MAY_HOLD_NUMBER: Final = re.compile(
    r'\d[\d\s.\-/()"]{5,}\d|\([\s"+]*\d|\d\s*\(|=\?|\\|[^\x00-\x7f]'
)


def _display_name_numbers(headers: Message) -> Iterable[tuple[str, str]]:
    wanted = {name.lower() for name in ADDRESS_HEADERS}
    if not any(
        _MAY_HOLD_NUMBER.search(str(raw))
        for key, raw in headers.raw_items()
        if key.lower() in wanted
    ):
        return
    for name in ADDRESS_HEADERS:
        for value in _all(headers, name):
            for address in getattr(value, "addresses", ()):
                number = number_in(str(address.display_name or ""))
                if number and address.addr_spec:
                    yield str(address.addr_spec), number


def _header_numbers(headers: Message) -> Iterable[tuple[str, str]]:
    for value in _all(headers, HEADER):
        address, _, number = " ".join(str(value).split()).partition(" ")
        address = address.strip("<>")
        if not address or not number:
            raise RecipientHeaderRefused(ContentReason.BAD_PHONE_HEADER)
        yield address, number


def _all(headers: Message, name: str) -> list[Any]:
    try:
        return list(headers.get_all(name) or [])
    except (ValueError, TypeError, IndexError, AttributeError):
        raise UnreadableMessage(ContentReason.MALFORMED) from None
