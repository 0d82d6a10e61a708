"""Reports for the single-kernel commands: gemm (seed 000), attention (seed 004), kv."""

from __future__ import annotations

from typing import Any

from rooflint.analysis.attention import AttentionMemory
from rooflint.analysis.gemm import gemm_op, inputs_only_intensity
from rooflint.analysis.kv_cache import cached_tokens, kv_bytes, kv_bytes_per_token
from rooflint.analysis.roofline import bound_of, place
from rooflint.analysis.transformer import attention_ops, flash_ops
from rooflint.dtypes import DType
from rooflint.report.explain import explain_op, formula_line
from rooflint.report.model import Column, Report, Table
from rooflint.report.views import hardware_dict, model_dict
from rooflint.specs import Hardware, Model


def gemm_report(m: int, n: int, k: int, dt: DType, hw: Hardware, batch: int = 1) -> Report:
    op = gemm_op(m, n, k, dt, batch)
    t = place(op, hw)
    ridge = t.ridge_point
    row = {"M": m, "N": n, "K": k, "batch": batch, "dtype": dt.name, "flops": op.flops,
           "bytes_read": op.bytes_read, "bytes_written": op.bytes_written,
           "intensity": op.intensity, "bound": t.bound,
           "intensity_inputs_only": inputs_only_intensity(op),
           "bound_inputs_only": bound_of(inputs_only_intensity(op), ridge),
           "ridge_point": ridge, "time_s": t.time_s,
           "attainable_flop_per_s": t.attainable_flop_per_s}
    cols = (Column("M", "M", "int"), Column("N", "N", "int"), Column("K", "K", "int"),
            Column("flops", "FLOPs", "flops"), Column("bytes_read", "read", "bytes"),
            Column("bytes_written", "written", "bytes"), Column("intensity", "FLOP/B", "intensity"),
            Column("intensity_inputs_only", "FLOP/B (inputs only)", "intensity"),
            Column("ridge_point", "ridge", "intensity"), Column("bound", "bound"),
            Column("bound_inputs_only", "bound (inputs only)"), Column("time_s", "time", "seconds"))
    data = {"schema": "rooflint.gemm/1", "hardware": hardware_dict(hw, dt.peak_key), **row,
            "formulas": dict(op.formulas)}
    title = f"rooflint gemm [{m},{k}]x[{k},{n}]{f' x{batch}' if batch > 1 else ''} {dt.name} on {hw.name}"
    return Report("rooflint.gemm/1", title, data, (Table("matmul", cols, (row,)),),
                  explanation=tuple(explain_op(t, "gemm")) + (
                      f"  inputs-only intensity = flops / bytes_read = {inputs_only_intensity(op):.4g}"
                      " (seed 000's convention: the output's write not counted)",))


