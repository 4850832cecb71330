"""PDF certificate cost: median milliseconds to render and to PAdES-seal one proof certificate.

Builds the gateway's development PKI and built-in TSA in a temporary directory, then renders
and seals the certificate of one sample evidence record in French, English and Arabic, exactly
as the PDF job does (`CertificateRenderer.render` then `PdfSealer.seal`). The seal is measured
twice on the same document in the same run: as pyHanko writes it (`seal_with_pyhanko`, the
gateway's seal before issue 9) and as the gateway's own writer does (`seal`, gateway.pdf.pades);
the total is render + the gateway's seal. The baseline is the least a certificate can cost: a
plain fpdf2 page of one line in a core font (no embedded font, no QR code, no attachment),
sealed the same way. Then the render cost of every proof type in every language
(tests.support.proofs' records, two attachments); `--before` adds, in the same run, the
renderer as it was before gateway.pdf.layout (`CertificateRenderer(laid_out=False)`: prepared
glyph sets and the fonts' memos, the text laid out by fpdf2, segno choosing the QR code's
mask). Each round renders a record of its own (`fresh`: another evidence id, reference,
hashes, sizes, sender name and times), so memos keyed by text only help the words that repeat
from one certificate to the next, as in production. Figures are CPU milliseconds of this
process.

    python -m bench.pdf [--rounds 30] [--before]
    python -m bench.pdf --seal-only [--rounds 30]  # the two seals of the fr certificate only
    python -m bench.pdf --profile [--rounds 30] [--before]   # cProfile of render + seal (fr)
    python -m bench.pdf --replay [--rounds 30]   # drawn in full and from the last page of its kind
    python -m bench.pdf --proof [--rounds 30] [--group 5]   # whole proofs, one by one and in groups

`--replay` renders certificates as bench.throughput's letters make them (one sender; a new
recipient, subject, reference, evidence id and hash per letter; the times of a busy minute),
drawn in full (`CertificateRenderer(replayed=False)`) and from the last page of their kind
(gateway.pdf.replay), in alternating rounds of 50 certificates in this process: CPU ms per
certificate, the median of the rounds.

`--proof` makes the proofs of deposit of bench.throughput's letters (fr) as a certificate
process does (`gateway.pdf.maker._make_group`: the evidence record read, the certificate
rendered and sealed, the proof mail composed, S/MIME- and DKIM-signed and stored without its
PDF), in this process after a warm-up, in alternating rounds of 50 proofs: one by one (a
group of one each) and in groups of `--group` (default: the gateway's, maker.GROUP); then
each step alone over a round: CPU ms per proof, the median of the rounds. What a proof costs
alone, to set against what the certificate processes spend a letter under load
(bench.cpu_parts).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import hashlib
import io
import itertools
import logging
import pstats
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fpdf import FPDF

from gateway.core.evidence import Attachment, EvidenceRecord, EvidenceType
from gateway.evidence.cms import Sealer
from gateway.evidence.crl import CrlPublisher
from gateway.evidence.pki import (
    PkiPaths,
    anchors_pem,
    ensure_dev_pki,
    load_certificate,
    load_certificates,
    load_private_key,
)
from gateway.evidence.tsa import LocalTimestamper, TimestampAuthority, seal
from gateway.evidence.xml import to_xml
from gateway.pdf.facts import CertificateFacts
from gateway.pdf.render import CertificateRenderer
from gateway.pdf.seal import PdfSealer
from tests.support.proofs import ORDER, proof_record, render

LANGUAGES = ("fr", "en", "ar")


_ROUND = itertools.count(1)


def fresh(record: EvidenceRecord) -> EvidenceRecord:
    """`record` with the values that differ from one letter to the next made anew."""
    n = next(_ROUND)

    def digest(label: str) -> str:
        return hashlib.sha256(f"{label}-{n}".encode()).hexdigest()

    shift = timedelta(seconds=37 * n)
    return replace(
        record,
        evidence_id=str(uuid.UUID(digest("id")[:32])),
        letter_reference=f"LRE-2026-{n:06d}",
        sender_name=f"{record.sender_name} {digest('name')[:4]}",
        message_size=record.message_size + n,
        message_sha256=digest("message"),
        previous_evidence_sha256=digest("previous") if record.previous_evidence_sha256 else None,
        event_time=record.event_time + shift,
        submission_time=record.submission_time + shift,
        attachments=tuple(
            replace(a, size=a.size + n, sha256=digest(f"attachment{i}"))
            for i, a in enumerate(record.attachments)
        ),
    )


def sample_record() -> EvidenceRecord:
    return EvidenceRecord(
        evidence_id="0f8e3c1a-6d2b-4c59-9a7e-2b1d4e5f6a7b",
        event=EvidenceType.SubmissionAcceptance,
        event_time=datetime(2025, 6, 1, 10, 0, 0, 250000, tzinfo=UTC),
        letter_id="letter-1",
        letter_reference="LRE-2025-000001",
        delivery_id="delivery-1",
        provider_name="LRE Gateway",
        provider_domain="lre.example.ma",
        policy_id="1.3.6.1.4.1.99999.2.1",
        sender_account="alice",
        sender_address="alice@example.ma",
        sender_name="Alice Émile",
        sender_authentication="smtp-auth-plain+starttls",
        recipient_address="bob@example.com",
        recipient_phone=None,
        submission_time=datetime(2025, 6, 1, 10, 0, 0, tzinfo=UTC),
        subject="Mise en demeure — contrat n° 42",
        message_size=20480,
        message_sha256="a" * 64,
        attachments=(Attachment("contrat.pdf", "application/pdf", 10000, "b" * 64),),
        previous_evidence_sha256=None,
        acceptance_deadline=datetime(2025, 6, 16, 22, 59, 59, tzinfo=UTC),
        reason=None,
        extensions=(),
    )


def fresh_facts(record: EvidenceRecord, xml: bytes, p7s: bytes, language: str) -> CertificateFacts:
    """A certificate's facts: `record` made anew (`fresh`), in `language`."""
    return CertificateFacts(
        record=fresh(record),
        xml=xml,
        p7s=p7s,
        provider_name="LRE Gateway",
        public_url="https://lre.example.ma",
        zone=ZoneInfo("Africa/Casablanca"),
        language=language,
    )


