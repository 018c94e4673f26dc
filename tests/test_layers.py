"""The import graph follows the layer map of CONTRIBUTING.md: no import runs back up, no circle between sub-packages.

Every module under ``src/socbal`` is parsed (ast, nothing is imported) and each ``import socbal.X...`` /
``from socbal.X... import`` in it, at module level, inside a function or under ``TYPE_CHECKING``, is an
edge from the module's sub-package to ``X``.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "src" / "socbal"

#: Layer of every sub-package (or top-level module), lowest first; a module may import its own
#: layer and those below, never one above. Keep in step with CONTRIBUTING.md.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "validation", "tomlfile", "resultfiles", "_jit_cache", "jit", "jit_pipeline", "bundled", "wording"),
    ("ems", "profiles"),
    ("scenario",),
    ("device",),
    ("sim", "topology"),
    ("fleet", "compare", "lifetime", "home", "runtime", "drivers", "emulators", "meters", "sweep", "homectl"),
    ("report",),
    ("console", "cli", "api", "__main__", "__init__"),
)
LAYER = {name: rank for rank, names in enumerate(LAYERS) for name in names}

#: Imports that break the rule today because of work in progress, as (importing module, imported sub-package).
#: Each entry says who removes it; the test fails once an entry is no longer needed, so the list only shrinks.
ALLOWED: frozenset[tuple[str, str]] = frozenset()


def _part(module: str) -> str:
    """The sub-package (or top-level module) a dotted module name below ``socbal`` belongs to."""
    return module.split(".")[1] if "." in module else "__init__"


def _modules() -> dict[str, Path]:
    """Dotted name -> file of every module in the package."""
    out = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(name: str, path: Path, modules: set[str]) -> set[str]:
    """The modules of the package (dotted names, from ``modules``) that ``name`` (a module at ``path``) imports."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                parts = name.split(".") if is_package else name.split(".")[:-1]
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*parts, node.module] if node.module else parts)
            else:
                base = node.module or ""
            # "from socbal import sim" imports the module socbal.sim; "from socbal.sim.engine import simulate" the module
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:  # a name inside a module, or outside the package: walk up
                target = target.rpartition(".")[0]
            if target:
                found.add(target)
    return found


def _edges() -> set[tuple[str, str]]:
    """(importing module, imported sub-package) for every import that crosses a sub-package."""
    modules = _modules()
    names = set(modules)
    return {
        (name, _part(target))
        for name, path in modules.items()
        for target in _imports(name, path, names)
        if _part(target) != _part(name)
    }


def test_every_sub_package_has_a_layer():
    missing = sorted({_part(m) for m in _modules()} - set(LAYER))
    assert not missing, f"add {missing} to LAYERS here and to the layer map in CONTRIBUTING.md"


def test_no_import_runs_back_up():
    upward = sorted((m, t) for m, t in _edges() if LAYER.get(t, -1) > LAYER.get(_part(m), -1) and (m, t) not in ALLOWED)
    lines = "\n".join(f"  {m} imports socbal.{t}" for m, t in upward)
    assert not upward, f"imports from a lower layer into a higher one:\n{lines}"


def test_no_import_circle_between_sub_packages():
    graph: dict[str, set[str]] = {}
    for module, target in _edges() - ALLOWED:
        graph.setdefault(_part(module), set()).add(target)
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as err:
        pytest.fail(f"import circle between sub-packages: {' -> '.join(err.args[1])}")


def test_allowed_exceptions_are_still_needed():
    stale = sorted(ALLOWED - _edges())
    assert not stale, f"remove from ALLOWED, these imports are gone: {stale}"


def test_the_checker_sees_lazy_relative_and_type_only_imports(tmp_path):
    source = (
        "from typing import TYPE_CHECKING\n"
        "from . import columns\n"
        "from socbal import _jit_cache\n"
        "if TYPE_CHECKING:\n    from socbal.report import ReportPage\n"
        "def f():\n    import socbal.cli\n"
    )
    path = tmp_path / "engine.py"
    path.write_text(source)
    modules = {"socbal", "socbal._jit_cache", "socbal.sim", "socbal.sim.columns", "socbal.report", "socbal.cli"}
    found = _imports("socbal.sim.engine", path, modules)
    assert found == {"socbal._jit_cache", "socbal.sim.columns", "socbal.report", "socbal.cli"}  # not socbal itself
