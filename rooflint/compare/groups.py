"""Figures across the rows of a run, as terms: the median error per bound, eager against fused
attention (speedup, the S and P eager materializes), generation with and without a KV cache
(the ratio of their step times, and how each grows with the context).

Each figure's key is its place in the measure report's JSON: `summary.<name>`, `attention[i].<name>`,
`generation[i].<name>`; the rows they come from are the report's `comparisons`, in order.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from rooflint.analysis.expr import Const, add, sym
from rooflint.analysis.roofline import COMPUTE, MEMORY
from rooflint.analysis.terms import Term, evaluate_figures, figure
from rooflint.compare.comparison import Comparison
from rooflint.compare.kernels import sp_terms

MATERIALIZE_SP = ("eager", "sdpa-math")  # the variants that write S and P to memory


@dataclass(frozen=True, slots=True)
class Row:
    """One row of a derived table: its values (by JSON field) and the terms that computed them."""

    values: dict[str, Any]
    terms: tuple[Term, ...] = field(default=())


def median_error_term(rows: list[Comparison], bound: str, which: str, key: str) -> Term | None:
    """Median |predicted / measured - 1| of the kernels predicted `bound`-bound, on one profile."""
    errs = [(i, e) for i, r in enumerate(rows) if r.predicted_bound == bound
            and (e := (r.calibrated_error if which == "calibrated" else r.datasheet_error)) is not None
            and math.isfinite(e)]
    if not errs:
        return None
    ordered = sorted(errs, key=lambda p: abs(p[1]))
    k = len(ordered)
    middle = ordered[k // 2: k // 2 + 1] if k % 2 else ordered[k // 2 - 1: k // 2 + 1]
    names = [f"abs_{which}_error_{i}" for i, _ in middle]
    expr = sym(names[0]) if k % 2 else (sym(names[0]) + sym(names[1])) / 2
    note = (f"median of the |{which}_error| of the {k} {bound}-bound kernels: comparisons["
            + "] and [".join(str(i) for i, _ in middle) + "] in the middle")
    (t,) = evaluate_figures([figure(key, expr, "fraction", note)], {n: abs(e) for n, (_, e) in zip(names, middle)})
    return t


def median_abs_error(rows: list[Comparison], bound: str, which: str = "calibrated") -> float | None:
    """Median |error| of the kernels predicted to be `bound`-bound (None if there are none)."""
    t = median_error_term(rows, bound, which, "median_abs_error")
    return None if t is None else t.value


def summary_terms(rows: list[Comparison], datasheet: bool, prefix: str = "summary") -> dict[str, Term | None]:
    """The summary's median errors, by name (None where no kernel is of that bound)."""
    wanted = [(MEMORY, "calibrated"), (COMPUTE, "calibrated")] + ([(MEMORY, "datasheet")] if datasheet else [])
    return {f"median_abs_error_{b}_{w}": median_error_term(rows, b, w, f"{prefix}.median_abs_error_{b}_{w}")
            for b, w in wanted}


def attention_rows(rows: list[Comparison], prefix: str = "attention") -> list[Row]:
    """Eager (S and P through memory) against each fused variant, per shape: the speedup, the
    traffic the analyzer predicts, the S and P materialized."""
    by: dict[tuple, dict[str, Comparison]] = defaultdict(dict)
    for r in rows:
        if r.m.case.kernel == "attention":
            p = r.m.case.params
            by[(r.m.backend, r.m.case.dtype, p["B"], p["H"], p["N"], p["d"])][r.m.case.variant] = r
    out: list[Row] = []
    speedup = sym("eager_s") / sym("measured_s")
    for (backend, dt, _, _, n, _), variants in sorted(by.items()):
        eager = variants.get("eager")
        for v, r in variants.items():
            key = f"{prefix}[{len(out)}]"
            terms = []
            if eager is not None:
                terms += evaluate_figures([figure(f"{key}.speedup_vs_eager", speedup, "ratio",
                                                  "eager's measured time / this variant's")],
                                          {"eager_s": eager.measured_s, "measured_s": r.measured_s})
            if v in MATERIALIZE_SP:
                terms += sp_terms(r.m.case, f"{key}.sp_bytes")
            else:
                terms.append(Term(f"{key}.sp_bytes", Const(0), {}, 0, "bytes", "a fused kernel keeps S and P on chip"))
            values = {t.key.rsplit(".", 1)[1]: t.value for t in terms}
            out.append(Row({"backend": backend, "dtype": dt, "N": n, "variant": v, "measured_s": r.measured_s,
                            "speedup_vs_eager": values.get("speedup_vs_eager"), "predicted_bytes": r.bytes,
                            "sp_bytes": values["sp_bytes"], "peak_bytes": r.m.extra.get("peak_bytes"),
                            "calibrated_error": r.calibrated_error}, tuple(terms)))
    return out


