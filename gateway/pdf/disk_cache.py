"""What the certificate renderer works out from the shipped fonts and words alone, kept on disk
from one start of the gateway to the next.

Before its first certificate, a certificate process (its forkserver: gateway.pdf.warm) cuts
the fonts down to the scripts certificates use, finds each language's prepared glyphs by drawing
its words on a page thrown away, and subsets the fonts to those glyphs: ~4 s of CPU at every
start, the same result every time for the same fonts, words and code. Here each result is kept
in a file named by the digest of everything it depends on: the source of gateway.pdf, the
versions of fpdf2, fontTools and HarfBuzz, and the function's own inputs (the fonts' bytes,
the language's words). A file that is missing, unreadable, truncated or of other code is worked
out again and written anew; nothing read here can change a certificate, only how soon the
first one is made. tests/unit/test_pdf_disk_cache.py checks both ways give the same bytes.

Where: $LRE_GATEWAY_CACHE, else $CACHE_DIRECTORY/certificates (systemd's CacheDirectory=,
for a service user with no home of its own), else $XDG_CACHE_HOME/lre-gateway/certificates,
else ~/.cache/lre-gateway/certificates, else (that cannot be written: a service user with no
home of its own) data_dir/cache/certificates (`fall_back_to`, when the certificate processes
are made); LRE_GATEWAY_CACHE=off keeps nothing. Files of other code
are removed once a day old. The files hold font bytes and glyph names as JSON, never code; what
draws the certificates' text must be as safe as the gateway's keys: the directory is made for
the gateway's user alone (0700), and what is read back is checked for its digest and types.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any, Final, TypeVar

ENV: Final = "LRE_GATEWAY_CACHE"
STALE_AFTER: Final = 86_400  # seconds: a file of other code kept this long (another checkout)
_DIGEST_BYTES: Final = 32

log = logging.getLogger(__name__)
T = TypeVar("T")

# what this process found on disk and worked out again (tests and bench read them)
counts: dict[str, int] = {"found": 0, "made": 0}


def directory() -> Path | None:
    """Where the files are kept; None when nothing is kept."""
    chosen = os.environ.get(ENV, "")
    if chosen.lower() == "off":
        return None
    if chosen:
        return Path(chosen)
    service = os.environ.get("CACHE_DIRECTORY", "").split(":")[0]  # systemd: dirs joined by :
    if service:
        return Path(service) / "certificates"
    base = os.environ.get("XDG_CACHE_HOME", "")
    if base:
        return Path(base) / "lre-gateway" / "certificates"
    try:
        return Path.home() / ".cache" / "lre-gateway" / "certificates"
    except RuntimeError:  # no home directory
        return None


def fall_back_to(folder: Path) -> Path | None:
    """Keep the files in `folder` when no place is chosen and the default one is not usable (a
    service user whose home is missing or not its own): the gateway's processes started from
    here on use it ($LRE_GATEWAY_CACHE). Returns where the files are kept, None if nowhere."""
    if os.environ.get(ENV):  # chosen, or "off"
        return directory()
    default = directory()
    if default is not None and _usable(default):
        return default
    if not _usable(folder):
        log.warning(
            "certificate cache: neither %s nor %s can be written; nothing is kept between starts",
            default,
            folder,
        )
        return None
    log.info("certificate cache: %s cannot be written; kept in %s", default, folder)
    os.environ[ENV] = str(folder)
    return folder


def _usable(folder: Path) -> bool:
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)  # the gateway's user only
    except OSError:
        return False
    return os.access(folder, os.W_OK | os.X_OK)


@functools.cache
def code_digest() -> str:
    """The digest of the code a kept result depends on: gateway.pdf's source and libraries."""
    digest = hashlib.sha256(sys.version.encode())
    for name in ("fpdf2", "fonttools", "uharfbuzz"):
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            version = "-"
        digest.update(f"\0{name}={version}".encode())
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(b"\0" + path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def remembered(
    kind: str,
    key: object,
    make: Callable[[], T],
    dump: Callable[[T], Any],
    load: Callable[[Any], T],
) -> T:
    """make(), or what it gave before for the same `kind` and `key` (its repr is hashed).

    `dump` turns the result into JSON values (bytes allowed: written as base64), `load` back."""
    folder = directory()
    if folder is None:
        return make()
    code = code_digest()
    name = hashlib.sha256(f"{code}\0{kind}\0{key!r}".encode()).hexdigest()
    path = folder / f"{code[:16]}-{kind}-{name[:32]}.json"
    kept = _read(path)
    if kept is not None:
        try:
            result = load(kept)
        except (KeyError, TypeError, ValueError, IndexError):
            log.warning(
                "certificate cache: %s is not what %s keeps; working it out again", path, kind
            )
        else:
            counts["found"] += 1
            return result
    result = make()
    counts["made"] += 1
    _write(folder, path, dump(result))
    return result


def _read(path: Path) -> Any:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    digest, payload = data[:_DIGEST_BYTES], data[_DIGEST_BYTES:]
    if hashlib.sha256(payload).digest() != digest:
        return None  # truncated or altered: worked out again and written over
    try:
        return json.loads(payload, object_hook=_from_json)
    except ValueError:
        return None


def _write(folder: Path, path: Path, value: Any) -> None:
    payload = json.dumps(value, default=_to_json, separators=(",", ":")).encode()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)  # the gateway's user only
        tmp.write_bytes(hashlib.sha256(payload).digest() + payload)
        os.replace(tmp, path)  # whole or not at all, whoever else writes it at the same time
    except OSError as err:
        log.debug("certificate cache: not kept in %s (%s)", folder, err)
        tmp.unlink(missing_ok=True)
        return
    _prune(folder, path.name[:16])


def _prune(folder: Path, code: str) -> None:
    """Remove the files of other code a day old (another version, or this one edited)."""
    now = time.time()
    for other in folder.glob("*.json"):
        try:
            if not other.name.startswith(code) and now - other.stat().st_mtime > STALE_AFTER:
                other.unlink()
        except OSError:
            continue


def _to_json(value: object) -> object:
    if isinstance(value, bytes):
        return {"b64": base64.b64encode(value).decode("ascii")}
    raise TypeError(f"not kept on disk: {type(value).__name__}")


def _from_json(value: dict[str, Any]) -> object:
    if value.keys() == {"b64"}:
        return base64.b64decode(value["b64"], validate=True)
    return value
