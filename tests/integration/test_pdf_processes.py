"""Several certificate processes make proofs at once, each for its own letter."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from dataclasses import replace
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import dkim
import pytest

from gateway.app import Running, running
from gateway.core.evidence import EvidenceType
from gateway.errors import ConfigError
from gateway.evidence.xml import to_xml
from gateway.pdf.facts import CertificateSources
from gateway.pdf.maker import GROUP, CertificateMaker, Failed, ProofMail, dkim_signer
from gateway.registry import Registry, offline_registry
from gateway.settings import Settings
from gateway.smtp_out.transport import OutboxTransport
from gateway.startup import initialise
from tests.support.client import attachments_of, mails_to, notification_for, text_of, wait_for
from tests.support.gateway import PASSWORD, SENDER, make_settings
from tests.support.letters import deposit
from tests.support.proofs import PUBLIC_URL, ZONE, proof_record


def lowered_descendants(priority: tuple[int, int]) -> set[int]:
    """The processes below this one that run at `priority`, a niceness and a scheduling policy
    (the certificate processes)."""
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                raw = (entry / "stat").read_text()
            except OSError:
                continue
            fields = raw[raw.rindex(")") + 2 :].split()
            # ppid; niceness and policy (fields 19 and 41 of proc(5))
            stats[int(entry.name)] = (int(fields[1]), (int(fields[16]), int(fields[38])))
    below, frontier = set(), {os.getpid()}
    while frontier:
        frontier = {pid for pid, (parent, _) in stats.items() if parent in frontier}
        below |= frontier
    return {pid for pid in below if stats[pid][1] == priority}


def pdf_text(pdf: bytes, where: Path) -> str:
    where.write_bytes(pdf)
    return subprocess.run(
        ["pdftotext", str(where), "-"], capture_output=True, check=True, text=True
    ).stdout


def gateway_with_processes(
    tmp_path: Path, database_url: str, processes: int
) -> tuple[Settings, tuple[int, int], set[int]]:
    """Settings with `processes` certificate processes, initialised, with the sender; the
    priority its certificate processes will run at (certificate_nice added to this process's
    niceness — the suite may run under `nice` —, under SCHED_IDLE: certificate_idle), and the
    processes at that priority already there (an earlier test's, still ending)."""
    settings = make_settings(tmp_path, database_url, evidence={"certificate_processes": processes})
    initialise(settings)
    with offline_registry(settings) as registry:
        assert isinstance(registry, Registry)
        registry.senders.save_sender(SENDER, "Maître Dupont", PASSWORD, language="en")
    niced = min(os.getpriority(os.PRIO_PROCESS, 0) + settings.evidence.certificate_nice, 19)
    lowered = (niced, os.SCHED_IDLE)
    return settings, lowered, lowered_descendants(lowered)


def deposit_proof_pdfs(gateway: Running) -> list[bytes]:
    """The PDFs of the proofs of deposit mailed to the sender so far."""
    pdfs = []
    for message in mails_to(gateway, SENDER):
        files = attachments_of(message)
        if b"/Event/SubmissionAcceptance<" in files.get("evidence.xml", b""):
            pdfs.append(files["proof.pdf"])
    return pdfs


async def test_letters_deposited_together_each_get_the_certificate_of_their_own_reference(
    tmp_path: Path, database_url: str
) -> None:
    """Two niced certificate processes make six letters' PDFs at once, each naming its letter
    (their evidence read for the batch in one query); each recipient's notification, composed
    in one batch with the others, names the letter sent to that recipient."""
    settings, lowered, earlier = gateway_with_processes(tmp_path, database_url, 2)
    async with running(settings) as gateway:
        recipients = [f"destinataire{number}@example.ma" for number in range(6)]
        deposits = await asyncio.gather(*(deposit(gateway, [to]) for to in recipients))
        references = {reference for _, reference in deposits}
        assert len(references) == 6
        sent_to = {to: reference for to, (_, reference) in zip(recipients, deposits, strict=True)}

        def deposit_pdfs() -> list[bytes]:
            pdfs = deposit_proof_pdfs(gateway)
            return pdfs if len(pdfs) >= 6 else []

        pdfs = await wait_for(deposit_pdfs, within=60, what="six proofs of deposit with a PDF")
        # two certificate processes, behind SMTP and the web
        assert len(lowered_descendants(lowered) - earlier) == 2

        def notices() -> dict[str, list[EmailMessage]]:
            found = {to: notification_for(gateway, to) for to in recipients}
            return found if all(found.values()) else {}

        for to, (notice,) in (await wait_for(notices, what="six notifications")).items():
            reference = sent_to[to]
            named_in_notice = {r for r in references if r in text_of(notice)}
            assert named_in_notice == {reference}, to
    named = []
    for number, pdf in enumerate(pdfs):
        text = pdf_text(pdf, tmp_path / f"proof-{number}.pdf")
        named.append({reference for reference in references if reference in text})
    assert sorted(len(found) for found in named) == [1] * 6  # each PDF names one letter
    assert set().union(*named) == references  # and every letter has its PDF


async def test_a_killed_certificate_process_is_replaced_and_the_proof_still_made(
    tmp_path: Path, database_url: str
) -> None:
    """The only certificate process SIGKILLed after the start: the next letter's proof of
    deposit comes, with its PDF, from the one started in its place; its notification, which a
    certificate process DKIM-signs when one is ready (else the main process), goes out signed
    all the same."""
    settings, lowered, earlier = gateway_with_processes(tmp_path, database_url, 1)
    async with running(settings) as gateway:
        assert gateway.certificates is not None
        await gateway.certificates.start()
        (first,) = lowered_descendants(lowered) - earlier
        os.kill(first, signal.SIGKILL)
        _, reference = await deposit(gateway, ["destinataire@example.ma"])

        (pdf,) = await wait_for(
            lambda: deposit_proof_pdfs(gateway), within=60, what="the proof of deposit's PDF"
        )
        (second,) = lowered_descendants(lowered) - earlier
        assert second != first
        (notice,) = await wait_for(
            lambda: raw_notifications(gateway, "destinataire@example.ma"), what="the notification"
        )
    assert reference in pdf_text(pdf, tmp_path / "proof.pdf")
    assert reference.encode() in notice
    record = dkim_signer(settings).dns_record().encode()
    assert dkim.verify(notice, dnsfunc=lambda *_, **__: record)


def raw_notifications(gateway: Running, recipient: str) -> list[bytes]:
    """The bytes of the mails delivered to `recipient` in the outbox (a recipient who has asked
    for no code gets its notification only)."""
    outbox = OutboxTransport(gateway.settings.gateway.data_dir / "outbox")
    delivered = f"Delivered-To: {recipient}\r\n".encode()
    return [raw for entry in outbox.list() if delivered in (raw := outbox.read(entry.name))]


def test_no_certificate_process_is_refused(tmp_path: Path) -> None:
    """No certificate process, a negative count or a niceness above 19 in the config: refused."""
    settings = make_settings(tmp_path, "sqlite://")
    with pytest.raises(ValueError, match="at least one certificate process"):
        CertificateMaker(settings, processes=0)
    with pytest.raises(ConfigError, match="certificate_processes"):
        make_settings(tmp_path, "sqlite://", evidence={"certificate_processes": -1})
    with pytest.raises(ConfigError, match="niceness from 0 to 19"):
        make_settings(tmp_path, "sqlite://", evidence={"certificate_nice": 20})


def initialised(tmp_path: Path) -> Settings:
    """A gateway's settings and keys (its database unused: certificates are made alone)."""
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'gateway.db'}")
    initialise(settings)
    return settings


