"""Dependencies run one way: the import graph between packages has no cycle, and the domain
never imports storage (not even inside a function). Walks every module's source, so a lazy
import inside a function counts like a top-level one."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ROOTS = ("gateway", "ivr", "storage")
#: Packages that must not import ``storage``: the domain, and the adapters the issue names.
NO_STORAGE = (
    "gateway.accounts",
    "gateway.events",
    "gateway.surveys",
    "gateway.callbacks",
    "gateway.cases",
    "gateway.reports",
    "gateway.smpp",
    "ivr",
)
#: Known exceptions, to remove: gateway/http still runs SQL itself (issue 12, helper h13).
KNOWN_STORAGE_IMPORTS = {"gateway.http"}


def node(module: str) -> str:
    """The graph node of a module: ``storage``, or a top-level package's sub-package/module."""
    parts = module.split(".")
    if parts[0] == "storage" or len(parts) == 1:
        return parts[0]
    return ".".join(parts[:2])


def imports() -> dict[str, set[tuple[str, str]]]:
    """node → {(imported node, importing module)}, for imports between different nodes."""
    edges: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for root in ROOTS:
        for path in (REPO / root).rglob("*.py"):
            relative = path.relative_to(REPO).with_suffix("")
            if "migrations" in relative.parts:
                continue
            module = ".".join(relative.parts).removesuffix(".__init__")
            for n in ast.walk(ast.parse(path.read_text("utf-8"))):
                if isinstance(n, ast.ImportFrom) and n.module and n.level == 0:
                    names = [n.module]
                elif isinstance(n, ast.Import):
                    names = [alias.name for alias in n.names]
                else:
                    continue
                for name in names:
                    if name.split(".")[0] in ROOTS and node(name) != node(module):
                        edges[node(module)].add((node(name), module))
    return edges


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        path.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return [*path[path.index(m) :], m]
            if m not in state and (found := visit(m)):
                return found
        path.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (found := visit(n)):
            return found
    return None


def test_find_cycle_reports_a_cycle_and_none_without():
    """The checker itself: a → b → a is found; a → b → c is not a cycle."""
    assert find_cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}}) is None


def test_no_cycle_between_packages():
    """No package reaches itself through the imports of others."""
    graph = {n: {m for m, _ in targets} for n, targets in imports().items()}
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_domain_never_imports_storage():
    """Domain packages (and ivr) import nothing from storage, not even inside functions."""
    offenders = sorted(
        module
        for n, targets in imports().items()
        if n.startswith(NO_STORAGE) or n in KNOWN_STORAGE_IMPORTS
        for target, module in targets
        if target == "storage" and n not in KNOWN_STORAGE_IMPORTS
    )
    assert offenders == []
