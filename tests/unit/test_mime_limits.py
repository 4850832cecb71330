"""The bounded pre-scan that refuses hostile MIME before CPython's email package parses it."""

from __future__ import annotations

import email.policy
from email.message import EmailMessage

import pytest

from gateway.content_replies import content_refused
from gateway.errors import ContentRefused, SmtpReply
from gateway.mime.limits import MimeLimits, check_limits
from gateway.mime.message import parse_message

LIMITS = MimeLimits()
FROM = b"From: Me Dupont <maitre.dupont@cabinet-dupont.ma>\r\n"


def refusal(content: bytes, limits: MimeLimits = LIMITS) -> SmtpReply:
    """The SMTP reply to the refusal check_limits raises (the doors' wording of its facts)."""
    with pytest.raises(ContentRefused) as refused:
        check_limits(content, limits)
    return content_refused(refused.value)


def multipart(parts: list[bytes], boundary: bytes = b"zz") -> bytes:
    body = b"".join(b"--" + boundary + b"\r\n" + part for part in parts)
    return (
        FROM
        + b'Content-Type: multipart/mixed; boundary="'
        + boundary
        + b'"\r\n\r\n'
        + body
        + b"--"
        + boundary
        + b"--\r\n"
    )


def nested(depth: int) -> bytes:
    """depth multiparts, each the only part of the one around it."""
    content = FROM
    for level in range(depth):
        content += b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (level, level)
    return content + b"\r\ninnermost\r\n"


def ordinary_letter() -> bytes:
    message = EmailMessage()
    message["From"] = "Me Dupont <maitre.dupont@cabinet-dupont.ma>"
    message["To"] = "bob@example.com, Carol <carol@example.net>"
    message["Subject"] = "Mise en demeure — échéance du 3 mars"
    message.set_content("Bonjour,\n\nVeuillez trouver la mise en demeure.\n")
    message.add_alternative("<p>Bonjour,</p><p>Veuillez trouver la mise en demeure.</p>", "html")
    message.add_attachment(
        b"%PDF-1.7 fake", maintype="application", subtype="pdf", filename="a.pdf"
    )
    inner = EmailMessage()
    inner["From"] = "x@example.org"
    inner["Subject"] = "forwarded"
    inner.set_content("inner body")
    message.add_attachment(inner)
    return message.as_bytes(policy=email.policy.SMTP)


def test_an_ordinary_letter_with_alternatives_attachments_and_a_forward_passes() -> None:
    """A letter as mail programs write it (alternative, PDF, attached message) is within limits."""
    check_limits(ordinary_letter(), LIMITS)


def test_a_content_type_of_thousands_of_parameters_is_refused() -> None:
    """An 80 kB Content-Type of `;` parameters (79 s in CPython's parser) gets 552 5.3.4."""
    content = FROM + b"Content-Type: text/plain" + b";\r\n a=b" * 11_500 + b"\r\n\r\nx\r\n"
    assert len(content) > 80_000
    reply = refusal(content)
    assert (reply.code, reply.enhanced) == (552, "5.3.4")
    assert "Content-Type" in reply.text
    assert "nothing was kept" in reply.text


def test_more_parameters_than_the_limit_are_refused_even_in_a_short_header() -> None:
    """101 parameters in a 1 kB Content-Disposition are refused naming the limit."""
    part = b"Content-Disposition: attachment" + b"; a=b" * 101 + b"\r\n\r\nx\r\n"
    reply = refusal(multipart([part]))
    assert (reply.code, reply.enhanced) == (552, "5.3.4")
    assert "more than 100 parameters" in reply.text


def test_a_folded_200_kb_subject_is_refused() -> None:
    """A Subject folded over 200 kB (700 MB in the certificate process) gets 552 5.3.4."""
    content = FROM + b"Subject: " + b"word word\r\n " * 20_000 + b"end\r\n\r\nx\r\n"
    reply = refusal(content)
    assert (reply.code, reply.enhanced) == (552, "5.3.4")
    assert "Subject: header is longer than 64 kB" in reply.text


def test_a_hundred_thousand_flat_parts_are_refused() -> None:
    """100,000 parts (16 s to parse) are refused once the 1,001st is seen."""
    reply = refusal(multipart([b"\r\nx\r\n"] * 100_000))
    assert (reply.code, reply.enhanced) == (552, "5.3.4")
    assert "more than 1000 MIME parts" in reply.text


