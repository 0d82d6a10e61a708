"""Runs cases on backends: memory check, build, result check, timing; faults become skips.

A size that does not fit is skipped before anything is allocated (the backend's free memory
against the case's footprint), and an out-of-memory error while building or running one is
caught and the run goes on. Ctrl-C ends the run with what was measured so far (Run.interrupted).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from rooflint.measure.backends.base import TOLERANCE, Backend, Prepared, rotation_sets
from rooflint.measure.cases import Case, GiB, MiB
from rooflint.measure.result import Measurement, Run, Skip
from rooflint.measure.stats import summarize
from rooflint.measure.timing import (
    GRAPH_BELOW_S,
    StopRule,
    calls_per_sample,
    event_sampler,
    graph_calls,
    graph_sampler,
    host_sampler,
    sample_until_settled,
)
from rooflint.units import format_bytes, format_seconds

MEMORY_HEADROOM = 0.9  # use at most this share of the free memory
GENERATE_TOLERANCE_SCALE = 10  # a whole model's logits: errors of many kernels add up

RULES = {
    "quick": StopRule(min_samples=10, max_samples=500, min_time_s=0.05, max_time_s=0.4, target_rel_iqr=0.02),
    "full": StopRule(min_samples=20, max_samples=2000, min_time_s=0.2, max_time_s=2.0, target_rel_iqr=0.01),
}


@dataclass(frozen=True, slots=True)
class Limits:
    time_budget_s: float | None = None  # whole run; cases after it are skipped with a note
    rotation_bytes: float = 0.0  # CPU input rotation span (twice the last-level cache)


def rotation_target(llc_bytes: int | None, available: int | None) -> float:
    """Twice the last-level cache (64 MiB when unknown), at most an eighth of free memory."""
    target = 2 * (llc_bytes or 32 * MiB)
    if available:
        target = min(target, available / 8)
    return float(min(target, 2 * GiB))


def run_cases(backends: Iterable[Backend], cases: list[Case], rule: StopRule, limits: Limits,
              environment: dict, progress: Callable[[str, int, int], None] = lambda *_: None,
              clock: Callable[[], float] = time.perf_counter) -> Run:
    """Each case on each backend; progress(line, cases done, cases in all) after each one timed."""
    measured: list[Measurement] = []
    skipped: list[Skip] = []
    backends = list(backends)
    support = {(b.name, c.key): b.supports(c) for b in backends for c in cases}
    total, done = sum(1 for ok in support.values() if ok is True), 0
    began = clock()
    interrupted = False
    try:
        for backend in backends:
            for case in cases:
                ok = support[backend.name, case.key]
                if ok is False:
                    continue
                if isinstance(ok, str):
                    skipped.append(Skip(case, backend.name, ok))
                    continue
                left = None if limits.time_budget_s is None else limits.time_budget_s - (clock() - began)
                if left is not None and left <= 0:
                    skipped.append(Skip(case, backend.name, f"time budget of {limits.time_budget_s:g} s spent"))
                    done += 1
                    continue
                step_rule = rule if left is None else replace(rule, max_time_s=max(0.01, min(rule.max_time_s, left)))
                outcome = measure_case(backend, case, step_rule, limits.rotation_bytes)
                (measured if isinstance(outcome, Measurement) else skipped).append(outcome)
                done += 1
                progress(_progress_line(outcome), done, total)
            backend.release()
    except KeyboardInterrupt:
        interrupted = True
    return Run(environment, tuple(measured), tuple(skipped), interrupted)


def measure_case(backend: Backend, case: Case, rule: StopRule, rotation_bytes: float) -> Measurement | Skip:
    rotation = 0.0 if backend.timer() is not None else rotation_bytes
    footprint = case.footprint_bytes()
    need = footprint * rotation_sets(footprint, rotation)
    free = backend.free_memory_bytes()
    if free is not None and need > MEMORY_HEADROOM * free:
        return Skip(case, backend.name, f"needs {_b(need)}, {_b(free)} free: skipped before allocating")
    prepared: Prepared | None = None
    try:
        prepared = backend.prepare(case, rotation)
        error = prepared.check()
        tolerance = TOLERANCE[case.dtype] * (GENERATE_TOLERANCE_SCALE if case.kernel == "generate" else 1)
        if not error <= tolerance:  # also catches NaN: a result the kernel never wrote
            return Skip(case, backend.name, f"result check failed: relative error {error:.2g} > {tolerance:g}")
        return _time(backend, case, prepared, rule, error)
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        if backend.is_out_of_memory(exc):
            return Skip(case, backend.name, f"out of memory: {_first_line(exc)}")
        return Skip(case, backend.name, f"cannot run here: {_first_line(exc)}")
    finally:
        if prepared is not None:
            prepared.close()
        del prepared


def _time(backend: Backend, case: Case, prepared: Prepared, rule: StopRule, error: float) -> Measurement:
    timer = backend.timer()
    t0 = time.perf_counter()
    prepared.run()
    backend.synchronize()
    estimate = time.perf_counter() - t0
    calls, method = 1, "host-clock"
    if timer is None:
        calls = calls_per_sample(estimate)
        take = host_sampler(prepared.run, calls)
    else:
        take, method = event_sampler(timer, prepared.run), "cuda-events"
        if prepared.graphs and estimate < GRAPH_BELOW_S * 4:  # the host estimate includes launch cost
            event_estimate = timer.elapsed_s(prepared.run)
            if event_estimate < GRAPH_BELOW_S:
                calls = graph_calls(event_estimate)
                graphed = graph_sampler(timer, prepared.run, calls)
                if graphed is not None:
                    take, method = graphed, "cuda-graph"
    sampling = sample_until_settled(take, rule)
    return Measurement(case, backend.name, backend.device, summarize(sampling.samples_s), method,
                       sampling.stop_reason, error, prepared.sets, calls, dict(prepared.extra))


def _progress_line(outcome: Measurement | Skip) -> str:
    if isinstance(outcome, Skip):
        return f"  skip  {outcome.backend:6} {outcome.case.key}: {outcome.reason}"
    s = outcome.stats
    return (f"  {outcome.backend:6} {outcome.case.key:44} {format_seconds(s.median):>10}"
            f"  ±{100 * s.rel_iqr:.1f}% IQR  n={s.n}")


def _b(x: float) -> str:
    return format_bytes(x)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:160]}" if text else type(exc).__name__
