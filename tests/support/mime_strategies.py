"""Hypothesis strategies for letters as mail programs write them."""

from __future__ import annotations

import email.headerregistry
import email.policy
import re
from dataclasses import dataclass
from email.message import EmailMessage

from hypothesis import strategies as st

SENDER = "maitre.dupont@cabinet-dupont.ma"


# Printable text without control characters (a header cannot hold CR or LF).
TEXT = st.text(st.characters(blacklist_categories=["Cc", "Cs", "Zl", "Zp"]), max_size=80)
BODY = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\x00"), max_size=400
)


# an RFC 2047 encoded word (charset, encoding and text may be empty): a file name holding one is
# decoded by the email package as it writes the parameter ("=??Q??=" is written as an empty
# name, "=?utf-8?q?abc?=" as "abc"), so no reader can give it back as the sender typed it
ENCODED_WORD = re.compile(r"=\?[^?]*\?[^?]*\?[^?]*\?=")


def _read_back_as_typed(name: str) -> bool:
    """Whether the email package gives `name` back as written: not blank, no white space
    around it, no encoded word, and not wrapped in quotes or angle brackets (its
    `get_filename` unquotes the parameter once more, `email.utils.unquote`: '""' is read as an
    empty name, '"x"' and '<x>' as 'x')."""
    wrapped = len(name) >= 2 and (name[0], name[-1]) in (('"', '"'), ("<", ">"))
    return (
        bool(name.strip())
        and name == name.strip()
        and not wrapped
        and not ENCODED_WORD.search(name)
    )


FILE_NAME = TEXT.filter(_read_back_as_typed)

CONTENT_TYPES = st.sampled_from(
    ["application/pdf", "application/octet-stream", "image/png", "text/csv", "application/zip"]
)


@dataclass(frozen=True)
class Generated:
    content: bytes
    body: str
    attachments: list[tuple[str, bytes]]


@st.composite
def letters(draw: st.DrawFn) -> Generated:
    """A letter as a mail program writes it: text (maybe with HTML), attachments, a forward."""
    message = EmailMessage()
    message["From"] = email.headerregistry.Address(draw(TEXT), addr_spec=SENDER)
    message["To"] = "bob@example.com"
    message["Subject"] = draw(TEXT)
    body = draw(BODY)
    message.set_content(body)
    if draw(st.booleans()):
        message.add_alternative(f"<p>{draw(TEXT)}</p>", subtype="html")
    attachments = []
    for _ in range(draw(st.integers(0, 3))):
        name = draw(FILE_NAME)
        data = draw(st.binary(max_size=300))
        maintype, subtype = draw(CONTENT_TYPES).split("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
        attachments.append((name, data))
    for number, part in enumerate(message.walk()):  # fixed boundaries: no `random` in draws
        if part.is_multipart():
            part.set_boundary(f"==boundary-{number}==")
    return Generated(message.as_bytes(policy=email.policy.SMTP), body, attachments)
