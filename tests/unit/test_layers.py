"""Imports point down only: the layers of docs/architecture.md, read from the code with `ast`.

A unit is a package of gateway (gateway.smtp_in) or a top-level module (gateway.registry).
Every import of ours counts, also one inside a function (a late import hides a cycle, it does
not remove it).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

GATEWAY = Path(__file__).resolve().parents[2] / "gateway"

# The doors: each speaks one protocol and calls the application; none imports another.
ADAPTERS = frozenset(
    {"smtp_in", "smtp_out", "web", "api", "sms", "webhooks"},
)
# What the doors call: services, and the bundle that holds them.
APPLICATION = frozenset({"services", "registry"})
# Below the application: they know nothing of services, doors or the composition root.
FOUNDATIONS = frozenset({"core", "errors", "mime", "storage", "evidence", "settings", "i18n"})
# The composition root (app) and the command line (cli) wire everything; nothing imports them.
ROOTS = frozenset({"app", "cli", "__main__"})


def unit(module: str) -> str:
    """gateway.smtp_in.handler → smtp_in; gateway.registry → registry; gateway → gateway."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, module) for each import of a gateway module in the file, wherever it stands."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "gateway":
                for alias in node.names:
                    yield node.lineno, f"gateway.{alias.name}"
            elif node.module.startswith("gateway."):
                yield node.lineno, node.module
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("gateway."):
                    yield node.lineno, alias.name


def edges() -> list[tuple[str, str, str]]:
    """(importing unit, imported unit, where) for every import between two different units."""
    found = []
    for path in sorted(GATEWAY.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        module = ".".join(path.relative_to(GATEWAY.parent).with_suffix("").parts)
        for line, target in imports(path):
            source, imported = unit(module), unit(target)
            if source != imported and imported != "gateway":
                found.append((source, imported, f"{path.relative_to(GATEWAY.parent)}:{line}"))
    return found


Edge = tuple[str, str, str]
EDGES = edges()


def cycles(found: list[Edge]) -> list[str]:
    """No package or top-level module reaches itself again through the imports of others."""
    graph: dict[str, set[str]] = {}
    for source, imported, _ in found:
        graph.setdefault(source, set()).add(imported)
    paths = [_cycle_from(graph, start) for start in sorted(graph)]
    return [" -> ".join(path) for path in paths if path]


def _cycle_from(graph: dict[str, set[str]], start: str) -> list[str] | None:
    """The shortest import path from start back to start, if any (breadth first)."""
    paths = [[start]]
    seen = {start}
    while paths:
        path = paths.pop(0)
        for nxt in sorted(graph.get(path[-1], ())):
            if nxt == start:
                return [*path, start]
            if nxt not in seen:
                seen.add(nxt)
                paths.append([*path, nxt])
    return None


def _where(found: list[Edge], forbidden: Callable[[str, str], bool]) -> list[str]:
    return [f"{at} ({src} imports {dst})" for src, dst, at in found if forbidden(src, dst)]


def adapters_importing_adapters(found: list[Edge]) -> list[str]:
    """smtp_in, smtp_out, web, api, sms and webhooks each call the application, never a peer."""
    return _where(found, lambda src, dst: src in ADAPTERS and dst in ADAPTERS)


def core_importing_outside(found: list[Edge]) -> list[str]:
    """gateway/core imports only itself and gateway.errors."""
    return _where(found, lambda src, dst: src == "core" and dst != "errors")


def foundations_importing_upwards(found: list[Edge]) -> list[str]:
    """core, errors, mime, storage, evidence, settings and i18n import no service, door or root."""
    above = APPLICATION | ADAPTERS | ROOTS | {"scheduler"}
    return _where(found, lambda src, dst: src in FOUNDATIONS and dst in above)


def application_importing_doors(found: list[Edge]) -> list[str]:
    """Services raise domain errors; only a door knows SMTP replies or HTTP statuses."""
    return _where(found, lambda src, dst: src in APPLICATION and dst in ADAPTERS | ROOTS)


def root_imported(found: list[Edge]) -> list[str]:
    """gateway.app wires the components; no component reaches back into it."""
    return _where(found, lambda src, dst: dst in ROOTS and src not in ROOTS)


RULES: dict[Callable[[list[Edge]], list[str]], Edge] = {  # each rule, and an import it forbids
    cycles: ("storage", "api", "planted"),
    adapters_importing_adapters: ("api", "smtp_in", "planted"),
    core_importing_outside: ("core", "storage", "planted"),
    foundations_importing_upwards: ("mime", "services", "planted"),
    application_importing_doors: ("services", "smtp_in", "planted"),
    root_imported: ("web", "app", "planted"),
}


def test_the_scan_sees_the_imports_it_judges() -> None:
    """The scan finds known imports, so the rules are not passing on an empty graph."""
    pairs = {(source, imported) for source, imported, _ in EDGES}
    assert {("smtp_in", "services"), ("services", "storage"), ("storage", "core")} <= pairs
    assert len(EDGES) > 100


@pytest.mark.parametrize("rule", list(RULES), ids=lambda rule: rule.__name__)
def test_the_gateway_keeps_the_rule(rule: Callable[[list[Edge]], list[str]]) -> None:
    """No import of the gateway breaks the rule (the message lists each offending line)."""
    assert rule(EDGES) == []


@pytest.mark.parametrize("rule", list(RULES), ids=lambda rule: rule.__name__)
def test_the_rule_catches_a_forbidden_import(rule: Callable[[list[Edge]], list[str]]) -> None:
    """Plant one import the rule forbids: it names it, so a real one could not pass unseen."""
    assert rule([*EDGES, RULES[rule]]) != []