def dev_sealer(
    directory: Path, clock: Callable[[], datetime]
) -> tuple[PkiPaths, LocalTimestamper, PdfSealer]:
    """The development PKI in `directory` (made there unless it is already), its built-in TSA
    and a PAdES sealer with them, as the certificate processes build theirs."""
    paths = ensure_dev_pki(directory, "lre.example.ma", crl_url="http://lre.example.ma/crl")
    timestamper = LocalTimestamper(
        TimestampAuthority.from_files(paths.tsa_cert, paths.tsa_key), clock
    )
    crl = CrlPublisher(paths, clock)
    sealer = PdfSealer(
        key=load_private_key(paths.seal_key),
        cert=load_certificate(paths.seal_cert),
        chain=[],
        anchors=load_certificates(anchors_pem(paths)),
        timestamper=timestamper,
        crls=lambda: [crl.current()],
        provider_name="LRE Gateway",
        clock=clock,
    )
    return paths, timestamper, sealer


def plain_page(facts: CertificateFacts) -> bytes:
    """The baseline document: one page, one line in a core font."""
    pdf = FPDF(format="A4", unit="mm")
    pdf.add_page()
    pdf.set_font("helvetica", "", 12)
    pdf.cell(0, 10, f"Evidence {facts.record.evidence_id}")
    return bytes(pdf.output())


def clock() -> datetime:
    return datetime.now(UTC)


def median_cpu_ms(action: Callable[[], object], rounds: int) -> float:
    """Median CPU time of this process per action (less sensitive than wall time to the other
    jobs of a shared machine)."""
    action()  # warm-up: fonts, prepared glyphs, memos
    times = []
    for _ in range(rounds):
        start = time.process_time()
        action()
        times.append((time.process_time() - start) * 1000)
    return statistics.median(times)