def test_the_part_limit_counts_parts_at_every_level() -> None:
    """Parts inside nested multiparts count towards the same limit as top-level ones."""
    inner = b"Content-Type: multipart/mixed; boundary=in\r\n\r\n" + b"--in\r\n\r\nx\r\n" * 3
    content = multipart([inner + b"--in--\r\n"] * 2)
    check_limits(content, MimeLimits(max_parts=8))
    assert refusal(content, MimeLimits(max_parts=7)).enhanced == "5.3.4"


def test_multiparts_nested_a_thousand_deep_are_refused() -> None:
    """Nesting depth 1,000 (RecursionError in the parser) gets 554 5.6.0."""
    reply = refusal(nested(1000))
    assert (reply.code, reply.enhanced) == (554, "5.6.0")
    assert "nested more than 32 levels" in reply.text


def test_attached_messages_nested_a_thousand_deep_are_refused() -> None:
    """message/rfc822 inside message/rfc822, 1,000 times, is refused like nested multiparts."""
    content = FROM + b"Content-Type: message/rfc822\r\n\r\n" * 1000 + b"\r\nx\r\n"
    assert refusal(content).enhanced == "5.6.0"


def test_nesting_up_to_the_limit_passes() -> None:
    """Exactly max_depth levels pass; one more is refused."""
    check_limits(nested(32), LIMITS)
    assert refusal(nested(33)).code == 554


def test_a_header_block_over_the_limit_is_refused() -> None:
    """300 kB of short headers (each within limits) exceed the 512 kB header budget with parts."""
    headers = b"X-Filler: yes\r\n" * 20_000
    reply = refusal(FROM + headers + b"\r\nx\r\n", MimeLimits(max_header_block=256_000))
    assert (reply.code, reply.enhanced) == (552, "5.3.4")
    assert "headers of the message and of its parts total more than 256 kB" in reply.text


def test_headers_of_all_parts_count_towards_the_header_budget() -> None:
    """Many parts with moderate headers exceed the budget together, not one by one."""
    part = b"X-Filler: " + b"y" * 900 + b"\r\n\r\nx\r\n"
    reply = refusal(multipart([part] * 600))
    assert reply.enhanced == "5.3.4"
    assert "total more than" in reply.text


def test_too_many_addresses_in_to_are_refused() -> None:
    """A To: header holding 2,000 addresses gets 552 5.3.4 naming To."""
    content = FROM + b"To: " + b"a@example.com,\r\n " * 2000 + b"b@example.com\r\n\r\nx\r\n"
    reply = refusal(content)
    assert (reply.code, reply.enhanced) == (552, "5.3.4")
    assert "To: header holds more than 1000 addresses" in reply.text


def test_a_header_of_thousands_of_quoted_pairs_is_refused() -> None:
    """12 kB of `"\\""` in From: (quadratic in the parser) is refused by the separator limit."""
    content = b'From: "' + b'\\"' * 6000 + b'" <a@example.com>\r\n\r\nx\r\n'
    reply = refusal(content)
    assert (reply.code, reply.enhanced) == (552, "5.3.4")
    assert "From: header holds more than 2048 separators" in reply.text


def test_separators_are_also_bounded_over_all_headers() -> None:
    """Many parts whose headers are each within the separator limit are refused together."""
    part = b"Content-Disposition: attachment; filename=" + b'"\\""' * 400 + b"\r\n\r\nx\r\n"
    reply = refusal(multipart([part] * 10))
    assert reply.enhanced == "5.3.4"
    assert "headers of the message and of its parts" in reply.text


def test_an_rfc_2231_boundary_is_refused_clearly() -> None:
    """boundary*= (never written by mail programs) is refused rather than guessed at."""
    content = FROM + b"Content-Type: multipart/mixed; boundary*=utf-8''zz\r\n\r\n--zz\r\n"
    reply = refusal(content)
    assert (reply.code, reply.enhanced) == (554, "5.6.0")
    assert "RFC 2231" in reply.text


