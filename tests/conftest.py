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
