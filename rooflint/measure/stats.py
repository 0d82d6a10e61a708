"""Robust statistics of timing samples: median, percentiles, spread, outliers (stdlib only).

The noise of a measurement is its relative interquartile range, IQR / median: it ignores the
odd slow sample (a page fault, a clock dip) that a standard deviation would blow up, and it
is what torch.utils.benchmark checks (IQR > 10% of the median is suspicious). Outliers are
counted by Tukey's rule (beyond 1.5 IQR of the quartiles), never dropped.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from rooflint.measure.validate import At, fields, integer, number


def quantile(samples: Sequence[float], q: float) -> float:
    """The q-quantile (0 <= q <= 1) by linear interpolation between order statistics, as
    numpy.percentile's default: position q*(n-1) in the sorted samples."""
    if not samples:
        raise ValueError("no samples")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile {q} outside [0, 1]")
    ordered = sorted(samples)
    pos = q * (len(ordered) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass(frozen=True, slots=True)
class Summary:
    """Statistics of n samples, in the samples' unit (seconds)."""

    n: int
    median: float
    mean: float
    min: float
    max: float
    p10: float
    p90: float
    q1: float
    q3: float
    stdev: float  # sample standard deviation (0 for one sample)
    outliers: int  # samples beyond 1.5 IQR of the quartiles (counted, kept)

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1

    @property
    def rel_iqr(self) -> float:
        """The noise: IQR / median (0 when the median is 0)."""
        return self.iqr / self.median if self.median else 0.0

    @property
    def rel_stdev(self) -> float:
        return self.stdev / self.mean if self.mean else 0.0

    def as_dict(self) -> dict[str, float]:
        return {**asdict(self), "rel_iqr": self.rel_iqr, "rel_stdev": self.rel_stdev}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], at: At | None = None) -> Summary:
        """Statistics as as_dict wrote them, checked: n a positive integer, every time finite and
        within TIME_BOUNDS_S, the order statistics in order, the spread >= 0 and at most the range
        (as a sample's is), outliers at most n, and the derived rel_iqr / rel_stdev (when given)
        what the rest implies. Nothing computed from them can overflow."""
        at = at or At("stats")
        d = fields(d, at, _TIMES + ("n", "stdev", "outliers"), _DERIVED)
        n = integer(d["n"], at.key("n"))
        times = {k: _seconds(d[k], at.key(k)) for k in _TIMES}
        for lo, hi in itertools.pairwise(_ORDER):
            if times[lo] > times[hi] * (1 + _SLACK):
                raise at.key(lo).error(f"{lo} {times[lo]:.6g} is above {hi} {times[hi]:.6g}: not statistics of samples")
        if not times["min"] * (1 - _SLACK) <= times["mean"] <= times["max"] * (1 + _SLACK):
            raise at.key("mean").error(f"mean {times['mean']:.6g} is outside [min, max]: not statistics of samples")
        stdev = number(d["stdev"], at.key("stdev"), zero=True)
        if stdev > (times["max"] - times["min"]) * (1 + _SLACK) + 1e-15 * times["max"]:
            raise at.key("stdev").error(f"{stdev:.6g} is more than max - min: not statistics of samples")
        outliers = integer(d["outliers"], at.key("outliers"), minimum=0, maximum=n)
        out = cls(n=n, stdev=stdev, outliers=outliers, **times)
        for k in _DERIVED:
            if k in d and not math.isclose(number(d[k], at.key(k), zero=True), getattr(out, k),
                                           rel_tol=1e-9, abs_tol=1e-15):
                raise at.key(k).error(f"{float(d[k]):.6g} is not what the other statistics give "
                                      f"({getattr(out, k):.6g})")
        return out


def _seconds(value: Any, at: At) -> float:
    x = number(value, at)
    lo, hi = TIME_BOUNDS_S
    if not lo <= x <= hi:
        raise at.error(f"a time of {x:.6g} s per call is outside [{lo:g} s, {hi:g} s]")
    return x


TIME_BOUNDS_S = (1e-12, 1e6)  # a picosecond (no call is faster) to 11 days (no call is slower)
_TIMES = ("median", "mean", "min", "max", "p10", "p90", "q1", "q3")
_ORDER = ("min", "p10", "q1", "median", "q3", "p90", "max")
_DERIVED = ("rel_iqr", "rel_stdev")
_SLACK = 1e-9  # rounding of the interpolated quantiles


def summarize(samples: Sequence[float]) -> Summary:
    if not samples:
        raise ValueError("no samples")
    q1, q3 = quantile(samples, 0.25), quantile(samples, 0.75)
    fence = 1.5 * (q3 - q1)
    return Summary(
        n=len(samples), median=quantile(samples, 0.5), mean=statistics.fmean(samples),
        min=min(samples), max=max(samples), p10=quantile(samples, 0.1), p90=quantile(samples, 0.9),
        q1=q1, q3=q3, stdev=statistics.stdev(samples) if len(samples) > 1 else 0.0,
        outliers=sum(1 for x in samples if x < q1 - fence or x > q3 + fence),
    )