def sources_of(reference: str, *, xml: bytes | None = None) -> CertificateSources:
    """A proof of deposit's sources for the letter `reference` (`xml`: its record instead)."""
    record = replace(proof_record(EvidenceType.SubmissionAcceptance), letter_reference=reference)
    return CertificateSources(
        xml=to_xml(record) if xml is None else xml,
        p7s=b"\x30\x00",
        provider_name="LRE Gateway",
        public_url=PUBLIC_URL,
        zone=ZONE,
        language="fr",
    )


async def test_certificates_asked_together_are_made_in_groups_each_with_its_own_proof_mail(
    tmp_path: Path,
) -> None:
    """Six certificates asked for at once by two processes: one group of three in each
    process's hands, and each certificate back to its own caller, naming its letter, with the
    proof mail that carries it."""
    maker = CertificateMaker(initialised(tmp_path), processes=2)
    try:
        await maker.start()
        references = [f"LRE-2026-00010{n}" for n in range(6)]
        mail = ProofMail("alice@example.ma", "<proof@lre.example.ma>", datetime.now(UTC))
        asked = [
            asyncio.create_task(maker.make(sources_of(r), "Preuve de dépôt", mail))
            for r in references
        ]
        for _ in range(3):  # the tasks ask, the groups are handed over
            await asyncio.sleep(0)
        assert GROUP >= 3  # six for two processes: two groups of three
        assert maker.held == [1, 1]
        made = await asyncio.gather(*asked)
    finally:
        maker.close()
    for number, (reference, sealed) in enumerate(zip(references, made, strict=True)):
        text = pdf_text(sealed.pdf, tmp_path / f"proof-{number}.pdf")
        assert {r for r in references if r in text} == {reference}
        assert sealed.message is not None
        assert reference.encode() in sealed.message  # its subject names its letter


