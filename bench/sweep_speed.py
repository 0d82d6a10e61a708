"""Configurations per second of the vectorized sweep (memory and decode-time metrics).

    python bench/sweep_speed.py

Every built-in model x every GPU with an fp16 unit x batch x context x KV dtype x attention,
growing the batch and context axes; the time is sweep() alone (best of 3), not writing files.
Target: >= 1,000,000 configurations/s on the 2-core development machine.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rooflint.catalog import builtin_names, load_hardware, load_model  # noqa: E402
from rooflint.dtypes import dtype  # noqa: E402
from rooflint.sweep import Grid, sweep  # noqa: E402


def main() -> None:
    models = [load_model(n) for n in builtin_names("models")]
    gpus = [g for g in (load_hardware(n) for n in builtin_names("hardware")) if g.supports(dtype("fp16"))]
    kvs = [dtype("fp16"), dtype("fp8"), dtype("int4")]
    print(f"{len(models)} models x {len(gpus)} GPUs x batches x contexts x {len(kvs)} KV dtypes x 2 kernels")
    print(f"{'batches':>8} {'contexts':>9} {'configurations':>15} {'seconds':>9} {'configs/s':>12}")
    for nb, nc in ((8, 8), (16, 32), (32, 64), (64, 128)):
        grid = Grid(models, gpus, [1 + 4 * i for i in range(nb)], [256 * (i + 1) for i in range(nc)], kvs,
                    ["eager", "flash"], dtype("fp16"))
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            sweep(grid)
            best = min(best, time.perf_counter() - t0)
        print(f"{nb:8} {nc:9} {grid.size:15,} {best:9.3f} {grid.size / best:12,.0f}")


if __name__ == "__main__":
    main()
