"""The house drawn as an import graph: modules as rooms, imports (at module level or inside a function;
not those under `if TYPE_CHECKING:`, which import nothing at run time) as arrows. `cgbench` is the floor and imports none of the packages above it; `labeling`, `baselines`
and `leaderboard` stand side by side and import none of each other; and no set of modules imports
itself round a circle (a module and its package's `__init__` included)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("cgbench", "labeling", "baselines", "leaderboard")


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The project modules ``name`` imports (``from pkg import sub`` counts as ``pkg.sub`` when it is one)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(), str(path))
    # Imports under `if TYPE_CHECKING:` name types for annotations; nothing is imported at run time.
    typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                   and ast.unparse(block.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
                   for statement in block.body for n in ast.walk(statement)}
    out = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(edges.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_graph_is_read():
    edges = graph()
    assert "cgbench.jobs.worker" in edges["cgbench.jobs.backends.local"]
    assert "cgbench.families.registry" in edges["cgbench.families.nb201"]
    assert len(edges) > 120


def test_the_core_imports_nothing_above_it():
    upward = [(a, b) for a, targets in graph().items() if a.startswith("cgbench")
              for b in targets if not b.startswith("cgbench")]
    assert upward == []


def test_the_packages_above_the_core_import_none_of_each_other():
    sideways = [(a, b) for a, targets in graph().items() for b in targets
                if a.split(".")[0] != b.split(".")[0] and not b.startswith("cgbench")]
    assert sideways == []


def test_there_is_no_import_circle():
    assert cycles(graph()) == []
