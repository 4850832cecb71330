"""The development CA's certificate revocation list, re-issued before it goes stale.

The web serves `CrlPublisher.current()` at `{public_url}/pki/root-ca.crl` and the PDF sealer
embeds the same CRL in each certificate so that it validates offline. Seal and TSA certificates
of data dirs created before issue 8 name that URL as their CRL distribution point; new ones name
none (an offline validator would try to fetch it and fail rather than use the embedded CRL). A
production CA publishes its own CRL instead.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from gateway.evidence.pki import PkiPaths, load_certificate, load_private_key

CRL_PATH: Final = "/pki/root-ca.crl"
CRL_LIFETIME: Final = timedelta(days=7)
REISSUE_AFTER: Final = timedelta(days=1)  # a fresh CRL every day, valid a week


def crl_url(public_url: str) -> str:
    return public_url.rstrip("/") + CRL_PATH


class CrlPublisher:
    """Keeps data_dir/pki/root-ca.crl fresh; thread-safe, cheap when nothing changes."""

    def __init__(self, paths: PkiPaths, clock: Callable[[], datetime]) -> None:
        self._paths = paths
        self._file = paths.root_cert.with_name("root-ca.crl")
        self._clock = clock
        self._lock = threading.Lock()
        self._der: bytes | None = None
        self._issued: datetime | None = None

    def current(self) -> bytes:
        """The CRL (DER), issued now when there is none or the last is older than a day."""
        now = self._clock()
        with self._lock:
            if self._der is None and self._file.exists():
                der = self._file.read_bytes()
                crl = x509.load_der_x509_crl(der)
                self._der, self._issued = der, crl.last_update_utc
            if self._der is None or self._issued is None or now - self._issued >= REISSUE_AFTER:
                self._der, self._issued = self._issue(now), now
            return self._der

    def _issue(self, now: datetime) -> bytes:
        root = load_certificate(self._paths.root_cert)
        key = load_private_key(self._paths.root_key)
        crl = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(root.subject)
            .last_update(now - timedelta(minutes=5))
            .next_update(now + CRL_LIFETIME)
            .add_extension(x509.CRLNumber(int(now.timestamp())), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()),
                critical=False,
            )
            .sign(key, hashes.SHA256())
        )
        der = crl.public_bytes(serialization.Encoding.DER)
        tmp = self._file.with_name(f".{self._file.name}.{os.getpid()}.tmp")  # one per process
        tmp.write_bytes(der)
        tmp.replace(self._file)
        return der

    @property
    def path(self) -> Path:
        return self._file
