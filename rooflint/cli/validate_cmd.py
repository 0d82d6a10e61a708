"""`rooflint validate`: the forecast and the bound against measured times, by category."""

from __future__ import annotations

import contextlib
import io
import json
import sys
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from rooflint.cli import options as o
from rooflint.cli import params as p
from rooflint.cli.app import app, command, emit, note
from rooflint.compare import forecast_fit as ff
from rooflint.compare.validation import Case, evaluate, load_cases
from rooflint.errors import RooflintError, SpecError
from rooflint.report.plot import image_target, validation_png_or_svg
from rooflint.report.validate_view import validate_report

SHIPPED = Path(__file__).resolve().parents[1] / "data" / "validation"
ENGINE_COMMANDS = {"analyze", "plan", "gemm", "attention"}  # the commands that take --engine


def shipped_sets() -> list[Path]:
    """The measured sets the package ships (copied from shared/reference/measured)."""
    return [SHIPPED / "published.json", SHIPPED / "kernels.csv"]


@lru_cache(maxsize=4096)
def _run_cached(args: tuple[str, ...]) -> str:
    cmd = typer.main.get_command(app)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = cmd.main(list(args), standalone_mode=False)
    if code not in (None, 0):
        raise RooflintError(f"rooflint {' '.join(args)} failed (exit {code})")
    return buf.getvalue()


def run_command(args: Sequence[str], engine: str) -> Mapping[str, Any]:
    """One case's command through the CLI itself, as JSON, with the case's engine."""
    extra = ["--engine", engine] if args and args[0] in ENGINE_COMMANDS else []
    return json.loads(_run_cached(tuple(args) + ("--format", "json", *extra)))


@command()
def validate(data: Annotated[Optional[list[str]], typer.Argument(
                 metavar="DATA", show_default="the sets rooflint ships",
                 help="Measured cases: published-style JSON (shared/reference/measured's published-train.json "
                      "schema) or kernel rows CSV (its kernels-train.csv columns).")] = None,
             category: Annotated[Optional[str], typer.Option("--category", metavar="NAMES",
                                                             help="Only these categories (comma-separated).")] = None,
             max_median: Annotated[Optional[str], typer.Option(
                 "--max-median", metavar=p.FRACTION, help="Exit 1 when a category's median |error| exceeds this.")] = None,
             max_p90: Annotated[Optional[str], typer.Option(
                 "--max-p90", metavar=p.FRACTION, help="Exit 1 when a category's p90 |error| exceeds this.")] = None,
             max_violations: Annotated[Optional[str], typer.Option(
                 "--max-violations", metavar=p.COUNT,
                 help="Exit 1 when more measurements than this beat their bound by over 5%.")] = None,
             min_cases: Annotated[Optional[str], typer.Option(
                 "--min-cases", metavar=p.COUNT, show_default="5",
                 help="Thresholds apply to categories with at least this many cases.")] = None,
             cross_validate: Annotated[bool, typer.Option(
                 "--cv/--no-cv", help="Also refit the parameters 5-fold and by GPU and report the held-out error "
                                      "(needs scipy).")] = True,
             plot: Annotated[Optional[str], typer.Option("--plot", metavar="FILE.png|FILE.svg",
                                                         help="Also draw the forecast-vs-measured plot here.")] = None,
             fmt: o.Format = None, output: o.Output = None) -> None:
    """Forecast and bound against published measurements: median and p90 error per category."""
    form = o.fmt(fmt)
    o.report_target(output)
    if plot is not None:
        image_target(plot, "--plot")
    thresholds = {"max_median": p.fraction(max_median, "--max-median"), "max_p90": p.fraction(max_p90, "--max-p90"),
                  "max_violations": p.whole(max_violations, "--max-violations", 0),
                  "min_cases": p.whole(min_cases, "--min-cases") or 5}
    paths = [Path(d) for d in data] if data else shipped_sets()
    cases: list[Case] = [c for path in paths for c in load_cases(path)]
    if category:
        wanted = {c.strip() for c in category.split(",") if c.strip()}
        known = {c.category for c in cases}
        unknown = wanted - known
        if unknown:
            raise SpecError("--category", None, f"no case of {', '.join(sorted(unknown))} (known: {', '.join(sorted(known))})")
        cases = [c for c in cases if c.category in wanted]
    if not cases:
        raise SpecError(str(paths[0]), None, "no cases to validate")
    if sys.stderr.isatty():
        note(f"validate: {len(cases)} cases" + (f", then the fit redone {ff.FOLDS}-fold and per GPU for the held-out "
                                                 "error (about a minute for the shipped sets)" if cross_validate else ""))
    results = evaluate(cases, run_command)
    held_out, by_gpu, cv_note = _cross_validation(results) if cross_validate else ({}, {}, "not run (--no-cv)")
    report = validate_report(results, held_out, by_gpu, cv_note, [str(x) for x in paths], thresholds)
    also: tuple = ()
    if plot is not None:
        also = ((plot, validation_png_or_svg(plot, results)),)
    emit(report, form, output, False, also)
    if plot is not None:
        note(f"wrote {plot}")
    if not report.document()["passed"]:
        raise typer.Exit(1)


def _cross_validation(results) -> tuple[dict, dict, str]:
    try:
        import scipy  # noqa: F401
    except ImportError:
        return {}, {}, "not run: scipy is not installed (pip install 'rooflint[fit]')"
    if not any(r.features is not None for r in results):
        return {}, {}, "not run: no case holds the features a fit needs"
    held = ff.held_from(ff.shipped_collectives())
    return (ff.cross_validate(results, held), ff.leave_gpu_out(results, held),
            f"{ff.FOLDS}-fold: each case forecast by the whole fit (bench/fit_forecast.py's, from the priors) "
            "redone without its fold; new GPU: redone without the case's GPU, which then gets `default`")
