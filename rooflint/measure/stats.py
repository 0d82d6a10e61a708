"""Robust statistics of timing samples: median, percentiles, spread, outliers (stdlib only).

The noise of a measurement is its relative interquartile range, IQR / median: it ignores the
odd slow sample (a page fault, a clock dip) that a standard deviation would blow up, and it
is what torch.utils.benchmark checks (IQR > 10% of the median is suspicious). Outliers are
counted by Tukey's rule (beyond 1.5 IQR of the quartiles), never dropped.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass


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
