"""A verifier's problem → the catalogue key (verify.reason.<code>) that explains it to anyone.

Each problem carries its reason code (gateway.core.problems.Reason), set where the verifier
found it; the web shows the code's sentence in the reader's language and the problem's own
English sentence as the technical detail.
"""

from __future__ import annotations

from typing import Final

from gateway.core.problems import Problem, Reason
from gateway.i18n import N_

REASONS: Final = tuple(reason.value for reason in Reason)
KEYS: Final = {
    Reason.UNSIGNED: N_("verify.reason.unsigned"),
    Reason.UNKNOWN_FILE: N_("verify.reason.unknown_file"),
    Reason.MISSING: N_("verify.reason.missing"),
    Reason.MODIFIED: N_("verify.reason.modified"),
    Reason.DAMAGED: N_("verify.reason.damaged"),
    Reason.EXPIRED: N_("verify.reason.expired"),
    Reason.UNTRUSTED: N_("verify.reason.untrusted"),
    Reason.TIMESTAMP: N_("verify.reason.timestamp"),
    Reason.OTHER: N_("verify.reason.other"),
}


def reason_key(problem: str) -> str:
    """verify.reason.<code> for one problem (a sentence without a code: "other")."""
    reason = problem.reason if isinstance(problem, Problem) else Reason.OTHER
    return KEYS[reason]
