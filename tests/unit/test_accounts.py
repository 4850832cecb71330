"""The address check of `lre-gateway sender add`."""

from __future__ import annotations

import pytest

from gateway.accounts import address_problem


@pytest.mark.parametrize(
    "address",
    ["maitre.dupont@cabinet-dupont.ma", "a+b@xn--caf-dma.ma", "Etude.Alaoui@Notaires.MA"],
)
def test_mailboxes_a_sender_can_use_are_accepted(address: str) -> None:
    """A mailbox with a dotted domain (ASCII or xn--) passes."""
    assert address_problem(address) is None


@pytest.mark.parametrize(
    ("address", "said"),
    [
        ("", "is not an email address"),
        ("maitre dupont@cabinet.ma", "no spaces"),
        ("<maitre@cabinet.ma>", "no spaces, brackets"),
        ("maitre.cabinet.ma", "such as name@example.ma"),
        ("maitre@", "such as name@example.ma"),
        ("@cabinet.ma", "such as name@example.ma"),
        ("maitre@cabinet_dupont.ma", "such as name@example.ma"),
        ("maitre@localhost", "not a full domain name"),
        ("maitre@[127.0.0.1]", "no spaces, brackets"),
        ("x" * 65 + "@cabinet.ma", "too long"),
        ("maître@cabinet.ma", "ASCII form"),
    ],
)
def test_what_cannot_be_a_sender_address_is_refused_with_the_reason(
    address: str, said: str
) -> None:
    """Spaces, brackets, no @, no dotted domain, too long, non-ASCII: one sentence says why."""
    problem = address_problem(address)
    assert problem is not None
    assert said in problem
