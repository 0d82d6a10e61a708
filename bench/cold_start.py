"""Cold-start time of `rooflint analyze` (table and JSON) next to `python -c pass`.

Run: python bench/cold_start.py [--runs 21]
Each command is a fresh process. The commands take turns, round after round, so that a machine
whose speed drifts (a shared VM) slows them alike; the table shows the median and the best of
the rounds, and the median as a multiple of `python -c pass` measured in the same rounds.
Bytecode is compiled first (as `pip install` does): a checkout run with PYTHONDONTWRITEBYTECODE
would otherwise compile every module on every start. Target: analyze <= 0.15 s median.
"""

from __future__ import annotations

import argparse
import compileall
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET_S = 0.15


def wall(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def loaded(argv: list[str]) -> str:
    """Heavy modules a run imports (it must import none)."""
    code = ("import sys\nfrom rooflint.cli import app\n"
            f"try:\n    app({argv!r})\nexcept SystemExit:\n    pass\n"
            "print(' '.join(m for m in ('torch', 'cupy', 'matplotlib', 'numpy', 'pydantic') if m in sys.modules),"
            " file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return out.stderr.strip() or "none"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    import rooflint

    compileall.compile_dir(str(Path(rooflint.__file__).parent), quiet=1)
    exe = shutil.which("rooflint")
    cli = [exe] if exe else [sys.executable, "-m", "rooflint"]
    analyze = ["analyze", "llama2-7b", "--gpu", "a100"]
    rows = [("python -c pass", [sys.executable, "-c", "pass"]),
            ("python -c 'import rooflint'", [sys.executable, "-c", "import rooflint"]),
            ("rooflint analyze llama2-7b --gpu a100", cli + analyze),
            ("  ... --format json", cli + analyze + ["--format", "json"])]
    samples: dict[str, list[float]] = {label: [] for label, _ in rows}
    for _ in range(2):  # warm the page cache
        for _, cmd in rows:
            wall(cmd)
    for _ in range(args.runs):
        for label, cmd in rows:
            samples[label].append(wall(cmd))
    base = statistics.median(samples["python -c pass"])
    print(f"{'command':40} {'median':>8} {'best':>8} {'x pass':>7}   ({args.runs} interleaved rounds)")
    for label, _ in rows:
        med = statistics.median(samples[label])
        print(f"{label:40} {med:7.3f}s {min(samples[label]):7.3f}s {med / base:7.1f}")
    for label in ("rooflint analyze llama2-7b --gpu a100", "  ... --format json"):
        med = statistics.median(samples[label])
        print(f"{label.strip():40} {'within' if med <= TARGET_S else 'OVER'} the {TARGET_S} s target")
    print(f"heavy modules imported by analyze: {loaded(analyze + ['--format', 'json'])}")


if __name__ == "__main__":
    main()
