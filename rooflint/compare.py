"""Predictions against measurements (pure math): for each measured kernel, the analyzer's time on
the datasheet profile and on the calibrated one, achieved rates, % of roofline, the error, and
whether the predicted bound is the one observed.

- error = predicted / measured - 1 (negative: the prediction is too fast).
- fraction of roofline = the roofline time max(F / P, bytes / BW) on the reference ceilings (the
  measured ones when the run has them, else the datasheet's) over the measured time.
- observed bound: the roof the kernel came closer to, achieved FLOP/s / peak against achieved
  B/s / bandwidth; predicted bound: the bound of the op that dominates the predicted time.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from rooflint.analysis.roofline import COMPUTE, MEMORY, place
from rooflint.errors import SpecError
from rooflint.measure.result import Measurement
from rooflint.specs import Hardware


@dataclass(frozen=True, slots=True)
class Comparison:
    m: Measurement
    flops: float
    bytes: float
    datasheet_s: float | None
    calibrated_s: float | None
    roof_s: float | None  # max(F/P, bytes/BW) per op on the reference ceilings, no losses
    predicted_bound: str | None
    observed_bound: str | None

    @property
    def measured_s(self) -> float:
        return self.m.time_s

    @property
    def achieved_flop_per_s(self) -> float:
        return self.flops / self.measured_s

    @property
    def achieved_bytes_per_s(self) -> float:
        return self.bytes / self.measured_s

    @property
    def roofline_fraction(self) -> float | None:
        """Roofline time / measured time: 1.0 is a kernel at the roof."""
        return self.roof_s / self.measured_s if self.roof_s else None

    @property
    def datasheet_error(self) -> float | None:
        return error(self.datasheet_s, self.measured_s)

    @property
    def calibrated_error(self) -> float | None:
        return error(self.calibrated_s, self.measured_s)

    @property
    def bounds_agree(self) -> bool | None:
        if self.predicted_bound is None or self.observed_bound is None:
            return None
        return self.predicted_bound == self.observed_bound


def error(predicted: float | None, measured: float) -> float | None:
    return None if predicted is None else predicted / measured - 1


def predicted_time(m: Measurement, hw: Hardware | None) -> float | None:
    """Sum over the kernel's ops of the roofline time on hw; None when hw lacks its dtype."""
    if hw is None:
        return None
    try:
        return sum(place(op, hw).time_s * op.count for op in m.case.ops(hw))
    except SpecError:
        return None


def compare(m: Measurement, datasheet: Hardware | None, calibrated: Hardware | None) -> Comparison:
    reference = calibrated or datasheet
    ops = m.case.ops(reference)
    flops = sum(op.flops * op.count for op in ops)
    nbytes = sum(op.bytes * op.count for op in ops)
    roof = predicted_bound = observed = None
    if reference is not None:
        try:
            timed = [place(op, reference) for op in ops]
            # The bare roofline: no t0 and no F_half, whatever the profile carries.
            bare = [max(t.op.flops / t.peak_flop_per_s, t.memory_time_s) * t.op.count for t in timed]
            roof = sum(bare)
            predicted_bound = timed[max(range(len(timed)), key=bare.__getitem__)].bound
            main_peak = reference.peak(ops[0].peak_key) if flops else None
            compute_share = flops / m.time_s / main_peak if main_peak else 0.0
            memory_share = nbytes / m.time_s / reference.bandwidth_bytes_per_s
            observed = COMPUTE if compute_share > memory_share else MEMORY
        except SpecError:
            pass
    return Comparison(m, flops, nbytes, predicted_time(m, datasheet), predicted_time(m, calibrated),
                      roof, predicted_bound, observed)


def median_abs_error(rows: list[Comparison], bound: str, which: str = "calibrated") -> float | None:
    """Median |error| of the kernels predicted to be `bound`-bound (None if there are none)."""
    errs = [abs(e) for r in rows if r.predicted_bound == bound
            and (e := (r.calibrated_error if which == "calibrated" else r.datasheet_error)) is not None
            and math.isfinite(e)]
    return statistics.median(errs) if errs else None


def growth_exponent(points: list[tuple[int, float]]) -> float | None:
    """Least-squares slope of log(time) against log(n): ~0 flat, ~1 linear, ~2 quadratic."""
    if len(points) < 2:
        return None
    xs = [math.log(n) for n, _ in points]
    ys = [math.log(t) for _, t in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else None