async def test_a_certificate_that_fails_in_a_group_fails_alone(tmp_path: Path) -> None:
    """Of three certificates made in one group, the one whose evidence does not read fails
    with its own error (and the certificate process's traceback); the two others are made."""
    maker = CertificateMaker(initialised(tmp_path), processes=1)
    try:
        mail = ProofMail("alice@example.ma", "<proof@lre.example.ma>", datetime.now(UTC))
        made = await asyncio.gather(
            maker.make(sources_of("LRE-2026-000201"), "Preuve de dépôt", mail),
            maker.make(sources_of("LRE-2026-000202", xml=b"<not-evidence"), "Preuve", mail),
            maker.make(sources_of("LRE-2026-000203"), "Preuve de dépôt", mail),
            return_exceptions=True,
        )
    finally:
        maker.close()
    first, broken, third = made
    assert isinstance(broken, Exception)
    assert "Traceback" in str(broken.__cause__)  # where it failed, in the certificate process
    for number, sealed in ((1, first), (3, third)):
        assert not isinstance(sealed, BaseException)
        assert f"LRE-2026-00020{number}" in pdf_text(sealed.pdf, tmp_path / f"{number}.pdf")


async def test_mails_are_dkim_signed_in_a_certificate_process_as_the_scheduler_signs_them(
    tmp_path: Path,
) -> None:
    """The scheduler's mails of a round signed in a certificate process: the same bytes as its
    own signer makes (PKCS #1 v1.5 signatures are deterministic), which dkimpy verifies; a mail
    that cannot be signed comes back as its error alone; before any process is ready, None
    (the scheduler signs them itself rather than wait for the start)."""
    settings = initialised(tmp_path)
    date = datetime(2026, 12, 4, 21, 45, tzinfo=UTC)
    mails = [
        (
            f"From: a@{n}.example\r\nTo: b@example.org\r\nSubject: {n}\r\n\r\nText\r\n".encode(),
            date,
        )
        for n in range(3)
    ]
    mails.insert(1, (b"To: b@example.org\r\n\r\nno From: field\r\n", date))
    maker = CertificateMaker(settings, processes=1)
    try:
        assert await maker.dkim_signed(mails) is None  # not started yet
        await maker.start()
        signed = await maker.dkim_signed(mails)
    finally:
        maker.close()
    assert signed is not None
    here = dkim_signer(settings)
    assert isinstance(signed[1], ValueError)
    assert "From:" in str(signed[1])
    for (message, _), made in zip(mails[::2] + mails[3:], signed[::2] + signed[3:], strict=True):
        assert made == here.sign(message, now=date)
        assert isinstance(made, bytes)
        assert dkim.verify(made, dnsfunc=lambda name, timeout=5: here.dns_record().encode())


class Unpicklable(Exception):
    def __init__(self, what: str, why: str) -> None:  # two arguments: does not unpickle
        super().__init__(f"{what}: {why}")


def test_an_error_that_does_not_pickle_comes_back_in_words() -> None:
    """A certificate's error that would not come back through the pipe comes back as a
    RuntimeError naming it; one that does comes back as itself."""
    try:
        raise Unpicklable("render", "no glyph")
    except Unpicklable as err:
        failed = Failed.of(err)
    assert type(failed.error) is RuntimeError
    assert str(failed.error) == "Unpicklable: render: no glyph"
    assert "raise Unpicklable" in failed.remote
    assert type(Failed.of(ValueError("bad")).raised()) is ValueError
