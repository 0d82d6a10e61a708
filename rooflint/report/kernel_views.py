"""Reports for the single-kernel commands: gemm (seed 000), attention (seed 004), kv."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from rooflint.analysis.forecast import forecast_lines, forecast_terms, place_forecast
from rooflint.analysis.kernels import AttentionRow, KvRow, matmul_terms
from rooflint.analysis.ops import Op, op_terms
from rooflint.analysis.roofline import bound_of, timed_terms
from rooflint.analysis.terms import Term
from rooflint.dtypes import DType
from rooflint.report.common import hardware_dict, layers_line, model_dict, op_dict
from rooflint.report.model import Column, Report, Section, Table
from rooflint.specs import Hardware, Model
from rooflint.specs.engine import Engine
from rooflint.workload import Resolved


def gemm_report(op: Op, m: int, n: int, k: int, dt: DType, hw: Hardware, engine: Engine, batch: int = 1) -> Report:
    t = place_forecast(op, hw, engine)
    extra = {x.symbol: x for x in matmul_terms(t)}
    only = extra["intensity_inputs_only"].value
    ridge = extra["ridge_point"].value
    row = {"M": m, "N": n, "K": k, "batch": batch, "dtype": dt.name, "flops": op.flops,
           "bytes_read": op.bytes_read, "bytes_written": op.bytes_written, "intensity": op.intensity,
           "bound": t.bound, "intensity_inputs_only": only, "bound_inputs_only": bound_of(only, ridge),
           "ridge_point": ridge, "time_s": t.time_s, "time_forecast_s": t.forecast_s,
           "attainable_flop_per_s": t.attainable_flop_per_s}
    cols = (Column("M", "M", "int"), Column("N", "N", "int"), Column("K", "K", "int"),
            Column("flops", "FLOPs", "flops"), Column("bytes_read", "read", "bytes"),
            Column("bytes_written", "written", "bytes"), Column("intensity", "FLOP/B", "intensity"),
            Column("intensity_inputs_only", "FLOP/B (inputs only)", "intensity"),
            Column("ridge_point", "ridge", "intensity"), Column("bound", "bound"),
            Column("bound_inputs_only", "bound (inputs only)"), Column("time_s", "time", "seconds"),
            Column("time_forecast_s", "forecast", "seconds"))
    data = {"schema": "rooflint.gemm/2", "hardware": hardware_dict(hw, dt.peak_key), **row,
            "formulas": op.formulas, "symbols": dict(op.symbols), "engine": engine.name,
            "op": op_dict(t, hw, engine)}
    title = f"rooflint gemm [{m},{k}]x[{k},{n}]{f' x{batch}' if batch > 1 else ''} {dt.name} on {hw.name}"

    def explain() -> tuple[Section, ...]:
        terms = op_terms(op, "") + timed_terms(t, "") + [extra["intensity_inputs_only"], extra["ridge_point"]] \
            + forecast_terms(op, hw, engine, ".op")
        return (Section(f"gemm ({op.kind})", tuple(_rekey(x, x.key.lstrip(".")) for x in terms),
                        forecast_lines(op, hw, engine)),)
    return Report("rooflint.gemm/2", title, data, (Table("matmul", cols, (row,)),), explain=explain)


def _rekey(t: Term, key: str) -> Term:
    return replace(t, key=key)


def attention_report(rows_in: list[AttentionRow], head_dim: int, heads: int, batch: int, dt: DType,
                     hw: Hardware | None, causal: bool, assumed: tuple[str, ...] = (),
                     engine: Engine | None = None) -> Report:
    """Seed 004's tables, and with a GPU: the three eager kernels on its roofline next to one
    FlashAttention kernel of the same shape (HBM bytes, time, and their ratio)."""
    rows: list[dict[str, Any]] = []
    for r in rows_in:
        row: dict[str, Any] = {"seq_len": r.n, "head_dim": head_dim, "heads": heads, "batch": batch,
                               **{t.symbol: t.value for t in r.memory}}
        for o in r.eager:
            row[f"{o.name}_intensity"] = o.intensity
        for t in r.placed[:3]:
            row[f"{t.op.name}_bound"] = t.bound
        row.update({t.symbol: t.value for t in r.comparison})
        if hw is not None:
            row["flash_op"] = op_dict(r.placed[3], hw, engine)
        rows.append(row)
    cols = [Column("seq_len", "N", "int"), Column("heads", "heads", "int"), Column("batch", "batch", "int"),
            Column("qkvo_bytes", "Q/K/V/O", "bytes"), Column("sp_bytes", "S+P", "bytes"),
            Column("sp_share", "S+P share", "percent")]
    for name in ("qk_matmul", "softmax", "pv_matmul"):
        cols.append(Column(f"{name}_intensity", f"{name.split('_')[0]} FLOP/B", "intensity"))
        if hw is not None:
            cols.append(Column(f"{name}_bound", f"{name.split('_')[0]} bound"))
    tables = [Table("eager attention memory and intensity", tuple(cols), tuple(rows))]
    if hw is not None:
        flash_cols = (Column("seq_len", "N", "int"), Column("eager_bytes", "eager HBM bytes", "bytes"),
                      Column("flash_bytes", "flash HBM bytes", "bytes"), Column("bytes_ratio", "eager / flash", "ratio"),
                      Column("eager_time_s", "eager time", "seconds"), Column("flash_time_s", "flash time", "seconds"),
                      Column("flash_time_forecast_s", "flash forecast", "seconds"))
        tables.append(Table(f"eager (3 kernels) vs flash (1 kernel) on {hw.name}", flash_cols, tuple(rows)))
    data: dict[str, Any] = {"schema": "rooflint.attention/2", "dtype": dt.name, "causal": causal, "rows": rows}
    if hw is not None:
        data["hardware"] = hardware_dict(hw, dt.peak_key)
    title = f"rooflint attention: eager S/P memory, d={head_dim}, {dt.name}" + (f", on {hw.name}" if hw else "")
    notes = ("flash: one fused kernel, K/V re-read once per query tile, tiles from the SM's shared memory"
             + (", causal tiles skipped" if causal else "") + "; eager computes the full N x N",) + assumed if hw else ()

    def explain() -> tuple[Section, ...]:
        return tuple(Section(f"N={r.n}", r.memory + r.intensities + r.comparison) for r in rows_in)
    return Report("rooflint.attention/2", title, data, tuple(tables), notes=notes, explain=explain)


def kv_report(m: Model, rows_in: list[KvRow], runs: list[Resolved]) -> Report:
    r0 = runs[0]
    per_token = rows_in[0].terms[0]
    several = len(rows_in[0].cached) > 1
    rows, shown = [], []
    for r in rows_in:
        groups = {t.key.rsplit(".", 1)[-1]: t.value for t in r.cached}
        rows.append({"context": r.context, "batch": r.batch,
                     "cached_tokens": groups if several else r.cached[0].value,
                     **{t.symbol: t.value for t in r.terms[1:]}})
        shown.append({**rows[-1], **{f"cached_{k}": v for k, v in groups.items()}})
    group_cols = (tuple(Column(f"cached_{t.key.rsplit('.', 1)[-1]}", f"cached tokens ({t.key.rsplit('.', 1)[-1]})",
                               "int") for t in rows_in[0].cached)
                  if several else (Column("cached_tokens", "cached tokens", "int"),))
    cols = (Column("context", "context", "int"), *group_cols,
            Column("kv_cache_bytes_per_sequence", "per sequence", "bytes"), Column("batch", "batch", "int"),
            Column("kv_cache_bytes", "batch total", "bytes"))
    data = {"schema": "rooflint.kv/2", "model": model_dict(m), "kv_dtype": r0.kv.name,
            "kv_bytes_per_element": r0.b_kv, "kv_cache_bytes_per_token": per_token.value, "rows": rows}
    heads = (f"MLA latent {m.kv_lora_rank}+{m.qk_rope_head_dim}" if m.is_mla
             else f"H_kv={m.num_key_value_heads} d={m.head_dim}")
    summary = (("model", f"{m.name}: {layers_line(m)} {heads}"
                + (f" window={m.sliding_window}" if m.sliding_window else ""), "text"),
               ("KV element", f"{r0.kv.name}: {r0.b_kv:g} B incl. scales", "text"),
               ("KV cache per token", per_token.value, "bytes"),
               *((("recurrent state per sequence (any context)", t.value, "bytes")
                  for t in rows_in[0].terms if t.key.endswith("state_bytes_per_sequence"))))

    def explain() -> tuple[Section, ...]:
        head = Section("per token", (_rekey(per_token, "kv_cache_bytes_per_token"),))
        return (head, *(Section(f"context {r.context}, batch {r.batch}", r.cached + r.terms[1:]) for r in rows_in))
    return Report("rooflint.kv/2", f"rooflint kv {m.name} ({r0.kv.name})", data,
                  (Table("KV cache", cols, tuple(shown)),), summary, notes=tuple(r0.notes), explain=explain)
