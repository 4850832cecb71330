"""Certificates are made in processes of their own, one per core.

Rendering and sealing a certificate costs tens of milliseconds of CPU. Done in a thread of the
gateway's process it holds the GIL against the SMTP and web loop and halves the deposit rate; in
processes of their own they run on every core, at a lower priority (`evidence.certificate_nice`):
the SMTP and web loop gets a core whenever it needs one, so a burst of letters is acknowledged as
fast as with no certificate to make, and the certificates take the CPU left over. Each process is
forked from a forkserver that has already parsed the fonts (gateway.pdf.warm), so it starts at
once; it builds its sealer (keys, TSA, CRL) and an event loop when it starts, and keeps them for
every certificate.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import select
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from gateway import collector
from gateway.compose.parts import without_attachment
from gateway.compose.proof import compose_proof
from gateway.compose.smime import smime_sign
from gateway.evidence.cms import Sealer
from gateway.evidence.crl import CrlPublisher
from gateway.evidence.pki import (
    anchors_pem,
    load_certificate,
    load_certificates,
    load_private_key,
    pki_paths,
)
from gateway.evidence.tsa import HttpTimestamper, LocalTimestamper, TimestampAuthority, Timestamper
from gateway.pdf import disk_cache
from gateway.pdf.expiry import renewal_due
from gateway.pdf.facts import CertificateFacts, CertificateSources
from gateway.pdf.workers import Workers
from gateway.settings import Settings
from gateway.smtp_out.dkim import DEFAULT_SELECTOR, DkimSigner
from gateway.trust import evidence_sealer

if TYPE_CHECKING:  # imported where certificates are made, not by the main process (~1 s)
    from gateway.pdf.seal import PdfSealer

log = logging.getLogger(__name__)
T = TypeVar("T")

_CONTEXT = multiprocessing.get_context("forkserver")  # children of a single-threaded server
# imported once in the forkserver, not in each certificate process (gateway.cli: what the
# lre-gateway script imports, which each child imports again as its main module); the renderer
# and the sealer only there: the main process hands certificates over and imports neither
# (fpdf2, fontTools, pyHanko's signers: ~1 s of CPU at each start)
PRELOAD = ("gateway.cli", "gateway.pdf.maker", "gateway.pdf.seal", "gateway.pdf.warm")
_CONTEXT.set_forkserver_preload(list(PRELOAD))
_sealer: PdfSealer | None = None  # in the certificate process
_loop: asyncio.AbstractEventLoop | None = None  # its event loop, kept (asyncio.run: ~2 ms each)
_mailer: ProofMailer | None = None  # the proof mail's signers, in the certificate process


def utcnow() -> datetime:
    return datetime.now(UTC)


def build_sealer(settings: Settings, clock: Callable[[], datetime] = utcnow) -> PdfSealer:
    """The PAdES sealer of these settings: seal key and certificate, TSA, the CA's CRL."""
    from gateway.pdf.seal import PdfSealer  # here: the main process never imports it (PRELOAD)

    evidence, pki = settings.evidence, pki_paths(settings.gateway.data_dir)
    timestamper: Timestamper = (
        HttpTimestamper(evidence.tsa_url)
        if evidence.tsa_url
        else LocalTimestamper(TimestampAuthority.from_files(pki.tsa_cert, pki.tsa_key), clock)
    )
    crl = CrlPublisher(pki, clock)
    return PdfSealer(
        key=load_private_key(evidence.seal_key or pki.seal_key),
        cert=load_certificate(evidence.seal_cert or pki.seal_cert),
        chain=[load_certificate(p) for p in evidence.seal_chain],
        anchors=load_certificates(anchors_pem(pki, evidence.anchors)),
        timestamper=timestamper,
        crls=lambda: [crl.current()] if pki.root_key.exists() else [],
        provider_name=settings.gateway.provider_name,
        clock=clock,
    )


def dkim_signer(settings: Settings) -> DkimSigner:
    """The DKIM signer of the gateway's mails (its domain, selector and key)."""
    pki = pki_paths(settings.gateway.data_dir)
    return DkimSigner.from_file(settings.gateway.domain, DEFAULT_SELECTOR, pki.dkim_key)


@dataclass(frozen=True)
class ProofMail:
    """The proof mail that carries a certificate: its recipient (the sender of the letter),
    Message-ID, and time (its Date, the S/MIME signing time and DKIM's t=)."""

    to: str
    message_id: str
    date: datetime


@dataclass(frozen=True)
class ProofMailer:
    """Composes a proof mail with its certificate and signs it (S/MIME, then DKIM), as the
    scheduler would: the mail's bytes are fixed with the certificate's, in one commit."""

    smime: Sealer
    dkim: DkimSigner
    domain: str

    @classmethod
    def from_settings(cls, settings: Settings) -> ProofMailer:
        return cls(evidence_sealer(settings), dkim_signer(settings), settings.gateway.domain)

    def compose(self, facts: CertificateFacts, pdf: bytes, mail: ProofMail) -> bytes:
        composed = compose_proof(
            facts.record,
            facts.xml,
            facts.p7s,
            to=mail.to,
            provider_name=facts.provider_name,
            domain=self.domain,
            public_url=facts.public_url,
            zone=facts.zone,
            language=facts.language,
            message_id=mail.message_id,
            date=mail.date,
            pdf=pdf,
        )
        signed = smime_sign(composed, self.smime, signing_time=mail.date)
        return self.dkim.sign(signed, now=mail.date, crlf_throughout=True)  # composed so


