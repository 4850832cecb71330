"""Development PKI: root CA, evidence seal, TSA, TLS certificates and the DKIM key, as PEM files.

`ensure_dev_pki` is idempotent: files that exist are kept, missing ones are created. A
certificate is re-issued only when its own key or its issuer (the root) had to be created anew, so
the set always chains. Production points the settings at real key material instead.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TypeAlias

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway.errors import EvidenceError

ROOT_NAME = "LRE Gateway Development Root CA"
ROOT_LIFETIME = timedelta(days=20 * 366)
LEAF_LIFETIME = timedelta(days=10 * 366)
BACKDATE = timedelta(hours=1)  # tolerate clock skew between issuing and first use
DKIM_KEY_SIZE = 2048

PrivateKey: TypeAlias = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class PkiPaths:
    """Where each PEM file of the gateway's PKI lives (under data_dir/pki/)."""

    root_cert: Path
    root_key: Path
    seal_cert: Path
    seal_key: Path
    tsa_cert: Path
    tsa_key: Path
    tls_cert: Path
    tls_key: Path
    dkim_key: Path


def pki_paths(data_dir: Path) -> PkiPaths:
    """Return the PKI file locations under `data_dir`/pki."""
    pki = data_dir / "pki"
    return PkiPaths(
        root_cert=pki / "root-ca.pem",
        root_key=pki / "root-ca.key",
        seal_cert=pki / "seal.pem",
        seal_key=pki / "seal.key",
        tsa_cert=pki / "tsa.pem",
        tsa_key=pki / "tsa.key",
        tls_cert=pki / "tls.pem",
        tls_key=pki / "tls.key",
        dkim_key=pki / "dkim.key",
    )


def ensure_dev_pki(
    data_dir: Path, domain: str, *, now: datetime | None = None, crl_url: str | None = None
) -> PkiPaths:
    """Create whatever part of the development PKI is missing and return its paths.

    With `crl_url`, the seal and TSA certificates name it as their CRL distribution point (the
    root's CRL, published by the web at /pki/root-ca.crl); one naming another URL is re-issued.
    """
    now = now or datetime.now(UTC)
    paths = pki_paths(data_dir)
    paths.root_cert.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(paths.root_cert.parent, 0o700)

    root_key, new_root_key = _ensure_key(paths.root_key, _new_ec_key)
    root_cert, new_root = _ensure_cert(
        paths.root_cert, new_root_key, partial(_root_cert, root_key, now)
    )
    issuer = _Issuer(root_key, root_cert)
    cdp = (crl_url,) if crl_url else ()
    leaves = (
        (paths.seal_key, paths.seal_cert, replace(_seal_profile(domain), crl_urls=cdp)),
        (paths.tsa_key, paths.tsa_cert, replace(_tsa_profile(domain), crl_urls=cdp)),
        (paths.tls_key, paths.tls_cert, _tls_profile(domain)),
    )
    for key_path, cert_path, profile in leaves:
        key, new_key = _ensure_key(key_path, _new_ec_key)
        stale = bool(profile.crl_urls) and crl_urls_of(cert_path) != profile.crl_urls
        _ensure_cert(
            cert_path, new_key or new_root or stale, partial(issuer.issue, key, profile, now)
        )
    if not paths.dkim_key.exists():  # read by its signers; loading an RSA key checks it (~40 ms)
        _ensure_key(paths.dkim_key, _new_dkim_key)
    return paths


def anchors_pem(paths: PkiPaths, extra: Sequence[Path] = ()) -> bytes:
    """Return the trust anchors a third party needs: the root CA PEM plus any extra PEM files."""
    parts = [paths.root_cert.read_bytes(), *(path.read_bytes() for path in extra)]
    return b"".join(part if part.endswith(b"\n") else part + b"\n" for part in parts)


def load_certificates(pem: bytes) -> list[x509.Certificate]:
    """Parse every certificate of a PEM bundle."""
    try:
        return x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise EvidenceError(f"not a PEM certificate bundle: {exc}") from exc


def load_private_key(path: Path) -> PrivateKey:
    """Load an unencrypted PEM private key (EC or RSA)."""
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise EvidenceError(f"{path}: only EC and RSA keys are supported")
    return key


def load_certificate(path: Path) -> x509.Certificate:
    """Load the first certificate of a PEM file."""
    certificates = load_certificates(path.read_bytes())
    if not certificates:
        raise EvidenceError(f"{path}: no certificate found")
    return certificates[0]


