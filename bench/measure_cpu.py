"""The measurement harness on this CPU against hand-timed numpy, its run-to-run spread, and the
calibrated prediction error of the memory-bound kernels.

    python bench/measure_cpu.py          # about two minutes on 2 cores

1. Copy bandwidth (bytes read + written / time) of a 1 GiB copy: rooflint's numpy and torch
   backends next to `np.copyto` timed by hand (best and median of 10; on one thread, numpy's
   default, and split over all cores as rooflint's numpy backend does).
2. fp32 GEMM 2048^3: rooflint's numpy and torch backends next to hand-timed `np.matmul` on
   numpy's BLAS (target: the harness within 5% of the same call timed by hand).
3. Spread of each over three harness runs: (max - min) / median.
4. The quick suite with torch, calibrated from its own copy and GEMM sweeps; the error of every
   kernel the analyzer calls memory-bound (target: within 25% on a CPU).
"""

from __future__ import annotations

import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rooflint.analysis.roofline import MEMORY  # noqa: E402
from rooflint.compare.comparison import compare  # noqa: E402
from rooflint.compare.kernels import case_bytes, case_flops  # noqa: E402
from rooflint.compare.profile import calibrate_run  # noqa: E402
from rooflint.measure.backends import make_backend  # noqa: E402
from rooflint.measure.cases import GiB, case  # noqa: E402
from rooflint.measure.environment import (  # noqa: E402
    available_memory_bytes,
    cpu_cores,
    last_level_cache_bytes,
)
from rooflint.measure.runner import RULES, measure_case, rotation_target  # noqa: E402
from rooflint.measure.session import run_suite  # noqa: E402


def by_hand(fn, reps: int = 10) -> tuple[float, float]:
    """(best, median) of reps timed calls after one warm-up call."""
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


def split_copy(pool: ThreadPoolExecutor, dst, src, parts: int) -> None:
    step = -(-src.size // parts)
    list(pool.map(lambda i: np.copyto(dst[i:i + step], src[i:i + step]), range(0, src.size, step)))


def hand_copies(n: int, cores: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """A copy of n bytes timed by hand, on one thread and split over the cores (buffers freed on return)."""
    src = np.random.default_rng(0).standard_normal(n // 4, dtype=np.float32)
    dst = np.empty_like(src)
    dst.fill(0)
    one = by_hand(lambda: np.copyto(dst, src))
    with ThreadPoolExecutor(cores) as pool:
        split = by_hand(lambda: split_copy(pool, dst, src, cores))
    return one, split


def main() -> None:
    rotation = rotation_target(last_level_cache_bytes(), available_memory_bytes())
    numpy_b, torch_b = make_backend("numpy", "cpu"), make_backend("torch", "cpu")
    rule = RULES["full"]

    n = 1 * GiB
    cores = cpu_cores()
    copy_1, copy_n = hand_copies(n, cores)
    a = np.random.default_rng(1).standard_normal((2048, 2048), dtype=np.float32)
    b = np.random.default_rng(2).standard_normal((2048, 2048), dtype=np.float32)
    c = np.empty_like(a)
    gemm_hand = by_hand(lambda: np.matmul(a, b, out=c))

    copy, gemm = case("copy", "fp32", n=n), case("gemm", "fp32", M=2048, N=2048, K=2048)
    hands = {"copy 1 thread": (copy, copy_1), f"copy {cores} threads": (copy, copy_n), "gemm": (gemm, gemm_hand)}
    print("by hand (best and median of 10 calls):")
    for label, (k, (best, med)) in hands.items():
        work, unit = (case_bytes(k), "GB/s") if k.kernel == "copy" else (case_flops(k), "GFLOP/s")
        print(f"  numpy {label:16} best {work / best / 1e9:8.1f} {unit}, median {work / med / 1e9:8.1f} {unit}")
    rows = []
    for label, backend, k, (hand_label, unit) in (
            ("copy 1 GiB, numpy", numpy_b, copy, (f"copy {cores} threads", "GB/s")),
            ("copy 1 GiB, torch", torch_b, copy, (f"copy {cores} threads", "GB/s")),
            ("fp32 GEMM 2048^3, numpy", numpy_b, gemm, ("gemm", "GFLOP/s")),
            ("fp32 GEMM 2048^3, torch", torch_b, gemm, ("gemm", "GFLOP/s"))):
        work = case_bytes(k) if unit == "GB/s" else case_flops(k)
        rates, m = [], None
        for _ in range(3):
            m = measure_case(backend, k, rule, rotation)
            rates.append(work / m.time_s)
        med = statistics.median(rates)
        best_hand, med_hand = (work / t for t in hands[hand_label][1])
        rows.append((label, med / 1e9, best_hand / 1e9, med_hand / 1e9, unit, med / best_hand, med / med_hand,
                     (max(rates) - min(rates)) / med, m.stats.rel_iqr))
    print("\nharness (median of its samples; median of three runs) against numpy timed by hand")
    print(f"{'kernel':26} {'harness':>9} {'hand best':>10} {'hand med':>9} {'unit':8} {'/best':>6} {'/median':>8}"
          f" {'3-run spread':>13} {'noise':>6}")
    for label, h, hb, hm, unit, rb, rm, spread, noise in rows:
        print(f"{label:26} {h:9.1f} {hb:10.1f} {hm:9.1f} {unit:8} {rb:6.3f} {rm:8.3f} {100 * spread:12.1f}% {100 * noise:5.1f}%")

    print("\nquick suite on torch, calibrated from its own sweeps ...", flush=True)
    run = run_suite("quick", [torch_b], "cpu", None, lambda line: None)
    cal = calibrate_run(run)
    hw = cal.hardware(backend="torch")
    print(f"calibrated: bandwidth {hw.bandwidth_bytes_per_s / 1e9:.1f} GB/s, fp32 {hw.peak('fp32') / 1e9:.0f} GFLOP/s, "
          f"bf16 {hw.peak('bf16') / 1e9:.0f} GFLOP/s, t0 {hw.kernel_overhead_s * 1e6:.2f} us")
    print(f"\n{'memory-bound kernel':58} {'measured':>10} {'predicted':>10} {'error':>8}")
    errors = []
    for m in run.measurements:
        r = compare(m, None, hw)
        if r.predicted_bound != MEMORY:
            continue
        errors.append(abs(r.calibrated_error))
        print(f"{m.case.key:58} {m.time_s * 1e3:8.3f}ms {r.calibrated_s * 1e3:8.3f}ms {100 * r.calibrated_error:+7.1f}%")
    within = sum(e <= 0.25 for e in errors)
    print(f"\nmedian |error| {100 * statistics.median(errors):.1f}%; {within} of {len(errors)} within 25%")


if __name__ == "__main__":
    main()
