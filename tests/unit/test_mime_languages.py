"""LRE-Recipient-Language: the recipient's languages as the sender gives them."""

import email.policy
from email.message import EmailMessage

import pytest

from gateway.content_replies import content_refused
from gateway.errors import ContentReason, RecipientHeaderRefused
from gateway.mime.languages import recipient_languages
from gateway.mime.limits import MimeLimits
from gateway.mime.phones import recipient_phones
from gateway.mime.submission import read_submission

BOB, ALICE = "bob@example.ma", "alice@example.fr"


def letter(*headers: str) -> bytes:
    message = EmailMessage()
    message["From"] = "demo@cabinet.ma"
    message["To"] = f"{BOB}, {ALICE}"
    message["Subject"] = "Mise en demeure"
    for value in headers:
        message["LRE-Recipient-Language"] = value
    message.set_content("Corps")
    return message.as_bytes(policy=email.policy.SMTP)


def test_one_language_per_recipient_and_several_in_order():
    """Each header names a recipient and its languages, in the sender's order, once each."""
    found = recipient_languages(
        letter("bob@example.ma ar", "<ALICE@example.fr> fr, AR fr"), [BOB, ALICE]
    )
    assert found == {BOB: ("ar",), ALICE: ("fr", "ar")}


def test_no_header_means_no_choice():
    """Without the header no recipient has a language: the gateway's configured ones apply."""
    assert recipient_languages(letter(), [BOB, ALICE]) == {}


def test_the_mx_address_of_a_recipient_is_understood():
    """On the MX port the header may name the recipient's MX address."""
    found = recipient_languages(
        letter("bob=example.ma@lre.localhost ar"), [BOB], {"bob=example.ma@lre.localhost": BOB}
    )
    assert found == {BOB: ("ar",)}


@pytest.mark.parametrize(
    "value",
    [
        "bob@example.ma",
        "bob@example.ma de",
        "ar",
        "bob@example.ma ar, xx",
        "bob@example.ma fr en ar fr",
    ],
)
def test_a_malformed_header_refuses_the_letter(value):
    """A header without an address or with a language the gateway does not speak: 550 5.6.0."""
    with pytest.raises(RecipientHeaderRefused) as refused:
        recipient_languages(letter(value), [BOB, ALICE])
    assert refused.value.reason is ContentReason.BAD_LANGUAGE_HEADER
    reply = content_refused(refused.value)
    assert (reply.code, reply.enhanced) == (550, "5.6.0")
    assert "LRE-Recipient-Language" in reply.text
    assert "nothing was kept" in reply.text


def test_a_stranger_refuses_the_letter():
    """A header naming someone who is not a recipient: 550 5.1.3 naming that address."""
    with pytest.raises(RecipientHeaderRefused) as refused:
        recipient_languages(letter("carol@example.ma ar"), [BOB, ALICE])
    assert refused.value.reason is ContentReason.LANGUAGE_FOR_STRANGER
    assert refused.value.recipient == "carol@example.ma"
    reply = content_refused(refused.value)
    assert reply.enhanced == "5.1.3"
    assert "carol@example.ma" in reply.text


def test_the_headers_parsed_once_at_deposit_read_as_the_bytes():
    """read_submission reads phones and languages from the message it parsed once: the same
    answers as from the bytes, folded headers, display-name and header numbers included."""
    content = (
        b"From: demo@cabinet.ma\r\n"
        b'To: "Bob (+212 6 12 34 56 78)" <bob@example.ma>,\r\n alice@example.fr\r\n'
        b"LRE-Recipient-Phone: alice@example.fr\r\n +33 6 12 34 56 78\r\n"
        b"LRE-Recipient-Language: bob@example.ma\r\n ar, fr\r\n"
        b"lre-recipient-language: alice@example.fr fr\r\n"
        b"Subject: Mise en demeure\r\n\r\nCorps\r\n"
    )
    _, phones, languages = read_submission(content, (BOB, ALICE), "MA", limits=MimeLimits())
    assert phones == recipient_phones(content, [BOB, ALICE], "MA")
    assert phones == {BOB: "+212612345678", ALICE: "+33612345678"}
    assert languages == recipient_languages(content, [BOB, ALICE])
    assert languages == {BOB: ("ar", "fr"), ALICE: ("fr",)}
