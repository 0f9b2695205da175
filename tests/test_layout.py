"""The house stays layered: every module imports alone, and imports point only downward.

The import graph is read from the sources with ``ast`` — module-level imports and imports
inside functions alike; only ``if TYPE_CHECKING:`` blocks and a package's lazy PEP 562
``__getattr__`` are exempt — so a cycle or an upward import fails here before it can cause an
``ImportError`` in a fresh interpreter.  Each module is also imported alone, in a fresh
interpreter, because a cycle that the test process has already resolved hides there.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import amlses

SOURCE = Path(amlses.__file__).parent

#: the layers, lowest first; a module may import only from its own layer or a lower one
LAYERS: tuple[tuple[str, ...], ...] = (
    (
        "amlses.source",
        "amlses.values",
        "amlses.errors",
        "amlses.secrets",
        "amlses.files",
        "amlses.lazy",
        "amlses.version",
    ),
    (
        "amlses.redact",
        "amlses.vault",
        "amlses.lang",
        "amlses.expr",
        "amlses.aws",
        "amlses.tables",
    ),
    ("amlses.mail", "amlses.smtp", "amlses.ses", "amlses.stats"),
    (
        "amlses.runtime.datasets",
        "amlses.runtime.sessions",
        "amlses.runtime.onerror",
        "amlses.runtime.context",
        "amlses.actions",
        "amlses.check",
        "amlses.loader",
        "amlses.runtime.runner",
        "amlses.runtime",
    ),
    (
        "amlses.api",
        "amlses.output",
        "amlses.progress",
        "amlses.sendorder",
        "amlses.emulator",
        "amlses.localstart",
        "amlses.docs",
        "amlses.charts",
        "amlses.commands",
        "amlses.commands.check",
        "amlses.commands.doc",
        "amlses.commands.emulator",
        "amlses.commands.journal",
        "amlses.commands.stats",
        "amlses.commands.smtp_password",
        "amlses.startup",
        "amlses.cli",
        "amlses.__main__",
    ),
)
#: the order inside the execution layer, where handlers, check, loader and runner stack up
EXECUTION_ORDER = LAYERS[3]


def modules() -> dict[str, Path]:
    """Every module of the package by dotted name (packages by their own name)."""
    found = {}
    for path in sorted(SOURCE.rglob("*.py")):
        parts = list(path.relative_to(SOURCE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imports_of(module: str, path: Path, known: set[str]) -> set[str]:
    """The amlses modules ``module`` imports (``from pkg import name`` counts ``pkg.name``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    exempt: set[int] = set()
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            exempt |= {id(n) for child in node.body for n in ast.walk(child)}
        if is_package and isinstance(node, ast.FunctionDef) and node.name == "__getattr__":
            exempt |= {id(n) for n in ast.walk(node)}
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in exempt:
            continue
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            targets = [target, *(f"{target}.{alias.name}" for alias in node.names)]
        found |= {t for t in targets if t in known and t != module}
    return found


def graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: imports_of(name, path, known) for name, path in found.items()}


def layer_of(module: str) -> tuple[int, int]:
    """(layer, position inside the execution layer) of a module, by its longest prefix."""
    best: tuple[int, int, int] | None = None
    for level, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                order = EXECUTION_ORDER.index(prefix) if level == 3 else 0
                if best is None or len(prefix) > best[2]:
                    best = (level, order, len(prefix))
    assert best is not None, f"{module} belongs to no layer: add it to LAYERS"
    return best[0], best[1]


class TestImportGraph:
    def test_the_graph_sees_function_level_imports(self) -> None:
        """The reader is not blind: a known lazy import inside a function is found."""
        edges = graph()
        assert "amlses.aws.clients" in edges["amlses.runtime.context"]  # inside __init__
        assert "amlses.runtime.context" not in edges["amlses.values"]

    def test_there_is_no_import_cycle(self) -> None:
        edges = graph()
        cycles = []
        for start in edges:
            stack = [(start, [start])]
            seen: set[str] = set()
            while stack:
                node, path = stack.pop()
                for target in edges[node]:
                    if target == start:
                        cycles.append(" -> ".join([*path, start]))
                    elif target not in seen:
                        seen.add(target)
                        stack.append((target, [*path, target]))
        assert cycles == []

    def test_imports_point_only_downward(self) -> None:
        upward = [
            f"{module} imports {target}"
            for module, targets in graph().items()
            if module != "amlses"  # the root package only re-exports, lazily
            for target in targets - {"amlses"}
            if not target.startswith(module + ".")  # a package's own submodules
            and layer_of(target) > layer_of(module)
        ]
        assert upward == []

    def test_the_foundation_imports_no_amlses_module_above_it(self) -> None:
        edges = graph()
        for module in LAYERS[0]:
            assert {layer_of(t)[0] for t in edges[module]} <= {0}, module

    def test_no_source_module_is_longer_than_800_lines(self) -> None:
        long = {
            name: len(path.read_text(encoding="utf-8").splitlines())
            for name, path in modules().items()
        }
        assert {name: n for name, n in long.items() if n > 800} == {}


def _fresh(code: str) -> subprocess.Popen[str]:
    """``code`` in a new interpreter of the same Python (and the same sys.path settings)."""
    return subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


class TestFreshImports:
    def test_every_module_imports_alone_in_a_fresh_interpreter(self) -> None:
        """``python -c "import amlses.X"`` for every X, in parallel batches."""
        names = sorted(modules())
        failures = []
        for start in range(0, len(names), 8):
            batch = {name: _fresh(f"import {name}") for name in names[start : start + 8]}
            for name, process in batch.items():
                output, _ = process.communicate(timeout=120)
                if process.returncode != 0:
                    failures.append(f"{name}: {output.strip().splitlines()[-1]}")
        assert failures == []

    @pytest.mark.parametrize("name", amlses.__all__)
    def test_each_public_name_resolves_first_in_a_fresh_interpreter(self, name: str) -> None:
        """``amlses.RunOptions`` and friends work before anything else was imported."""
        process = _fresh(f"import amlses; print(type(amlses.{name}).__name__)")
        output, _ = process.communicate(timeout=120)
        assert process.returncode == 0, output

    def test_runtime_imports_without_the_api(self) -> None:
        """The bug this layout fixed: ``import amlses.runtime`` raised ImportError."""
        code = (
            "import sys, amlses.runtime as r; r.RunOptions(); r.Context; r.Runner; "
            "print('amlses.api' in sys.modules)"
        )
        process = _fresh(code)
        output, _ = process.communicate(timeout=120)
        assert (process.returncode, output.strip()) == (0, "False")
