"""Instructions per proof in a certificate process, counted by valgrind: this code against another.

On a shared machine a CPU time moves by 10-30 % from one minute to the next, more than most
single optimisations buy. Valgrind's callgrind counts the instructions a process executes
instead: the same for the same code and inputs, whatever else the machine runs. This tool counts
what a certificate process does for one proof of deposit, as `gateway.pdf.maker._make_group`
does it for each: the evidence record read from its XML, the certificate rendered, PAdES-sealed
with the built-in TSA, its proof mail composed, S/MIME- and DKIM-signed, stored without its PDF,
and the date its archive timestamp is due read back; each certificate with facts of its own
(bench.pdf's `fresh`: ids, hashes, sizes, times and the sender's name change from one to the
next).

Each figure is the difference between two runs under callgrind of the same program, divided by
PROOFS: one making WARM proofs and one WARM + PROOFS (start-up and imports cancel out); with
--render, also the render alone (the second run renders PROOFS more certificates, of facts of
their own, which both runs make). --base REF counts the code of that commit too (`git archive`
into a temporary directory, run with PYTHONPATH pointing there; this module drives both).

    python -m bench.instructions [--base REF] [--lang fr] [--proofs 20] [--render]
                                 [--letters fresh|burst]

With `--letters burst` the certificates are those of bench.throughput's letters (100 a second
from one sender: their times, sender and sizes alike, their ids, references, recipients and
hashes new), whose texts the layout's memos hold more often than fresh ones: what the
benchmark's certificate processes do.

Needs valgrind (Debian's package). Each count is ~1-2 minutes of valgrind; the runs use every
core.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import os
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]  # the checkout this module belongs to
WARM = 8  # proofs made before counting starts: fonts, memos, the QR template, the disk cache
_COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")


def _proofs(
    pki: Path, moment: datetime, lang: str, warm: int, proofs: int, render: bool, letters: str
) -> None:
    """In this process: make `warm` + `proofs` proofs with the keys in `pki`, all at `moment`;
    with `render`, also render `proofs` certificates more (their facts are made either way).
    `letters`: "fresh", every value of each certificate new (its time a minute later), or
    "burst", bench.throughput's letters (100 a second: the same minute, sender and sizes)."""
    import itertools
    from dataclasses import replace

    from bench.pdf import benchmark_letter, dev_sealer, fresh_facts, sample_record
    from gateway.compose.parts import without_attachment
    from gateway.compose.proof import compose_proof
    from gateway.compose.smime import smime_sign
    from gateway.evidence.cms import Sealer
    from gateway.evidence.tsa import seal
    from gateway.evidence.xml import from_xml, to_xml
    from gateway.pdf.expiry import renewal_due
    from gateway.pdf.facts import CertificateFacts
    from gateway.pdf.render import CertificateRenderer
    from gateway.smtp_out.dkim import DkimSigner

    def clock() -> datetime:
        return moment

    # the keys made once by the caller: generating them takes a random time
    paths, timestamper, sealer = dev_sealer(pki, clock)
    evidence_sealer = Sealer.from_files(paths.seal_cert, paths.seal_key)
    dkim = DkimSigner.from_file("lre.example.ma", "lre", paths.dkim_key)
    loop = asyncio.new_event_loop()
    record = sample_record()
    xml = to_xml(record)
    p7s = loop.run_until_complete(seal(evidence_sealer, timestamper, xml, signing_time=moment))
    renderer = CertificateRenderer()

    numbers = itertools.count()

    def facts() -> CertificateFacts:
        made = fresh_facts(record, xml, p7s, lang)
        if letters == "burst":
            return replace(made, record=benchmark_letter(next(numbers)))
        return made

    def proof(made: CertificateFacts) -> None:
        from_xml(xml)  # the record read from its XML (gateway.pdf.facts.CertificateSources)
        pdf = loop.run_until_complete(sealer.seal(renderer.render(made), reason="x"))
        composed = compose_proof(
            made.record,
            xml,
            p7s,
            to="alice@example.ma",
            provider_name="LRE Gateway",
            domain="lre.example.ma",
            public_url=made.public_url,
            zone=made.zone,
            language=lang,
            message_id="<proof@lre.example.ma>",
            date=moment,
            pdf=pdf,
        )
        signed = smime_sign(composed, evidence_sealer, signing_time=moment)
        without_attachment(dkim.sign(signed, now=moment), pdf)
        renewal_due(pdf)

    made = [facts() for _ in range(warm + proofs)]
    more = [facts() for _ in range(proofs)]  # made in both runs: the same facts for the proofs
    for each in made:
        proof(each)
    if render:
        for each in more:
            renderer.render(each)


