"""The runner's faults: too large is skipped before allocating, out of memory and failed checks
become skips, Ctrl-C keeps what was measured, the time budget is honoured."""

import pytest

from rooflint.measure.backends.base import Prepared
from rooflint.measure.cases import GiB, case
from rooflint.measure.result import Measurement, Run, Skip
from rooflint.measure.runner import Limits, run_cases
from rooflint.measure.timing import StopRule

RULE = StopRule(min_samples=5, max_samples=20, min_time_s=0.0, max_time_s=0.02, warmup_s=0.0)


class FakeBackend:
    """A CPU backend whose kernels do nothing; behaviour per case key is scripted."""

    name, device = "fake", "cpu"

    def __init__(self, free=64 * GiB, oom=(), wrong=(), interrupt=()):
        self.free, self.oom, self.wrong, self.interrupt = free, set(oom), set(wrong), set(interrupt)
        self.prepared = []

    def supports(self, c):
        return "no such kernel here" if c.kernel == "softmax" else True

    def free_memory_bytes(self):
        return self.free

    def prepare(self, c, rotation_bytes):
        self.prepared.append(c.key)
        if c.key in self.interrupt:
            raise KeyboardInterrupt
        if c.key in self.oom:
            raise MemoryError("cannot allocate 3 GiB")
        return Prepared(run=lambda: None, check=lambda: 1.0 if c.key in self.wrong else 0.0)

    def timer(self):
        return None

    def synchronize(self):
        pass

    def is_out_of_memory(self, exc):
        return isinstance(exc, MemoryError)

    def release(self):
        pass


SMALL, BIG = case("copy", "fp32", n=1 << 20), case("copy", "fp32", n=8 * GiB)
GEMM = case("gemm", "fp32", M=64, N=64, K=64)


def run(backend, cases, budget=None):
    return run_cases([backend], cases, RULE, Limits(budget), {"device_name": "fake"})


def test_too_large_is_skipped_before_allocating():
    b = FakeBackend(free=4 * GiB)  # the 8 GiB copy needs 16 GiB
    out = run(b, [BIG, SMALL])
    assert [m.case for m in out.measurements] == [SMALL]
    (skip,) = out.skipped
    assert skip.case == BIG and "skipped before allocating" in skip.reason and "16 GiB" in skip.reason
    assert BIG.key not in b.prepared  # never allocated


def test_out_of_memory_is_caught_and_the_run_goes_on():
    out = run(FakeBackend(oom={SMALL.key}), [SMALL, GEMM])
    assert [m.case for m in out.measurements] == [GEMM]
    assert out.skipped[0].reason.startswith("out of memory: MemoryError")


def test_a_wrong_result_is_not_timed():
    out = run(FakeBackend(wrong={GEMM.key}), [GEMM])
    assert not out.measurements
    assert "result check failed: relative error 1" in out.skipped[0].reason


def test_unsupported_kernel_is_reported_with_its_reason():
    out = run(FakeBackend(), [case("softmax", "fp32", R=4, N=4)])
    assert out.skipped[0].reason == "no such kernel here"


def test_ctrl_c_keeps_what_was_measured():
    out = run(FakeBackend(interrupt={GEMM.key}), [SMALL, GEMM, BIG])
    assert out.interrupted
    assert [m.case for m in out.measurements] == [SMALL]


def test_time_budget_skips_the_rest():
    out = run(FakeBackend(), [SMALL, GEMM], budget=1e-9)
    assert not out.measurements
    assert all("time budget" in s.reason for s in out.skipped)


def test_run_round_trips_through_json():
    out = run(FakeBackend(free=GiB), [SMALL, BIG])
    back = Run.from_dict(out.to_dict())
    assert back == out
    assert isinstance(back.measurements[0], Measurement) and isinstance(back.skipped[0], Skip)
    assert back.measurements[0].stats.n >= 3


def test_numpy_backend_checks_and_rotates():
    from rooflint.measure.backends.arrays import NumpyBackend
    from rooflint.measure.runner import measure_case

    b = NumpyBackend()
    gemm = case("gemm", "fp32", M=96, N=80, K=64)
    m = measure_case(b, gemm, RULE, rotation_bytes=8 << 20)
    assert isinstance(m, Measurement)
    assert m.check_error < 1e-5
    footprint = (96 * 64 + 64 * 80 + 96 * 80) * 4
    assert m.rotation_sets == -(-(8 << 20) // footprint)  # sets together span the rotation target
    for kernel in (case("softmax", "fp32", R=64, N=128), case("attention", "fp64", "eager", B=1, H=2, N=64, d=16),
                   case("decode_attention", "fp32", "eager", B=2, H_q=8, H_kv=2, C=96, d=32)):
        p = b.prepare(kernel, 0)
        assert p.check() < 1e-5, kernel.key


def test_numpy_check_catches_a_kernel_that_writes_nothing(monkeypatch):
    from rooflint.measure.backends import arrays

    monkeypatch.setattr(arrays, "kernel_call", lambda *a, **k: (lambda: None))
    p = arrays.NumpyBackend().prepare(case("gemm", "fp32", M=8, N=8, K=8), 0)
    assert p.check() == float("inf")  # the poisoned (NaN) output was never overwritten


def test_missing_backends_say_why():
    from rooflint.errors import BackendUnavailable
    from rooflint.measure.backends import make_backend

    try:
        import cupy  # noqa: F401
        pytest.skip("CuPy is installed here")
    except ImportError:
        pass
    with pytest.raises(BackendUnavailable, match="cupy is not installed"):
        make_backend("cupy", "cuda")
    with pytest.raises(BackendUnavailable, match="numpy does not run on cuda"):
        make_backend("numpy", "cuda")
