"""Report for `rooflint validate`: error of the forecast and violations of the bound, by category."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rooflint.compare.validation import BOUND_SLACK, Result, category_stats
from rooflint.report.model import Column, Report, Table

SCHEMA = "rooflint.validate/1"
COLUMNS = (Column("category", "category"), Column("cases", "cases", "int"),
           Column("median_error", "median |err|", "percent"), Column("p90_error", "p90 |err|", "percent"),
           Column("held_out_median", "held-out median", "percent", 2), Column("held_out_p90", "held-out p90", "percent", 3),
           Column("by_gpu_median", "new-GPU median", "percent", 4), Column("median_signed", "median bias", "percent", 5),
           Column("violations", "bound beaten", "int", 1), Column("min_bound_ratio", "min meas/bound", "ratio", 6))


def _gates(rows: Sequence[Mapping[str, Any]], t: Mapping[str, Any]) -> list[str]:
    failed = []
    for r in rows:
        if r["category"] == "all" or r["cases"] < t["min_cases"]:
            continue
        if t["max_median"] is not None and r["median_error"] > t["max_median"]:
            failed.append(f"{r['category']}: median |error| {r['median_error']:.1%} > {t['max_median']:.1%}")
        if t["max_p90"] is not None and r["p90_error"] > t["max_p90"]:
            failed.append(f"{r['category']}: p90 |error| {r['p90_error']:.1%} > {t['max_p90']:.1%}")
    total = sum(r["violations"] for r in rows if r["category"] == "all")
    if t["max_violations"] is not None and total > t["max_violations"]:
        failed.append(f"{total} measurements beat their bound by more than {BOUND_SLACK:.0%} "
                      f"(allowed: {t['max_violations']})")
    return failed


def validate_report(results: Sequence[Result], held_out: Mapping[str, float], by_gpu: Mapping[str, float],
                    cv_note: str, data: Sequence[str], thresholds: Mapping[str, Any]) -> Report:
    stats = category_stats(results, held_out)
    new_gpu = {s.category: s for s in category_stats(results, by_gpu)} if by_gpu else {}
    rows = []
    for s in stats:
        g = new_gpu.get(s.category)
        rows.append({"category": s.category, "cases": s.cases, "median_error": s.median_error,
                     "p90_error": s.p90_error, "held_out_median": s.held_out_median, "held_out_p90": s.held_out_p90,
                     "by_gpu_median": g.held_out_median if g else None, "by_gpu_p90": g.held_out_p90 if g else None,
                     "median_signed": s.median_signed, "violations": s.violations,
                     "min_bound_ratio": s.min_bound_ratio, "worst": list(s.worst)})
    failed = _gates(rows, thresholds)

    def document() -> dict[str, Any]:
        return {"schema": SCHEMA, "data": list(data), "thresholds": dict(thresholds), "cross_validation": cv_note,
                "categories": rows, "failed": failed, "passed": not failed,
                "cases": [{"id": r.case.id, "category": r.case.category, "engine": r.case.engine, "gpu": r.case.gpu,
                           "measured_s": r.case.measured_s, "time_s": r.bound_s, "time_forecast_s": r.forecast_s,
                           "error": r.error, "bound_ratio": r.bound_ratio,
                           "held_out_forecast_s": held_out.get(r.case.id),
                           "new_gpu_forecast_s": by_gpu.get(r.case.id), "source": r.case.source}
                          for r in results]}
    notes = (f"error = (forecast - measured) / measured; held-out: {cv_note}",
             f"bound beaten: measured < {1 - BOUND_SLACK:g} x bound (the roofline bound should never be beaten)",
             *(f"FAILED {f}" for f in failed))
    title = f"rooflint validate: {len(results)} measured cases"
    return Report(SCHEMA, title, document, (Table("forecast error and bound by category", COLUMNS, tuple(rows)),),
                  notes=notes)