def _start(settings: Settings, gateway: int) -> None:
    global _sealer, _loop, _mailer
    _exit_with(gateway)
    os.nice(settings.evidence.certificate_nice)
    _sealer = build_sealer(settings)
    _mailer = ProofMailer.from_settings(settings)
    _loop = asyncio.new_event_loop()
    # the warm state is frozen in the forkserver (gateway.pdf.warm): this process's own start
    # too; with CPython's thresholds, collection cost 2.0-3.3 ms per certificate, now ~0.5
    collector.settle()


def _exit_with(gateway: int) -> None:
    """End this process as soon as the gateway's process `gateway` ends, however it ended.

    Killed (SIGKILL), the gateway closes nothing: its end of this process's pipe closes with
    it, which ends this process once it looks for its next job, but not while it makes one,
    and the forkserver waits for this process (which holds its liveness pipe too)."""
    try:
        pidfd = os.pidfd_open(gateway)
    except ProcessLookupError:  # gone already
        os._exit(0)

    def watch() -> None:
        select.select([pidfd], [], [])  # readable once the process has ended
        os._exit(0)

    threading.Thread(target=watch, name="gateway-watch", daemon=True).start()


def _seal_here() -> tuple[PdfSealer, asyncio.AbstractEventLoop]:
    if _sealer is None or _loop is None:
        raise RuntimeError("the certificate process has no sealer")
    return _sealer, _loop


@dataclass(frozen=True)
class SealedPdf:
    """A sealed certificate, and when its last timestamp needs an archive timestamp (read here,
    in the certificate process: reading the signatures back costs the main loop otherwise);
    with the signed bytes of the proof mail that carries it, when one was asked for, as they
    are stored: the PDF by reference (gateway.compose.parts.without_attachment)."""

    pdf: bytes
    renewal_due: datetime
    message: bytes | None = None


def _make(facts: CertificateFacts, reason: str, mail: ProofMail | None = None) -> SealedPdf:
    from gateway.pdf.render import shared_renderer  # preloaded by the forkserver (warm)

    sealer, loop = _seal_here()
    pdf = loop.run_until_complete(sealer.seal(shared_renderer().render(facts), reason=reason))
    if mail is None:
        return SealedPdf(pdf, renewal_due(pdf))
    if _mailer is None:
        raise RuntimeError("the certificate process has no proof mail signers")
    # stored without its PDF, which the proofs hold already (made whole at its hand-over)
    message = without_attachment(_mailer.compose(facts, pdf, mail), pdf)
    return SealedPdf(pdf, renewal_due(pdf), message)


def _make_from(
    sources: CertificateSources, reason: str, mail: ProofMail | None = None
) -> SealedPdf:
    return _make(sources.facts(), reason, mail)


def _archive(pdf: bytes) -> SealedPdf:
    sealer, loop = _seal_here()
    archived = loop.run_until_complete(sealer.archive(pdf))
    return SealedPdf(archived, renewal_due(archived))


def default_processes() -> int:
    """One certificate process per core this process may run on."""
    return max(1, len(os.sched_getaffinity(0)))


class CertificateMaker:
    """Makes and archives certificates in the certificate processes (gateway.pdf.workers: one
    that dies fails its certificate, which is made again, and another one starts).

    Up to `processes` certificates are made at the same time; callers may await several.
    """

    def __init__(self, settings: Settings, processes: int | None = None) -> None:
        self._settings = settings
        self.processes = processes if processes is not None else default_processes()
        if self.processes < 1:
            raise ValueError("at least one certificate process is needed")
        # before the forkserver starts: its preload reads the fonts' cut-downs from there
        disk_cache.fall_back_to(settings.gateway.data_dir / "cache" / "certificates")
        self._workers = Workers(self.processes, _CONTEXT, _start, (settings, os.getpid()))

    async def make(
        self, sources: CertificateSources, reason: str, mail: ProofMail | None = None
    ) -> SealedPdf:
        """The certificate rendered and sealed PAdES-B-LTA; with `mail`, also the proof mail
        that carries it, composed and signed (`ProofMailer`). The certificate process reads the
        evidence record from `sources`."""
        return await self._run(_make_from, sources, reason, mail)

    async def start(self) -> None:
        """Start every certificate process now, rather than at the first certificate: the
        forkserver's preload (imports, fonts, one certificate per language) takes seconds,
        which the first proofs after a start would wait for otherwise. Logged when done; a
        failure is logged and the next certificate tries again."""
        try:
            await self._workers.start()
        except Exception:
            log.exception("the certificate processes did not start; the next certificate retries")
            return
        log.info("certificate processes ready (%d)", self.processes)

    async def archive(self, pdf: bytes) -> SealedPdf:
        """pdf with a PAdES-LTA document timestamp added."""
        return await self._run(_archive, pdf)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        result: T = await self._workers.run(fn, *args)
        return result

    def close(self) -> None:
        self._workers.close()
