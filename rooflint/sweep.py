"""A design-space sweep over models x GPUs x batch x context x KV dtype x attention kernel,
computed with numpy over whole arrays: memory (weights, KV cache, fits) and the decode step
(time per output token, tokens/s).

Per (model, KV dtype, attention kernel) the analyzer builds the decode ops once, at batch 1 and
a context past every window; their formulas are then evaluated with B, T and S_kv as arrays
over the grid (a sliding-window layer's S_kv is min(C, window)), and the few symbols the
analyzer derives outside a formula are recomputed as arrays: the MoE experts hit E_hit (from T)
and flash-decoding's split count n_split (from B, S_kv and the GPU's SMs). Times broadcast
over a GPU axis: t0 + max((F + F_half) / peak, bytes / bandwidth) per op, as analysis.roofline.
A test holds every point to the scalar analyzer.

Prefill (TTFT) is not swept: a flash prefill's tile geometry is a loop over tiles; use
`rooflint analyze` or `rooflint check` for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rooflint.analysis.inference import Settings, op_options, resolve_precision
from rooflint.analysis.kv_cache import kv_elements_per_token_per_layer
from rooflint.analysis.ops import MATMUL, Op
from rooflint.analysis.params import parameter_count
from rooflint.analysis.transformer import decode_pass, forward_ops
from rooflint.dtypes import DType
from rooflint.specs import Hardware, Model

FAR = 1 << 40  # a context past every sliding window: S_kv < FAR marks a windowed layer
FIELDS = ("model", "gpu", "batch", "context", "kv_dtype", "attention", "weights_bytes", "kv_bytes",
          "memory_bytes", "fits", "tpot_s", "decode_tokens_per_s")


@dataclass(frozen=True, slots=True)
class Grid:
    models: Sequence[Model]
    gpus: Sequence[Hardware]
    batches: Sequence[int]
    contexts: Sequence[int]
    kv_dtypes: Sequence[DType]
    attentions: Sequence[str]  # eager | flash
    dtype: DType  # weights and activations

    @property
    def size(self) -> int:
        return (len(self.models) * len(self.gpus) * len(self.batches) * len(self.contexts)
                * len(self.kv_dtypes) * len(self.attentions))


def sweep(grid: Grid) -> dict[str, np.ndarray]:
    """Columns over every point, in the order models, kv dtypes, attentions, gpus, batches,
    contexts (the last varying fastest)."""
    B = np.asarray(grid.batches, dtype=np.float64)[None, :, None]  # [1, nb, 1]
    C = np.asarray(grid.contexts, dtype=np.float64)[None, None, :]  # [1, 1, nc]
    peaks = {}
    bw = np.array([g.bandwidth_bytes_per_s for g in grid.gpus])[:, None, None]
    t0 = np.array([g.kernel_overhead_s for g in grid.gpus])[:, None, None]
    sm = np.array([g.sm_count or 108 for g in grid.gpus], dtype=np.float64)[:, None, None]
    cap = np.array([g.capacity_bytes for g in grid.gpus])[:, None, None]
    shape = (len(grid.gpus), len(grid.batches), len(grid.contexts))
    blocks: dict[str, list] = {k: [] for k in FIELDS}
    for m in grid.models:
        for kv in grid.kv_dtypes:
            for attention in grid.attentions:
                settings = Settings(batch=1, prompt=1, context=FAR, dtype=grid.dtype, kv_dtype=kv, attention=attention)
                act, weight, kvdt, b_w, b_kv = resolve_precision(settings)
                weights = parameter_count(m) * b_w
                per_layer = kv_elements_per_token_per_layer(m) * b_kv
                kv_bytes = B * per_layer * sum(min_c(C, m.layer_window(i)) for i in range(m.num_hidden_layers))
                ops = forward_ops(m, decode_pass(1, FAR), act, weight, kvdt, op_options(settings, grid.gpus[0]))
                tpot = np.zeros(shape)
                for op in ops:
                    key = op.peak_key
                    if key not in peaks:
                        peaks[key] = np.array([g.peak_flop_per_s.get(key, np.nan) for g in grid.gpus])[:, None, None]
                    half = np.array([g.matmul_half_flop.get(key, 0.0) if op.kind == MATMUL else 0.0
                                     for g in grid.gpus])[:, None, None]
                    flops, moved, present = op_arrays(op, B, C, sm)
                    compute = np.where(flops > 0, (flops + half) / peaks[key], 0.0)
                    tpot = tpot + op.count * present * (t0 + np.maximum(compute, moved / bw))
                memory = weights + kv_bytes
                full = np.broadcast_to
                cols = {"weights_bytes": full(weights, shape), "kv_bytes": full(kv_bytes, shape),
                        "memory_bytes": full(memory, shape), "fits": full(memory <= cap, shape),
                        "tpot_s": tpot, "decode_tokens_per_s": B / tpot}
                for k, v in cols.items():
                    blocks[k].append(np.asarray(v, dtype=bool if k == "fits" else np.float64).reshape(-1))
                n = tpot.size
                g_idx, b_idx, c_idx = np.indices(shape).reshape(3, -1)
                blocks["model"].append(np.full(n, m.name, dtype=object))
                blocks["gpu"].append(np.array([g.name for g in grid.gpus], dtype=object)[g_idx])
                blocks["batch"].append(np.asarray(grid.batches)[b_idx])
                blocks["context"].append(np.asarray(grid.contexts)[c_idx])
                blocks["kv_dtype"].append(np.full(n, kv.name, dtype=object))
                blocks["attention"].append(np.full(n, attention, dtype=object))
    return {k: np.concatenate(v) for k, v in blocks.items()}


def min_c(C: np.ndarray, window: int | None) -> np.ndarray:
    return np.minimum(C, window) if window else C


def op_arrays(op: Op, B: np.ndarray, C: np.ndarray, sm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """FLOPs, bytes moved and presence (0/1) of one decode op over the grid."""
    s = dict(op.symbols)
    windowed = s.get("S_kv", FAR) < FAR
    s_kv = np.minimum(C, s["S_kv"]) if windowed else C
    s.update({"B": B, "T": B, "T_lm": B, "S_kv": s_kv})
    if "E_hit" in s:  # MoE: distinct experts the batch's tokens are expected to hit
        s["E_hit"] = s["E"] * (1 - (1 - s["k"] / s["E"]) ** B)
    present = np.ones(1)
    write = op.formulas["bytes_written"]
    if "n_split" in s:  # flash-decoding: splits fill the SMs twice, chunks >= max(256, 2(d_v + 1)) keys
        chunk = max(256, 2 * (s["d_v"] + 1))
        splits = np.maximum(1, np.minimum(np.ceil(2 * sm / (B * s["H_kv"])), np.floor(s_kv / chunk)))
        s["n_split"] = splits
        base = op.name.split("@")[0]  # ops of a layer group carry its tag, e.g. flash_decode@sliding
        if base == "flash_decode_reduce":
            present = (splits > 1).astype(np.float64)
        elif base == "flash_decode":
            split_write = _eval(write, s)
            return (_eval(op.formulas["flops"], s),
                    _eval(op.formulas["bytes_read"], s) + np.where(splits > 1, split_write, _eval("B*H_q*d_v*b_a", s)),
                    present)
    flops = _eval(op.formulas["flops"], s)
    moved = _eval(op.formulas["bytes_read"], s) + _eval(write, s)
    return flops, moved, present


def _eval(text: str, symbols: dict):
    from rooflint.analysis.formula import evaluate

    return np.asarray(evaluate(text, symbols), dtype=np.float64)
