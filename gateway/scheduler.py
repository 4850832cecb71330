"""The scheduler's loops: seal evidence, make PDF certificates, send queued mail, expire deadlines.

All of its work is read from the database, so a restart loses nothing and several gateway
processes can share one PostgreSQL: each piece of work is claimed with a lease first. The
leases of a process that died on this host are released at once (storage/instances.py); each
mail's outcome is committed right after its hand-over, with those of the mails that finished
while the previous outcome commit ran (README: "Crash consistency").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from gateway.compose import NoticeFacts, compose_notification, compose_proof
from gateway.compose.smime import smime_sign
from gateway.compose.sms import compose_code_mail
from gateway.core.backoff import next_attempt, should_give_up
from gateway.core.evidence import EvidenceType
from gateway.core.letter import Delivery, Letter
from gateway.core.policy import letter_url, sender_revealed
from gateway.errors import RelayFailed, SmtpReply, TimestampError
from gateway.evidence.cms import Sealer
from gateway.evidence.tsa import Timestamper, seal
from gateway.evidence.xml import from_xml
from gateway.logs import about_letter
from gateway.registry import Registry
from gateway.services.group_commit import GroupCommit
from gateway.services.outcomes import MailOutcome
from gateway.settings import Settings
from gateway.sms.sender import SmsSender
from gateway.smtp_out.dkim import DkimSigner
from gateway.smtp_out.transport import Outgoing, Transport
from gateway.storage.outbound import OutboundQueue
from gateway.storage.pdf_queue import PdfQueue
from gateway.storage.queue_stats import due_times
from gateway.storage.seal_queue import NewSeal, SealQueue
from gateway.storage.store import LetterStore, NewOutbound, PendingMail

if TYPE_CHECKING:
    from gateway.housekeeping import Housekeeping
    from gateway.pdf.jobs import PdfWorker

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)  # a claimed item is retried by another process after this
IDLE = 1.0  # seconds between database polls when nothing is known to be due
# seconds from one round's start to the next one's, at least: under load a round then takes
# what arrived meanwhile instead of going round for every deposit that woke it (~1 round per
# letter, 3.5 mails per claim, before), at the cost of at most this wait at each step of a
# letter's life under load (the main process's CPU per letter 9.3-10.2 -> 8.6-8.9 ms)
ROUND_GAP = 0.1
# mails a round claims beyond those the transport takes at once (`Transport.concurrency`), made
# ready meanwhile: with the smarthost's 20, 50 a round at most, less those still in hand from
# earlier rounds
AHEAD = 30
# seconds a mail round waits for its hand-overs (under load they take 0.06-0.5 s); those still
# in hand then go on by themselves, so that a next hop holding one mail (a slow MX: up to the
# transport's minute a step) holds back neither the round's other mails nor the next rounds.
# The lease of a mail in hand is renewed once half of it has gone (`renew_leases`)
HOLD = 1.0
# seconds a hand-over may take in all (each SMTP step has the transport's minute): one still
# running then is cut short and retried later, so that no next hop keeps a mail in hand forever
HAND_OVER_LIMIT = 600.0
LATE = SmtpReply(451, "4.4.1", "the next hop took too long to take the mail")  # its outcome
# DKIM-signs (message, its date) pairs in another process: each signed, or what signing it
# raised; None when it cannot now (the caller signs them itself)
Signing = Callable[[list[tuple[bytes, datetime]]], Awaitable[list[bytes | BaseException] | None]]


def _signed_here(dkim: DkimSigner, message: bytes, date: datetime) -> bytes | BaseException:
    try:
        return dkim.sign(message, now=date)
    except Exception as err:  # noqa: BLE001 - that mail retried later
        return err


@dataclass
class _InHand:
    """A mail being handed over: the task doing it, when its lease ends (clock time), whether
    it goes on by itself after its round (`send_pending`) and whether it holds its place at
    its destination (`Transport.reserved`) yet."""

    task: asyncio.Task[None]
    leased_until: datetime
    detached: bool = False
    placed: bool = False


@dataclass(frozen=True)
class Worker:
    """One worker of a round; `due` names its kind of work in `due_times` (None: it runs
    every round: releasing dead processes' leases, housekeeping's own timer, PDFs). `fed`:
    whether the workers before it in a round may queue its work (the SMS are queued only by
    deposits and code requests, outside the round: the round's read tells)."""

    run: Callable[[], Awaitable[int | bool]]
    due: str | None = None
    fed: bool = True


class Scheduler:
    def __init__(
        self,
        *,
        settings: Settings,
        registry: Registry,
        store: LetterStore,
        sealer: Sealer,
        timestamper: Timestamper,
        transport: Transport,
        dkim: DkimSigner,
        clock: Callable[[], datetime],
        sms: SmsSender | None = None,
        pdfs: PdfWorker | None = None,
        pdf_queue: PdfQueue | None = None,
        verp: Callable[[str], tuple[str, str]] | None = None,
        reclaim: Callable[[], Awaitable[int]] | None = None,
        housekeeping: Housekeeping | None = None,
        signing: Signing | None = None,
    ) -> None:
        # DKIM-signs mails elsewhere (CertificateMaker.dkim_signed); None: signed here
        self._signing = signing
        self._reclaim = reclaim  # releases the leases of dead processes (storage/instances.py)
        self._housekeeping = housekeeping  # key re-wrap and retention purges
        self._pdfs = pdfs  # when set, a proof mail waits for its PDF certificate
        self._pdf_queue = pdf_queue
        self._settings = settings
        self._sms = sms
        self._registry = registry
        self._store = store
        self._mails = OutboundQueue(store.engine)
        self._seals = SealQueue(store.engine)
        self._sealer = sealer
        self._timestamper = timestamper
        self._transport = transport
        self._dkim = dkim
        self._clock = clock
        # mail id -> (VERP return path, its token's hash) (bounces.py); None: stored mail_from
        self._verp = verp
        self._mail_wakeup = asyncio.Event()  # set: the mail loop's next round starts at once
        self._due: dict[str, datetime | None] | None = None  # the last round's `due_times`
        self._pdf_wakeup = asyncio.Event()
        self._seal_wakeup = asyncio.Event()
        self._stopping = False
        # the hand-overs at once (mails being composed take one too), and the mails a round
        # claims at most, less those in hand from earlier rounds (`_held`)
        self._slots = asyncio.Semaphore(transport.concurrency)
        self._a_round = transport.concurrency + AHEAD
        self._deposited: dict[str, datetime] = {}  # proof-of-deposit mail id → deposit time
        self._references: dict[str, str] = {}  # mail id → its letter's reference (for the log)
        # notification id → its letter and delivery as read to compose it (the outcome's guess)
        self._seen: dict[str, tuple[Letter, Delivery]] = {}
        # the outcomes of mails handed over meanwhile share a commit (services/group_commit.py)
        self._outcomes = GroupCommit(registry.outcomes.mail_outcomes)
        self._handing: set[asyncio.Task[None]] = set()  # mails being handed over by themselves
        self._in_hand: dict[str, _InHand] = {}  # mail id → its hand-over, while it lasts
        self._crowded_only = False  # the last claim left only mails to crowded destinations
        self.hand_over_limit = HAND_OVER_LIMIT  # seconds (a test shortens it)

    def wake(self) -> None:
        """New work of any kind may be due: every loop goes round again."""
        self._mail_wakeup.set()
        self._seal_wakeup.set()
        self._pdf_wakeup.set()

    def hand_over(self, mail: PendingMail, reference: str, deposited_at: datetime | None) -> None:
        """Hand over, now, a mail stored with its bytes and leased to this process (a proof
        mail with its PDF: PdfWorker), its outcome recorded as any mail's: no claim, no read of
        its bytes (the PDF read back: ~0.3 ms of PostgreSQL's CPU a letter). `reference`: its
        letter's (for the log); `deposited_at`, for a proof of deposit, the deposit time (the
        proof_of_deposit_mailed metric). run() returns once those in hand are done; a mail
        left in hand by a crash is sent again once its lease is released or expires."""
        self._references[mail.id] = reference
        if deposited_at is not None:
            self._deposited[mail.id] = deposited_at
        self._by_itself(self._start(mail, self._clock() + LEASE))

    def _start(self, mail: PendingMail, leased_until: datetime) -> asyncio.Task[None]:
        """The task that hands `mail` (leased until `leased_until`) over and records its
        outcome."""
        task = asyncio.create_task(self._handed(mail))
        self._in_hand[mail.id] = _InHand(task, leased_until)
        task.add_done_callback(lambda _: self._ended(mail.id))
        return task

    def _ended(self, mail_id: str) -> None:
        self._in_hand.pop(mail_id, None)
        if self._crowded_only:
            self._mail_wakeup.set()  # its destination may take another now

    def _by_itself(self, task: asyncio.Task[None]) -> None:
        """`task` hands a mail over without anyone waiting for it (run() does, at the end)."""
        self._handing.add(task)
        task.add_done_callback(self._handing.discard)

    async def _handed(self, mail: PendingMail) -> None:
        try:
            await self._send(mail)
        except Exception:  # the outcome not recorded: the lease expires, it goes again
            log.exception("mail %s: its outcome could not be recorded", mail.id)

    def stop(self) -> None:
        """Finish the current round, then return from run(): no claimed work is left leased."""
        self._stopping = True
        if self._pdfs is not None:
            self._pdfs.stop()  # claims no more certificates; those in hand are finished
        self.wake()

    async def run(self) -> None:
        """Loops side by side: the mails' (and deadlines', SMS', housekeeping's), the seals',
        and the PDF certificates' (slow, in other processes), so that notifications and proof
        mails never wait behind a batch of certificates, and a letter's evidence is sealed
        (its certificate can be made) while the mail loop waits on a slow next hop: sealed in
        the mail loop's rounds, the evidence of the letters that came during a round's
        hand-overs (~0.1-0.5 s under load) waited for its end, and the certificate processes
        stood idle for a fifth of the time after a burst (bench.cpu_parts --idle)."""
        loops = [
            self._loop(self._mail_round, self._idle, self._mail_wakeup),
            self._loop(self._seal_round, self._seal_idle, self._seal_wakeup),
        ]
        if self._pdfs is not None:
            loops.append(self._loop(self._pdfs.tick, self._pdf_idle, self._pdf_wakeup))
        try:
            await asyncio.gather(*loops)
            await self._handed_over()  # the proof mails of the last certificates stored
        finally:  # cut short (cancelled): their leases are released at the next start
            for task in self._handing:
                task.cancel()

    async def _handed_over(self) -> None:
        """Return once the mails in `hand_over`'s hands are handed over (or have failed)."""
        while self._handing:
            await asyncio.wait(set(self._handing))

    async def _loop(
        self,
        round: Callable[[], Awaitable[int | bool]],
        idle: Callable[[], Awaitable[float]],
        wakeup: asyncio.Event,
    ) -> None:
        loop = asyncio.get_running_loop()
        started = -ROUND_GAP
        while not self._stopping:
            pause = started + ROUND_GAP - loop.time()
            if pause > 0:  # the last round started less than ROUND_GAP ago
                await asyncio.sleep(pause)
                if self._stopping:
                    break
            started = loop.time()
            wakeup.clear()
            try:
                busy = bool(await round())
            except Exception:  # a broken database must not end the loop
                log.exception("scheduler round failed")
                busy = False
            if busy or self._stopping:
                continue
            try:
                timeout = await idle()
            except Exception:  # the database away: poll again after the longest pause
                log.warning("scheduler cannot read when work is due", exc_info=True)
                timeout = IDLE
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wakeup.wait(), timeout=timeout)

    async def _idle(self) -> float:
        """Until the next work due as the last round read it (a round that found nothing
        changed nothing; what arrived since woke the loop), never more than IDLE: the poll
        that finds the work other nodes sharing the database added. Mails due while a round
        may claim none (a round's worth still in hand: `_held`), or only for crowded destinations,
        wait for one of those in hand to end, which wakes the loop."""
        full = self._held() >= self._a_round or self._crowded_only
        return self._until_due(
            kind for kind in (self._due or {}) if kind != "seal" and not (full and kind == "mail")
        )

    async def _seal_idle(self) -> float:
        """Until the next seal due (a retry after a TSA failure), as the mail loop's last
        round read it; new evidence wakes the seal loop (`wake`, `_record`, `_mail_round`)."""
        return self._until_due(["seal"])

    def _until_due(self, kinds: Iterable[str]) -> float:
        due = self._due or {}
        known = [when for kind in kinds if (when := due.get(kind)) is not None]
        if not known:
            return IDLE
        return max(0.05, min(IDLE, (min(known) - self._clock()).total_seconds()))

    async def _pdf_idle(self) -> float:
        return IDLE  # new PDF jobs come from seals, which wake this loop (seal_pending)

    def workers(self, *, pdfs: bool = True, seals: bool = True) -> list[Worker]:
        """The workers of one round, in order; each makes one tick over its own queue."""
        workers: list[Worker] = []
        if self._reclaim is not None:
            workers.append(Worker(self._reclaim))
        workers.append(Worker(self._registry.outcomes.expire_due, "deadline"))
        if seals:
            workers.append(Worker(self.seal_pending, "seal"))
        if pdfs and self._pdfs is not None:
            workers.append(Worker(self._pdfs.tick))
        workers.append(Worker(self.renew_leases))
        workers.append(Worker(self.send_pending, "mail"))
        if self._sms:
            workers.append(Worker(self._sms.send_pending, "sms", fed=False))
        if self._housekeeping:
            workers.append(Worker(self._housekeeping.tick))
        return workers

    async def tick(self, *, pdfs: bool = True, seals: bool = True) -> bool:
        """One round of every kind of work, in order; True when there may be more to do.

        One read first tells when each kind of work is due (`due_times`): a worker whose work
        is not due yet is skipped, instead of a claim (a write transaction) that would find
        nothing, until a worker of the round has done something (it may have queued work for
        those after it: a seal its proof mail, an expiry its evidence; not for a worker that
        is not `fed` by the round). Every other worker runs; a round that did something is
        followed by another at once (run())."""
        self._due = None  # unknown until the round is over: a failed round waits IDLE
        due = await self._registry.io(due_times, self._store.engine)
        busy = False
        for worker in self.workers(pdfs=pdfs, seals=seals):
            when = None if worker.due is None else due[worker.due]
            fed = busy and worker.fed
            if worker.due is not None and not fed and (when is None or when > self._clock()):
                continue
            busy = bool(await worker.run()) or busy
        if pdfs:  # one round of everything: the proof mails of its certificates too
            await self._handed_over()
        self._due = due
        return busy

    async def _mail_round(self) -> bool:
        """`tick` without the seals and the PDF certificates (run() makes them in loops of
        their own); a round that did something may have made evidence (an expired deadline's,
        a mail's outcome): the seal loop goes round."""
        busy = await self.tick(pdfs=False, seals=False)
        if busy:
            self._seal_wakeup.set()
        return busy

    async def _seal_round(self) -> bool:
        return bool(await self.seal_pending())

    # sealing ----------------------------------------------------------------------------

    async def seal_pending(self) -> int:
        """Seal the claimed evidence, then store the seals with one commit (SealQueue.store)."""
        pending = await self._registry.io(self._seals.claim, self._clock(), LEASE)
        seals = []
        for item in pending:
            try:
                p7s = await seal(
                    self._sealer, self._timestamper, item.xml, signing_time=self._clock()
                )
            except TimestampError as err:
                retry = next_attempt(
                    item.attempts + 1,
                    self._clock(),
                    base=timedelta(seconds=5),
                    maximum=timedelta(minutes=10),
                )
                log.warning(
                    "evidence %s not timestamped yet (%s); retry at %s", item.id, err, retry
                )
                await self._registry.io(self._seals.failed, item.id, str(err), retry_at=retry)
                continue
            if item.type.yields_proof and item.channel is None and self._pdfs is not None:
                seals.append(NewSeal(item.id, p7s, pdf_for=item.delivery_id))
                continue
            mails = []
            if item.type.yields_proof and item.channel is None:  # SMS outcomes: recorded only
                letter, _ = await self._registry.io(self._store.delivery, item.delivery_id)
                mails.append(
                    NewOutbound(
                        id=item.id,
                        kind="proof",
                        delivery_id=item.delivery_id,
                        evidence_id=item.id,
                        mail_from=self._registry.bounce_address,
                        rcpt=letter.sender_address,
                    )
                )
            seals.append(NewSeal(item.id, p7s, mails))
        if seals:
            # until this commit the claimed evidence stays unsealed: after a crash its lease
            # expires and it is sealed again (a second seal of the same XML is as good)
            stored = await self._registry.io(self._seals.store, seals, now=self._clock())
            if any(ok and seal.pdf_for for ok, seal in zip(stored, seals, strict=True)):
                self._pdf_wakeup.set()  # their PDF jobs are queued
            if any(ok and seal.mails for ok, seal in zip(stored, seals, strict=True)):
                self._mail_wakeup.set()  # their proof mails are queued
        return len(pending)

    # outbound mail ----------------------------------------------------------------------

    async def send_pending(self) -> int:
        """Hand the claimed mails over, each outcome committed right after it (`_record`).

        The bytes of each mail are fixed (stored) before its first hand-over. Only a mail whose
        next hop said 250 while its own outcome commit was not yet made can go out twice (after
        a crash: the lease is released or expires), and then byte-identical, same Message-ID.

        The round waits for its hand-overs HOLD seconds at most: those still in hand then go
        on by themselves (a next hop holding one holds back neither the others nor the next
        rounds), and the next rounds claim as many fewer (`_a_round` in all: `_held`);
        their leases are renewed while they last (`renew_leases`). No mail is claimed for a
        crowded destination (`Transport.crowded`: in MX mode a domain with all its places
        taken and as many mails waiting), so a domain's backlog, oldest first, holds back no
        later mail to another."""
        room = self._a_round - self._held()
        if room <= 0:
            return 0
        now = self._clock()
        crowded = self._transport.crowded()
        pending = await self._registry.io(self._mails.claim, now, LEASE, room, crowded)
        # what is left due is for crowded destinations (or in other nodes' hands): the loop
        # waits for one of its mails to end (`_ended`), not for the next poll (`_idle`)
        self._crowded_only = bool(crowded) and len(pending) < room
        ready = await self._fix(pending)
        sending = {self._start(mail, now + LEASE): mail.id for mail in ready}
        if sending:
            _, in_hand = await asyncio.wait(sending, timeout=HOLD)
            for task in in_hand:
                hand = self._in_hand.get(sending[task])
                if hand is not None:
                    hand.detached = True
                task.add_done_callback(self._detached_done)
                self._by_itself(task)
        return len(pending)

    def _held(self) -> int:
        """The mails claimed by earlier rounds still in hand, each holding its place at its
        destination: those waiting for one (`Transport.reserved`) are left out, so that mails
        queued behind a busy domain leave the room to other domains' mails (no more are
        claimed for a domain once as many again wait as it takes: `Transport.crowded`)."""
        return sum(1 for hand in self._in_hand.values() if hand.detached and hand.placed)

    def _detached_done(self, _: asyncio.Task[None]) -> None:
        self._mail_wakeup.set()  # room for another claim

    async def renew_leases(self) -> int:
        """Lease again, for LEASE from now, the mails in hand whose lease is half gone (a next
        hop taking its time): a mail whose lease has run out may be claimed again, here or by
        another node, and go out twice. Returns 0: nothing new to do for the round."""
        now = self._clock()
        due = [i for i, hand in self._in_hand.items() if hand.leased_until - now < LEASE / 2]
        if not due:
            return 0
        until = now + LEASE
        renewed = await self._registry.io(self._mails.renew, due, until)
        for mail_id in due:
            hand = self._in_hand.get(mail_id)
            if hand is None:  # handed over meanwhile
                continue
            hand.leased_until = until  # not renewed: asked again only as late as if it had been
            if mail_id not in renewed and not hand.task.done():
                log.warning("mail %s: its lease could not be renewed while in hand", mail_id)
        return 0

    async def _fix(self, pending: list[PendingMail]) -> list[PendingMail]:
        """The mails with their bytes: composed, signed and stored (one commit) for the new
        ones."""
        known = await self._deliveries(pending)
        composed = await asyncio.gather(
            *(self._fixed(mail, known.get(mail.delivery_id)) for mail in pending)
        )
        composed = await self._signed(composed, pending)
        ready = [mail for mail in composed if mail is not None]
        new = [m for m, was in zip(composed, pending, strict=True) if m and was.message is None]
        # the return path's token is remembered with the bytes (a resend's again: idempotent);
        # a mail queued with its bytes had its token stored with them (PdfQueue.store_pdfs)
        again = [m for m, was in zip(composed, pending, strict=True) if m and was.attempts]
        ids = dict.fromkeys(m.id for m in [*new, *again])
        tokens = [(self._verp(mail_id)[1], mail_id) for mail_id in ids] if self._verp else []
        if new or tokens:
            await self._registry.io(
                self._mails.fix_messages, [(m.id, m.message or b"") for m in new], tokens
            )
        return ready

    async def _signed(
        self, composed: list[PendingMail | None], pending: list[PendingMail]
    ) -> list[PendingMail | None]:
        """The mails composed now (`_fixed`) DKIM-signed, all at once: in a certificate process
        when the gateway has them (`signing`: off the loop that feeds them and serves the web;
        the RSA signature and the canonical forms were ~20 % of this process's CPU a letter),
        else here. A mail that cannot be signed is retried later (recorded), never lost."""
        new = [
            (index, mail)
            for index, (mail, was) in enumerate(zip(composed, pending, strict=True))
            if mail is not None and was.message is None
        ]
        if not new:
            return composed
        unsigned = [(mail.message or b"", mail.created_at) for _, mail in new]
        signed: list[bytes | BaseException] | None = None
        if self._signing is not None:
            try:
                signed = await self._signing(unsigned)
            except Exception:
                log.warning(
                    "%d mails not signed in a certificate process: signed here",
                    len(new),
                    exc_info=True,
                )
        if signed is None:
            signed = [_signed_here(self._dkim, message, date) for message, date in unsigned]
        result = list(composed)
        for (index, mail), outcome in zip(new, signed, strict=True):
            if isinstance(outcome, BaseException):
                log.error("mail %s could not be signed", mail.id, exc_info=outcome)
                self._forget(mail)
                await self._retry(mail, f"internal error: {type(outcome).__name__}")
                result[index] = None
            else:
                result[index] = replace(mail, message=outcome)
        return result

    async def _deliveries(self, pending: list[PendingMail]) -> dict[str, tuple[Letter, Delivery]]:
        """The deliveries (with their letters) of the mails to compose that are made from one
        (notifications, codes), read at once; {} when that read fails (each mail reads its
        own, and a failure is then recorded as a retry)."""
        ids = [m.delivery_id for m in pending if m.message is None and m.kind != "proof"]
        if not ids:
            return {}
        try:
            return await self._registry.io(self._store.deliveries, ids)
        except Exception:  # read again one by one
            log.warning(
                "the deliveries of %d mails cannot be read at once", len(ids), exc_info=True
            )
            return {}

    async def _fixed(
        self, mail: PendingMail, found: tuple[Letter, Delivery] | None = None
    ) -> PendingMail | None:
        """The mail with its bytes (a new one's composed, to sign: `_signed`), or None when it
        cannot be composed (recorded); `found`: its delivery and letter, when already read."""
        if mail.message is not None:
            return mail
        async with self._slots:
            try:
                message = await self._compose(mail, found)
            except RelayFailed as err:  # e.g. a code used meanwhile: nothing to send
                self._forget(mail)
                outcome = await self._failed(mail, err)
                if outcome is not None:
                    await self._record(*outcome)
                return None
            except Exception as err:  # never lose the mail to a bug: retry later
                log.exception("mail %s could not be composed", mail.id)
                self._forget(mail)
                await self._retry(mail, f"internal error: {type(err).__name__}")
                return None
        return replace(mail, message=message)

    def _forget(self, mail: PendingMail) -> None:
        """Drop what composing a mail noted for its hand-over (it will not be handed over now)."""
        self._references.pop(mail.id, None)
        self._deposited.pop(mail.id, None)
        self._seen.pop(mail.id, None)

    async def _send(self, mail: PendingMail) -> None:
        """Hand one mail over, then record its outcome at once (`_record`); a hand-over that
        takes longer than `hand_over_limit` seconds is cut short and retried later. The
        destination's place is taken first (`Transport.reserved`: a domain's limit, in MX
        mode), then one of the hand-overs at once (`Transport.concurrency`): a mail that waits
        for a busy domain holds none of those, which the other domains' mails need."""
        reference = self._references.pop(mail.id, None)
        if reference is None:  # bytes fixed by an earlier run (a resend after a crash)
            letter, _ = await self._registry.io(self._store.delivery, mail.delivery_id)
            reference = letter.reference
        about_letter(reference)  # this task's log lines are about this letter
        async with self._placed(mail), self._slots:
            limit = asyncio.timeout(self.hand_over_limit)  # from now: the hand-over alone
            try:
                mail_from = self._verp(mail.id)[0] if self._verp else mail.mail_from
                try:
                    async with limit:
                        await self._transport.send(
                            Outgoing(mail_from, mail.rcpt, mail.message or b"", mail.id)
                        )
                except TimeoutError:
                    if not limit.expired():  # not the limit's: a bug (below)
                        raise
                    raise RelayFailed(LATE) from None
            except RelayFailed as err:
                outcome = await self._failed(mail, err)
                if outcome is not None:
                    await self._record(*outcome)
                return
            except Exception as err:  # never lose the mail to a bug: retry later
                log.exception("mail %s could not be sent", mail.id)
                await self._retry(mail, f"internal error: {type(err).__name__}")
                return
            finally:
                deposited = self._deposited.pop(mail.id, None)
                seen = self._seen.pop(mail.id, None)
            log.info("%s %s handed over to %s", mail.kind, mail.id, mail.rcpt)
            metrics = self._registry.metrics
            metrics.mail_outcome(mail.kind, None)
            if deposited is not None:
                metrics.proof_of_deposit_mailed((self._clock() - deposited).total_seconds())
            await self._record(mail, None, seen=seen)

    @contextlib.asynccontextmanager
    async def _placed(self, mail: PendingMail) -> AsyncIterator[None]:
        """`mail`'s place at its destination (`Transport.reserved`), noted once taken: from
        then on it counts in the room of the rounds (`_held`)."""
        async with self._transport.reserved(mail.rcpt):
            hand = self._in_hand.get(mail.id)
            if hand is not None:
                hand.placed = True
            yield

    async def _record(
        self,
        mail: PendingMail,
        failure: str | None,
        *,
        seen: tuple[Letter, Delivery] | None = None,
    ) -> None:
        """Commit one mail's outcome (a notification's with its evidence) at once, in one
        commit with the outcomes of the mails that finished while the previous one ran."""
        outcomes = self._registry.outcomes
        if not await self._outcomes.submit(MailOutcome(mail, failure, seen)):
            # a notification whose delivery changed since it was read: read again, alone
            await outcomes.notification_outcome(mail, failure=failure)
        if mail.kind == "notification":
            self._seal_wakeup.set()  # its outcome is evidence to seal
        if mail.kind == "code":
            await self._registry.identity.forget(mail.id)

    async def _failed(
        self, mail: PendingMail, err: RelayFailed
    ) -> tuple[PendingMail, str | None] | None:
        reply = err.reply.line()
        delivery = self._settings.delivery
        exhausted = mail.attempts + 1 >= delivery.max_attempts or should_give_up(
            mail.created_at, self._clock(), delivery.give_up_after.delta
        )
        if err.temporary and not exhausted:
            log.info("%s %s to %s deferred: %s", mail.kind, mail.id, mail.rcpt, reply)
            await self._retry(mail, reply)
            return None
        log.warning("%s %s to %s failed: %s", mail.kind, mail.id, mail.rcpt, reply)
        self._registry.metrics.mail_outcome(mail.kind, reply)
        return mail, reply

    async def _retry(self, mail: PendingMail, error: str) -> None:
        delivery = self._settings.delivery
        retry = next_attempt(
            mail.attempts + 1,
            self._clock(),
            base=delivery.retry_base.delta,
            maximum=delivery.retry_max.delta,
        )
        await self._registry.io(self._mails.retry, mail.id, error, retry_at=retry)

    async def _compose(
        self, mail: PendingMail, found: tuple[Letter, Delivery] | None = None
    ) -> bytes:
        gateway = self._settings.gateway
        message_id = f"<{mail.id}@{gateway.domain}>"
        if mail.kind == "proof":  # one read: the sealed evidence, the sender, its PDF
            return await self._compose_proof(mail, message_id)
        if found is None:  # LookupError for a dangling row, recorded as a retry by _fixed
            found = await self._registry.io(self._store.delivery, mail.delivery_id)
        letter, delivery = found
        about_letter(letter.reference)  # this task's log lines are about this letter
        self._references[mail.id] = letter.reference  # and those of the task that sends it
        if mail.kind == "code":
            pending = await self._registry.identity.pending_code(mail.id)
            if pending is None:
                raise RelayFailed(SmtpReply(550, "5.0.0", "the code was used or withdrawn"))
            code, language, _ = pending
            return compose_code_mail(
                code=code,
                to=mail.rcpt,
                reference=letter.reference,
                provider_name=gateway.provider_name,
                domain=gateway.domain,
                lang=language,
                message_id=message_id,
                date=mail.created_at,
            )
        self._seen[mail.id] = (letter, delivery)  # the outcome's first guess (Outcomes)
        revealed = sender_revealed(self._settings.letters.reveal_sender)
        token = self._registry.link_token(delivery.id)
        facts = NoticeFacts(
            reference=letter.reference,
            recipient=delivery.recipient,
            deposited_at=letter.deposited_at,
            deadline=delivery.deadline,
            sender_name=letter.sender_name if revealed else None,
            sender_address=letter.sender_address if revealed else None,
            subject=letter.subject if revealed else None,
            link=letter_url(gateway.public_url, token),
            provider_name=gateway.provider_name,
            domain=gateway.domain,
            zone=gateway.zone,
            languages=delivery.languages or self._settings.letters.notification_languages,
        )
        return compose_notification(facts, message_id=message_id, date=mail.created_at)

    async def _compose_proof(self, mail: PendingMail, message_id: str) -> bytes:
        with_pdf = self._pdf_queue is not None
        sources = await self._registry.io(self._store.proof_sources, mail.evidence_id, pdf=with_pdf)
        about_letter(sources.reference)  # this task's log lines are about this letter
        self._references[mail.id] = sources.reference  # and those of the task that sends it
        record = from_xml(sources.xml)
        if record.event == EvidenceType.SubmissionAcceptance:
            self._deposited[mail.id] = sources.deposited_at
        gateway = self._settings.gateway
        composed = compose_proof(
            record,
            sources.xml,
            sources.p7s,
            to=mail.rcpt,
            provider_name=gateway.provider_name,
            domain=gateway.domain,
            public_url=gateway.public_url,
            zone=gateway.zone,
            language=sources.language,
            message_id=message_id,
            date=mail.created_at,
            pdf=sources.pdf,
        )
        return smime_sign(composed, self._sealer, signing_time=self._clock())
