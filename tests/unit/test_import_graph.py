"""No import cycles inside voicebot/.

A cycle works only as long as nobody reorders the imports, and it hides which module is the
foundation of which. The scan reads each module's imports as Python runs them when the module
is loaded: top-level statements, including class bodies, ``try`` and ``if`` blocks, but not
``if TYPE_CHECKING:`` blocks (never run) nor imports inside functions (run later, when the
cycle has long been resolved).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import voicebot

ROOT = Path(voicebot.__file__).resolve().parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _load_time_imports(nodes: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    """The import statements run when the module is loaded."""
    for node in nodes:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _load_time_imports(node.orelse)
        else:
            for field in ("body", "orelse", "finalbody", "handlers", "cases"):
                children = getattr(node, field, None) or []
                stmts = [c for c in children if isinstance(c, ast.stmt)]
                for handler in children:
                    if isinstance(handler, ast.ExceptHandler | ast.match_case):
                        stmts.extend(handler.body)
                yield from _load_time_imports(stmts)


def _targets(
    module: str, path: Path, node: ast.Import | ast.ImportFrom, known: set[str]
) -> set[str]:
    """The voicebot modules an import statement loads (``from pkg import sub`` loads
    ``pkg.sub`` when that is a module, else ``pkg`` itself)."""
    if isinstance(node, ast.Import):
        return {a.name for a in node.names if a.name in known}
    base = node.module or ""
    if node.level:
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{base}" if base else package
    found: set[str] = set()
    for alias in node.names:
        sub = f"{base}.{alias.name}"
        if sub in known:
            found.add(sub)
        elif base in known:
            found.add(base)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        edges: set[str] = set()
        for node in _load_time_imports(tree.body):
            edges |= _targets(name, path, node, known)
        edges.discard(name)
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path ``[a, b, ..., a]``, or None."""
    done: set[str] = set()
    stack: list[str] = []
    on_stack: set[str] = set()

    def visit(node: str) -> list[str] | None:
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt in on_stack:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in done:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        on_stack.discard(node)
        done.add(node)
        return None

    for start in sorted(graph):
        if start not in done:
            cycle = visit(start)
            if cycle:
                return cycle
    return None


def test_the_scan_sees_load_time_imports_and_finds_a_cycle() -> None:
    graph = import_graph()
    assert {"voicebot.metrics.records", "voicebot.metrics.stages"} <= graph[
        "voicebot.metrics.stats"
    ]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_scan_skips_type_checking_and_function_level_imports() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "import voicebot.x\n"
        "if TYPE_CHECKING:\n    import voicebot.y\n"
        "def f():\n    import voicebot.z\n"
        "try:\n    import voicebot.w\nexcept ImportError:\n    import voicebot.v\n"
        "class C:\n    import voicebot.u\n"
    )
    known = {f"voicebot.{c}" for c in "xyzwvu"}
    seen: set[str] = set()
    for node in _load_time_imports(ast.parse(source).body):
        seen |= _targets("voicebot.m", ROOT / "m.py", node, known)
    assert seen == {"voicebot.x", "voicebot.w", "voicebot.v", "voicebot.u"}


def test_the_scan_resolves_relative_and_from_package_imports() -> None:
    known = {"voicebot", "voicebot.pkg", "voicebot.pkg.sub", "voicebot.other"}
    source = "from . import sub\nfrom .. import other\nfrom voicebot import pkg, Name\n"
    seen: set[str] = set()
    for node in _load_time_imports(ast.parse(source).body):
        seen |= _targets("voicebot.pkg.mod", ROOT / "pkg" / "mod.py", node, known)
    assert seen == {"voicebot.pkg.sub", "voicebot.other", "voicebot.pkg", "voicebot"}
    in_init: set[str] = set()
    for node in ast.parse("from .sub import x\n").body:
        assert isinstance(node, ast.ImportFrom)
        in_init |= _targets("voicebot.pkg", ROOT / "pkg" / "__init__.py", node, known)
    assert in_init == {"voicebot.pkg.sub"}


def test_voicebot_has_no_import_cycle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle in voicebot/: " + " -> ".join(cycle or [])


def test_features_never_import_the_spec_or_the_session_even_for_typing() -> None:
    """``voicebot.session`` assembles metrics, memory and knowledge, and ``voicebot.bot``
    builds sessions: were they to name ``Bot`` or ``Session`` back (as ``metrics.live`` once
    did, to read five options), the cycle would only be hidden behind ``TYPE_CHECKING``."""
    features = ("voicebot.metrics", "voicebot.memory", "voicebot.knowledge")
    offenders = []
    for name, path in _modules().items():
        if not name.startswith(features):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                targets = _targets(name, path, node, {"voicebot.bot", "voicebot.session"})
                offenders += [f"{name} -> {t}" for t in sorted(targets)]
    assert not offenders, "; ".join(offenders)
