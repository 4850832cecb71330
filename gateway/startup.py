"""Start-up checks: refuse to serve, in one sentence naming the configuration key, rather than
fail later (a busy port, a key file that is not there).

The development PKI and the content keys are created by `initialise` on first run. Once letters
exist, creating them again would make the stored letters unreadable and the proofs unverifiable
against the published anchors, so then their absence stops the start-up instead.
"""

from __future__ import annotations

import errno
from pathlib import Path

from sqlalchemy import Engine, func, inspect, select

from gateway.errors import ConfigError
from gateway.evidence.pki import pki_paths
from gateway.settings import Settings
from gateway.storage import tables as t
from gateway.storage.database import reading


def has_letters(engine: Engine) -> bool:
    """True when the database already holds letters (False for a new, empty database)."""
    with reading(engine) as db:
        if "letters" not in inspect(db).get_table_names():
            return False
        return bool(db.execute(select(func.count()).select_from(t.letters)).scalar_one())


def check_keys(settings: Settings, letters_exist: bool) -> None:
    """Every key and certificate file the gateway needs is there and readable."""
    for key, path in _configured_files(settings):
        _readable(key, path)
    if not letters_exist:
        return  # `initialise` creates what is missing
    data_dir = settings.gateway.data_dir
    keys = data_dir / "keys"
    for name in ("link.key", "web.key"):
        _readable("gateway.data_dir", keys / name)
    if not any(keys.glob("master-*.key")):
        raise ConfigError(
            f"gateway.data_dir: no master key in {keys}, but the database holds letters: restore "
            "the keys directory from the backup (a new key could not decrypt them)"
        )
    pki = pki_paths(data_dir)
    own = [pki.root_cert, pki.dkim_key]
    if settings.evidence.seal_cert is None:
        own += [pki.seal_cert, pki.seal_key]
    if not settings.evidence.tsa_url:
        own += [pki.tsa_cert, pki.tsa_key]
    for path in own:
        _readable("gateway.data_dir", path, restore=True)


def _configured_files(settings: Settings) -> list[tuple[str, Path]]:
    evidence, smtp = settings.evidence, settings.smtp
    files = [
        ("evidence.seal_cert", evidence.seal_cert),
        ("evidence.seal_key", evidence.seal_key),
        ("smtp.tls_cert", smtp.tls_cert),
        ("smtp.tls_key", smtp.tls_key),
    ]
    files += [("evidence.seal_chain", p) for p in evidence.seal_chain]
    files += [("evidence.anchors", p) for p in evidence.anchors]
    return [(key, path) for key, path in files if path is not None]


def _readable(key: str, path: Path, *, restore: bool = False) -> None:
    try:
        with path.open("rb"):
            pass
    except FileNotFoundError:
        hint = " (restore it from the backup: the database holds letters)" if restore else ""
        raise ConfigError(f"{key}: {path} does not exist{hint}") from None
    except OSError as err:
        raise ConfigError(f"{key}: {path} cannot be read ({err.strerror})") from None


def listen_refused(key: str, address: tuple[str, int], err: OSError) -> ConfigError:
    """The one sentence for a listener that cannot bind (busy port, no such address)."""
    host, port = address
    if err.errno == errno.EADDRINUSE:
        why = "is already in use (another program, or another gateway, listens there)"
    elif err.errno == errno.EACCES:
        why = "needs privileges this process does not have (use a port above 1023)"
    elif err.errno == errno.EADDRNOTAVAIL:
        why = "is not an address of this machine"
    else:
        why = f"cannot be listened on ({err.strerror})"
    return ConfigError(f"{key}: {host}:{port} {why}")
