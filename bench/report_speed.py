"""Seconds and bytes of `rooflint report`'s HTML page, next to what it is made of.

    python bench/report_speed.py

For llama3-8b (dense) and deepseek-v3 (MLA + MoE) on 1 and on 5 GPUs: the analyses alone (what
`analyze` costs: one per GPU, plus the memory-vs-context curve's ten), the whole page (those and
laying out SVG, tables and tooltips), and its size; and `rooflint report` end to end as a process
beside Python's own start-up (the reference every CLI pays).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from clock import best_of  # bench/clock.py, beside this script

from rooflint.analysis.inference import analyze
from rooflint.report.html_report import CONTEXTS, memory_series, report_html
from rooflint.specs.catalog import load_hardware, load_model

GPUS = ("h100", "h200", "a100", "b200", "mi300x")


def _process(*args: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, *args], check=True, capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    print(f"{'case':32} {'analyses':>9} {'page':>9} {'size':>9}")
    for name in ("llama3-8b", "deepseek-v3"):
        m = load_model(name)
        for gpus in (GPUS[:1], GPUS):
            hws = [load_hardware(g) for g in gpus]
            report_html([analyze(m, hw) for hw in hws])  # compile once: what follows is warm

            def analyses():
                for hw in hws:
                    memory_series(analyze(m, hw), CONTEXTS)

            a = best_of(analyses)
            page = best_of(lambda: report_html([analyze(m, hw) for hw in hws]))
            size = len(report_html([analyze(m, hw) for hw in hws]).encode())
            print(f"{name + ' x ' + str(len(gpus)) + ' GPU(s)':32} {a:8.3f}s {page:8.3f}s {size / 1e3:7.0f} kB")
    with tempfile.TemporaryDirectory() as d:
        cli = best_of(lambda: _process("-m", "rooflint", "report", "llama3-8b", "--gpu", "h100", "-o",
                                       str(Path(d) / "r.html")), runs=3)
    python = best_of(lambda: _process("-c", "pass"), runs=3)
    print(f"rooflint report llama3-8b (process): {cli:.2f} s; python -c pass: {python:.3f} s")


if __name__ == "__main__":
    main()
