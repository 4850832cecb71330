"""Test modules share helpers through tests/support/, never by importing one another."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).parents[1]


def test_no_test_module_imports_another_test_module() -> None:
    """A helper two test modules need lives in tests/support/; test_*.py import nothing else."""
    offenders = []
    for path in sorted(TESTS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            else:
                continue
            for module in modules:
                if module.startswith(("tests.integration", "tests.unit")):
                    offenders.append(f"{path.relative_to(TESTS)}:{node.lineno} imports {module}")
    assert offenders == []
