"""services.deposit.page_text: the page's text stored once when the message holds it as is."""

from __future__ import annotations

from gateway.services.deposit import page_text

HEAD = b"From: a@example.ma\r\nSubject: x\r\n\r\n"


def test_a_text_written_as_is_is_found_in_the_message() -> None:
    text = "Madame, Monsieur, réclamation — السيد المحترم\r\n" * 20
    content = HEAD + text.encode()
    where = page_text(content, text)
    assert set(where) == {"text_at"}
    start, end = where["text_at"]
    assert content[start:end].decode("utf-8") == text


def test_a_text_not_in_the_message_as_written_is_kept_itself() -> None:
    text = "Madame, Monsieur, réclamation\r\n" * 20
    quoted = HEAD + text.replace("é", "=C3=A9").encode()  # as quoted-printable writes it
    assert page_text(quoted, text) == {"text": text}


def test_a_short_text_beside_large_attachments_is_kept_itself() -> None:
    """A page view then reads the small text, not the attachments' bytes."""
    text = "Veuillez trouver le contrat ci-joint.\r\n"
    content = HEAD + text.encode() + b"--b\r\n" + b"A" * 10_000
    assert page_text(content, text) == {"text": text}


def test_no_text_and_a_lone_surrogate_are_kept_themselves() -> None:
    assert page_text(HEAD, "") == {"text": ""}
    odd = "\ud800" * 40
    assert page_text(HEAD + b"x" * 10, odd) == {"text": odd}


def test_a_text_written_as_is_but_not_at_the_end_is_found_where_it_is() -> None:
    """A text part followed by a short closing part: not the message's end, found by search."""
    text = "Madame, Monsieur, réclamation\r\n" * 20
    content = HEAD + b"--b\r\n\r\n" + text.encode() + b"--b--\r\n"
    start, end = page_text(content, text)["text_at"]
    assert content[start:end].decode("utf-8") == text
    assert end < len(content)
