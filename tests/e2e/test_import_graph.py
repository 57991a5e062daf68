"""No import cycles inside a package: every module's imports (at any depth, lazy ones too, but not those under
``if TYPE_CHECKING:``) are parsed with ``ast``, and the graph of imports between one package's modules must
have no cycle. Cheap: nothing is imported."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"siamese_sdk": ROOT / "sdk" / "siamese_sdk", "siamese_trainer": ROOT / "trainer" / "siamese_trainer",
            "siamese_export": ROOT / "export" / "siamese_export"}  # fmt: skip


def modules(package: str, folder: Path) -> dict[str, Path]:
    """Dotted module name -> file, packages named by their ``__init__.py``."""
    out = {}
    for path in sorted(folder.rglob("*.py")):
        parts = [package, *path.relative_to(folder).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node except those inside ``if TYPE_CHECKING:`` blocks (imports for annotations only)."""
    found, stack = [], [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        found.append(node)
        stack.extend(ast.iter_child_nodes(node))
    return found


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The modules of ``known`` that module ``name`` (file ``path``) imports."""
    is_pkg = path.name == "__init__.py"
    out: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")[: len(name.split(".")) - node.level + (1 if is_pkg else 0)]
                mod = ".".join([*base, *([node.module] if node.module else [])])
            else:
                mod = node.module or ""
            # ``from pkg import sub`` imports the submodule ``pkg.sub`` when there is one, else names of ``pkg``
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in known else mod for a in node.names]
        else:
            continue
        out |= {t for t in targets if t in known and t != name}
    return out


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                return [*stack[stack.index(m) :], m]
            if m not in state and (cycle := visit(m)):
                return cycle
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (cycle := visit(n)):
            return cycle
    return None


def graph_of(package: str) -> dict[str, set[str]]:
    mods = modules(package, PACKAGES[package])
    return {name: imports(name, path, set(mods)) for name, path in mods.items()}


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_no_import_cycle_inside_a_package(package):
    cycle = find_cycle(graph_of(package))
    assert cycle is None, f"import cycle in {package}: {' -> '.join(cycle)}"


def test_the_format_layer_never_imports_the_runtime():
    graph = graph_of("siamese_sdk")
    bad = sorted(f"{a} -> {b}" for a, deps in graph.items() if a.startswith("siamese_sdk.format") for b in deps
                 if b.startswith("siamese_sdk.runtime"))  # fmt: skip
    assert not bad, bad


def test_the_checker_sees_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
