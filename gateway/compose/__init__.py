"""The gateway's own mails, built as bytes (pure: time and ids are arguments)."""

from gateway.compose.notification import NoticeFacts, compose_notification
from gateway.compose.proof import EVIDENCE_P7S, EVIDENCE_XML, compose_proof

__all__ = ["EVIDENCE_P7S", "EVIDENCE_XML", "NoticeFacts", "compose_notification", "compose_proof"]
