"""Speed and memory of `rooflint sweep` (memory, fit, decode step and prefill on the real op forms).

    python bench/sweep_speed.py [--quick]

Grids of many batches x many contexts for 4 models (dense GQA, sliding window, MoE, MLA + MoE)
x 2 GPUs x 2 KV dtypes x 2 kernels, at 10^6 and 10^7 configurations. For each: the first call
(cold: resolving, lowering and compiling the op forms of every variant), the best of 3 later
calls (warm: the compiled forms are cached, as within one process), the peak of memory the
sweep allocates (tracemalloc, which tracks numpy's buffers) per configuration, warm and while
compiling the variants again, and the time to
write the points as CSV (pyarrow's writer when installed, and the one without it) against the
warm sweep (and the cold one, what one `rooflint sweep -f csv` pays); Parquet and npz alike.
Targets in the last column.
"""

from __future__ import annotations

import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from clock import best_of  # bench/clock.py, beside this script

from rooflint.analysis import sweep as sweep_module
from rooflint.analysis.sweep import Grid, sweep
from rooflint.report import sweep_view
from rooflint.specs.catalog import load_hardware, load_model

MODELS = ("llama3-8b", "mistral-7b", "mixtral-8x7b", "deepseek-v2-lite")
GPUS = ("h100-sxm", "a100-80gb")
SIZES = {10**6: (125, 250), 10**7: (500, 625)}  # batches x contexts per variant (32 variants)


def grid(nb: int, nc: int, forecast: bool = True) -> Grid:
    return Grid([load_model(n) for n in MODELS], [load_hardware(n) for n in GPUS], [1 + 2 * i for i in range(nb)],
                [64 * (i + 1) for i in range(nc)], ["fp16", "fp8"], ["eager", "flash"], "fp16", forecast=forecast)


def peak_bytes(g: Grid) -> int:
    tracemalloc.start()
    sweep(g)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak




def writer_seconds(result, name: str) -> float | None:
    """Best of 2 (1 for the slow pure-Python CSV); None when pyarrow is missing."""
    if name in ("csv", "parquet"):
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            return None
    write = {"csv": sweep_view.sweep_csv, "csv without pyarrow": sweep_view._csv_python,
             "parquet": sweep_view.sweep_parquet, "npz": sweep_view.sweep_npz}[name]
    return best_of(lambda: write(result), 1 if name == "csv without pyarrow" else 2)


def main() -> None:
    quick = "--quick" in sys.argv
    rows = []
    for size, (nb, nc) in SIZES.items():
        if quick and size > 10**6:
            continue
        g = grid(nb, nc)
        assert g.size == size
        start = time.perf_counter()
        result = sweep(g)
        cold = time.perf_counter() - start
        del result
        warm = best_of(lambda g=g: sweep(g))
        peak = peak_bytes(g)
        sweep_module._PLANS.clear()  # lower and compile the variants again, under tracemalloc
        peak_compiling = peak_bytes(g)
        result = sweep(g)
        rows.append((f"{size:,} configurations, cold (s)", f"{cold:.3f}", ""))
        rows.append((f"{size:,} configurations, warm (s)", f"{warm:.3f}", ""))
        rows.append((f"{size:,} configurations/s (warm, bound and forecast)", f"{size / warm / 1e6:.1f} M", ""))
        bare = grid(nb, nc, forecast=False)
        sweep(bare)
        warm_bare = best_of(lambda g=bare: sweep(g))
        rows.append((f"{size:,} configurations/s (warm, --no-forecast)", f"{size / warm_bare / 1e6:.1f} M", ">= 10 M"))
        rows.append((f"{size:,} configurations/s (cold)", f"{size / cold / 1e6:.1f} M", ""))
        rows.append((f"{size:,} peak bytes per configuration", f"{peak / size:.1f}", "<= 100"))
        rows.append((f"{size:,} peak bytes per configuration, compiling", f"{peak_compiling / size:.1f}", "<= 100"))
        if size == 10**6:
            for name in ("csv", "csv without pyarrow", "parquet", "npz"):
                seconds = writer_seconds(result, name)
                if seconds is None:
                    rows.append((f"-f {name} of 10^6 rows", "pyarrow not installed", ""))
                    continue
                # the target: CSV at most 2x the sweep; a command pays the cold sweep (with its
                # one-time compile), a library caller who sweeps again the warm one: both are shown
                target = "<= 2x the sweep" if name.startswith("csv") else ""
                rows.append((f"-f {name} of 10^6 rows (s)", f"{seconds:.3f}", ""))
                rows.append(("  / warm sweep, / cold sweep", f"{seconds / warm:.1f}x, {seconds / cold:.1f}x", target))
        del result
    width = max(len(r[0]) for r in rows)
    print(f"{len(MODELS)} models x {len(GPUS)} GPUs x 2 KV dtypes x 2 kernels x batches x contexts")
    print(f"{'':{width}}  {'measured':>22}  reference")
    for label, value, target in rows:
        print(f"{label:{width}}  {value:>22}  {target}")


if __name__ == "__main__":
    main()
