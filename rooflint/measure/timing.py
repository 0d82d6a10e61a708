"""The timing loop: warm-up, samples until the spread settles or the budget ends (stdlib only).

How one sample is taken depends on the device (the ways triton's do_bench, nvbench and
torch.utils.benchmark do it):

- host clock (CPU): `time.perf_counter_ns` around k calls, k chosen so a sample lasts about a
  millisecond (the clock's own cost and jitter stay far below 1%); the backend's kernel closure
  rotates its input sets, so a warm cache is not what is timed.
- device events (GPU, kernels >= 50 us): a cache flush is queued, then a start event, the
  kernel, an end event; the flush runs before the start event on the same stream, so it is
  outside the timed interval.
- graph replay (GPU, kernels < 50 us): a CUDA graph of n x (flush + kernel) and one of n x
  flush; a sample is (replay time of the first - replay time of the second) / n, so neither the
  launch overhead nor the flush is in the number.

The clock of the loop itself is injectable so that tests can drive it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from rooflint.measure.stats import summarize

GRAPH_BELOW_S = 50e-6  # kernels shorter than this are timed by graph replay on a GPU
SAMPLE_TARGET_S = 1e-3  # a host-clock sample batches calls up to about this long
MIN_SAMPLES_HARD = 3  # never fewer, so that a spread exists


@dataclass(frozen=True, slots=True)
class StopRule:
    """When to stop sampling one kernel (nvbench's stdrel idea, with a robust spread)."""

    min_samples: int = 10
    max_samples: int = 1000
    min_time_s: float = 0.1  # sampled time before a settled spread may stop the loop
    max_time_s: float = 2.0  # budget of one kernel's sampling (warm-up not counted)
    target_rel_iqr: float = 0.01  # settled when IQR / median falls to this
    warmup_s: float = 0.025  # time-budgeted warm-up (triton's default), at least one call


@dataclass(frozen=True, slots=True)
class Sampling:
    samples_s: tuple[float, ...]
    warmup_calls: int
    stop_reason: str  # settled | budget | max-samples
    wall_s: float


def sample_until_settled(take: Callable[[], float], rule: StopRule,
                         clock: Callable[[], float] = time.perf_counter) -> Sampling:
    """Warm up, then call `take` (which returns one sample in seconds) until the relative IQR
    is at most the target (after min_samples and min_time_s), or the budget or sample cap ends."""
    began = clock()
    warm = 0
    while True:
        take()
        warm += 1
        if clock() - began >= rule.warmup_s:
            break
    start = clock()
    samples: list[float] = []
    next_check = rule.min_samples
    reason = "budget"
    while True:
        samples.append(take())
        n, elapsed = len(samples), clock() - start
        if n >= rule.max_samples:
            reason = "max-samples"
            break
        if n >= next_check and elapsed >= rule.min_time_s:
            next_check = n + max(1, n // 10)  # re-check the spread every ~10% more samples
            if summarize(samples).rel_iqr <= rule.target_rel_iqr:
                reason = "settled"
                break
        if elapsed >= rule.max_time_s and n >= MIN_SAMPLES_HARD:
            break
    return Sampling(tuple(samples), warm, reason, clock() - began)


def calls_per_sample(estimate_s: float, target_s: float = SAMPLE_TARGET_S, cap: int = 10_000) -> int:
    """Calls batched into one host-clock sample so that it lasts about target_s."""
    if estimate_s <= 0:
        return cap
    return max(1, min(cap, math.ceil(target_s / estimate_s - 1e-9)))  # 1e-3 / 1e-6 is 1000.0000000000001


def host_sampler(run: Callable[[], None], calls: int,
                 clock_ns: Callable[[], int] = time.perf_counter_ns) -> Callable[[], float]:
    """One sample = the host-clock time of `calls` calls / calls (CPU kernels return when done)."""
    def take() -> float:
        t0 = clock_ns()
        for _ in range(calls):
            run()
        return (clock_ns() - t0) / 1e9 / calls
    return take


class DeviceTimer(Protocol):
    """What a GPU backend provides for timing (torch.cuda and CuPy implement it)."""

    def flush(self) -> None:
        """Queue a write of at least twice the L2 on the timing stream (evicts the cache)."""

    def elapsed_s(self, fn: Callable[[], None]) -> float:
        """Record a start event, queue fn, record an end event, synchronize: seconds between."""

    def capture(self, fn: Callable[[], None], times: int) -> Callable[[], None] | None:
        """A graph of `times` x fn; returns its replay, or None when capture is not possible."""


def event_sampler(timer: DeviceTimer, run: Callable[[], None], flush: bool = True) -> Callable[[], float]:
    def take() -> float:
        if flush:
            timer.flush()
        return timer.elapsed_s(run)
    return take


def graph_sampler(timer: DeviceTimer, run: Callable[[], None], n: int,
                  flush: bool = True) -> Callable[[], float] | None:
    """(replay of n x (flush + kernel) - replay of n x flush) / n; None if graphs can't be made.
    Without a flush the baseline is an empty graph's replay: the graph's launch cost alone."""
    def with_kernel() -> None:
        if flush:
            timer.flush()
        run()

    def baseline() -> None:
        if flush:
            timer.flush()

    kernel_graph = timer.capture(with_kernel, n)
    base_graph = timer.capture(baseline, n) if kernel_graph is not None else None
    if kernel_graph is None or base_graph is None:
        return None

    def take() -> float:
        return (timer.elapsed_s(kernel_graph) - timer.elapsed_s(base_graph)) / n
    return take


def graph_calls(estimate_s: float, target_s: float = SAMPLE_TARGET_S, cap: int = 200) -> int:
    """Kernel calls per graph: enough for about target_s of kernel time, at most cap."""
    return max(1, min(cap, math.ceil(target_s / max(estimate_s, 1e-7))))
