"""Pure parts of the recipient pages' defences: the link-guessing limit, clean names, wording."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway import i18n
from gateway.display import neutralise
from gateway.web.text import content_disposition, safe_filename
from gateway.web.throttle import LinkGuard, client_address


class FakeTime:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_an_address_is_stopped_after_its_misses_until_the_oldest_leaves_the_window() -> None:
    """20 misses in 10 minutes block the address (Retry-After counts down); others are free."""
    clock = FakeTime()
    guard = LinkGuard(clock, max_misses=20, window=timedelta(minutes=10))
    for _ in range(19):
        guard.miss("192.0.2.1")
        clock.now += timedelta(seconds=10)
    assert guard.retry_after("192.0.2.1") is None
    guard.miss("192.0.2.1")
    assert guard.retry_after("192.0.2.1") == 600 - 19 * 10
    assert guard.retry_after("192.0.2.2") is None
    clock.now += timedelta(seconds=600 - 19 * 10)
    assert guard.retry_after("192.0.2.1") is None


def test_the_guard_forgets_the_stalest_addresses_past_its_size() -> None:
    """Memory stays bounded: past max_addresses the least recent address is dropped."""
    guard = LinkGuard(FakeTime(), max_misses=1, max_addresses=3)
    for n in range(5):
        guard.miss(f"198.51.100.{n}")
    assert guard.retry_after("198.51.100.0") is None
    assert guard.retry_after("198.51.100.4") is not None


def test_bidi_overrides_and_invisible_characters_are_removed_from_names() -> None:
    """A right-to-left override cannot disguise an .exe; isolates, marks, ZWSP go too."""
    assert neutralise("invoice\u202efdp.exe") == "invoicefdp.exe"
    assert neutralise("a\u2066b\u2069c\u200fd\u200be\u061cf\x00g") == "abcdefg"
    assert neutralise("عقد الإيجار.pdf") == "عقد الإيجار.pdf"  # Arabic letters stay


def test_download_names_have_no_path_control_or_bidi_character() -> None:
    """Content-Disposition: attachment, the bare clean name, RFC 6266 filename* when not ASCII."""
    assert safe_filename("../../etc/pass\u2066wd", "f") == "passwd"
    assert safe_filename("..\\..\\boot.ini", "f") == "boot.ini"
    assert safe_filename("\u202e\u202e", "fallback") == "fallback"
    header = content_disposition("facture\u202efdp.exe", "attachment-0")
    assert header == 'attachment; filename="facturefdp.exe"'
    arabic = content_disposition("عقد\u202e.pdf", "attachment-0")
    assert arabic.startswith("attachment; filename=\"attachment-0.pdf\"; filename*=UTF-8''")
    assert "%E2%80%AE" not in arabic


def test_the_pages_texts_exist_in_every_language() -> None:
    """Each text of the web's defences is written in French, English and Arabic (placeholders:
    tests/unit/test_i18n.py checks them for every message)."""
    keys = ["code.press_send", "open.title", "open.explain", "open.button", "open.explain_sms"]
    keys += ["open.explain_email", "error.session", "error.session.title", "error.guess"]
    for key in [*keys, "error.guess.title"]:
        for lang in i18n.LANGUAGES:
            assert i18n.CATALOGUES[lang].get(key), (lang, key)


def test_the_counted_address_is_the_peer_unless_a_local_proxy_forwarded_the_request() -> None:
    """X-Forwarded-For counts only from loopback, and only its last (proxy-appended) entry."""
    assert client_address("203.0.113.5", "192.0.2.1") == "203.0.113.5"
    assert client_address("127.0.0.1", "192.0.2.1, 198.51.100.2") == "198.51.100.2"
    assert client_address("::1", "2001:db8::1") == "2001:db8::1"
    assert client_address("127.0.0.1", "not an address") == "127.0.0.1"
    assert client_address("127.0.0.1", None) == "127.0.0.1"
    assert client_address(None, "192.0.2.1") == "unknown"
