"""Imported by the certificate processes' forkserver, before any fork: parse the fonts and fill
the renderer's lazy caches (cut-down fonts, prepared glyph sets, font objects, shaping) with one
certificate per language, and compile the proof mail's templates, so that each gateway's
certificate process starts warm.

What is then in memory (~220,000 objects: fonts, memos, modules) lives as long as the process:
it is frozen out of the garbage collector's reach (gateway.collector), so that a full collection
in a certificate process walks only what that process made since, and its pages stay shared
with the forkserver (the collector no longer writes to them).

The forkserver ignores SIGTERM, as it ignores SIGINT (multiprocessing's own doing): a SIGTERM
sent to the gateway's whole process group or control group (systemd stopping the service) is
the gateway's, which stops its certificate processes itself; the forkserver ends when the
gateway's end of its pipe closes. Killed with the others, it took the exit codes of the
certificate processes with it, and the gateway, told they had died (255), started others while
it stopped."""

from __future__ import annotations

import logging
import signal
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from gateway import collector, i18n
from gateway.compose.proof import compose_proof
from gateway.core.evidence import Attachment, EvidenceRecord, EvidenceType
from gateway.pdf.facts import CertificateFacts
from gateway.pdf.render import shared_renderer


def warm_up() -> None:
    when = datetime(2026, 1, 1, tzinfo=UTC)
    record = EvidenceRecord(
        evidence_id="0" * 32,
        event=EvidenceType.SubmissionAcceptance,
        event_time=when,
        letter_id="0" * 32,
        letter_reference="LRE-20260101-AAAAAAAA",
        delivery_id="0" * 32,
        provider_name="LRE Gateway",
        provider_domain="lre.localhost",
        policy_id="urn:warm-up",
        sender_account="0",
        sender_address="sender@example.ma",
        sender_name="Sender",
        sender_authentication="SMTP AUTH",
        recipient_address="recipient@example.ma",
        submission_time=when,
        subject="Warm-up",
        message_size=1,
        message_sha256="0" * 64,
        attachments=(Attachment("a.pdf", "application/pdf", 1, "0" * 64),),
        acceptance_deadline=when + timedelta(days=15),
    )
    renderer = shared_renderer()
    for language in i18n.LANGUAGES:
        facts = CertificateFacts(
            record=record,
            xml=b"<Evidence/>",
            p7s=b"0",
            provider_name="LRE Gateway",
            public_url="http://127.0.0.1",
            zone=ZoneInfo("Africa/Casablanca"),
            language=language,
        )
        pdf = renderer.render(facts)
        compose_proof(  # the proof mail's templates, compiled once here too
            record,
            facts.xml,
            facts.p7s,
            to="sender@example.ma",
            provider_name=facts.provider_name,
            domain="lre.localhost",
            public_url=facts.public_url,
            zone=facts.zone,
            language=language,
            message_id="<warm-up@lre.localhost>",
            date=when,
            pdf=pdf,
        )


signal.signal(signal.SIGTERM, signal.SIG_IGN)  # this forkserver's: see above
try:
    warm_up()
except Exception:  # a cold start is slower, never broken
    logging.getLogger(__name__).exception("warming up the certificate renderer failed")
collector.settle()