def test_boundaries_follow_the_email_package() -> None:
    """Quoted boundaries with spaces, comments, trailing blanks and outer boundaries count alike."""
    content = (
        FROM + b'Content-Type: multipart/mixed (c); boundary="a b"\r\n\r\n'
        b"--a b  \r\n"
        b"Content-Type: multipart/alternative; boundary=in\r\n\r\n"
        b"--in\r\n\r\nx\r\n"
        b"--a b\r\n\r\ny\r\n"  # an outer delimiter ends the inner multipart too
        b"--a b--\r\n"
    )
    parsed = email.message_from_bytes(content, policy=email.policy.default)
    leaves = [part for part in parsed.walk() if not part.is_multipart()]
    assert len(leaves) == 2
    check_limits(content, MimeLimits(max_parts=3))  # a b: 2 parts, in: 1 part
    assert refusal(content, MimeLimits(max_parts=2)).enhanced == "5.3.4"


def test_digest_parts_are_messages() -> None:
    """In multipart/digest a part without Content-Type is a message: its nesting counts."""
    inner = b"\r\n" + b"Content-Type: message/rfc822\r\n\r\n" * 3 + b"\r\nx\r\n"
    content = (
        FROM + b"Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n" + inner + b"--d--\r\n"
    )
    check_limits(content, MimeLimits(max_depth=5))
    assert refusal(content, MimeLimits(max_depth=4)).enhanced == "5.6.0"


def test_what_passes_the_scan_parses() -> None:
    """A message at the default limits' edge (99 parameters, 1,000 parts) parses to its parts."""
    crowded = b"Content-Type: application/octet-stream" + b"; a=b" * 99 + b"\r\n\r\nx\r\n"
    plain = b"Content-Type: application/octet-stream; name=x\r\n\r\nx\r\n"
    content = multipart([crowded] + [plain] * 999)
    check_limits(content, LIMITS)
    assert len(parse_message(content).attachments) == 1000


def divergent(parts: list[bytes]) -> bytes:
    """A multipart whose boundary the scan reads as "ab c" and the email package as "ab"."""
    body = b"".join(b"--ab\r\n" + part for part in parts)
    return FROM + b"Content-Type: multipart/mixed; boundary=ab c\r\n\r\n" + body + b"--ab--\r\n"


def parse_refusal(content: bytes) -> SmtpReply:
    check_limits(content, LIMITS)  # the scan does not see these parts...
    with pytest.raises(ContentRefused) as refused:
        parse_message(content)  # ...the parser counts its own
    return content_refused(refused.value)


def test_parts_the_scan_reads_differently_are_still_counted_by_the_parser() -> None:
    """100,000 parts behind a boundary the scan misreads are refused by the parser's backstop."""
    reply = parse_refusal(divergent([b"\r\nx\r\n"] * 100_000))
    assert (reply.code, reply.enhanced) == (552, "5.3.4")
    assert "more than 1000 MIME parts" in reply.text


def test_headers_the_scan_reads_as_body_are_still_checked_by_the_parser() -> None:
    """A part's Content-Type of 300 parameters, hidden from the scan, is refused before parsing."""
    reply = parse_refusal(
        divergent([b"Content-Type: text/plain" + b"; a=b" * 300 + b"\r\n\r\nx\r\n"])
    )
    assert (reply.code, reply.enhanced) == (552, "5.3.4")
    assert "Content-Type: header has more than 100 parameters" in reply.text


def test_nesting_the_scan_reads_differently_is_still_bounded_by_the_parser() -> None:
    """Nesting behind misread boundaries is refused by the parser at the same depth limit."""
    content = FROM
    for level in range(200):
        content += b"Content-Type: multipart/mixed; boundary=b%d x\r\n\r\n--b%d\r\n" % (
            level,
            level,
        )
    reply = parse_refusal(content + b"\r\nx\r\n")
    assert (reply.code, reply.enhanced) == (554, "5.6.0")


def test_a_costly_content_type_is_parsed_once_not_once_per_part() -> None:
    """1,000 parts under a Content-Type of 2,000 separators (60 s in CPython) read promptly."""
    costly = b"Content-Type: multipart/mixed; boundary=zz; a=" + b'""' * 1000 + b"\r\n\r\n"
    content = FROM + costly + b"--zz\r\n\r\nx\r\n" * 1000 + b"--zz--\r\n"
    check_limits(content, LIMITS)
    assert parse_message(content).text.split() == ["x"] * 1000
