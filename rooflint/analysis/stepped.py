"""Forecasts summed over many passes: a request's decode steps, its recomputed passes, a long
prompt's prefill chunks.

The bound of such a sum is exact (series.py sums each op's piecewise form in closed form); the
forecast's max/ceil structure has no such form, so its sum is taken pass by pass: every pass when
there are at most SAMPLED_PASSES, else that many evenly spaced passes scaled to the count (the
forecast changes smoothly from one pass to the next: attention grows with the context).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rooflint.analysis.inference import PhaseResult

SAMPLED_PASSES = 64


@dataclass(frozen=True, slots=True)
class ForecastSum:
    total_s: float  # the passes' forecasts, each with the engine's step overhead
    ops: dict[str, float]  # op -> count x forecast summed over the passes (no step overhead)
    passes: int
    evaluated: int  # the passes analysed (all of them, or the sample)


def forecast_sum(lo: int, hi: int, at: Callable[[int], PhaseResult], step_overhead_s: float) -> ForecastSum:
    """Σ over i = lo..hi of the pass at(i)'s forecast (nothing when hi < lo)."""
    n = hi - lo + 1
    if n <= 0:
        return ForecastSum(0.0, {}, 0, 0)
    picks = range(lo, hi + 1) if n <= SAMPLED_PASSES else \
        sorted({lo + round(k * (n - 1) / (SAMPLED_PASSES - 1)) for k in range(SAMPLED_PASSES)})
    scale = n / len(picks)
    total, ops = 0.0, {}
    for i in picks:
        phase = at(i)
        total += (phase.kernels_forecast_s + step_overhead_s) * scale
        for t in phase.ops:
            ops[t.op.name] = ops.get(t.op.name, 0.0) + t.op.count * t.forecast_s * scale
    return ForecastSum(total, ops, n, len(picks))
