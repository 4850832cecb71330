"""`lre-gateway verify`: is each verified evidence in the public evidence log? (offline)

An inclusion proof (`/log/proof/EVIDENCE_ID`, saved as `EVIDENCE_ID.log.json` beside the proof,
or named on the command line) is checked against the log's verifier keys (several across a
log-key rotation): the entry states this evidence (its id, type, time and the exact SHA-256 of
its evidence.xml and evidence.xml.p7s, whether given as files, in a proof mail or embedded in
proof.pdf), the audit path leads to the root of a checkpoint a log key signed. Without one the
inclusion is pending, which does not make the proof invalid.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509

from gateway.core.problems import Message
from gateway.errors import EvidenceError, VerificationError
from gateway.evidence import log_merkle as merkle
from gateway.evidence.log_note import NoteError, Verifier, open_checkpoint
from gateway.evidence.log_proof import FORMAT, InclusionError, InclusionProof
from gateway.evidence.log_tiles import Entry, TileError
from gateway.evidence.report import ENGLISH, from_error, say
from gateway.evidence.verify import Verdict, check_timestamp_token
from gateway.i18n import N_

SUFFIX = ".log.json"


def is_inclusion_proof(data: bytes) -> bool:
    return data.lstrip()[:1] == b"{" and FORMAT.encode() in data[:4096]


def split_paths(paths: Sequence[str]) -> tuple[list[str], list[InclusionProof], list[str]]:
    """(proof files, the inclusion proofs named, unreadable inclusion proofs)."""
    proofs, inclusions, bad = [], [], []
    for name in paths:
        path = Path(name)
        data = path.read_bytes()[: 1 << 20] if path.is_file() else b""
        if not is_inclusion_proof(data):
            proofs.append(name)
            continue
        try:
            inclusions.append(InclusionProof.from_json(path.read_bytes()))
        except InclusionError as err:
            bad.append(f"{name}: {err}")
    return proofs, inclusions, bad


@dataclass(frozen=True)
class LogVerdict:
    """Whether the evidence is proven in the log, and the report's line saying so."""

    ok: bool
    message: Message

    def say(self, lang: str) -> str:
        return say(lang, self.message.key, **self.message.params)

    @property
    def line(self) -> str:
        return self.say(ENGLISH)


def _verdict(ok: bool, key: str, **params: object) -> LogVerdict:
    return LogVerdict(ok, Message(key, params))


def _beside(verdict: Verdict, evidence_id: str) -> InclusionProof | None:
    candidate = Path(verdict.source).parent / f"{evidence_id}{SUFFIX}"
    if not candidate.is_file():
        return None
    try:
        return InclusionProof.from_json(candidate.read_bytes())
    except InclusionError:
        return None


def judge(
    verdict: Verdict,
    inclusions: Sequence[InclusionProof],
    keys: Verifier | Sequence[Verifier] | None,
    anchors: Sequence[x509.Certificate],
    at: datetime | None = None,
) -> LogVerdict | None:
    """The log line of one verdict (None for a verdict with no evidence record)."""
    record = verdict.record
    if record is None or not verdict.valid:
        return None
    proof = next((p for p in inclusions if p.evidence_id == record.evidence_id), None)
    proof = proof or _beside(verdict, record.evidence_id)
    if proof is None:
        return _verdict(
            True,
            N_("verify.log.pending"),
            path=f"/log/proof/{record.evidence_id}",
            file=f"{record.evidence_id}{SUFFIX}",
        )
    if not keys:
        return _verdict(False, N_("verify.log.no_key"))
    try:
        checkpoint, _ = open_checkpoint(proof.checkpoint, keys)
        entry = Entry.decode(proof.entry)
        merkle.verify_inclusion(
            proof.index,
            checkpoint.size,
            merkle.leaf_hash(proof.entry),
            proof.proof,
            checkpoint.root,
        )
    except (NoteError, TileError, merkle.ProofError) as err:
        return _verdict(False, N_("verify.log.not_proven"), error=str(err))
    same = (
        entry.evidence_id == record.evidence_id
        and entry.type == record.event.value
        and entry.event_time == record.event_time
    )
    if not same or not _digest_matches(verdict, entry):
        return _verdict(False, N_("verify.log.absent"))
    if proof.timestamp is not None:
        digest = hashlib.sha256(proof.checkpoint).digest()
        try:
            when, tsa = check_timestamp_token(
                proof.timestamp, digest, anchors, at or datetime.now(UTC)
            )
        except EvidenceError as err:
            problem = from_error(err) if isinstance(err, VerificationError) else str(err)
            return _verdict(False, N_("verify.log.bad_timestamp"), problem=problem)
        return _verdict(
            True,
            N_("verify.log.included_stamped"),
            index=proof.index,
            size=checkpoint.size,
            origin=checkpoint.origin,
            tsa=tsa,
            time=f"{when:%Y-%m-%d %H:%M:%S} UTC",
        )
    return _verdict(
        True,
        N_("verify.log.included"),
        index=proof.index,
        size=checkpoint.size,
        origin=checkpoint.origin,
    )


def _digest_matches(verdict: Verdict, entry: Entry) -> bool:
    """The evidence.xml and .p7s verified (alone, in a mail or in a PDF) are the entry's."""
    return verdict.digests == (entry.xml_sha256, entry.p7s_sha256)
