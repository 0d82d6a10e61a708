"""Scalar analyze() throughput: 1,000 distinct configurations of llama2-7b on an A100 (batch
1..10 x sequence 32..3200), next to LLM-Viewer's ~14,500 analyses/s on the same work (the
figure the restructuring issue quotes) and the 20,000/s target.

Run: python bench/analyze_speed.py [--repeat 5]
"analyze" reads the two times (TTFT, TPOT); "+ memory" also reads the KV cache, weights and
whether it fits (the memory rule's terms). Best of the repeats; the first call per kernel (which
builds and compiles the model's op forms) is made before timing, as a sweep over configs would.
"""

from __future__ import annotations

import argparse

from clock import best_of  # bench/clock.py, beside this script

from rooflint import Workload, analyze, load_hardware, load_model

TARGET = 20_000
LLM_VIEWER = 14_500


def configs() -> list[tuple[int, int]]:
    seqs = range(32, 3201, 32)  # 100 sequence lengths
    return [(b, s) for b in range(1, 11) for s in seqs]  # x 10 batches = 1,000


def rate(attention: str, memory: bool, repeat: int) -> float:
    model, gpu = load_model("llama2-7b"), load_hardware("a100")
    workloads = [Workload(batch=b, prompt=s, attention=attention) for b, s in configs()]
    analyze(model, gpu, workloads[0])

    def all_of_them() -> None:
        for w in workloads:
            a = analyze(model, gpu, w)
            a.ttft_s, a.tpot_s
            if memory:
                a.kv_bytes, a.weights_bytes, a.fits
    return len(workloads) / best_of(all_of_them, repeat)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"{'analyze(), 1,000 configs':34} {'analyses/s':>12} {'vs target':>10} {'vs LLM-Viewer':>14}")
    for attention in ("flash", "eager"):
        for memory in (False, True):
            r = rate(attention, memory, args.repeat)
            label = f"{attention}{' + memory' if memory else ''}"
            print(f"{label:34} {r:12,.0f} {r / TARGET:9.2f}x {r / LLM_VIEWER:13.2f}x")
    print(f"target {TARGET:,}/s; LLM-Viewer {LLM_VIEWER:,}/s (the issue's figure for the same work)")


if __name__ == "__main__":
    main()
