"""Start-up: the installation made (`initialise`) and checked — refuse to serve, in one sentence
naming the configuration key, rather than fail later (a busy port, a key file that is not there)
— and the ports it listens on refused in one sentence. What the command line and the running
gateway read from the installation (keys, anchors, the seal) is gateway.trust's.

The development PKI and the content keys are created by `initialise` on first run. Once letters
exist, creating them again would make the stored letters unreadable and the proofs unverifiable
against the published anchors, so then their absence stops the start-up instead.
"""

from __future__ import annotations

import errno
from pathlib import Path

from sqlalchemy import Engine, func, inspect, select

from gateway.errors import ConfigError
from gateway.evidence.log_keys import ensure_log_key
from gateway.evidence.pki import ensure_dev_pki, pki_paths
from gateway.settings import Settings
from gateway.storage import tables as t
from gateway.storage.database import create_schema, open_engine, reading
from gateway.storage.vault import Vault
from gateway.trust import keys_dir


def initialise(settings: Settings) -> None:
    """Idempotent: data dir, database schema, development PKI, DKIM key, content keys.

    Refuses (ConfigError) when a configured key file is missing, or when the database holds
    letters and a key or certificate they depend on is gone: it is never silently made anew.
    """
    engine = open_engine(settings.database.url)
    try:
        letters_exist = has_letters(engine)
    finally:
        engine.dispose()
    check_keys(settings, letters_exist)
    data_dir = settings.gateway.data_dir
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    # no CRL distribution point in new seal and TSA certificates: an offline validator (pyHanko)
    # that finds one tries to fetch it and, failing, rejects the proof instead of falling back
    # on the CRL and timestamps the PDF embeds (data dirs made before keep their certificates)
    ensure_dev_pki(data_dir, settings.gateway.domain)
    Vault.initialise(keys_dir(settings))
    ensure_log_key(keys_dir(settings))  # signs the public evidence log's checkpoints
    engine = open_engine(settings.database.url)
    try:
        create_schema(engine)
    finally:
        engine.dispose()


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
    keys = keys_dir(settings)
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
