"""Imports point one way, down the flow: no module imports a later stage, and none hide.

The package is laid out by role, in the order data flows through it. Every ``import`` in
every module counts: top-level ones, those inside functions, and those under
``if TYPE_CHECKING:``. A module may import its own layer and the layers above it in
:data:`LAYERS`, never one below; and no two modules may import each other, directly or
around a circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "coordscope"

#: The layers, first to last. A module belongs to the longest prefix that names it.
#: ``engine`` (the band sweep and native pair counting over any key table) comes before
#: ``signals`` because near-duplicate texts and media hashes pair up their LSH buckets
#: with the same sweep.
LAYERS: tuple[tuple[str, ...], ...] = (
    (
        "coordscope._version",
        "coordscope._allocator",
        "coordscope.errors",
        "coordscope.budget",
        "coordscope.progress",
        "coordscope.parts",
        "coordscope.schema",
        "coordscope._output",
        "coordscope.results",
    ),
    ("coordscope.datasets",),
    ("coordscope.engine",),
    ("coordscope.signals",),
    ("coordscope.stats",),
    ("coordscope.graphs",),
    ("coordscope.compat",),
    ("coordscope.report",),
    ("coordscope.metrics",),
    ("coordscope.outputs",),
    ("coordscope.pipeline",),
    ("coordscope.daily",),
    ("coordscope.runs",),
    ("coordscope.cli", "coordscope.__main__", "coordscope"),
)


def layer_of(module: str) -> int:
    """Index in :data:`LAYERS` of the longest prefix naming ``module``."""
    best, best_len = -1, -1
    for i, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = i, len(prefix)
    if best < 0:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS")
    return best


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every coordscope module ``path`` imports, wherever the import statement is."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    name = module_name(path)
    base = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "coordscope")
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the package
                anchor = base.rsplit(".", node.level - 1)[0] if node.level > 1 else base
                target = f"{anchor}.{node.module}" if node.module else anchor
            else:
                target = node.module or ""
            if target.split(".")[0] != "coordscope":
                continue
            # `from pkg import module` imports the module; `from module import name` not
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if _is_module(sub) else target)
    return found


def _is_module(name: str) -> bool:
    rel = Path(*name.split(".")[1:])
    return (PACKAGE / rel).with_suffix(".py").is_file() or (PACKAGE / rel / "__init__.py").is_file()


def import_graph() -> dict[str, set[str]]:
    return {module_name(p): imports_of(p) for p in sorted(PACKAGE.rglob("*.py"))}


def backward_imports(graph: dict[str, set[str]]) -> list[str]:
    """``importer -> imported`` for every import of a later layer."""
    return sorted(
        f"{mod} -> {dep}"
        for mod, deps in graph.items()
        for dep in deps
        if layer_of(dep) > layer_of(mod)
    )


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    comp.append(top)
                    if top == node:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def test_every_module_is_in_a_layer() -> None:
    for mod in import_graph():
        layer_of(mod)


def test_no_module_imports_a_later_stage() -> None:
    assert backward_imports(import_graph()) == []


def test_no_import_cycle_counting_local_and_type_checking_imports() -> None:
    graph = import_graph()
    # the package's own __init__ re-exports everything: an import of the package itself
    # by a module would close a circle through it, so it must not happen at all
    assert [m for m, deps in graph.items() if "coordscope" in deps and m != "coordscope"] == []
    assert cycles(graph) == []


def test_the_checks_can_fail() -> None:
    # a stats module importing the pipeline, and two signal modules importing each other
    fake = {
        "coordscope.stats.x": {"coordscope.pipeline", "coordscope.schema"},
        "coordscope.signals.a": {"coordscope.signals.b"},
        "coordscope.signals.b": {"coordscope.signals.a"},
        "coordscope.schema": set(),
        "coordscope.pipeline": set(),
    }
    assert backward_imports(fake) == ["coordscope.stats.x -> coordscope.pipeline"]
    assert cycles(fake) == [["coordscope.signals.a", "coordscope.signals.b"]]
    with pytest.raises(AssertionError, match="in no layer"):
        layer_of("coordscope_other.x")


def test_local_imports_are_found() -> None:
    graph = import_graph()
    # the CLI defers the runs (scipy.stats, matplotlib) inside its commands: still seen
    assert "coordscope.runs" in graph["coordscope.cli"]