def attention_report(seq_lens: list[int], head_dim: int, heads: int, batch: int, dt: DType,
                     hw: Hardware | None, causal: bool = True) -> Report:
    """Seed 004's tables, and with a GPU: the three eager kernels on its roofline next to one
    FlashAttention kernel of the same shape (HBM bytes, time, and their ratio)."""
    rows: list[dict[str, Any]] = []
    explanation: list[str] = []
    for n in seq_lens:
        mem = AttentionMemory(n, head_dim, heads, batch, dt.bytes)
        row: dict[str, Any] = {"seq_len": n, "head_dim": head_dim, "heads": heads, "batch": batch,
                               "qkvo_bytes": mem.qkvo_bytes, "sp_bytes": mem.sp_bytes,
                               "sp_share": mem.sp_share}
        symbols = {"B": batch, "H_q": heads, "H_kv": heads, "S_q": n, "S_kv": n, "d": head_dim,
                   "d_v": head_dim, "b_a": dt.bytes, "b_k": dt.bytes}
        explanation += [f"N={n}",
                        formula_line("qkvo_bytes", "4*B*H_q*S_q*d*b_a", symbols, "bytes"),
                        formula_line("sp_bytes", "2*B*H_q*S_q*S_kv*b_a", symbols, "bytes")]
        eager = attention_ops(symbols, dt.peak_key, 1)
        for op in eager:
            row[f"{op.name}_intensity"] = op.intensity
        if hw is not None:
            placed = [place(op, hw) for op in eager]
            for t in placed:
                row[f"{t.op.name}_bound"] = t.bound
                explanation += explain_op(t, f"N={n}")
            fused = place(flash_ops(symbols, dt.peak_key, 1, "prefill", None, _flash_options(hw, causal))[0], hw)
            explanation += explain_op(fused, f"N={n}")
            row.update(eager_bytes=sum(t.op.bytes for t in placed), flash_bytes=fused.op.bytes,
                       eager_time_s=sum(t.time_s for t in placed), flash_time_s=fused.time_s)
            row["bytes_ratio"] = row["eager_bytes"] / row["flash_bytes"]
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
                      Column("eager_time_s", "eager time", "seconds"), Column("flash_time_s", "flash time", "seconds"))
        tables.append(Table(f"eager (3 kernels) vs flash (1 kernel) on {hw.name}", flash_cols, tuple(rows)))
    data: dict[str, Any] = {"schema": "rooflint.attention/1", "dtype": dt.name, "causal": causal, "rows": rows}
    if hw is not None:
        data["hardware"] = hardware_dict(hw, dt.peak_key)
    title = f"rooflint attention: eager S/P memory, d={head_dim}, {dt.name}" + (f", on {hw.name}" if hw else "")
    notes = ("flash: one fused kernel, K/V re-read once per query tile, tiles from the SM's shared memory"
             + (", causal tiles skipped" if causal else "") + "; eager computes the full N x N",) if hw else ()
    return Report("rooflint.attention/1", title, data, tuple(tables), notes=notes, explanation=tuple(explanation))


def _flash_options(hw: Hardware, causal: bool):
    from rooflint.analysis.flash import DEFAULT_SRAM_BYTES
    from rooflint.analysis.transformer import OpOptions

    return OpOptions(attention="flash", sram_bytes=hw.sram_per_sm_bytes or DEFAULT_SRAM_BYTES,
                     sm_count=hw.sm_count or 108, causal=causal)


def kv_report(m: Model, contexts: list[int], batch: int, kv: DType) -> Report:
    per_token = kv_bytes_per_token(m, kv.bytes)
    rows = [{"context": c, "cached_tokens": cached_tokens(m, c),
             "bytes_per_sequence": kv_bytes(m, kv.bytes, c), "batch": batch,
             "bytes": kv_bytes(m, kv.bytes, c, batch)} for c in contexts]
    cols = (Column("context", "context", "int"), Column("cached_tokens", "cached tokens", "int"),
            Column("bytes_per_sequence", "per sequence", "bytes"), Column("batch", "batch", "int"),
            Column("bytes", "batch total", "bytes"))
    sym = {"L": m.num_hidden_layers, "H_kv": m.num_key_value_heads, "d": m.head_dim, "b_kv": kv.bytes}
    data = {"schema": "rooflint.kv/1", "model": model_dict(m), "kv_dtype": kv.name,
            "kv_cache_bytes_per_token": per_token, "rows": rows}
    summary = (("model", f"{m.name}: L={m.num_hidden_layers} H_kv={m.num_key_value_heads} d={m.head_dim}"
                + (f" window={m.sliding_window}" if m.sliding_window else ""), "text"),
               ("KV cache per token", per_token, "bytes"))
    return Report("rooflint.kv/1", f"rooflint kv {m.name} ({kv.name})", data,
                  (Table("KV cache", cols, tuple(rows)),), summary,
                  explanation=(formula_line("kv_cache_bytes_per_token", "2*L*H_kv*d*b_kv", sym, "bytes"),
                               "  per sequence = per token × min(context, window); batch total = × batch"))
