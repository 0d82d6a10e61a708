"""`rooflint check BUDGET.yaml`: a CI gate (exit 0 all hold, 1 one broken, 2 bad input)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from rooflint.budget.evaluate import evaluate
from rooflint.budget.schema import load_budget
from rooflint.cli import options as o
from rooflint.cli.app import command, emit
from rooflint.report.check_view import check_report, junit_xml, markdown_summary


@command()
def check(budget: Annotated[str, typer.Argument(metavar="BUDGET",
                                                help="A budget YAML: cases (model, gpu, settings or measured kernels) "
                                                     "and their limits.")],
          markdown: Annotated[Optional[str], typer.Option("--markdown", metavar="FILE",
                                                          help="Also write a Markdown summary here "
                                                               "(e.g. $GITHUB_STEP_SUMMARY).")] = None,
          junit: Annotated[Optional[str], typer.Option("--junit", metavar="FILE", help="Also write JUnit XML here.")] = None,
          fmt: o.Format = None, output: o.Output = None, explain: o.Explain = False) -> None:
    """A CI gate: exit 0 when every limit of the budget holds, 1 when one is broken, 2 on bad input."""
    form = o.fmt(fmt)
    checks = evaluate(load_budget(budget))
    also = ((markdown, markdown_summary(budget, checks)),) if markdown is not None else ()
    also += ((junit, junit_xml(budget, checks)),) if junit is not None else ()
    emit(check_report(budget, checks), form, output, explain, also)
    if not all(c.passed for c in checks):
        raise typer.Exit(1)
