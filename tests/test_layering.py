"""The shape of the package, asserted: dependencies point down the layers only, there are no
import cycles, only heavy optional libraries are imported inside functions, modules stay short,
and neither `import rooflint` nor `rooflint analyze` loads torch, CuPy, matplotlib or numpy.

    units, dtypes, errors -> specs -> workload -> analysis -> compare, budget -> report -> cli
                                        measure (beside analysis: units, dtypes, errors, inputs, specs only)
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "rooflint"
LAYERS = {"units": 0, "dtypes": 0, "errors": 0, "inputs": 0, "specs": 1, "workload": 2, "analysis": 3, "measure": 3,
          "compare": 4, "budget": 4, "report": 5, "cli": 6}
LAZY_OK = {"numpy", "torch", "cupy", "matplotlib", "pyarrow", "pynvml", "threadpoolctl", "rich", "yaml", "scipy"}
MAX_LINES = 450


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, path, ast.parse(path.read_text(encoding="utf-8"))


def _imports(tree):
    """(imported module, at module top?) for every import statement."""
    top = {id(n) for n in tree.body}
    for node in tree.body:  # an import guarded at module level (try: ... except ImportError:) is still at the top
        if isinstance(node, ast.Try):
            top |= {id(n) for part in (node.body, *(h.body for h in node.handlers)) for n in part}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((a.name, id(node) in top) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "rooflint" or node.module.endswith(("analysis", "specs", "cli", "compare", "budget",
                                                                  "report", "measure")):
                # "from rooflint.analysis import flash": the submodules are what is imported
                yield from ((f"{node.module}.{a.name}", id(node) in top) for a in node.names)
            else:
                yield node.module, id(node) in top


def _layer(module: str):
    parts = module.split(".")
    return LAYERS.get(parts[1]) if len(parts) > 1 else None


MODULES = list(_modules())
NAMES = {name for name, _, _ in MODULES}


def _internal(target: str):
    """The rooflint module an import names (a name imported from a module resolves to the module)."""
    while target and target not in NAMES:
        target = target.rpartition(".")[0]
    return target or None


def test_dependencies_point_down():
    bad = []
    for name, _, tree in MODULES:
        own = _layer(name)
        for target, _ in _imports(tree):
            dep = _internal(target) if target.startswith("rooflint") else None
            if dep is None or dep == "rooflint" or own is None:
                continue
            theirs = _layer(dep)
            if name.split(".")[1] == "measure" and dep.split(".")[1] not in ("units", "dtypes", "errors", "inputs",
                                                                             "specs", "measure"):
                bad.append(f"{name} -> {dep} (measure times; it does not predict)")
            elif name.split(".")[1] == "analysis" and dep.split(".")[1] == "measure":
                bad.append(f"{name} -> {dep}")
            elif theirs is not None and theirs > own:
                bad.append(f"{name} -> {dep}")
    assert not bad, bad


def test_nothing_imports_the_cli():
    for name, _, tree in MODULES:
        if name.startswith("rooflint.cli") or name == "rooflint.__main__":
            continue
        assert not [t for t, _ in _imports(tree) if t.startswith("rooflint.cli")], name


def test_no_import_cycles():
    graph = {name: {d for t, top in _imports(tree) if top and t.startswith("rooflint")
                    and (d := _internal(t)) not in (None, name, "rooflint")}
             for name, _, tree in MODULES}
    done, stack = set(), []

    def visit(node):
        if node in stack:
            raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(node):] + [node]))
        if node in done:
            return
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            visit(dep)
        stack.pop()
        done.add(node)

    for node in sorted(graph):
        visit(node)


def test_only_heavy_optional_libraries_are_imported_inside_functions():
    late = [(name, t) for name, _, tree in MODULES for t, top in _imports(tree) if not top
            and t.split(".")[0] not in LAZY_OK]
    assert not late, late


def test_heavy_libraries_are_never_imported_at_module_top():
    early = [(name, t) for name, _, tree in MODULES for t, top in _imports(tree) if top
             and t.split(".")[0] in LAZY_OK - {"yaml", "rich"}]
    assert not early, early


@pytest.mark.parametrize("name,path", [(n, p) for n, p, _ in MODULES])
def test_modules_stay_readable(name, path):
    assert len(path.read_text(encoding="utf-8").splitlines()) <= MAX_LINES, name


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=True, cwd=PACKAGE.parent)
    return set(out.stdout.split())


def test_analysis_is_pure():
    loaded = _modules_after("import rooflint.analysis.inference, rooflint.analysis.generation, rooflint.analysis.plan")
    assert not loaded & {"torch", "cupy", "numpy", "rich", "typer", "yaml", "matplotlib", "pydantic"}


@pytest.mark.parametrize("code", ["import rooflint", "import rooflint.cli",
                                  "from rooflint.cli import app\n"
                                  "from typer.testing import CliRunner\n"
                                  "CliRunner().invoke(app, ['analyze', 'llama2-7b', '--format', 'json'])"])
def test_no_heavy_imports(code):
    """Not even numpy or pydantic (typer 0.29's coercion): start-up is what a user waits for."""
    assert not _modules_after(code) & {"torch", "cupy", "matplotlib", "numpy", "pydantic", "pyarrow"}


@pytest.mark.parametrize("code", [
    "import rooflint.measure.session, rooflint.measure.runner, rooflint.compare.calibration, "
    "rooflint.compare.comparison, rooflint.compare.profile",
    "from rooflint.cli import app\nfrom typer.testing import CliRunner\n"
    "CliRunner().invoke(app, ['measure', '--load', 'tests/data/measurements/cpu-quick.json', '-f', 'json'])",
])
def test_measure_imports_backends_only_to_measure(code):
    """Comparing a saved run, calibrating, and the runner itself need neither torch nor CuPy."""
    assert not _modules_after(code) & {"torch", "cupy", "matplotlib"}
