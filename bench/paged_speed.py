"""Seconds of `rooflint paged` over drawn lengths, as the number of sequences grows.

    python bench/paged_speed.py [--runs 3]

For 10^5, 10^6 and 10^7 lognormal lengths (mean 1000, llama2-7b): the library call (draw, sums,
every term; best of the runs) and the whole command in a fresh process with its table output
(best of the runs), next to `python -c pass`. Also the peak memory (max RSS) of the command.
Target: 10^7 sequences end to end in under 2 s on the 2-core development machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from clock import best_of  # bench/clock.py, beside this script

from rooflint.analysis.paged import LengthDraw, plan_paged  # noqa: E402
from rooflint.report.paged_views import paged_report  # noqa: E402
from rooflint.report.render import render  # noqa: E402
from rooflint.specs.catalog import load_model  # noqa: E402

TARGET_S = 2.0
SIZES = (10**5, 10**6, 10**7)




def command_wall(cmd: list[str], runs: int) -> tuple[float, float]:
    """(best wall seconds, max RSS in MiB) of a command in fresh processes."""
    best, rss = float("inf"), 0.0
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        best = min(best, time.perf_counter() - t0)
        if status:
            raise SystemExit(f"{' '.join(cmd)} failed ({status})")
        rss = max(rss, usage.ru_maxrss / 1024)
    return best, rss


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    exe = shutil.which("rooflint")
    base = [exe] if exe else [sys.executable, "-m", "rooflint"]
    model = load_model("llama2-7b")
    start, _ = command_wall([sys.executable, "-c", "pass"], args.runs)
    print(f"python -c pass: {start:.3f} s   (best of {args.runs}; library = plan_paged + report + table text)")
    print(f"{'num-seqs':>11} {'library s':>10} {'CLI s':>8} {'CLI max RSS':>12}  {'< 2 s':>5}")
    for n in SIZES:
        draw = LengthDraw("lognormal", n, 1000)
        lib = best_of(lambda: render(paged_report(plan_paged(model, draw=draw)), "table"), args.runs)
        wall, rss = command_wall([*base, "paged", "llama2-7b", "--dist", "lognormal", "--mean", "1000",
                                  "--num-seqs", str(n)], args.runs)
        print(f"{n:11,} {lib:10.3f} {wall:8.3f} {rss:9.0f} MiB  {'yes' if wall < TARGET_S else 'NO':>5}")


if __name__ == "__main__":
    main()
