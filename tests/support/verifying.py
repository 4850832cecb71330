"""Independent verifiers and the proofs they check: pyHanko, pdftotext, lre-gateway verify."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import unicodedata
from pathlib import Path

from gateway.app import Running
from gateway.smtp_out.transport import OutboxTransport
from tests.support.client import attachments_of, wait_for
from tests.support.gateway import SENDER
from tests.support.letters import deposit

PYHANKO = str(Path(__import__("sys").executable).with_name("pyhanko"))


def raw_proofs(gateway: Running) -> dict[str, bytes]:
    """Raw bytes of each proof mail to the sender, by evidence type named in evidence.xml."""
    transport = OutboxTransport(gateway.settings.gateway.data_dir / "outbox")
    found = {}
    for entry in transport.list():
        data = transport.read(entry.name)
        files = attachments_of(data)
        if SENDER.encode() in data and "evidence.xml" in files and "proof.pdf" in files:
            event = files["evidence.xml"].split(b"/Event/", 1)[1].split(b"<", 1)[0].decode()
            found[event] = data
    return found


def pdftotext(pdf: Path) -> str:
    out = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, check=True).stdout
    text = out.decode()
    # strip bidi controls pdftotext adds around RTL runs; compare in NFC
    return unicodedata.normalize("NFC", "".join(c for c in text if unicodedata.category(c) != "Cf"))


LRE_GATEWAY = str(Path(sys.executable).with_name("lre-gateway"))


async def cli_verify(*args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        LRE_GATEWAY, "verify", *args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    out, _ = await process.communicate()
    return process.returncode or 0, out.decode()


async def deposit_proof(gateway: Running) -> tuple[str, bytes]:
    _, reference = await deposit(gateway)
    proof: bytes = await wait_for(
        lambda: raw_proofs(gateway).get("SubmissionAcceptance", b""),
        within=30,
        what="proof of deposit",
    )
    return reference, proof


def pyhanko(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PYHANKO, "sign", *args], capture_output=True, text=True, check=False)