def crl_urls_of(path: Path) -> tuple[str, ...]:
    """The CRL distribution point URLs a certificate file names (empty if none)."""
    if not path.exists():
        return ()
    try:
        points = load_certificate(path).extensions.get_extension_for_class(
            x509.CRLDistributionPoints
        )
    except (x509.ExtensionNotFound, EvidenceError):
        return ()
    return tuple(
        str(name.value)
        for point in points.value
        for name in point.full_name or ()
        if isinstance(name, x509.UniformResourceIdentifier)
    )


# -- creation ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Profile:
    common_name: str
    key_usage: dict[str, bool]
    eku: tuple[x509.ObjectIdentifier, ...] = ()
    eku_critical: bool = False
    san: tuple[x509.GeneralName, ...] = ()
    crl_urls: tuple[str, ...] = ()


def _seal_profile(domain: str) -> _Profile:
    return _Profile(
        f"{domain} evidence seal", {"digital_signature": True, "content_commitment": True}
    )


def _tsa_profile(domain: str) -> _Profile:
    return _Profile(
        f"{domain} timestamping authority",
        {"digital_signature": True, "content_commitment": True},
        eku=(ExtendedKeyUsageOID.TIME_STAMPING,),
        eku_critical=True,  # RFC 3161 §2.3: the only EKU, and critical
    )


def _tls_profile(domain: str) -> _Profile:
    names: list[x509.GeneralName] = [x509.DNSName(domain)]
    if domain != "localhost":
        names.append(x509.DNSName("localhost"))
    names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    return _Profile(
        domain,
        {"digital_signature": True},
        eku=(ExtendedKeyUsageOID.SERVER_AUTH,),
        san=tuple(names),
    )


def _key_usage(**flags: bool) -> x509.KeyUsage:
    fields = (
        "digital_signature",
        "content_commitment",
        "key_encipherment",
        "data_encipherment",
        "key_agreement",
        "key_cert_sign",
        "crl_sign",
        "encipher_only",
        "decipher_only",
    )
    return x509.KeyUsage(**{name: flags.get(name, False) for name in fields})


def _root_cert(key: PrivateKey, now: datetime) -> x509.Certificate:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, ROOT_NAME),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "LRE Gateway (development)"),
        ]
    )
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + ROOT_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


@dataclass(frozen=True)
class _Issuer:
    key: PrivateKey
    cert: x509.Certificate

    def issue(self, key: PrivateKey, profile: _Profile, now: datetime) -> x509.Certificate:
        public = key.public_key()
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, profile.common_name)]))
            .issuer_name(self.cert.subject)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(min(now + LEAF_LIFETIME, self.cert.not_valid_after_utc))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(**profile.key_usage), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
        )
        if profile.eku:
            builder = builder.add_extension(
                x509.ExtendedKeyUsage(list(profile.eku)), critical=profile.eku_critical
            )
        if profile.crl_urls:
            builder = builder.add_extension(
                x509.CRLDistributionPoints(
                    [
                        x509.DistributionPoint(
                            [x509.UniformResourceIdentifier(u) for u in profile.crl_urls],
                            None,
                            None,
                            None,
                        )
                    ]
                ),
                critical=False,
            )
        if profile.san:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(list(profile.san)), critical=False
            )
        return builder.sign(self.key, hashes.SHA256())


def _new_ec_key() -> PrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _new_dkim_key() -> PrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=DKIM_KEY_SIZE)


def _ensure_key(path: Path, generate: Callable[[], PrivateKey]) -> tuple[PrivateKey, bool]:
    """Load the key at `path`, or generate, write (mode 0600) and return a new one."""
    if path.exists():
        return load_private_key(path), False
    key = generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_new(path, pem, 0o600)
    return key, True


def _ensure_cert(
    path: Path, reissue: bool, build: Callable[[], x509.Certificate]
) -> tuple[x509.Certificate, bool]:
    """Load the certificate at `path` unless it must be (re)issued; also say if it is new."""
    if path.exists() and not reissue:
        return load_certificate(path), False
    cert = build()
    _write_new(path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return cert, True


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Write `data` to `path` atomically, with `mode` from the first byte on."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(tmp, mode)  # the umask may have narrowed the 0644 of certificates
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
