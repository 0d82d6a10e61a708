"""Seconds of `rooflint serve`'s frontier as the grid grows, against the issue's target.

    python bench/serve_speed.py [--levels 20]

For 1 model x 1 GPU, then 10 models x 5 GPUs, each over 1, 2, 4, ..., 64 GPUs and every layout
serve weighs there (tensor parallel x replicas, pipelines beyond a node, data-parallel attention +
experts) x `--levels` concurrency levels: points evaluated, seconds, points/s, next to one cold
`rooflint plan` and the target of issue 15 (the 10 x 5 grid in under 10 s on this 2-core machine).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rooflint.analysis.plan import plan  # noqa: E402
from rooflint.analysis.serve import serve  # noqa: E402
from rooflint.specs.catalog import load_model  # noqa: E402
from rooflint.workload import Workload  # noqa: E402

MODELS = ("llama2-7b", "llama3-8b", "mistral-7b", "llama3-70b", "mixtral-8x7b", "qwen2.5-7b", "llama2-13b",
          "llama2-70b", "falcon-7b", "deepseek-v2-lite")
GPUS = ("h100", "a100", "h200", "b200", "mi300x")
COUNTS = tuple(2**i for i in range(7))  # 1 .. 64 GPUs
TARGET_S = 10.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--levels", type=int, default=20)
    args = ap.parse_args()
    levels = sorted({max(1, round(1.45**i)) for i in range(40)})[: args.levels]
    t0 = time.perf_counter()
    plan(load_model("llama3-8b"), "h100", Workload(batch=8, prompt=1, prefix=1535, context=1536))
    one_plan = time.perf_counter() - t0
    rows = []
    for models, gpus in ((MODELS[:1], GPUS[:1]), (MODELS, GPUS)):
        points, t0 = 0, time.perf_counter()
        for name in models:
            m = load_model(name)
            for g in gpus:
                for n in COUNTS:
                    points += len(serve(m, g, n, 1024, 1024, concurrency=levels).points)
        rows.append((f"{len(models)} models x {len(gpus)} GPUs", points, time.perf_counter() - t0))
    print(f"{'grid':24} {'points':>8} {'seconds':>9} {'points/s':>9}")
    for label, n, s in rows:
        print(f"{label:24} {n:8d} {s:9.2f} {n / s:9.0f}")
    print(f"reference: one plan() {one_plan * 1e3:.1f} ms (cold); target for the 10 x 5 grid: {TARGET_S:.0f} s")


if __name__ == "__main__":
    main()