def growth_term(points: list[tuple[int, float]], key: str, note: str) -> Term | None:
    """Least-squares slope of ln(time) against ln(n): ~0 flat, ~1 linear, ~2 quadratic."""
    if len(points) < 2 or len({n for n, _ in points}) < 2:
        return None
    k = len(points)
    xs = [sym(f"x_{i}") for i in range(1, k + 1)]
    ys = [sym(f"y_{i}") for i in range(1, k + 1)]
    if k == 2:
        expr = (ys[1] - ys[0]) / (xs[1] - xs[0])
    else:
        sx, sy = add(*xs), add(*ys)
        expr = (k * add(*(x * y for x, y in zip(xs, ys))) - sx * sy) / (k * add(*(x ** 2 for x in xs)) - sx ** 2)
    values = {f"x_{i}": math.log(n) for i, (n, _) in enumerate(points, 1)}
    values.update({f"y_{i}": math.log(t) for i, (_, t) in enumerate(points, 1)})
    (t,) = evaluate_figures([figure(key, expr, "ratio", note + "; x_i = ln n_i, y_i = ln(step time at n_i)")], values)
    return t


def growth_exponent(points: list[tuple[int, float]]) -> float | None:
    """Least-squares slope of ln(time) against ln(n): ~0 flat, ~1 linear, ~2 quadratic."""
    t = growth_term(points, "growth_exponent", "")
    return None if t is None else t.value


def generation_rows(rows: list[Comparison], prefix: str = "generation") -> list[Row]:
    """The tiny decoder's step at each context n with and without a KV cache (seed 001), and the
    growth of each with n."""
    steps: dict[tuple, dict[int, dict[str, Comparison]]] = defaultdict(lambda: defaultdict(dict))
    for r in rows:
        if r.m.case.kernel == "generate":
            steps[(r.m.backend, r.m.case.dtype)][r.m.case.params["n"]][r.m.case.variant] = r
    out: list[Row] = []
    ratio = sym("uncached_s") / sym("cached_s")
    for (backend, dt), by_n in steps.items():
        for n, v in sorted(by_n.items()):
            c, u = v.get("cached"), v.get("uncached")
            key = f"{prefix}[{len(out)}]"
            terms = evaluate_figures([figure(f"{key}.ratio", ratio, "ratio", "step without a cache / with one")],
                                     {"uncached_s": u.measured_s, "cached_s": c.measured_s}) if c and u else []
            out.append(Row({"backend": backend, "dtype": dt, "context": n,
                            "cached_s": c.measured_s if c else None, "uncached_s": u.measured_s if u else None,
                            "ratio": terms[0].value if terms else None,
                            "cached_pred_s": c.calibrated_s if c else None,
                            "uncached_pred_s": u.calibrated_s if u else None,
                            "cached_flops": c.flops if c else None, "uncached_flops": u.flops if u else None},
                           tuple(terms)))
        for variant in ("cached", "uncached"):
            pts = [(n, v[variant].measured_s) for n, v in sorted(by_n.items()) if variant in v]
            key = f"{prefix}[{len(out)}]"
            t = growth_term(pts, f"{key}.growth_exponent", f"{backend} {dt} {variant}: time ~ n^k")
            if t is not None:
                out.append(Row({"backend": backend, "dtype": dt, "context": None, "growth": variant,
                                "growth_exponent": t.value}, (t,)))
    return out
