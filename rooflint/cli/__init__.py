"""The `rooflint` command: a thin typer layer over the library. Options are parsed in params.py,
declared once in options.py; defaults are decided by workload.resolve, never here."""

from rooflint.cli import (analyze_cmd, check_cmd, kernels_cmd, measure_cmd, paged_cmd, plot_cmd, request_cmd,  # noqa: F401
                          specs_cmd, sweep_cmd)  # (each registers its commands)
from rooflint.cli.app import app

__all__ = ["app"]
