"""`lre-gateway dkim-record` prints the TXT record that verifies the gateway's DKIM signatures."""

from __future__ import annotations

import re
from pathlib import Path

import dkim
import pytest

from gateway.cli import main
from gateway.evidence.pki import pki_paths
from gateway.smtp_out.dkim import DEFAULT_SELECTOR, DkimSigner


def test_printed_record_verifies_the_gateways_signatures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'[gateway]\ndomain = "lre.example.ma"\ndata_dir = "{tmp_path / "var"}"\n'
        f'[database]\nurl = "sqlite:///{tmp_path / "gateway.db"}"\n'
    )
    assert main(["--config", str(config), "dkim-record"]) == 0
    line = capsys.readouterr().out.strip()
    name, _, rest = line.partition(" IN TXT ")
    assert name == "lre._domainkey.lre.example.ma."
    strings = re.findall(r'"([^"]*)"', rest)
    assert strings
    assert all(len(s) <= 255 for s in strings)
    record = "".join(strings).encode()
    assert record.startswith(b"v=DKIM1; k=rsa; p=")

    signer = DkimSigner.from_file(
        "lre.example.ma", DEFAULT_SELECTOR, pki_paths(tmp_path / "var").dkim_key
    )
    message = b"From: noreply@lre.example.ma\r\nTo: bob@example.ma\r\nSubject: x\r\n\r\nHello\r\n"
    asked = []

    def dns(qname: bytes, timeout: float = 5) -> bytes:
        asked.append(qname)
        return record

    assert dkim.verify(signer.sign(message), dnsfunc=dns)
    assert asked == [b"lre._domainkey.lre.example.ma."]
