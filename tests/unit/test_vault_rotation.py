"""Master key rotation in the vault: re-wrapping keeps every letter readable, old keys can go."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from gateway.storage.vault import Vault

AAD = b"letter-1"


def test_a_rewrapped_letter_and_its_page_decrypt_once_the_old_key_is_destroyed(
    tmp_path: Path,
) -> None:
    """Content and page data (encrypted beside it) still decrypt after re-wrap and destruction."""
    Vault.initialise(tmp_path)
    vault = Vault(tmp_path)
    sealed = vault.encrypt(b"Madame, Monsieur", aad=AAD)
    page = vault.encrypt_beside(sealed, b'{"text": "..."}', aad=AAD, label=b"page")
    assert Vault.rotate(tmp_path) == "master-2"
    vault.reload()
    moved = vault.rewrap(sealed, aad=AAD, to=vault.current_key_id)
    assert moved.key_id == "master-2"
    assert moved.wrapped_key != sealed.wrapped_key
    again = type(sealed)(moved.key_id, moved.wrapped_key, sealed.ciphertext)
    Vault.destroy(tmp_path, "master-1")
    assert not (tmp_path / "master-1.key").exists()
    fresh = Vault(tmp_path)
    assert fresh.decrypt(again, aad=AAD) == b"Madame, Monsieur"
    assert fresh.decrypt_beside(again, page, aad=AAD, label=b"page") == b'{"text": "..."}'
    assert not fresh.decrypts(sealed, aad=AAD)  # still under the destroyed key


def test_a_key_rotated_by_another_process_is_used_for_the_next_letter(tmp_path: Path) -> None:
    """A running gateway's vault encrypts under the key `keys rotate` just added, no restart."""
    Vault.initialise(tmp_path)
    vault = Vault(tmp_path)
    assert vault.encrypt(b"a", aad=AAD).key_id == "master-1"
    Vault.rotate(tmp_path)
    assert vault.encrypt(b"b", aad=AAD).key_id == "master-2"


def test_a_rotation_is_seen_however_soon_it_follows_the_last_letter(tmp_path: Path) -> None:
    """The keys directory is listed again only when its mtime moved: a rotation in the same
    clock tick as the listing before it (same mtime) is still seen, and so is one long after."""
    Vault.initialise(tmp_path)
    vault = Vault(tmp_path)
    assert vault.encrypt(b"a", aad=AAD).key_id == "master-1"
    listed = os.stat(tmp_path).st_mtime_ns
    Vault.rotate(tmp_path)
    os.utime(tmp_path, ns=(listed, listed))  # as if the rotation carried the same mtime
    assert vault.encrypt(b"b", aad=AAD).key_id == "master-2"
    settled = time.time_ns() - 60 * 10**9  # a directory unchanged for a minute: listed once
    os.utime(tmp_path, ns=(settled, settled))
    assert vault.encrypt(b"c", aad=AAD).key_id == "master-2"
    Vault.rotate(tmp_path)  # its mtime moves: listed again
    assert vault.encrypt(b"d", aad=AAD).key_id == "master-3"


def test_the_current_or_an_unknown_master_key_is_never_destroyed(tmp_path: Path) -> None:
    """destroy refuses the newest key (new letters use it) and names a key that is not there."""
    Vault.initialise(tmp_path)
    with pytest.raises(ValueError, match="current master key"):
        Vault.destroy(tmp_path, "master-1")
    with pytest.raises(FileNotFoundError, match="master-3"):
        Vault.destroy(tmp_path, "master-3")
    assert (tmp_path / "master-1.key").exists()


def test_a_tampered_wrapped_key_does_not_decrypt(tmp_path: Path) -> None:
    """`keys verify` relies on decrypts(): a flipped bit in the wrapped key is caught."""
    Vault.initialise(tmp_path)
    vault = Vault(tmp_path)
    sealed = vault.encrypt(b"content", aad=AAD)
    broken = bytearray(sealed.wrapped_key)
    broken[-1] ^= 1
    assert vault.decrypts(sealed, aad=AAD)
    assert not vault.decrypts(
        type(sealed)(sealed.key_id, bytes(broken), sealed.ciphertext), aad=AAD
    )
