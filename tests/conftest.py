import json
import os

import pytest
from typer.testing import CliRunner

from rooflint.cli import app


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for var in ("NO_COLOR", "FORCE_COLOR", "COLUMNS", "ROOFLINT_PATH"):
        monkeypatch.delenv(var, raising=False)


class Run:
    """Invoke the CLI in-process; .json() parses stdout."""

    def __init__(self):
        self.runner = CliRunner()

    def __call__(self, *args: str, code: int = 0):
        result = self.runner.invoke(app, list(args))
        assert result.exit_code == code, (result.exit_code, result.output, result.exception)
        return result

    def json(self, *args: str, code: int = 0):
        return json.loads(self(*args, "--format", "json", code=code).stdout)


@pytest.fixture
def cli():
    return Run()


DATA = os.path.join(os.path.dirname(__file__), "data")


def pytest_terminal_summary(terminalreporter):
    """The fuzz tests' tally: how many generated inputs each suite ran, and how they ended."""
    from fuzz_support import OUTCOMES

    if not OUTCOMES:
        return
    terminalreporter.section("fuzz outcomes (generated inputs)")
    suites = sorted({s for s, _ in OUTCOMES})
    for s in suites:
        counts = {o: n for (t, o), n in OUTCOMES.items() if t == s}
        terminalreporter.write_line(f"{s:16} {sum(counts.values()):6} runs: "
                                    + ", ".join(f"{n} {o}" for o, n in sorted(counts.items())))
    terminalreporter.write_line(f"{'total':16} {sum(OUTCOMES.values()):6} runs")
