"""The layers of docs/architecture.md, checked over the source's syntax trees: every
import (at the top of a module or inside a function) goes down the table, never up or
sideways; no module imports another's private name; the modules import no circle."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

#: the layers, lowest first; a module may import its own top-level module and those of
#: LOWER layers only (modules of one layer are independent of each other)
LAYERS = [
    ["tensors", "limits", "compiler", "precision"],
    ["schedules", "colour"],
    ["processes", "predictions"],
    ["denoiser"],
    ["grids"],
    ["samplers"],
    ["guidance", "likelihood", "losses", "masks", "models"],
    ["tasks"],
    ["nets"],
    ["io"],
    ["text", "data", "viz"],
    ["metrics"],
    ["train"],
    ["pipelines"],
    ["evaluate", "app"],
    ["cli"],
]
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted((SRC / "difflab").rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path):
    """(target module, imported names, line) of every difflab import in module ``name``."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "difflab":
                    yield alias.name, [], node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            elif node.module and node.module.split(".")[0] == "difflab":
                target = node.module
            else:
                continue
            names = [a.name for a in node.names]
            # "from . import x" where x is a module: an import of that module
            submodules = [n for n in names if f"{target}.{n}" in MODULES]
            for n in submodules:
                yield f"{target}.{n}", [], node.lineno
            if len(submodules) < len(names):
                yield target, [n for n in names if n not in submodules], node.lineno


def _top(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_every_module_has_a_layer():
    tops = {_top(m) for m in MODULES} - {None}
    assert tops <= set(RANK), f"add these to LAYERS and docs/architecture.md: {sorted(tops - set(RANK))}"


def test_imports_go_down_the_layers():
    wrong = []
    for name, path in MODULES.items():
        source = _top(name)
        if source is None:  # the package root: the lazy public face, above everything
            continue
        for target, names, line in _imports(name, path):
            dest = _top(target)
            if dest is None:
                if set(names) - {"__version__"}:
                    wrong.append(f"{path.relative_to(SRC)}:{line} imports {names} from the package root")
                continue
            if dest != source and RANK[dest] >= RANK[source]:
                wrong.append(f"{path.relative_to(SRC)}:{line} ({source}, layer {RANK[source]}) imports "
                             f"{target} (layer {RANK[dest]})")
    assert not wrong, "\n".join(wrong)


def test_no_module_imports_a_private_name_of_another():
    wrong = [f"{path.relative_to(SRC)}:{line} imports {n} from {target}"
             for name, path in MODULES.items() for target, names, line in _imports(name, path)
             for n in names if n.startswith("_") and not n.startswith("__") and target != name]
    assert not wrong, "\n".join(wrong)


def test_no_import_cycle():
    graph = {name: {t if t in MODULES else t.rsplit(".", 1)[0] for t, _, _ in _imports(name, path)} - {name}
             for name, path in MODULES.items() if name != "difflab"}
    graph = {k: {t for t in v if t in graph} for k, v in graph.items()}
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(trail[trail.index(nxt):] + [node, nxt]) if nxt in trail
                              else f"{node} -> {nxt}")
            elif nxt not in state:
                visit(nxt, trail + [node])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    assert not cycles, "\n".join(cycles)


def test_the_layers_are_those_of_docs_architecture():
    import re

    doc = (SRC.parent / "docs" / "architecture.md").read_text()
    rows = re.findall(r"^\| (\d+) \| `([a-z_]+)(?:/|\.py)` \|", doc, re.M)
    table: dict[int, set] = {}
    for layer, name in rows:
        table.setdefault(int(layer), set()).add(name)
    assert table == {i: set(names) for i, names in enumerate(LAYERS)}
