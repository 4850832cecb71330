"""Reading RFC 3464 delivery status notifications."""

from __future__ import annotations

from gateway.mailauth import aligned
from gateway.mime.dsn import parse_dsn
from gateway.smtp_in.inbound import mx_recipient


def report(blocks: str, report_type: str = "delivery-status") -> bytes:
    return (
        "From: MAILER-DAEMON@mx.example.ma\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type={report_type}; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nSorry.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.ma\r\n\r\n"
        f"{blocks}\r\n--B--\r\n"
    ).encode()


def test_failed_and_delayed_recipients():
    dsn = parse_dsn(
        report(
            "Final-Recipient: rfc822; bob@example.ma\r\nAction: failed\r\nStatus: 5.1.1\r\n"
            "Diagnostic-Code: smtp; 550 5.1.1 User\r\n  unknown\r\n\r\n"
            "Final-Recipient: rfc822;eve@example.ma\r\nAction: Delayed\r\nStatus: 4.4.7\r\n"
        )
    )
    assert dsn is not None
    assert dsn.reporting_mta == "mx.example.ma"
    failed, delayed = dsn.recipients
    assert failed.final_recipient == "bob@example.ma"
    assert failed.permanent_failure
    assert failed.diagnostic == "smtp; 550 5.1.1 User unknown"
    assert delayed.action == "delayed"
    assert not delayed.permanent_failure


def test_what_is_not_a_dsn():
    assert parse_dsn(b"Subject: hello\r\n\r\nI did not get your mail\r\n") is None
    assert (
        parse_dsn(report("Action: failed\r\nStatus: 5.1.1\r\n", "disposition-notification")) is None
    )
    assert parse_dsn(report("Action: failed\r\nStatus: bogus\r\n")) is None


def test_mx_address_and_alignment():
    assert mx_recipient("bob.martin=example.ma") == "bob.martin@example.ma"
    assert mx_recipient("a=b=example.ma") == "a=b@example.ma"
    assert mx_recipient("postmaster") is None
    assert mx_recipient("bob=") is None
    assert aligned("mail.cabinet-dupont.ma", "cabinet-dupont.ma", "r")
    assert not aligned("mail.cabinet-dupont.ma", "cabinet-dupont.ma", "s")
    assert not aligned("evil.ma", "cabinet-dupont.ma", "r")
