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
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from gateway import collector
from gateway.evidence.crl import CrlPublisher
from gateway.evidence.pki import (
    anchors_pem,
    load_certificate,
    load_certificates,
    load_private_key,
    pki_paths,
)
from gateway.evidence.tsa import HttpTimestamper, LocalTimestamper, TimestampAuthority, Timestamper
from gateway.pdf.expiry import renewal_due
from gateway.pdf.render import CertificateFacts, shared_renderer
from gateway.pdf.seal import PdfSealer
from gateway.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

_CONTEXT = multiprocessing.get_context("forkserver")  # children of a single-threaded server
# imported once in the forkserver, not in each certificate process (gateway.app: what the
# lre-gateway script imports, which each child imports again as its main module)
_CONTEXT.set_forkserver_preload(["gateway.app", "gateway.pdf.maker", "gateway.pdf.warm"])
_sealer: PdfSealer | None = None  # in the certificate process
_loop: asyncio.AbstractEventLoop | None = None  # its event loop, kept (asyncio.run: ~2 ms each)


def utcnow() -> datetime:
    return datetime.now(UTC)


def build_sealer(settings: Settings, clock: Callable[[], datetime] = utcnow) -> PdfSealer:
    """The PAdES sealer of these settings: seal key and certificate, TSA, the CA's CRL."""
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


def _start(settings: Settings) -> None:
    global _sealer, _loop
    os.nice(settings.evidence.certificate_nice)
    _sealer = build_sealer(settings)
    _loop = asyncio.new_event_loop()
    # the warm state is frozen in the forkserver (gateway.pdf.warm): this process's own start
    # too; with CPython's thresholds, collection cost 2.0-3.3 ms per certificate, now ~0.5
    collector.settle()


def _seal_here() -> tuple[PdfSealer, asyncio.AbstractEventLoop]:
    if _sealer is None or _loop is None:
        raise RuntimeError("the certificate process has no sealer")
    return _sealer, _loop


@dataclass(frozen=True)
class SealedPdf:
    """A sealed certificate, and when its last timestamp needs an archive timestamp (read here,
    in the certificate process: reading the signatures back costs the main loop otherwise)."""

    pdf: bytes
    renewal_due: datetime


def _make(facts: CertificateFacts, reason: str) -> SealedPdf:
    sealer, loop = _seal_here()
    pdf = loop.run_until_complete(sealer.seal(shared_renderer().render(facts), reason=reason))
    return SealedPdf(pdf, renewal_due(pdf))


def _archive(pdf: bytes) -> SealedPdf:
    sealer, loop = _seal_here()
    archived = loop.run_until_complete(sealer.archive(pdf))
    return SealedPdf(archived, renewal_due(archived))


def default_processes() -> int:
    """One certificate process per core this process may run on."""
    return max(1, len(os.sched_getaffinity(0)))


class CertificateMaker:
    """Makes and archives certificates in the certificate processes (restarted if one dies).

    Up to `processes` certificates are made at the same time; callers may await several.
    """

    def __init__(self, settings: Settings, processes: int | None = None) -> None:
        self._settings = settings
        self.processes = processes if processes is not None else default_processes()
        if self.processes < 1:
            raise ValueError("at least one certificate process is needed")
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.processes,
            mp_context=_CONTEXT,
            initializer=_start,
            initargs=(self._settings,),
        )

    async def make(self, facts: CertificateFacts, reason: str) -> SealedPdf:
        """The certificate rendered and sealed PAdES-B-LTA."""
        return await self._run(_make, facts, reason)

    async def archive(self, pdf: bytes) -> SealedPdf:
        """pdf with a PAdES-LTA document timestamp added."""
        return await self._run(_archive, pdf)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        pool = self._pool
        try:
            # submit in a thread: the first one starts the forkserver and waits for its preload
            # (seconds), which must not stall the SMTP and web loop (after every restart)
            future = await asyncio.to_thread(pool.submit, fn, *args)
            return await asyncio.wrap_future(future)
        except BrokenProcessPool:
            if pool is self._pool:  # not already replaced by a concurrent caller
                log.error("a certificate process died; starting new ones")
                pool.shutdown(wait=False, cancel_futures=True)
                self._pool = self._new_pool()
            raise

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
