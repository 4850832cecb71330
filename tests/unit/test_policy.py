"""One function per policy (gateway/core/policy.py), and no second home for any of them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from gateway.core.evidence import EvidenceType as E
from gateway.core.letter import State as S
from gateway.core.policy import letter_path, letter_url, sender_revealed, shows_deadline

GATEWAY = Path(__file__).parents[2] / "gateway"
POLICY = GATEWAY / "core" / "policy.py"


@pytest.mark.parametrize(
    ("setting", "state", "revealed"),
    [
        ("after_acceptance", None, False),
        ("after_acceptance", S.DEPOSITED, False),
        ("after_acceptance", S.NOTIFIED, False),
        ("after_acceptance", S.REFUSED, False),
        ("after_acceptance", S.NEGLECTED, False),
        ("after_acceptance", S.UNDELIVERABLE, False),
        ("after_acceptance", S.ACCEPTED, True),
        ("after_acceptance", S.HANDED_OVER, True),
        ("in_notification", None, True),
        ("in_notification", S.NOTIFIED, True),
        ("in_notification", S.REFUSED, True),
    ],
)
def test_sender_is_revealed_after_acceptance_unless_configured_for_the_notification(
    setting: str, state: S | None, revealed: bool
) -> None:
    """By default a recipient learns who wrote only by accepting; a refusal reveals nothing."""
    released = state is not None and state.released
    assert sender_revealed(setting, released=released) is revealed


def test_link_is_the_public_url_followed_by_the_letter_path() -> None:
    """The notification's link is public_url + /l/ + token, with no doubled slash."""
    token = "Zm9v-YmFy_baz"
    assert letter_url("https://lre.example.ma", token) == "https://lre.example.ma/l/Zm9v-YmFy_baz"
    assert letter_url("https://lre.example.ma/", token) == "https://lre.example.ma/l/Zm9v-YmFy_baz"
    assert letter_url("https://x.ma/lre/", token) == "https://x.ma/lre/l/Zm9v-YmFy_baz"


def test_letter_path_keeps_a_hostile_token_inside_one_path_segment() -> None:
    """A token taken from a request cannot add segments, a query or a header to a redirect."""
    assert letter_path("a/../b?x=1#y\r\nSet-Cookie: z", "/lre") == (
        "/lre/l/a%2F..%2Fb%3Fx%3D1%23y%0D%0ASet-Cookie%3A%20z"
    )


def test_deadline_appears_on_the_deposit_and_negligence_proofs() -> None:
    """The proof mail names the deadline where it is the point: deposit and negligence only."""
    assert {e for e in E if shows_deadline(e)} == {
        E.SubmissionAcceptance,
        E.AcceptanceRejectionExpiry,
    }


def test_certificate_also_shows_the_deadline_on_decisions() -> None:
    """The PDF certificate adds it on acceptance and refusal; never on non-delivery."""
    assert {e for e in E if shows_deadline(e, certificate=True)} == {
        E.SubmissionAcceptance,
        E.AcceptanceRejectionExpiry,
        E.ConsignmentAcceptance,
        E.ConsignmentRejection,
    }


def _sources() -> list[tuple[Path, ast.AST]]:
    return [(p, ast.parse(p.read_text())) for p in sorted(GATEWAY.rglob("*.py")) if p != POLICY]


def test_no_module_but_the_policy_builds_a_recipient_link() -> None:
    """Routes may name /l/, but only core/policy.py formats a link to it (f-string or concat)."""
    offenders = []
    for path, tree in _sources():
        for node in ast.walk(tree):
            if not isinstance(node, ast.JoinedStr | ast.BinOp):
                continue
            if "/l/" in ast.unparse(node):
                offenders.append(f"{path.relative_to(GATEWAY)}:{node.lineno}")
    assert offenders == []


def test_no_module_but_the_policy_decides_on_reveal_sender() -> None:
    """Only core/policy.py reads the value "in_notification" (settings lists it as a choice)."""
    offenders = []
    for path, tree in _sources():
        if path == GATEWAY / "settings.py":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value == "in_notification":
                offenders.append(f"{path.relative_to(GATEWAY)}:{node.lineno}")
    assert offenders == []
