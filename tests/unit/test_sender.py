"""The identified sender versus the name a message declares (gateway.core.sender)."""

import pytest

from gateway.core.sender import MAX_NAME, declared_name


@pytest.mark.parametrize(
    ("display", "expected"),
    [
        ("Ministère de la Justice", "Ministère de la Justice"),
        ("  Ministère   de la\tJustice ", "Ministère de la Justice"),
        ("Demo Sender", None),
        ("demo  SENDER", None),
        ("", None),
        (None, None),
        ("   ", None),
    ],
)
def test_declared_name_only_when_it_differs(display, expected):
    """The From: display name is kept as declared only when it differs from the registered name."""
    assert declared_name(display, "Demo Sender") == expected


def test_declared_name_is_bounded():
    """A huge display name is cut to what the database column holds."""
    name = declared_name("x" * 5000, "Demo Sender")
    assert name is not None
    assert len(name) == MAX_NAME
