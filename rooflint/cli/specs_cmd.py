"""`rooflint hardware` and `rooflint models`: the built-in specs, or one of them."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from rooflint.cli import options as o
from rooflint.cli.app import command, emit
from rooflint.cli.params import overrides
from rooflint.report.spec_views import (
    hardware_list_report,
    hardware_show_report,
    model_list_report,
    model_show_report,
)
from rooflint.specs.catalog import builtin_names, load_hardware, load_model


@command()
def hardware(name: Annotated[Optional[str], typer.Argument(metavar="[GPU]",
                                                           help="Show one profile (name, alias or YAML file).")] = None,
             fmt: o.Format = None, output: o.Output = None, explain: o.Explain = False) -> None:
    """List the hardware profiles, or show one with its ridge point per dtype."""
    if name:
        report = hardware_show_report(load_hardware(name))
    else:
        report = hardware_list_report([load_hardware(n) for n in builtin_names("hardware")])
    emit(report, o.fmt(fmt), output, explain)


@command()
def models(name: Annotated[Optional[str], typer.Argument(metavar="[MODEL]",
                                                         help="Show one model (name, YAML or config.json).")] = None,
           set_: o.Set = None, as_family: o.AsFamily = None, fmt: o.Format = None, output: o.Output = None, explain: o.Explain = False) -> None:
    """List the built-in models, or show one with its parameter count by part."""
    if name:
        report = model_show_report(load_model(name, overrides(set_), as_family))
    else:
        report = model_list_report([load_model(n) for n in builtin_names("models")])
    emit(report, o.fmt(fmt), output, explain)
