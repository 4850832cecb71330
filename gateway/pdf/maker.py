"""Certificates are made in processes of their own, one per core.

Rendering and sealing a certificate costs tens of milliseconds of CPU. Done in a thread of the
gateway's process it holds the GIL against the SMTP and web loop and halves the deposit rate; in
processes of their own they run on every core, at a lower priority (`evidence.certificate_nice`,
`evidence.certificate_idle`: gateway.priority):
the SMTP and web loop gets a core whenever it needs one, so a burst of letters is acknowledged as
fast as with no certificate to make, and the certificates take the CPU left over. Each process is
forked from a forkserver that has already parsed the fonts (gateway.pdf.warm), so it starts at
once; it builds its sealer (keys, TSA, CRL) and an event loop when it starts, and keeps them for
every certificate.

Certificates asked for together go to a process as one group of up to GROUP, made step by step:
every record read, then every certificate rendered, then all sealed, then their proof mails
composed and signed. A process running the same step over and over keeps that step's code and
data in its CPU's caches: 12-17 % less CPU a proof in groups of 5 than one by one (bench.pdf
--proof --group). Each certificate of a group succeeds or fails on its own.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import pickle
import select
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, TypeVar

from gateway import collector
from gateway.compose.parts import WholeMail, as_whole, without_attachment
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
from gateway.pdf.workers import RemoteTraceback, Workers
from gateway.priority import lower_this_thread
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
GROUP: Final = 5  # certificates at most a process makes step by step in one job


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
        signed = smime_sign(composed, self.smime, signing_time=mail.date, seven_bit=True)
        return self.dkim.sign(signed, now=mail.date, crlf_throughout=True)  # composed so


def _start(settings: Settings, gateway: int) -> None:
    global _sealer, _loop, _mailer
    _exit_with(gateway)
    lower_this_thread(settings.evidence.certificate_nice, settings.evidence.certificate_idle)
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
    # the proof mail whole, as signed (its PDF's base64 lines where `message` refers to the
    # PDF): what its hand-over sends, so that the main process need not encode the PDF again
    whole: WholeMail | None = None


@dataclass(frozen=True)
class Failed:
    """A certificate of a group that could not be made: what it raised (or, when that does not
    pickle, a RuntimeError saying what it was), and its traceback in the certificate process."""

    error: BaseException
    remote: str

    @classmethod
    def of(cls, err: Exception) -> Failed:
        remote = "".join(traceback.format_exception(err))
        try:
            pickle.loads(pickle.dumps(err))  # noqa: S301 - our own bytes, just made
        except Exception:  # noqa: BLE001 - said in words instead
            return cls(RuntimeError(f"{type(err).__name__}: {err}"), remote)
        return cls(err, remote)

    def raised(self) -> BaseException:
        """The error, with the certificate process's traceback as its cause."""
        self.error.__cause__ = RemoteTraceback(self.remote)
        return self.error


Asked = tuple[CertificateSources, str, ProofMail | None]  # sources, reason, proof mail


def _make_group(asked: list[Asked]) -> list[SealedPdf | Failed]:
    """Each certificate asked for (its evidence record read from its sources, rendered, sealed
    PAdES-B-LTA; with a proof mail, that mail composed, signed and kept without its PDF), step
    by step over the group: every record read, then every certificate rendered, then all
    sealed (their timestamps asked for at once), then their proof mails. A certificate that
    fails a step is left out of the next ones and comes back `Failed`."""
    from gateway.pdf.render import shared_renderer  # preloaded by the forkserver (warm)

    sealer, loop = _seal_here()
    if _mailer is None:
        raise RuntimeError("the certificate process has no proof mail signers")
    answers: dict[int, SealedPdf | Failed] = {}

    def failed(index: int, err: Exception) -> None:
        answers[index] = Failed.of(err)

    facts: dict[int, CertificateFacts] = {}
    for index, (sources, _, _) in enumerate(asked):
        try:
            facts[index] = sources.facts()
        except Exception as err:  # noqa: BLE001 - this certificate's failure alone
            failed(index, err)
    rendered: dict[int, bytes] = {}
    renderer = shared_renderer()
    for index, fact in facts.items():
        try:
            rendered[index] = renderer.render(fact)
        except Exception as err:  # noqa: BLE001
            failed(index, err)
    order = list(rendered)

    async def sealed() -> list[bytes | BaseException]:  # their timestamps asked for at once
        return await asyncio.gather(
            *(sealer.seal(rendered[index], reason=asked[index][1]) for index in order),
            return_exceptions=True,
        )

    seals = loop.run_until_complete(sealed())
    for index, pdf in zip(order, seals, strict=True):
        if isinstance(pdf, BaseException):
            if not isinstance(pdf, Exception):
                raise pdf  # KeyboardInterrupt and the like: the whole job
            failed(index, pdf)
            continue
        mail = asked[index][2]
        try:
            if mail is None:
                answers[index] = SealedPdf(pdf, renewal_due(pdf))
                continue
            # stored without its PDF, which the proofs hold already; handed over whole
            whole = _mailer.compose(facts[index], pdf, mail)
            stored = without_attachment(whole, pdf)
            answers[index] = SealedPdf(pdf, renewal_due(pdf), stored, as_whole(whole, stored, pdf))
        except Exception as err:  # noqa: BLE001
            failed(index, err)
    return [answers[index] for index in range(len(asked))]  # each failed or made


