"""What the renderer works out from its fonts and words is kept on disk (gateway.pdf.disk_cache):
a renderer starting from those files makes the very same certificates, byte for byte, as one
working everything out; a damaged file is worked out again; LRE_GATEWAY_CACHE=off keeps none."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest

from gateway.pdf import disk_cache, fonts, qr
from gateway.pdf.render import CertificateRenderer
from tests.support.certificate_corpus import as_pinned, corpus

PINNED = Path(__file__).parents[1] / "fixtures" / "certificate_digests.json"


@pytest.fixture
def kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(disk_cache.ENV, str(folder))
    monkeypatch.setattr(disk_cache, "counts", {"found": 0, "made": 0})
    as_pinned(monkeypatch)  # as the corpus's digests were pinned
    return folder


def _fresh_digests(count: int = 15) -> list[str]:
    """The first `count` certificates of the corpus (5 in each language in the first 15), by a
    new renderer with a fresh process's QR memo, as when the digests were pinned."""
    qr._TEMPLATES.clear()
    renderer = CertificateRenderer()
    return [_digest(renderer.render(facts)) for facts in corpus()[:count]]


def _digest(pdf: bytes) -> str:
    return hashlib.sha256(pdf).hexdigest()


def test_certificates_made_from_the_kept_files_are_byte_for_byte_as_pinned(kept: Path) -> None:
    pinned = json.loads(PINNED.read_text())[:15]
    assert _fresh_digests() == pinned  # everything worked out, and written
    made = disk_cache.counts["made"]
    assert made >= 6
    assert disk_cache.counts["found"] < made
    kinds = {path.name.split("-", 1)[1].rsplit("-", 1)[0] for path in kept.glob("*.json")}
    assert kinds == {"pre-subset", "font-objects", "prepared-glyphs"}

    assert _fresh_digests() == pinned  # a new renderer, from the files alone
    assert disk_cache.counts["made"] == made, "a new renderer worked out again what was kept"
    assert disk_cache.counts["found"] >= 6


def _kept(key: object, value: bytes, calls: list[bytes]) -> bytes:
    def make() -> bytes:
        calls.append(value)
        return value

    return disk_cache.remembered("test", key, make, lambda v: {"v": v}, lambda k: bytes(k["v"]))


def test_a_damaged_or_foreign_file_is_worked_out_again(kept: Path) -> None:
    calls: list[bytes] = []
    assert _kept(1, b"one", calls) == b"one"
    assert _kept(2, b"two", calls) == b"two"
    assert _kept(1, b"one", calls) == b"one"
    assert calls == [b"one", b"two"]  # the second 1 was read back
    # the files hold the values in base64: "b25l" is b"one"
    one, two = sorted(kept.glob("*.json"), key=lambda p: b"b25l" not in p.read_bytes())
    one.write_bytes(one.read_bytes()[:-5])  # cut short
    data = two.read_bytes()
    two.write_bytes(bytes(32) + data[32:])  # not the digest written with it
    assert (_kept(1, b"one", calls), _kept(2, b"two", calls)) == (b"one", b"two")
    assert calls == [b"one", b"two", b"one", b"two"]
    assert _kept(1, b"one", calls) == b"one"
    assert len(calls) == 4  # written anew, whole
    # well formed, but not what this kind keeps: worked out again too
    payload = json.dumps({"other": 1}).encode()
    one.write_bytes(hashlib.sha256(payload).digest() + payload)
    assert _kept(1, b"one", calls) == b"one"
    assert len(calls) == 5


def test_nothing_is_kept_when_turned_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(disk_cache.ENV, "off")
    monkeypatch.setenv("CACHE_DIRECTORY", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    assert disk_cache.directory() is None
    calls: list[bytes] = []
    assert [_kept(1, b"one", calls) for _ in range(2)] == [b"one", b"one"]
    assert calls == [b"one", b"one"]
    assert not list(tmp_path.rglob("*"))


def test_the_default_place_follows_systemd_then_xdg(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(disk_cache.ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    # a unit with CacheDirectory=lre-gateway (a service user may have no home to write to)
    monkeypatch.setenv("CACHE_DIRECTORY", f"{tmp_path / 'service'}:{tmp_path / 'other'}")
    assert disk_cache.directory() == tmp_path / "service" / "certificates"
    calls: list[bytes] = []
    assert [_kept(1, b"one", calls) for _ in range(2)] == [b"one", b"one"]
    assert calls == [b"one"]  # kept there, and read back
    assert len(list((tmp_path / "service" / "certificates").glob("*-test-*.json"))) == 1
    assert not (tmp_path / "xdg").exists()
    monkeypatch.delenv("CACHE_DIRECTORY")
    assert disk_cache.directory() == tmp_path / "xdg" / "lre-gateway" / "certificates"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert disk_cache.directory() == tmp_path / "home" / ".cache" / "lre-gateway" / "certificates"


def test_files_of_other_code_go_once_a_day_old(kept: Path) -> None:
    kept.mkdir(parents=True)
    old = kept / "0123456789abcdef-pre-subset-0.json"
    recent = kept / "fedcba9876543210-pre-subset-0.json"
    for path in (old, recent):
        path.write_bytes(b"x")
    long_ago = time.time() - disk_cache.STALE_AFTER - 60
    os.utime(old, (long_ago, long_ago))
    _kept(1, b"one", [])
    assert not old.exists()
    assert recent.exists()  # another version of the gateway may be using it now
    assert any(path.name.startswith(disk_cache.code_digest()[:16]) for path in kept.iterdir())


def test_the_folder_is_the_gateways_user_alone_and_font_objects_are_checked(kept: Path) -> None:
    _kept(1, b"one", [])
    assert kept.stat().st_mode & 0o777 == 0o700
    good = {
        "font_file": b"f",
        "font_length": 1,
        "widths": "[]",
        "to_unicode": b"u",
        "cid_to_gid": b"c",
    }
    assert fonts.FontObjects.from_kept(good).font_file == b"f"
    for field, wrong in (("font_file", "f"), ("font_length", "1"), ("widths", b"[]")):
        with pytest.raises(TypeError):
            fonts.FontObjects.from_kept({**good, field: wrong})


def test_the_data_directory_serves_when_the_default_place_cannot_be_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    for name in (disk_cache.ENV, "CACHE_DIRECTORY", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    data = tmp_path / "data" / "cache" / "certificates"
    # a home that can be written keeps the default place
    assert disk_cache.fall_back_to(data) == tmp_path / "home" / ".cache" / "lre-gateway" / (
        "certificates"
    )
    assert disk_cache.ENV not in os.environ
    assert not data.exists()
    # a service user whose home is missing and cannot be made (root can write anywhere: under
    # a file, nothing can be made)
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("HOME", str(tmp_path / "a-file" / "home"))
    assert disk_cache.fall_back_to(data) == data
    assert os.environ[disk_cache.ENV] == str(data)  # for the processes started from here on
    assert disk_cache.directory() == data
    calls: list[bytes] = []
    assert [_kept(1, b"one", calls) for _ in range(2)] == [b"one", b"one"]
    assert calls == [b"one"]  # kept there, and read back
    # neither: said once, nothing kept
    monkeypatch.delenv(disk_cache.ENV)
    with caplog.at_level("WARNING", logger=disk_cache.__name__):
        assert disk_cache.fall_back_to(tmp_path / "a-file" / "data") is None
    assert "nothing is kept between starts" in caplog.text
    assert disk_cache.ENV not in os.environ
