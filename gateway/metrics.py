"""Prometheus metrics of one gateway process (the `prometheus-client` library).

Counters and histograms count what this process did since it started (letters deposited, evidence
issued, delivery outcomes, SMTP replies, latencies). Queue depths and ages and the deliveries
by state are read from the database at each scrape, so they are the same from every process.
Several processes sharing one database each serve their own counters: scrape them all and sum
(`sum without(instance)`), as Prometheus does for any replicated service.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gateway.core.evidence import EvidenceType
from gateway.core.letter import DECIDED, State
from gateway.storage.queue_stats import QueueStat

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# seconds: a deposit is answered in well under a second; a proof of deposit is mailed once it is
# sealed, timestamped and its PDF made, from a second to minutes when the TSA is slow
DATA_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
PROOF_BUCKETS = (1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600)


def door(authentication: str) -> str:
    """How a letter came in, from the evidence's authentication text: smtp, mx or api."""
    if authentication.startswith("SMTP AUTH"):
        return "smtp"
    if authentication.startswith("MX address"):
        return "mx"
    if "API" in authentication:
        return "api"
    return "other"


class Metrics:
    """The process's metrics, in a registry of their own (several gateways may share a test
    process; nothing is registered globally)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.letters_deposited = Counter(
            "lre_letters_deposited",
            "Letters deposited (250 sent), by the door they came in through",
            ["door"],
            registry=r,
        )
        self.evidence_issued = Counter(
            "lre_evidence_issued",
            "Evidence issued, by ETSI EN 319 522 event (each is sealed, then mailed as a proof)",
            ["type"],
            registry=r,
        )
        self.delivery_outcomes = Counter(
            "lre_delivery_outcomes",
            "Deliveries that reached a final state: accepted, refused, neglected, undeliverable",
            ["outcome"],
            registry=r,
        )
        self.mails_sent = Counter(
            "lre_mails_handed_over",
            "Mails handed over to the next hop, by kind (notification, proof, code)",
            ["kind"],
            registry=r,
        )
        self.mails_failed = Counter(
            "lre_mails_failed",
            "Mails given up for good (permanent refusal or out of retries), by kind",
            ["kind"],
            registry=r,
        )
        self.smtp_replies = Counter(
            "lre_smtp_replies",
            "SMTP replies sent to clients, by listener and reply code",
            ["listener", "code"],
            registry=r,
        )
        self.data_seconds = Histogram(
            "lre_smtp_data_seconds",
            "From the end of the DATA bytes to the reply (the deposit's commit), by listener",
            ["listener"],
            buckets=DATA_BUCKETS,
            registry=r,
        )
        self.proof_of_deposit_seconds = Histogram(
            "lre_proof_of_deposit_mailed_seconds",
            "From the deposit (250) to the proof of deposit handed over to the sender's mail",
            buckets=PROOF_BUCKETS,
            registry=r,
        )
        for name in ("smtp", "mx", "api"):
            self.letters_deposited.labels(name)
        for t in EvidenceType:
            self.evidence_issued.labels(t.value)
        for s in DECIDED - {State.HANDED_OVER}:
            self.delivery_outcomes.labels(s.value)

    # what the gateway reports ----------------------------------------------------------------

    def deposited(self, authentication: str, recipients: int, letters: int = 1) -> None:
        """`letters` deposited with `authentication`, to `recipients` in all."""
        self.letters_deposited.labels(door(authentication)).inc(letters)
        self.evidence_issued.labels(EvidenceType.SubmissionAcceptance.value).inc(recipients)

    def event(self, event: str, before: str, after: str) -> None:
        """An evidence was issued and the delivery went from `before` to `after`."""
        self.evidence_issued.labels(event).inc()
        if after != before and after in DECIDED and after != State.HANDED_OVER:
            self.delivery_outcomes.labels(after).inc()

    def mail_outcome(self, kind: str, failure: str | None) -> None:
        (self.mails_sent if failure is None else self.mails_failed).labels(kind).inc()

    def proof_of_deposit_mailed(self, seconds: float) -> None:
        self.proof_of_deposit_seconds.observe(max(seconds, 0.0))

    def smtp_reply(self, listener: str, code: str, count: int = 1) -> None:
        self.smtp_replies.labels(listener, code).inc(count)

    def data_answered(self, listener: str, seconds: float) -> None:
        self.data_seconds.labels(listener).observe(seconds)

    # what /metrics serves -------------------------------------------------------------------

    def add_database(
        self,
        queues: Callable[[], list[QueueStat]],
        deliveries: Callable[[], dict[str, int]],
        clock: Callable[[], datetime],
    ) -> None:
        """Read the queues and deliveries from the database at each scrape."""
        self.registry.register(_DatabaseCollector(queues, deliveries, clock))

    def exposition(self) -> bytes:
        """The Prometheus text format (blocking: the database gauges are read here)."""
        return generate_latest(self.registry)


class _DatabaseCollector(Collector):
    def __init__(
        self,
        queues: Callable[[], list[QueueStat]],
        deliveries: Callable[[], dict[str, int]],
        clock: Callable[[], datetime],
    ) -> None:
        self._queues = queues
        self._deliveries = deliveries
        self._clock = clock

    def describe(self) -> list[Metric]:
        return []  # collected at scrape time only (never at registration)

    def collect(self) -> Iterator[Metric]:
        now = self._clock()
        depth = GaugeMetricFamily(
            "lre_queue_depth",
            "Items waiting in a durable work queue: seal (evidence to seal and timestamp), pdf "
            "(certificates to make), mail (mails to hand over), sms, webhook (events to post to "
            "enabled endpoints)",
            labels=["queue"],
        )
        age = GaugeMetricFamily(
            "lre_queue_oldest_age_seconds",
            "Age of the oldest item waiting in the queue (0 when it is empty)",
            labels=["queue"],
        )
        for stat in self._queues():
            depth.add_metric([stat.name], stat.depth)
            oldest = 0.0 if stat.oldest is None else (now - stat.oldest).total_seconds()
            age.add_metric([stat.name], max(oldest, 0.0))
        states = GaugeMetricFamily(
            "lre_deliveries",
            "Deliveries (one per recipient of a letter) by state",
            labels=["state"],
        )
        counts = self._deliveries()
        for state in State:
            states.add_metric([state.value], counts.get(state.value, 0))
        yield depth
        yield age
        yield states