def _inner(
    pki: Path, moment: datetime, lang: str, proofs: int, render: bool, letters: str
) -> list[str]:
    # this file run from another directory: `python -m` would put this checkout first on
    # sys.path, before the code PYTHONPATH names, and running it as a script would put bench/
    # there (its profile.py would then hide the standard library's)
    script = f"import runpy; runpy.run_path({str(Path(__file__).resolve())!r}, run_name='__main__')"
    inner = [sys.executable, "-c", script, "--inner", "--pki", str(pki)]
    inner += ["--at", moment.isoformat(), "--lang", lang, "--proofs", str(proofs)]
    return inner + ["--letters", letters] + (["--render"] if render else [])


def _env(code: Path | None) -> dict[str, str]:
    """PYTHONPATH: `code` first, when given, then this checkout (for bench.pdf and tests)."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(code or ""), str(HERE)]))}


def count(
    code: Path | None,
    pki: Path,
    moment: datetime,
    lang: str,
    proofs: int,
    render: bool,
    letters: str = "fresh",
) -> int:
    """Instructions of one run under callgrind (`proofs` counted proofs after WARM)."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("valgrind is missing: apt-get install valgrind")
    done = subprocess.run(
        [
            valgrind,
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            *_inner(pki, moment, lang, proofs, render, letters),
        ],
        env=_env(code),
        cwd=pki.parent,
        capture_output=True,
        text=True,
    )
    found = _COLLECTED.search(done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"callgrind run failed ({done.returncode}): {done.stderr[-2000:]}")
    return int(found.group(1))


def per_proof(
    pool: concurrent.futures.Executor,
    code: Path | None,
    run: tuple[Path, datetime, str, int, str],
    what: str,
) -> concurrent.futures.Future[float]:
    """Instructions per proof (`what` "proof") or per render: two runs' difference, divided."""
    pki, moment, lang, proofs, letters = run
    if what == "proof":
        low = pool.submit(count, code, pki, moment, lang, 0, False, letters)
        high = pool.submit(count, code, pki, moment, lang, proofs, False, letters)
    else:
        low = pool.submit(count, code, pki, moment, lang, proofs, False, letters)
        high = pool.submit(count, code, pki, moment, lang, proofs, True, letters)
    done: concurrent.futures.Future[float] = concurrent.futures.Future()

    def settle(_: object) -> None:
        if low.done() and high.done() and not done.done():
            try:
                done.set_result((high.result() - low.result()) / proofs)
            except Exception as err:  # noqa: BLE001 - handed to the caller
                done.set_exception(err)

    low.add_done_callback(settle)
    high.add_done_callback(settle)
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--base", help="also count the code of this commit")
    parser.add_argument("--lang", default="fr", choices=("fr", "en", "ar"))
    parser.add_argument("--proofs", type=int, default=20, help="proofs counted per run")
    parser.add_argument("--render", action="store_true", help="also the render alone")
    parser.add_argument(
        "--letters",
        default="fresh",
        choices=("fresh", "burst"),
        help="fresh: every value of each certificate new, its time a minute later (default); "
        "burst: bench.throughput's letters, 100 a second from one sender",
    )
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--pki", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--at", type=datetime.fromisoformat, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        _proofs(args.pki, args.at, args.lang, WARM, args.proofs, args.render, args.letters)
        return
    with tempfile.TemporaryDirectory() as tmp:
        codes: dict[str, Path | None] = {"this checkout": None}
        if args.base:
            from bench.smtp_cpu import extract

            base = extract(args.base, Path(tmp) / "base")
            for helpers in ("bench", "tests"):  # this checkout's drive both: the same facts
                shutil.rmtree(base / helpers, ignore_errors=True)
            codes = {args.base: base, **codes}
        pki = Path(tmp) / "pki"
        moment = datetime.now(UTC).replace(microsecond=0)
        for code in codes.values():  # keys made and the disk cache filled, outside valgrind
            subprocess.run(
                _inner(pki, moment, args.lang, 1, False, args.letters),
                env=_env(code),
                cwd=tmp,
                check=True,
            )
        steps = ["proof", *(["render"] if args.render else [])]
        workers = max(1, len(os.sched_getaffinity(0)))
        run = (pki, moment, args.lang, args.proofs, args.letters)
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            futures = {
                (name, step): per_proof(pool, code, run, step)
                for name, code in codes.items()
                for step in steps
            }
            figures = {key: future.result() for key, future in futures.items()}
    names = list(codes)
    print(
        f"\nmillions of instructions per proof of deposit ({args.lang}, {args.letters} letters), "
        f"counted by callgrind over {args.proofs} proofs after {WARM}:\n"
    )
    print("| counted | " + " | ".join(names) + (" | ratio |" if len(names) == 2 else " |"))
    print("|---" * (len(names) + 1 + (len(names) == 2)) + "|")
    for step in steps:
        row = [figures[name, step] / 1e6 for name in names]
        ratio = f" {row[1] / row[0]:.3f} |" if len(row) == 2 and row[0] else ""
        cells = " | ".join(f"{value:.2f}" for value in row)
        label = "whole proof" if step == "proof" else "render alone"
        print(f"| {label} | {cells} |{ratio}")


if __name__ == "__main__":
    main()
