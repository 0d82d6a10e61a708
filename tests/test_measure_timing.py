"""The timing harness against kernels of known cost, with clocks the test controls."""

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rooflint.measure.stats import quantile, summarize
from rooflint.measure.timing import (
    StopRule,
    calls_per_sample,
    event_sampler,
    graph_sampler,
    host_sampler,
    sample_until_settled,
)


@given(st.lists(st.floats(1e-9, 1.0), min_size=1, max_size=60), st.floats(0, 1))
@settings(max_examples=200, deadline=None)
def test_quantile_matches_numpy_linear_interpolation(xs, q):
    assert quantile(xs, q) == pytest.approx(float(np.percentile(xs, 100 * q)), rel=1e-12, abs=1e-15)


def test_spread_statistic_on_synthetic_samples():
    # 1..100: quartiles by numpy's rule are 25.75 and 75.25, median 50.5 -> IQR/median = 49.5/50.5.
    s = summarize([float(x) for x in range(1, 101)])
    assert (s.q1, s.median, s.q3) == (25.75, 50.5, 75.25)
    assert s.rel_iqr == pytest.approx(49.5 / 50.5)
    assert s.outliers == 0
    # One slow sample among twenty identical ones: the IQR ignores it, Tukey's fence counts it.
    t = summarize([1.0] * 20 + [5.0])
    assert t.rel_iqr == 0 and t.outliers == 1 and t.max == 5.0 and t.median == 1.0


class FakeClock:
    """A clock that advances only when a fake kernel runs."""

    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_loop_stops_when_the_spread_settles():
    clock, rule = FakeClock(), StopRule(min_samples=10, min_time_s=0.05, max_time_s=10, warmup_s=0.01)

    def take():
        clock.t += 0.01
        return 0.01  # no noise at all

    out = sample_until_settled(take, rule, clock)
    assert out.stop_reason == "settled"
    assert out.warmup_calls == 1  # one call already spends the 10 ms warm-up
    assert len(out.samples_s) == 10  # min_samples reached after min_time (5 samples) was


def test_loop_stops_at_the_budget_when_noise_never_settles():
    clock, rule = FakeClock(), StopRule(min_samples=5, min_time_s=0.0, max_time_s=1.0, warmup_s=0.0)
    values = iter([0.01, 0.03] * 1000)  # rel IQR stays ~100%

    def take():
        clock.t += 0.02
        return next(values)

    out = sample_until_settled(take, rule, clock)
    assert out.stop_reason == "budget"
    assert len(out.samples_s) == 50  # 1 s of 20 ms samples
    assert summarize(out.samples_s).rel_iqr > 0.5


def test_host_sampler_divides_by_calls():
    ticks = iter([0, 3_000_000])  # 3 ms for the batch
    take = host_sampler(lambda: None, calls=30, clock_ns=lambda: next(ticks))
    assert take() == pytest.approx(1e-4)
    assert calls_per_sample(1e-6) == 1000 and calls_per_sample(5e-3) == 1


def _spin(seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


@pytest.mark.parametrize("cost", [200e-6, 2e-3])
def test_fixed_work_kernel_median_never_below_its_work(cost):
    """A kernel that busy-waits `cost` seconds on the real clock: whatever else runs on the
    machine, its median is never below that cost (load only adds)."""
    rule = StopRule(min_samples=10, max_time_s=0.3, min_time_s=0.05, warmup_s=0.01)
    take = host_sampler(lambda: _spin(cost), calls_per_sample(cost))
    s = summarize(sample_until_settled(take, rule).samples_s)
    assert cost <= s.median


@pytest.mark.parametrize("cost", [200e-6, 2e-3])
def test_fixed_work_kernel_median_is_its_cost_through_preemptions(cost):
    """The same kernel on an injected clock: each call costs `cost`, and one call in every 7
    samples is preempted for 30x as long (a busy machine). The median is the cost to within the
    clock's 1 ns, the preempted samples are there, and the sampling stops by its rule."""
    now = [0]
    calls = calls_per_sample(cost)

    def run():
        run.calls += 1
        now[0] += round(cost * 1e9) * (30 if run.calls % (7 * calls) == 0 else 1)
    run.calls = 0
    rule = StopRule(min_samples=10, max_samples=400, max_time_s=0.3, min_time_s=0.05, warmup_s=0.01)
    take = host_sampler(run, calls, clock_ns=lambda: now[0])
    sampling = sample_until_settled(take, rule, clock=lambda: now[0] / 1e9)
    s = summarize(sampling.samples_s)
    assert s.median == pytest.approx(cost, abs=1e-9)
    assert s.max > 5 * cost  # the preempted samples are there, and do not move the median


class FakeDeviceTimer:
    """Each queued op advances a device clock: flush 30 us, kernel 4 us, graph launch 5 us."""

    FLUSH, KERNEL, LAUNCH = 30e-6, 4e-6, 5e-6

    def __init__(self):
        self.device_time = 0.0

    def flush(self):
        self.device_time += self.FLUSH

    def kernel(self):
        self.device_time += self.KERNEL

    def elapsed_s(self, fn):
        start = self.device_time
        fn()
        return self.device_time - start

    def capture(self, fn, times):
        real = self.device_time
        for _ in range(times):
            fn()
        per_replay = self.device_time - real
        self.device_time = real

        def replay():
            self.device_time += self.LAUNCH + per_replay
        return replay


def test_event_sampler_excludes_the_flush():
    t = FakeDeviceTimer()
    assert event_sampler(t, t.kernel)() == pytest.approx(FakeDeviceTimer.KERNEL)


def test_graph_sampler_subtracts_flush_only_replay_and_launch():
    t = FakeDeviceTimer()
    take = graph_sampler(t, t.kernel, n=50)
    assert take() == pytest.approx(FakeDeviceTimer.KERNEL)  # neither flush nor launch left in


def test_graph_sampler_gives_up_when_capture_fails():
    t = FakeDeviceTimer()
    t.capture = lambda fn, times: None
    assert graph_sampler(t, t.kernel, n=10) is None