def render_table(rounds: int, before: bool) -> None:
    """CPU ms to render each proof type in each language, before/after in the same run."""
    renderers = {"now": CertificateRenderer()}
    if before:
        renderers["before"] = CertificateRenderer(laid_out=False)
    names = list(reversed(renderers)) if before else ["now"]
    print(f"Render only, CPU ms per certificate (median of {rounds}), two attachments:")
    print(f"  {'proof type':32} {'lang':4} " + " ".join(f"{n:>8}" for n in names) + "     KB")
    for event in ORDER:
        for language in LANGUAGES:
            record = proof_record(event)
            figures = []
            for name in names:
                records = iter([fresh(record) for _ in range(rounds + 1)])
                renderer = renderers[name]
                figures.append(
                    median_cpu_ms(lambda: render(renderer, next(records), language), rounds)  # noqa: B023 - used at once
                )
            size = len(render(renderers["now"], record, language)) // 1024
            cells = " ".join(f"{figure:8.1f}" for figure in figures)
            print(f"  {event.value:32} {language:4} {cells} {size:6}")


def benchmark_letter(n: int) -> EvidenceRecord:
    """The proof of deposit of bench.throughput's `n`th letter (its sender, recipient and
    subject; 100 letters a second)."""

    def digest(label: str) -> str:
        return hashlib.sha256(f"{label}-{n}".encode()).hexdigest()

    deposited = datetime(2026, 12, 3, 8, 0, tzinfo=UTC) + timedelta(seconds=n // 100)
    return replace(
        sample_record(),
        evidence_id=str(uuid.UUID(digest("id")[:32])),
        letter_reference=f"LRE-2026-{n:06d}",
        sender_name="Bench",
        sender_address="bench@example.ma",
        recipient_address=f"r{n}@example.com",
        subject=f"Lettre {n}",
        message_size=1400 + n % 7,
        message_sha256=digest("message"),
        attachments=(),
        event_time=deposited,
        submission_time=deposited,
        acceptance_deadline=deposited + timedelta(days=15),
    )


def replay_table(rounds: int) -> None:
    """CPU ms per certificate drawn in full and replayed, in alternating rounds."""
    renderers = {
        "drawn in full": CertificateRenderer(replayed=False),
        "replayed": CertificateRenderer(),
    }
    letters = itertools.count(1)
    print(f"Render of bench.throughput's letters, CPU ms per certificate (median of {rounds}):")
    for language in LANGUAGES:
        figures: dict[str, list[float]] = {name: [] for name in renderers}
        for renderer in renderers.values():
            for _ in range(20):  # warm-up: fonts, prepared glyphs, memos, the template
                render(renderer, benchmark_letter(next(letters)), language)
        for _ in range(rounds):
            for name, renderer in renderers.items():
                records = [benchmark_letter(next(letters)) for _ in range(50)]
                start = time.process_time()
                for record in records:
                    render(renderer, record, language)
                figures[name].append((time.process_time() - start) * 1000 / len(records))
        cells = "  ".join(f"{name} {statistics.median(f):.2f}" for name, f in figures.items())
        print(f"  {language}: {cells}")


def proof_table(rounds: int, group: int) -> None:
    """CPU ms per proof of deposit made as a certificate process makes it: one by one, in
    groups of `group`, and by step."""
    from gateway.compose.parts import without_attachment
    from gateway.pdf import maker
    from gateway.pdf.facts import CertificateSources
    from gateway.pdf.render import shared_renderer
    from gateway.smtp_out.dkim import DEFAULT_SELECTOR, DkimSigner

    with tempfile.TemporaryDirectory() as tmp:
        paths, timestamper, sealer = dev_sealer(Path(tmp), clock)
        cms = Sealer.from_files(paths.seal_cert, paths.seal_key)
        dkim = DkimSigner.from_file("lre.example.ma", DEFAULT_SELECTOR, paths.dkim_key)
        mailer = maker.ProofMailer(cms, dkim, "lre.example.ma")
        loop = asyncio.new_event_loop()
        maker._sealer, maker._loop, maker._mailer = sealer, loop, mailer  # as maker._start does
        mail = maker.ProofMail("bench@example.ma", "<proof@lre.example.ma>", clock())
        letters = itertools.count(1)

        def asked() -> list[maker.Asked]:
            made: list[maker.Asked] = []
            for _ in range(50):
                xml = to_xml(benchmark_letter(next(letters)))
                p7s = loop.run_until_complete(seal(cms, timestamper, xml, signing_time=clock()))
                sources = CertificateSources(
                    xml=xml,
                    p7s=p7s,
                    provider_name="LRE Gateway",
                    public_url="https://lre.example.ma",
                    zone=ZoneInfo("Africa/Casablanca"),
                    language="fr",
                )
                made.append((sources, "Proof of deposit", mail))
            return made

        def in_groups(size: int) -> Callable[[list[maker.Asked]], object]:
            def made(items: list[maker.Asked]) -> None:
                for start in range(0, len(items), size):
                    for answer in maker._make_group(items[start : start + size]):
                        if isinstance(answer, maker.Failed):
                            raise answer.raised()

            return made

        def cpu_ms(action: Callable[[list[Any]], object], items: list[Any]) -> float:
            start = time.process_time()
            action(items)
            return (time.process_time() - start) * 1000 / len(items)

        def each(step: Callable[[Any], object]) -> Callable[[list[Any]], object]:
            return lambda items: [step(item) for item in items]

        def rendered(facts: CertificateFacts) -> tuple[CertificateFacts, bytes]:
            return facts, shared_renderer().render(facts)

        def sealed(made: tuple[CertificateFacts, bytes]) -> tuple[CertificateFacts, bytes]:
            facts, pdf = made
            return facts, loop.run_until_complete(sealer.seal(pdf, reason="Proof of deposit"))

        def mailed(made: tuple[CertificateFacts, bytes]) -> bytes:
            facts, pdf = made
            return without_attachment(mailer.compose(facts, pdf, mail), pdf)

        in_groups(group)(asked())  # warm-up: fonts, the page of its kind, memos, the seal's space
        ways = {"one by one": in_groups(1), f"in groups of {group}": in_groups(group)}
        figures: dict[str, list[float]] = collections.defaultdict(list)
        for _ in range(rounds):
            for name, way in ways.items():
                figures[name].append(cpu_ms(way, asked()))
            items = [sources for sources, _, _ in asked()]
            facts = [item.facts() for item in items]
            pdfs = [rendered(f) for f in facts]
            signed = [sealed(r) for r in pdfs]
            figures["record read"].append(cpu_ms(each(CertificateSources.facts), items))
            figures["render"].append(cpu_ms(each(rendered), facts))
            figures["seal"].append(cpu_ms(each(sealed), pdfs))
            figures["proof mail"].append(cpu_ms(each(mailed), signed))
        loop.close()
    medians = {name: statistics.median(f) for name, f in figures.items()}
    print(
        f"A proof of deposit (fr) as a certificate process makes it, CPU ms (median of {rounds}):"
    )
    print("  " + ", ".join(f"{name} {ms:.2f}" for name, ms in list(medians.items())[:2]))
    print("  each step alone: " + ", ".join(f"{n} {ms:.2f}" for n, ms in list(medians.items())[2:]))


def profile(action: Callable[[], object], rounds: int) -> None:
    """Print where one proof's time goes: cumulative time per function, per proof."""
    action()  # warm-up: fonts, pre-subsets, HarfBuzz caches
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(rounds):
        action()
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    print(f"cProfile of {rounds} fr certificates (render + PAdES-B-LTA seal); totals / {rounds}:")
    stats.sort_stats("cumulative").print_stats(25)
    print(out.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--profile", action="store_true", help="cProfile one proof, end to end")
    parser.add_argument(
        "--before", action="store_true", help="also render as before the prepared glyph sets"
    )
    parser.add_argument("--seal-only", action="store_true", help="time the two seals, fr only")
    parser.add_argument(
        "--replay", action="store_true", help="render drawn in full and replayed, alternating"
    )
    parser.add_argument(
        "--proof", action="store_true", help="a whole proof as a certificate process makes it"
    )
    parser.add_argument(
        "--group", type=int, default=None, help="with --proof: the group's size (maker.GROUP)"
    )
    args = parser.parse_args()
    if args.proof:
        from gateway.pdf.maker import GROUP

        proof_table(args.rounds, args.group or GROUP)
        return
    if args.replay:
        replay_table(args.rounds)
        return
    logging.getLogger("pyhanko").setLevel(logging.ERROR)  # "fetching is not allowed": intended
    with tempfile.TemporaryDirectory() as tmp:
        paths, timestamper, sealer = dev_sealer(Path(tmp), clock)
        record = sample_record()
        xml = to_xml(record)
        p7s = asyncio.run(
            seal(
                Sealer.from_files(paths.seal_cert, paths.seal_key),
                timestamper,
                xml,
                signing_time=clock(),
            )
        )
        start = time.perf_counter()
        renderer = CertificateRenderer(laid_out=not (args.profile and args.before))
        startup = (time.perf_counter() - start) * 1000

        def facts(language: str) -> CertificateFacts:
            return fresh_facts(record, xml, p7s, language)

        def sealed(pdf: bytes) -> bytes:
            return asyncio.run(sealer.seal(pdf, reason="Proof of deposit"))

        def pyhanko_sealed(pdf: bytes) -> bytes:
            return asyncio.run(sealer.seal_with_pyhanko(pdf, reason="Proof of deposit"))

        if args.profile:
            profile(lambda: sealed(renderer.render(facts("fr"))), args.rounds)
            return
        if args.seal_only:
            pdf = renderer.render(facts("fr"))
            before = median_cpu_ms(lambda: pyhanko_sealed(pdf), args.rounds)
            after = median_cpu_ms(lambda: sealed(pdf), args.rounds)
            print(
                f"PAdES-B-LTA seal of the fr certificate, median of {args.rounds} rounds: "
                f"pyHanko {before:.1f} ms, gateway {after:.1f} ms ({before / after:.1f}x)"
            )
            return
        base_facts = facts("fr")
        base_pdf = plain_page(base_facts)
        base_render = median_cpu_ms(lambda: plain_page(base_facts), args.rounds)
        base_before = median_cpu_ms(lambda: pyhanko_sealed(base_pdf), args.rounds)
        base_seal = median_cpu_ms(lambda: sealed(base_pdf), args.rounds)
        base_total = median_cpu_ms(lambda: sealed(plain_page(base_facts)), args.rounds)
        rows = []
        for language in LANGUAGES:
            fact = facts(language)
            pdf = renderer.render(fact)
            each = iter([facts(language) for _ in range(args.rounds + 1)])
            rendering = median_cpu_ms(lambda: renderer.render(next(each)), args.rounds)  # noqa: B023
            before = median_cpu_ms(lambda p=pdf: pyhanko_sealed(p), args.rounds)  # type: ignore[misc]
            sealing = median_cpu_ms(lambda p=pdf: sealed(p), args.rounds)  # type: ignore[misc]
            total = median_cpu_ms(
                lambda f=fact: sealed(renderer.render(f)),  # type: ignore[misc]
                args.rounds,
            )
            rows.append((language, rendering, before, sealing, total, len(sealed(pdf))))

    print(
        f"PDF certificate benchmark: CPU ms, median of {args.rounds} rounds, one thread, "
        f"built-in TSA (renderer start-up {startup:.0f} ms wall, once per process)"
    )
    print(
        f"  {'':44} {'render':>8} {'seal':>8} {'seal':>8} {'total':>8}  ratio to\n"
        f"  {'':44} {'':>8} {'pyHanko':>8} {'gateway':>8} {'':>8}  baseline"
    )
    print(
        f"  {'baseline: one-line core-font page, same seal':44} "
        f"{base_render:8.1f} {base_before:8.1f} {base_seal:8.1f} {base_total:8.1f}  1.00"
    )
    for language, rendering, before, sealing, total, size in rows:
        label = f"certificate, {language} ({size // 1024} KB)"
        print(
            f"  {label:44} {rendering:8.1f} {before:8.1f} {sealing:8.1f} {total:8.1f}  "
            f"{total / base_total:.2f}"
        )
    print()
    render_table(args.rounds, args.before)


if __name__ == "__main__":
    main()
