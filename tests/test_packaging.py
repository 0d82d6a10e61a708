"""The `torch` extra respects the user's environment: a lower bound (torch>=2.4), not a pin, so
`pip install 'rooflint[torch]'` keeps a torch the user already has; CI pins the local build
through a constraints file instead. Checked with pip's own resolver, offline (--no-index): with
the installed torch, the extra's requirement asks pip to install nothing."""

import json
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
import tomllib
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def _torch_requirement() -> Requirement:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    (spec,) = [r for r in extras["torch"] if Requirement(r).name == "torch"]
    return Requirement(spec)


def test_the_torch_extra_is_a_lower_bound():
    req = _torch_requirement()
    assert all(s.operator == ">=" for s in req.specifier), req
    for v in ("2.4.0", "2.5.1", "2.13.0", "3.0.0"):
        assert Version(v) in req.specifier, v
    assert Version("2.3.1") not in req.specifier


def test_ci_pins_the_local_torch_through_constraints():
    pins = [Requirement(line) for line in (ROOT / ".ci" / "constraints.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    (torch,) = [r for r in pins if r.name == "torch"]
    assert [s.operator for s in torch.specifier] == ["=="]
    assert "-c .ci/constraints.txt" in (ROOT / ".ci" / "run").read_text()
    assert Version(next(iter(torch.specifier)).version) in _torch_requirement().specifier


def test_pip_keeps_an_installed_torch():
    try:
        installed = version("torch")
    except Exception:
        pytest.skip("torch is not installed here")
    req = _torch_requirement()
    assert Version(installed) in req.specifier
    out = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--no-index", "--quiet", "--report", "-",
                          str(req)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["install"] == []  # nothing to fetch, nothing replaced
