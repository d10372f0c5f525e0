"""The package's layering: no import cycles, between modules or between sub-packages.

Imports are read from the source (``ast``), function-level (lazy) imports included for the
sub-package graph: a lazy import hides a cycle from Python but not from a reader. Imports under
``if TYPE_CHECKING:`` are left out: they name a type for annotations and run nothing.
"""

from __future__ import annotations

import ast
from pathlib import Path

import matsight

ROOT = Path(matsight.__file__).parent


def _modules() -> dict[str, Path]:
    modules = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _type_checking_only(tree: ast.Module) -> set[ast.AST]:
    """The import nodes inside ``if TYPE_CHECKING:`` blocks."""
    blocks = [n for n in ast.walk(tree) if isinstance(n, ast.If) and ast.unparse(n.test).endswith("TYPE_CHECKING")]
    return {node for block in blocks for statement in block.body for node in ast.walk(statement)}


def _imports(path: Path, modules: dict[str, Path], lazy: bool) -> set[str]:
    tree = ast.parse(path.read_text())
    skipped = _type_checking_only(tree)
    found = set()
    for node in ast.walk(tree) if lazy else tree.body:
        if node in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("matsight"):
            submodules = {f"{node.module}.{a.name}" for a in node.names} & modules.keys()
            found |= submodules if len(submodules) == len(node.names) else submodules | {node.module}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("matsight")}
    return found & modules.keys()


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_no_import_cycle_between_modules():
    modules = _modules()
    graph = {name: _imports(path, modules, lazy=False) - {name} for name, path in modules.items()}
    assert _cycle(graph) is None


def test_no_import_cycle_between_subpackages_even_through_lazy_imports():
    modules = _modules()
    top = lambda name: ".".join(name.split(".")[:2])  # noqa: E731
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        graph.setdefault(top(name), set()).update(
            top(d) for d in _imports(path, modules, lazy=True) if top(d) != top(name)
        )
    assert _cycle(graph) is None


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_importing_every_module_changes_no_global_state():
    """No side effects on import: matplotlib settings, torch's and numpy's random state stay as they were."""
    import subprocess
    import sys

    script = """
import importlib, pkgutil, matplotlib, numpy, torch, matsight
rc, np_state, torch_state = dict(matplotlib.rcParams), numpy.random.get_state()[1].copy(), torch.get_rng_state()
for info in pkgutil.walk_packages(matsight.__path__, "matsight."):
    if not info.name.endswith("__main__"):
        importlib.import_module(info.name)
assert dict(matplotlib.rcParams) == rc, "matplotlib settings changed on import"
assert (numpy.random.get_state()[1] == np_state).all(), "numpy random state changed on import"
assert torch.equal(torch.get_rng_state(), torch_state), "torch random state changed on import"
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


def test_the_command_line_starts_without_torch_or_pandas():
    """``matsight --help`` / ``--version`` build every command's options without the heavy libraries
    (they are imported when a command runs): the CLI answers in about a second, not 15 s."""
    import subprocess
    import sys

    script = """
import sys
from matsight.cli.main import run
assert run(["--version"]) == 0
heavy = sorted(m for m in ("torch", "torchvision", "pandas", "matplotlib", "scipy") if m in sys.modules)
assert not heavy, f"importing the CLI loaded {heavy}"
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


def test_figure_style_applies_inside_styled_functions_only():
    import matplotlib

    from matsight.report.style import STYLE, styled

    seen = {}

    @styled
    def draw():
        seen["font"] = matplotlib.rcParams["font.size"]

    before = matplotlib.rcParams["font.size"]
    draw()
    assert seen["font"] == STYLE["font.size"] and matplotlib.rcParams["font.size"] == before


def test_palette_is_okabe_ito_then_distinct_up_to_twenty_classes():
    from matplotlib.colors import to_rgb

    from matsight.report.style import OKABE_ITO, palette

    assert palette(8).tolist() == [list(to_rgb(c)) for c in OKABE_ITO]
    for n in (9, 12, 20):
        colours = palette(n)
        assert colours.shape == (n, 3) and len({tuple(c) for c in colours.round(6)}) == n