def _dkim_signed(mails: list[tuple[bytes, datetime]]) -> list[bytes | Failed]:
    """Each (message, its date) DKIM-signed with the gateway's key, as the scheduler signs its
    mails (`DkimSigner.sign`, its t= the mail's date), or what signing it raised."""
    if _mailer is None:
        raise RuntimeError("the certificate process has no proof mail signers")
    signed: list[bytes | Failed] = []
    for message, date in mails:
        try:
            signed.append(_mailer.dkim.sign(message, now=date))
        except Exception as err:  # noqa: BLE001 - this mail's failure alone
            signed.append(Failed.of(err))
    return signed


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
        # asked for since the loop last ran, each with the future its caller awaits
        self._asked: list[tuple[Asked, asyncio.Future[SealedPdf]]] = []
        self._groups: set[asyncio.Task[None]] = set()

    async def make(
        self, sources: CertificateSources, reason: str, mail: ProofMail | None = None
    ) -> SealedPdf:
        """The certificate rendered and sealed PAdES-B-LTA; with `mail`, also the proof mail
        that carries it, composed and signed (`ProofMailer`). The certificate process reads the
        evidence record from `sources`. Certificates asked for in the same turn of the event
        loop are made in groups (`_grouped`)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[SealedPdf] = loop.create_future()
        if not self._asked:
            loop.call_soon(self._grouped)
        self._asked.append(((sources, reason, mail), future))
        return await future

    def _grouped(self) -> None:
        """Hand what was asked for over in groups: as many groups as processes, as far as
        GROUP allows (six certificates for two processes: two groups of three)."""
        asked, self._asked = self._asked, []
        size = max(1, min(GROUP, -(-len(asked) // self.processes)))
        for start in range(0, len(asked), size):
            task = asyncio.get_running_loop().create_task(self._group(asked[start : start + size]))
            self._groups.add(task)
            task.add_done_callback(self._groups.discard)

    async def _group(self, asked: list[tuple[Asked, asyncio.Future[SealedPdf]]]) -> None:
        """One group made in a certificate process; each caller gets its own certificate or
        error (all of them the group's error when the process could not make it: it died)."""
        waiting = [(what, future) for what, future in asked if not future.done()]
        if not waiting:  # every caller gave up meanwhile
            return
        try:
            answers = await self._run(_make_group, [what for what, _ in waiting])
        except asyncio.CancelledError:
            for _, future in waiting:
                future.cancel()
            raise
        except Exception as err:  # noqa: BLE001 - told to each caller
            for _, future in waiting:
                if not future.done():
                    future.set_exception(err)
            return
        for (_, future), answer in zip(waiting, answers, strict=True):
            if future.done():  # its caller gave up
                continue
            if isinstance(answer, Failed):
                future.set_exception(answer.raised())
            else:
                future.set_result(answer)

    @property
    def held(self) -> list[int]:
        """The jobs (groups of certificates) each certificate process holds now."""
        return self._workers.held

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

    async def dkim_signed(
        self, mails: list[tuple[bytes, datetime]]
    ) -> list[bytes | BaseException] | None:
        """Each (message, its date) DKIM-signed in a certificate process (the scheduler's
        notifications and code mails, all those of a round in one job: the RSA signature and
        the canonical forms off the main process's loop), or what signing it raised; None
        while no certificate process is ready (a start: the caller signs them itself rather
        than wait seconds for the forkserver's preload)."""
        if not self._workers.ready:
            return None
        answers = await self._run(_dkim_signed, mails)
        return [answer.raised() if isinstance(answer, Failed) else answer for answer in answers]

    async def archive(self, pdf: bytes) -> SealedPdf:
        """pdf with a PAdES-LTA document timestamp added."""
        return await self._run(_archive, pdf)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        result: T = await self._workers.run(fn, *args)
        return result

    def close(self) -> None:
        self._workers.close()
