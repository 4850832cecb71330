"""No SMTP words in gateway/mime or gateway/services: they raise domain errors, doors word them.

Each module is read with `ast` (comments are not code, so they are not read): no import of an
SMTP door, of the shared SMTP wording (gateway.content_replies) or of an SMTP library; no use of
SMTP reply types (SmtpReply, Rejected, RelayFailed); no string, docstrings included, holding a
reply line ("550 5.6.0 ...") or an RFC 3463 code alone ("5.1.3"). Each check is shown to catch
a planted line, so it cannot pass by reading nothing.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final

import pytest

GATEWAY = Path(__file__).resolve().parents[2] / "gateway"
WORDLESS: Final = ("mime", "services")  # the packages that must not speak SMTP

FORBIDDEN_MODULES: Final = (
    "gateway.smtp_in",
    "gateway.smtp_out",
    "gateway.content_replies",
    "aiosmtpd",
    "aiosmtplib",
    "smtplib",
)
FORBIDDEN_NAMES: Final = frozenset({"SmtpReply", "Rejected", "RelayFailed"})
# "550 5.6.0 ..." (a reply line) or an RFC 3463 status code standing alone ("5.1.3"), not a
# section of an RFC ("§2.3.8")
REPLY: Final = re.compile(r"\b[2-5]\d\d[ -][245]\.\d{1,3}\.\d{1,3}\b")
STATUS: Final = re.compile(r"(?<![\w.§])[245]\.\d{1,3}\.\d{1,3}(?![\w.])")


def _modules(node: ast.AST) -> Iterator[str]:
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom) and node.module:
        yield node.module
        yield from (f"{node.module}.{alias.name}" for alias in node.names)


def forbidden_imports(tree: ast.AST) -> list[str]:
    """Imports of an SMTP door, the shared SMTP wording or an SMTP library."""
    found = []
    for node in ast.walk(tree):
        for module in _modules(node):
            if any(module == bad or module.startswith(bad + ".") for bad in FORBIDDEN_MODULES):
                found.append(f"line {node.lineno}: imports {module}")  # type: ignore[attr-defined]
    return found


def forbidden_names(tree: ast.AST) -> list[str]:
    """SMTP reply types, used or imported under their own name."""
    found = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Name):
            names = [node.id]
        elif isinstance(node, ast.Attribute):
            names = [node.attr]
        elif isinstance(node, ast.ImportFrom):
            names = [alias.name for alias in node.names]
        found += [f"line {node.lineno}: {name}" for name in names if name in FORBIDDEN_NAMES]  # type: ignore[attr-defined]
    return found


def smtp_strings(tree: ast.AST) -> list[str]:
    """Strings holding a reply line or an RFC 3463 status code."""
    return [
        f"line {node.lineno}: {node.value[:60]!r}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and (REPLY.search(node.value) or STATUS.search(node.value))
    ]


CHECKS: dict[Callable[[ast.AST], list[str]], str] = {  # each check, and a line it must catch
    forbidden_imports: "from gateway.smtp_in import replies",
    forbidden_names: "raise Rejected(reply)",
    smtp_strings: 'TEXT = "550 5.6.0 The message could not be read"',
}


def wordless_files() -> list[Path]:
    return sorted(path for package in WORDLESS for path in (GATEWAY / package).rglob("*.py"))


def test_the_checks_read_the_packages() -> None:
    """The packages exist and hold modules, so the checks below are not passing on nothing."""
    names = {path.relative_to(GATEWAY).as_posix() for path in wordless_files()}
    assert {"mime/message.py", "mime/limits.py", "services/deposit.py"} <= names


@pytest.mark.parametrize("check", list(CHECKS), ids=lambda check: check.__name__)
@pytest.mark.parametrize(
    "path", wordless_files(), ids=lambda path: path.relative_to(GATEWAY).as_posix()
)
def test_mime_and_services_speak_no_smtp(check: Callable[[ast.AST], list[str]], path: Path) -> None:
    """The module raises domain errors (ContentRefused, DepositRefused, ...); doors word them."""
    assert check(ast.parse(path.read_text(), filename=str(path))) == []


@pytest.mark.parametrize("check", list(CHECKS), ids=lambda check: check.__name__)
def test_the_check_catches_a_planted_line(check: Callable[[ast.AST], list[str]]) -> None:
    """A line of SMTP vocabulary planted in a module is named by the check."""
    assert check(ast.parse(CHECKS[check])) != []


def test_a_status_code_alone_is_caught_a_section_number_is_not() -> None:
    """ "5.1.3" in a docstring is SMTP's vocabulary; "RFC 5321 §2.3.8" is a citation."""
    assert smtp_strings(ast.parse('"""refused (5.1.3, naming the recipient)"""')) != []
    assert smtp_strings(ast.parse('"""bare CR or LF (RFC 5321 §2.3.8)"""')) == []
