"""The `rooflint` command: a thin typer layer over the library. Options are parsed in params.py,
declared once in options.py; defaults are decided by workload.resolve, never here."""

from rooflint.cli import (  # noqa: F401
                          analyze_cmd,
                          check_cmd,
                          kernels_cmd,
                          measure_cmd,
                          paged_cmd,
                          plot_cmd,
                          request_cmd,
                          specs_cmd,  # (each registers its commands)
                          sweep_cmd,
)
from rooflint.cli.app import app

__all__ = ["app"]
