"""Evaluating a budget: each limit against its figure, the figure a term from the analysis (model
cases: the memory rule, TPOT, TTFT, tokens/s) or the comparison (measured cases)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from rooflint.analysis.expr import emax, sym
from rooflint.analysis.inference import analyze
from rooflint.analysis.terms import Term, evaluate_figures, figure
from rooflint.budget.schema import Budget, Case
from rooflint.compare.comparison import compare
from rooflint.compare.profile import calibrate_run, datasheet_profile
from rooflint.errors import SpecError
from rooflint.measure.session import load_run
from rooflint.specs.catalog import load_hardware, load_model
from rooflint.workload import Workload

MODEL_FIGURES = {"max_kv_cache": "memory.kv_cache_bytes", "max_tpot": "totals.tpot_s", "max_ttft": "totals.ttft_s",
                 "min_tokens_per_s": "totals.decode_tokens_per_s", "fits": "memory.free_bytes"}


@dataclass(frozen=True, slots=True)
class Check:
    case: str
    limit: str  # e.g. max_tpot
    value: Any  # what was computed (base units; fraction for percents; bool for fits)
    threshold: Any
    kind: str  # bytes | seconds | number | bool | percent
    passed: bool
    detail: str = ""
    term: Term | None = None  # the figure the limit is held against


def evaluate(budget: Budget) -> list[Check]:
    checks: list[Check] = []
    run = None
    for case in budget.cases:
        if case.measured is not None:
            if budget.results is None:
                raise SpecError(budget.path, "results", f"case {case.name!r} checks measurements: give results: FILE")
            run = run or load_run(budget.results)
            checks += _measured_checks(case, run)
        else:
            checks += _model_checks(case)
    return checks


def _model_checks(case: Case) -> list[Check]:
    a = analyze(load_model(case.model), load_hardware(case.gpu), Workload(**dict(case.settings or {})))
    out = []
    for limit, threshold in case.limits.items():
        term = a.terms[MODEL_FIGURES[limit]]
        if limit == "fits":
            value, kind = a.fits, "bool"
            ok = value == threshold
            detail = (f"weights + KV cache + workspace {a.total_bytes / 2**30:.1f} GiB of "
                      f"{a.terms['memory.usable_bytes'].value / 2**30:.1f} GiB usable "
                      f"({a.resolved.memory_utilization:g} x {a.hardware.capacity_bytes / 2**30:.0f} GiB)")
        else:
            value, kind, detail = term.value, {"max_kv_cache": "bytes", "min_tokens_per_s": "number"}.get(limit, "seconds"), ""
            ok = value <= threshold if limit.startswith("max_") else value >= threshold
        out.append(Check(case.name, limit, value, threshold, kind, bool(ok), detail, term))
    return out


_roof, _measured, _predicted = sym("roof_s measured_s predicted_s")
ROOFLINE = figure("roofline_fraction", _roof / _measured, "fraction", "roofline time / measured time")
ERROR = figure("abs_error", emax(_predicted / _measured - 1, 1 - _predicted / _measured), "fraction",
               "|calibrated prediction / measured - 1|")


def _measured_checks(case: Case, run) -> list[Check]:
    datasheet = datasheet_profile(run, None)
    cal = calibrate_run(run)
    rows = []
    for m in run.measurements:
        fields = {"kernel": m.case.kernel, "variant": m.case.variant, "dtype": m.case.dtype, "backend": m.backend}
        if all(fields[k] == v for k, v in case.measured.items()):
            hw = cal.hardware(datasheet, m.backend) if cal and m.backend in cal.stacks else None
            rows.append(compare(m, datasheet, hw))
    if not rows:
        raise SpecError(case.where, "measured", f"no measured kernel matches {dict(case.measured)}")
    out = []
    for limit, threshold in case.limits.items():
        if limit == "min_roofline":
            scored = [r for r in rows if r.roofline_fraction is not None]
            worst = min(scored, key=lambda r: r.roofline_fraction)
            (term,) = evaluate_figures([ROOFLINE], {"roof_s": worst.roof_s, "measured_s": worst.measured_s})
            out.append(Check(case.name, limit, term.value, threshold, "percent", term.value >= threshold,
                             f"worst of {len(scored)}: {worst.m.case.key}", term))
        else:  # max_abs_error of the calibrated prediction
            scored = [r for r in rows if r.calibrated_error is not None]
            worst = max(scored, key=lambda r: abs(r.calibrated_error))
            (term,) = evaluate_figures([ERROR], {"predicted_s": worst.calibrated_s, "measured_s": worst.measured_s})
            out.append(Check(case.name, limit, term.value, threshold, "percent", term.value <= threshold,
                             f"worst of {len(scored)}: {worst.m.case.key}", term))
    return out


def keyed(checks: list[Check]) -> list[Term]:
    """The checks' terms, keyed at their place in the report's JSON (checks[i].value)."""
    out = []
    for i, c in enumerate(checks):
        if c.term is not None and c.kind != "bool":
            out.append(replace(c.term, key=f"checks[{i}].value"))
        elif c.term is not None:  # fits: the free bytes it is judged on
            out.append(replace(c.term, key=f"checks[{i}].free_bytes"))
    return out
