"""Cold-start time of `rooflint analyze` next to `python -c pass` (budget: 0.25 s wall).

Run: python bench/cold_start.py [--runs 15]
Each command is a fresh process; the table shows the median and the best of the runs, and
whether torch / CuPy / matplotlib were imported (they must not be).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time

BUDGET_S = 0.25


def wall(cmd: list[str], runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        samples.append(time.perf_counter() - start)
    return samples


def heavy_imports() -> str:
    code = ("import sys\nfrom rooflint.cli import app\n"
            "try:\n    app(['analyze', 'llama2-7b', '--gpu', 'a100', '--format', 'json'])\nexcept SystemExit:\n    pass\n"
            "print(' '.join(m for m in ('torch', 'cupy', 'matplotlib') if m in sys.modules), file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return out.stderr.strip() or "none"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    exe = shutil.which("rooflint") or ""
    rows = [
        ("python -c pass", [sys.executable, "-c", "pass"]),
        ("python -c 'import rooflint'", [sys.executable, "-c", "import rooflint"]),
        ("rooflint analyze llama2-7b --gpu a100", [exe or sys.executable, *([] if exe else ["-m", "rooflint"]),
                                                   "analyze", "llama2-7b", "--gpu", "a100"]),
        ("  ... --format json", [exe or sys.executable, *([] if exe else ["-m", "rooflint"]),
                                 "analyze", "llama2-7b", "--gpu", "a100", "--format", "json"]),
    ]
    print(f"{'command':42} {'median':>9} {'best':>9}   ({args.runs} runs each)")
    results = {}
    for label, cmd in rows:
        wall(cmd, 2)  # warm the page cache
        samples = wall(cmd, args.runs)
        results[label] = statistics.median(samples)
        print(f"{label:42} {statistics.median(samples):8.3f}s {min(samples):8.3f}s")
    analyze = results["rooflint analyze llama2-7b --gpu a100"]
    verdict = "within" if analyze < BUDGET_S else "OVER"
    print(f"\nanalyze median {analyze:.3f} s: {verdict} the {BUDGET_S} s budget; "
          f"heavy modules imported: {heavy_imports()}")


if __name__ == "__main__":
    main()
