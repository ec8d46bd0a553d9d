"""The package's architecture, checked from its source: imports run one way, no circles.

Library modules never import the commands or the CLI; the import graph (every ``import``
and ``from ... import`` of the package, at module level or inside functions) has no
cycle; every sub-command lives in ``denoisebench/commands/`` with ``NAME``,
``add_parser`` and ``main``; ``python -m denoisebench`` works.
"""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "denoisebench"


def _module_name(path):
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules():
    return {_module_name(p): p for p in PKG.rglob("*.py")}


def _resolve(module, is_package, node, known):
    """Package modules imported by ``node`` (an Import or ImportFrom) inside ``module``."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == "denoisebench"]
    base_parts = module.split(".") if is_package else module.split(".")[:-1]
    if node.level:
        base_parts = base_parts[:len(base_parts) - (node.level - 1)]
        base = ".".join(base_parts + ([node.module] if node.module else []))
    elif node.module and node.module.split(".")[0] == "denoisebench":
        base = node.module
    else:
        return []
    targets = []
    for alias in node.names:
        sub = f"{base}.{alias.name}"
        targets.append(sub if sub in known else base)
    return targets


def import_graph():
    """``{module: set of package modules it imports}`` for every module of the package."""
    known = _modules()
    graph = {}
    for name, path in known.items():
        tree = ast.parse(path.read_text())
        edges = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                edges.update(t for t in _resolve(name, path.name == "__init__.py", node, known) if t in known)
        edges.discard(name)
        graph[name] = edges
    return graph


def _cycles(graph):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_the_import_graph_has_no_circle():
    assert _cycles(import_graph()) == []


def test_a_cycle_is_detected():
    """The checker itself: a two-module circle is found."""
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]


def test_the_library_never_imports_the_commands():
    top = {"denoisebench.cli", "denoisebench.__main__"}
    for module, edges in import_graph().items():
        if module.startswith("denoisebench.commands") or module in top:
            continue
        bad = {e for e in edges if e.startswith("denoisebench.commands") or e in top}
        assert not bad, f"{module} imports {bad}"


def test_every_subcommand_lives_in_commands():
    from denoisebench.cli import build_parser
    from denoisebench.commands import COMMANDS

    names = [c.NAME for c in COMMANDS]
    for command in COMMANDS:
        assert command.__name__ == f"denoisebench.commands.{command.__name__.rsplit('.', 1)[1]}"
        assert callable(command.add_parser) and callable(command.main)
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert list(sub.choices) == names


def test_modules_stay_small():
    """One concept per module: none over 400 lines (docstrings included)."""
    big = {name: n for name, p in _modules().items() if (n := len(p.read_text().splitlines())) > 400}
    assert not big, big


@pytest.mark.parametrize("args", [["--help"], ["list"]])
def test_python_dash_m_works_like_the_console_script(args):
    done = subprocess.run([sys.executable, "-m", "denoisebench", *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert ("run" in done.stdout) if args == ["--help"] else ("wavelet" in done.stdout)
