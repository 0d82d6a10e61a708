"""Single-kernel analyses behind `rooflint attention` (seed 004) and `rooflint kv`: the same
op forms and figures as a whole model's, for one attention layer of a given shape or one model's
cache at several contexts."""

from __future__ import annotations

from dataclasses import dataclass

from rooflint.analysis import attention, flash, kv_cache
from rooflint.analysis.expr import sym
from rooflint.analysis.forecast import place_forecast
from rooflint.analysis.ops import Op, evaluate_op, intensity_term
from rooflint.analysis.roofline import Timed
from rooflint.analysis.terms import Term, evaluate_figures, figure
from rooflint.dtypes import DType
from rooflint.specs import Hardware, Model
from rooflint.specs.catalog import load_engine
from rooflint.specs.engine import Engine
from rooflint.workload import Resolved, kernel_facts

_E = sym("bytes_qk bytes_softmax bytes_pv bytes_flash time_qk time_softmax time_pv time_flash")
_C = sym("forecast_qk forecast_softmax forecast_pv forecast_flash")
COMPARISON = (figure("eager_bytes", _E[0] + _E[1] + _E[2], "bytes", "the three eager kernels' HBM bytes"),
              figure("flash_bytes", _E[3], "bytes", "the fused kernel's HBM bytes"),
              figure("bytes_ratio", sym("eager_bytes") / sym("flash_bytes"), "ratio"),
              figure("eager_time_s", _E[4] + _E[5] + _E[6], "seconds"),
              figure("eager_time_forecast_s", _C[0] + _C[1] + _C[2], "seconds", "the three kernels' forecasts"),
              figure("flash_time_s", _E[7], "seconds"),
              figure("flash_time_forecast_s", _C[3], "seconds", "the fused kernel's forecast"))


@dataclass(frozen=True, slots=True)
class AttentionRow:
    n: int
    memory: tuple[Term, ...]  # qkvo_bytes, sp_bytes, sp_share
    eager: tuple[Op, ...]  # qk_matmul, softmax, pv_matmul
    intensities: tuple[Term, ...]  # of the eager kernels
    placed: tuple[Timed, ...] = ()  # the eager ops and the fused one, on the GPU's roofline
    comparison: tuple[Term, ...] = ()


def attention_rows(seq_lens: list[int], head_dim: int, heads: int, batch: int, dt: DType,
                   hw: Hardware | None = None, causal: bool = True,
                   engine: Engine | None = None) -> tuple[list[AttentionRow], tuple[str, ...]]:
    """Seed 004's figures per sequence length; with a GPU, the eager kernels and one fused kernel
    of the same shape on its roofline (tiles from its shared memory per SM)."""
    sm, sram, assumed = kernel_facts(hw)
    tile = flash.tile_sizes(sram, head_dim, dt.bytes)
    fused = flash.prefill_op(1, dt.peak_key, tile, 1, None, causal, head_dim=head_dim)
    eager_forms = attention.eager_ops(1, dt.peak_key, (("S_kv", sym("C")),))
    rows = []
    for i, n in enumerate(seq_lens):
        values = {"B": batch, "H_q": heads, "H_kv": heads, "N": n, "S_q": n, "S_kv": n, "C": n, "d": head_dim, "d_v": head_dim,
                  "b_a": dt.bytes, "b_k": dt.bytes, "sm": sm}
        memory = tuple(evaluate_figures(attention.memory_figures(f"rows[{i}]"), values))
        eager = tuple(evaluate_op(f, values) for f in eager_forms)
        intensities = tuple(intensity_term(o, f"rows[{i}].{o.name}_intensity") for o in eager)
        if hw is None:
            rows.append(AttentionRow(n, memory, eager, intensities))
            continue
        engine = engine or load_engine()
        placed = tuple(place_forecast(o, hw, engine) for o in (*eager, evaluate_op(fused, values)))
        parts = dict(zip(("qk", "softmax", "pv", "flash"), placed))
        binds = {**{f"bytes_{k}": t.op.bytes for k, t in parts.items()}, **{f"time_{k}": t.time_s for k, t in parts.items()},
                 **{f"forecast_{k}": t.forecast_s for k, t in parts.items()}}
        keyed = tuple(figure(f"rows[{i}].{f.key}", f.expr, f.unit, f.note) for f in COMPARISON)
        rows.append(AttentionRow(n, memory, eager, intensities, placed, tuple(evaluate_figures(keyed, binds))))
    return rows, assumed if hw is not None else ()


@dataclass(frozen=True, slots=True)
class KvRow:
    context: int
    batch: int
    cached: tuple[Term, ...]  # tokens a layer of each window group holds per sequence
    terms: tuple[Term, ...]  # per token, per sequence, batch


def kv_rows(m: Model, runs: list[Resolved]) -> list[KvRow]:
    """The KV figures at each resolved context (bytes per element from resolve, scales included)."""
    rows = []
    for i, r in enumerate(runs):
        values = {**kv_cache.constants(m, r.b_kv, r.b_a), "B": r.batch, "C": r.context}
        cached = [figure(f"rows[{i}].cached_tokens" + (f".{g.label}" if g.label else ""), kv_cache.cached_tokens(g),
                         "count", f"{g.layers} layers" + (f", window {g.window}" if g.window else ""))
                  for g in kv_cache.window_groups(m)]
        figs = [figure(f"rows[{i}].{f.key.split('.', 1)[1]}", f.expr, f.unit, f.note)
                for f in kv_cache.kv_figures(m, r.mla_mode)]
        rows.append(KvRow(r.context, r.batch, tuple(evaluate_figures(cached, values)),
                          tuple(evaluate_figures(figs, values))))
    return rows


_flops, _read, _peak, _bw = sym("flops bytes_read peak BW")
INPUTS_ONLY = figure("intensity_inputs_only", _flops / _read, "ratio",
                     "FLOPs / bytes read: seed 000's convention (the output's write not counted)")
RIDGE = figure("ridge_point", _peak / _bw, "ratio", "FLOP per byte where the op turns compute-bound")


def matmul_terms(t: Timed) -> list[Term]:
    """Seed 000's inputs-only intensity and the ridge point, for one placed matmul."""
    values = {"flops": t.op.flops, "bytes_read": t.op.bytes_read, "peak": t.peak_flop_per_s,
              "BW": t.bandwidth_bytes_per_s}
    return evaluate_figures([INPUTS_ONLY, RIDGE], values)


def ridge_terms(hw: Hardware, key: str) -> list[Term]:
    """The ridge point of each of the profile's peaks: peak / bandwidth."""
    figs = [figure(f"{key}.{k}", sym(f"peak_{k}") / _bw, "ratio", f"{k} peak / memory bandwidth")
            for k in hw.peak_flop_per_s]
    return evaluate_figures(figs, {"BW": hw.bandwidth_bytes_per_s,
                                   **{f"peak_{k}": v for k, v in hw.peak_flop_per_s.items()}})
