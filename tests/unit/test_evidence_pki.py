"""The development PKI: files, permissions, idempotence and certificate profiles."""

from __future__ import annotations

import stat
from dataclasses import fields
from datetime import UTC, datetime
from ipaddress import ip_address
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway.evidence.pki import (
    ROOT_NAME,
    anchors_pem,
    ensure_dev_pki,
    load_certificate,
    load_certificates,
    load_private_key,
    pki_paths,
)

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def _all_paths(data_dir: Path) -> list[Path]:
    paths = pki_paths(data_dir)
    return [getattr(paths, f.name) for f in fields(paths)]


def test_creates_every_file_with_private_modes(tmp_path: Path) -> None:
    """Every PEM file exists, the pki directory is 0700 and private keys are 0600."""
    paths = ensure_dev_pki(tmp_path, "lre.localhost", now=NOW)
    assert stat.S_IMODE(paths.root_cert.parent.stat().st_mode) == 0o700
    for path in _all_paths(tmp_path):
        assert path.is_file(), path
        if path.suffix == ".key":
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert not list(paths.root_cert.parent.glob(".*.tmp"))


def test_second_run_keeps_existing_files(tmp_path: Path) -> None:
    """Running init twice changes no byte of the PKI."""
    ensure_dev_pki(tmp_path, "lre.localhost", now=NOW)
    before = {path: path.read_bytes() for path in _all_paths(tmp_path)}
    ensure_dev_pki(tmp_path, "lre.localhost", now=datetime(2026, 1, 1, tzinfo=UTC))
    assert {path: path.read_bytes() for path in _all_paths(tmp_path)} == before


def test_missing_leaf_is_recreated_under_the_existing_root(tmp_path: Path) -> None:
    """Deleting the seal key re-issues only the seal, still signed by the same root."""
    paths = ensure_dev_pki(tmp_path, "lre.localhost", now=NOW)
    root, tsa = paths.root_cert.read_bytes(), paths.tsa_cert.read_bytes()
    paths.seal_key.unlink()
    ensure_dev_pki(tmp_path, "lre.localhost", now=NOW)
    assert paths.root_cert.read_bytes() == root
    assert paths.tsa_cert.read_bytes() == tsa
    seal = load_certificate(paths.seal_cert)
    seal.verify_directly_issued_by(load_certificate(paths.root_cert))
    assert seal.public_key() == load_private_key(paths.seal_key).public_key()


def test_certificate_profiles(tmp_path: Path) -> None:
    """Root is a CA, the TSA has a critical timeStamping EKU, TLS covers its names, DKIM is RSA."""
    paths = ensure_dev_pki(tmp_path, "lre.localhost", now=NOW)
    root = load_certificate(paths.root_cert)
    common_name = root.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert common_name == ROOT_NAME
    constraints = root.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value.ca
    usage = root.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign
    assert usage.crl_sign
    assert (root.not_valid_after_utc - root.not_valid_before_utc).days >= 3650

    seal = load_certificate(paths.seal_cert)
    assert "lre.localhost evidence seal" in seal.subject.rfc4514_string()
    usage = seal.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature
    assert usage.content_commitment

    eku = load_certificate(paths.tsa_cert).extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical
    assert list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]

    tls = load_certificate(paths.tls_cert)
    san = tls.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["lre.localhost", "localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [ip_address("127.0.0.1")]

    for leaf in (seal, tls, load_certificate(paths.tsa_cert)):
        leaf.verify_directly_issued_by(root)
        assert isinstance(leaf.public_key(), ec.EllipticCurvePublicKey)
    dkim = load_private_key(paths.dkim_key)
    assert isinstance(dkim, rsa.RSAPrivateKey)
    assert dkim.key_size == 2048
    assert paths.dkim_key.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")


def test_anchors_pem_appends_extra_files(tmp_path: Path) -> None:
    """The anchors bundle is the root CA followed by any extra PEM files."""
    paths = ensure_dev_pki(tmp_path, "lre.localhost", now=NOW)
    extra = tmp_path / "extra.pem"
    extra.write_bytes(paths.tsa_cert.read_bytes())
    certificates = load_certificates(anchors_pem(paths, [extra]))
    assert certificates == [load_certificate(paths.root_cert), load_certificate(paths.tsa_cert)]
