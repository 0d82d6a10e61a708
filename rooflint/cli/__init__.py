"""The `rooflint` command: a thin typer layer over the library. Options are parsed in params.py,
declared once in options.py; defaults are decided by workload.resolve, never here. Each command
lives in a module of its own, loaded when it runs (app.COMMANDS)."""

from rooflint.cli.app import COMMANDS, app

__all__ = ["COMMANDS", "app"]
