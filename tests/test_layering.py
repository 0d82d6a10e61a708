"""Import discipline: the analyzer and CLI never import torch or CuPy; the math imports no I/O libraries."""

import subprocess
import sys

import pytest


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_analysis_is_pure():
    loaded = _modules_after("import rooflint.analysis.inference, rooflint.analysis.gemm")
    assert not loaded & {"torch", "cupy", "numpy", "rich", "typer", "yaml", "matplotlib"}


@pytest.mark.parametrize("code", ["import rooflint", "import rooflint.cli",
                                  "from rooflint.cli import app\n"
                                  "from typer.testing import CliRunner\n"
                                  "CliRunner().invoke(app, ['analyze', 'llama2-7b', '--format', 'json'])"])
def test_no_heavy_imports(code):
    assert not _modules_after(code) & {"torch", "cupy", "matplotlib"}


@pytest.mark.parametrize("code", [
    "import rooflint.measure.session, rooflint.measure.runner, rooflint.calibration, rooflint.compare",
    "from rooflint.cli import app\nfrom typer.testing import CliRunner\n"
    "CliRunner().invoke(app, ['measure', '--load', 'tests/data/measurements/cpu-quick.json', '-f', 'json'])",
])
def test_measure_imports_backends_only_to_measure(code):
    """Comparing a saved run, calibrating, and the runner itself need neither torch nor CuPy."""
    assert not _modules_after(code) & {"torch", "cupy", "matplotlib"}
