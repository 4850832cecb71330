"""Pure helpers of the web front: CSRF tokens, origin checks, download names, links in text."""

from gateway.web import csrf
from gateway.web.text import Segment, content_disposition, linkify

SECRET = b"k" * 32
OURS = frozenset({"http://127.0.0.1:8080"})


def test_form_token_round_trip():
    """The field computed for a nonce and a link is accepted with the matching cookie only."""
    nonce = csrf.new_nonce()
    field = csrf.form_token(SECRET, nonce, "link-a")
    assert csrf.valid_form(SECRET, nonce, nonce, "link-a", field)
    assert not csrf.valid_form(SECRET, None, nonce, "link-a", field)


def test_cross_site_request_forgery_without_the_form_fields_is_refused():
    """A forged post without the page's fields, or with a made-up field, cannot pass."""
    nonce = csrf.new_nonce()
    assert not csrf.valid_form(SECRET, nonce, None, "link-a", None)
    assert not csrf.valid_form(SECRET, nonce, nonce, "link-a", None)
    assert not csrf.valid_form(SECRET, nonce, nonce, "link-a", "0" * 64)


def test_cookie_must_match_the_form_nonce():
    """The browser's cookie must be the nonce the form was built with."""
    nonce = csrf.new_nonce()
    field = csrf.form_token(SECRET, nonce, "link-a")
    assert not csrf.valid_form(SECRET, csrf.new_nonce(), nonce, "link-a", field)


def test_field_of_one_letter_does_not_decide_another():
    """A field is bound to the letter link it was issued for and to the secret."""
    nonce = csrf.new_nonce()
    field = csrf.form_token(SECRET, nonce, "link-a")
    assert not csrf.valid_form(SECRET, nonce, nonce, "link-b", field)
    assert not csrf.valid_form(b"other secret", nonce, nonce, "link-a", field)
    assert not csrf.valid_form(SECRET, nonce, nonce, "link-a", "é" * 64)


def test_origin_checks():
    """Same-origin or absent Origin passes; foreign, null or cross-site fetches are refused."""
    assert csrf.same_origin(None, None, OURS)
    assert csrf.same_origin("http://127.0.0.1:8080", "same-origin", OURS)
    assert not csrf.same_origin("http://evil.example", None, OURS)
    assert not csrf.same_origin("null", None, OURS)
    assert not csrf.same_origin(None, "cross-site", OURS)
    assert not csrf.same_origin("http://127.0.0.1:8080:99999", None, OURS)


def test_chromium_null_origin_on_our_own_form_passes_only_when_marked_same_origin():
    """Chromium posts our own forms with Origin: null (Referrer-Policy: no-referrer); that
    passes only with Sec-Fetch-Site: same-origin, never same-site or cross-site."""
    assert csrf.same_origin("null", "same-origin", OURS)
    assert not csrf.same_origin("null", "same-site", OURS)
    assert not csrf.same_origin("null", "cross-site", OURS)
    assert not csrf.same_origin("null", "none", OURS)


def test_origin_of_drops_default_ports():
    """Origins compare without path and default port."""
    assert csrf.origin_of("https://GW.example:443/lre/") == "https://gw.example"
    assert csrf.origin_of("http://127.0.0.1:8080") == "http://127.0.0.1:8080"


def test_content_disposition_ascii_and_utf8():
    """RFC 6266: an ASCII fallback name and the exact UTF-8 name."""
    assert content_disposition("report.pdf", "f") == 'attachment; filename="report.pdf"'
    assert content_disposition("contrat signé.pdf", "f") == (
        "attachment; filename=\"contrat signe.pdf\"; filename*=UTF-8''contrat%20sign%C3%A9.pdf"
    )


def test_content_disposition_header_injection_and_paths():
    """Quotes, line breaks and directories in a sender's file name cannot escape the header."""
    header = content_disposition('../../etc/pa"ss\r\nX-Evil: 1;.txt', "f")
    assert "\r" not in header
    assert "\n" not in header
    assert header == 'attachment; filename="pa_ss__X-Evil_ 1_.txt"'
    assert content_disposition("عقد.pdf", "attachment-0") == (
        "attachment; filename=\"attachment-0.pdf\"; filename*=UTF-8''%D8%B9%D9%82%D8%AF.pdf"
    )
    assert content_disposition("...", "attachment-3") == 'attachment; filename="attachment-3"'


def test_linkify():
    """http(s) URLs become links; trailing punctuation and other schemes stay text."""
    assert linkify("open http://gw.example/l/abc. now javascript:alert(1)") == [
        Segment("open "),
        Segment("http://gw.example/l/abc", link=True),
        Segment(". now javascript:alert(1)"),
    ]
