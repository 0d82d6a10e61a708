"""Turn analysis results into Reports (one function per command)."""

from __future__ import annotations

import dataclasses
from typing import Any

from rooflint.analysis.inference import Analysis, PhaseResult
from rooflint.report.explain import explain_op, formula_line
from rooflint.report.model import Column, Report, Table
from rooflint.specs import Hardware, Model

OP_COLUMNS = (
    Column("name", "op"), Column("scope", "scope"), Column("count", "×", "int"),
    Column("flops", "FLOPs", "flops"), Column("bytes_read", "read", "bytes"),
    Column("bytes_written", "written", "bytes"), Column("intensity", "FLOP/B", "intensity"),
    Column("bound", "bound"), Column("time_s", "time (each)", "seconds"),
    Column("total_time_s", "time (all)", "seconds"), Column("share", "share", "percent"),
)


def model_dict(m: Model) -> dict[str, Any]:
    return {k: v for k, v in dataclasses.asdict(m).items()}


def hardware_dict(hw: Hardware, dtype_key: str | None = None) -> dict[str, Any]:
    data = {f.name: getattr(hw, f.name) for f in dataclasses.fields(hw)}
    data["peak_flop_per_s"] = dict(hw.peak_flop_per_s)
    data["provenance"] = dict(hw.provenance)
    data["ridge_points"] = {k: hw.ridge_point(k) for k in hw.peak_flop_per_s}
    if dtype_key:
        data["ridge_point"] = hw.ridge_point(dtype_key)
    return data


def _op_rows(phase: PhaseResult) -> list[dict[str, Any]]:
    total = phase.time_s
    rows = []
    for t in phase.ops:
        op = t.op
        rows.append({
            "name": op.name, "scope": op.scope, "count": op.count, "kind": op.kind,
            "peak_key": op.peak_key, "flops": op.flops, "bytes_read": op.bytes_read,
            "bytes_written": op.bytes_written, "intensity": op.intensity, "bound": t.bound,
            "time_s": t.time_s, "total_time_s": op.count * t.time_s,
            "share": op.count * t.time_s / total if total else 0.0,
        })
    return rows


def _phase_dict(phase: PhaseResult) -> dict[str, Any]:
    ops = []
    for row, t in zip(_op_rows(phase), phase.ops):
        ops.append({**row, "formulas": dict(t.op.formulas), "note": t.op.note})
    return {
        "flops": phase.flops, "bytes": phase.bytes, "time_s": phase.time_s,
        "memory_bound_time_s": phase.time_by_bound("memory"),
        "compute_bound_time_s": phase.time_by_bound("compute"),
        "tokens": phase.tokens,
        "symbols": dict(phase.ops[0].op.symbols) if phase.ops else {},
        "ops": ops,
    }


ATTENTION_OPS = ("qk_matmul", "softmax", "pv_matmul", "flash_attention", "flash_decode", "flash_decode_reduce")


def _attention_totals(phase: PhaseResult) -> tuple[float, float]:
    """(HBM bytes, roofline time) of the attention kernels of a phase, all layers."""
    ops = [t for t in phase.ops if t.op.name.split("@")[0] in ATTENTION_OPS]
    return sum(t.op.count * t.op.bytes for t in ops), sum(t.op.count * t.time_s for t in ops)


def _kernel_comparison(a: Analysis, other: Analysis) -> Table:
    eager, flash = (a, other) if a.settings.attention == "eager" else (other, a)
    rows = []
    for phase in ("prefill", "decode"):
        eb, et = _attention_totals(getattr(eager, phase))
        fb, ft = _attention_totals(getattr(flash, phase))
        rows.append({"phase": phase, "eager_bytes": eb, "flash_bytes": fb, "bytes_ratio": eb / fb if fb else None,
                     "eager_time_s": et, "flash_time_s": ft,
                     "eager_scores_bytes": eager.scores_bytes_per_layer if phase == "prefill" else None,
                     "phase_time_eager_s": getattr(eager, phase).time_s, "phase_time_flash_s": getattr(flash, phase).time_s})
    cols = (Column("phase", "phase"), Column("eager_bytes", "eager attn HBM", "bytes"),
            Column("flash_bytes", "flash attn HBM", "bytes"), Column("bytes_ratio", "eager/flash", "ratio"),
            Column("eager_time_s", "eager attn time", "seconds"), Column("flash_time_s", "flash attn time", "seconds"),
            Column("eager_scores_bytes", "S+P/layer (eager)", "bytes"),
            Column("phase_time_eager_s", "phase (eager)", "seconds"), Column("phase_time_flash_s", "phase (flash)", "seconds"))
    return Table("attention kernels, all layers: eager vs flash", cols, tuple(rows))


def analyze_report(a: Analysis, other: Analysis | None = None) -> Report:
    """`other` is the same analysis with the other attention kernel, shown side by side."""
    s, m, hw = a.settings, a.model, a.hardware
    settings = {"batch": s.batch, "prompt": s.prompt, "context": s.decode_context,
                "dtype": a.dtype.name, "kv_dtype": a.kv_dtype.name, "weight_dtype": a.weight_dtype.name,
                "kv_bytes_per_element": a.kv_bytes_per_element,
                "weight_bytes_per_element": a.weight_bytes_per_element, "attention": s.attention,
                "mla_mode": s.mla_mode, "prefix": s.prefix, "all_logits": s.all_logits}
    memory = {
        "weights_bytes": a.weights_bytes,
        "kv_cache_bytes_per_token": a.kv_bytes_per_token,
        "kv_cache_bytes_per_sequence": a.kv_bytes_per_sequence,
        "kv_cache_bytes": a.kv_bytes,
        "attention_scores_bytes_per_layer": a.scores_bytes_per_layer,
        "total_bytes": a.weights_bytes + a.kv_bytes,
        "capacity_bytes": hw.capacity_bytes,
    }
    data = {
        "schema": "rooflint.analyze/1",
        "model": {**model_dict(m), "params": a.param_count, "active_params": a.active_param_count,
                  "params_breakdown": dict(a.params)},
        "hardware": hardware_dict(hw, a.dtype.peak_key),
        "settings": settings,
        "memory": memory,
        "phases": {"prefill": _phase_dict(a.prefill), "decode": _phase_dict(a.decode)},
        "totals": {"ttft_s": a.ttft_s, "tpot_s": a.tpot_s,
                   "decode_tokens_per_s": a.decode_tokens_per_s,
                   "prefill_tokens_per_s": a.prefill_tokens_per_s},
        "notes": list(a.notes),
    }
    summary = (
        ("model", f"{m.name}: {a.param_count / 1e9:.2f} B params, L={m.num_hidden_layers} D={m.hidden_size} "
                  f"H_q={m.num_attention_heads} " + (f"MLA latent {m.kv_lora_rank}+{m.qk_rope_head_dim}" if m.is_mla
                  else f"H_kv={m.num_key_value_heads} d={m.head_dim}")
                  + (f", MoE {m.num_experts_per_tok} of {m.num_experts} experts" if m.is_moe else "")
                  + (f", window {m.sliding_window}" if m.sliding_window else ""), "text"),
        ("hardware", f"{hw.name}: {a.dtype.name} {hw.peak(a.dtype.peak_key) / 1e12:g} TFLOP/s, "
                     f"{hw.bandwidth_bytes_per_s / 1e9:g} GB/s, ridge {hw.ridge_point(a.dtype.peak_key):.1f} FLOP/B", "text"),
        ("settings", f"batch {s.batch}, prompt {s.prompt}" + (f" after {s.prefix} cached" if s.prefix else "")
                     + f", decode context {s.decode_context}, {s.attention} attention, {a.dtype.name} "
                     f"(weights {a.weight_dtype.name} {a.weight_bytes_per_element:g} B, KV {a.kv_dtype.name} "
                     f"{a.kv_bytes_per_element:g} B per element incl. scales)"
                     + (f", MLA {s.mla_mode}" if m.is_mla else ""), "text"),
        *((("active params per token (MoE)", a.active_param_count, "count"),) if m.is_moe else ()),
        ("weights", a.weights_bytes, "bytes"),
        ("KV cache per token", a.kv_bytes_per_token, "bytes"),
        (f"KV cache at {s.decode_context} tokens", a.kv_bytes_per_sequence, "bytes"),
        (f"KV cache for batch {s.batch}", a.kv_bytes, "bytes"),
        ("S+P per layer (eager prefill)", a.scores_bytes_per_layer, "bytes"),
        ("weights + KV / capacity", (a.weights_bytes + a.kv_bytes) / hw.capacity_bytes, "percent"),
        ("prefill (time to first token)", a.ttft_s, "seconds"),
        ("prefill tokens/s", a.prefill_tokens_per_s, "ratio"),
        ("decode step (time per output token)", a.tpot_s, "seconds"),
        ("decode tokens/s (batch)", a.decode_tokens_per_s, "ratio"),
    )
    tables = tuple(Table(f"{p.name} ops (per instance; × = instances per pass)", OP_COLUMNS,
                         tuple(_op_rows(p))) for p in (a.prefill, a.decode))
    if other is not None:
        comparison = _kernel_comparison(a, other)
        tables += (comparison,)
        data["attention_comparison"] = list(comparison.rows)
    return Report("rooflint.analyze/1", f"rooflint analyze {m.name} on {hw.name}", data,
                  tables, summary, a.notes, tuple(_analyze_explanation(a)))


def _kv_context_lines(a: Analysis, per_context: str, sym: dict) -> list[str]:
    """kv_cache_bytes, one line per layer group when windows differ by layer (L and C per group)."""
    from rooflint.analysis.transformer import layer_groups

    groups = layer_groups(a.model)
    if len(groups) == 1:
        return [formula_line("kv_cache_bytes", per_context, sym, "bytes")]
    context = a.settings.decode_context
    return [formula_line(f"kv_cache_bytes{g.label or ''} ({g.count} layers)", per_context,
                         {**sym, "L": g.count, "C": min(context, g.window) if g.window else context}, "bytes")
            for g in groups] + [f"  kv_cache_bytes = sum of the groups = {a.kv_bytes:,.0f} B"]


def _analyze_explanation(a: Analysis) -> list[str]:
    m, s = a.model, a.settings
    sym = {"L": m.num_hidden_layers, "H_kv": m.num_key_value_heads, "d": m.head_dim,
           "b_kv": a.kv_bytes_per_element, "C": min(s.decode_context, m.sliding_window or s.decode_context),
           "B": s.batch, "H_q": m.num_attention_heads, "P": s.prompt, "b_a": a.dtype.bytes,
           "N_params": a.param_count, "b_w": a.weight_bytes_per_element}
    if m.is_mla and s.mla_mode == "absorbed":  # one latent per token and layer, no K/V pair
        sym.update(r_kv=m.kv_lora_rank, d_r=m.qk_rope_head_dim)
        per_token, per_context = "L*(r_kv + d_r)*b_kv", "L*(r_kv + d_r)*b_kv*C*B"
    elif m.is_mla:  # decompressed per-head K (nope + rope) and V
        sym.update(d_n=m.qk_nope_head_dim, d_r=m.qk_rope_head_dim, d_vh=m.v_head_dim)
        per_token, per_context = "L*H_q*(d_n + d_r + d_vh)*b_kv", "L*H_q*(d_n + d_r + d_vh)*b_kv*C*B"
    else:
        per_token, per_context = "2*L*H_kv*d*b_kv", "2*L*H_kv*d*b_kv*C*B"
    lines = ["memory",
             formula_line("weights_bytes", "N_params*b_w", sym, "bytes"),
             formula_line("kv_cache_bytes_per_token", per_token, sym, "bytes"),
             *_kv_context_lines(a, per_context, sym),
             formula_line("attention_scores_bytes_per_layer", "2*B*H_q*P*P*b_a", sym, "bytes"),
             "  params = " + " + ".join(f"{k} {v:,}" for k, v in a.params.items() if v),
             *(f"  note: {d}" for d in m.derived), ""]
    for phase in (a.prefill, a.decode):
        lines.append(f"{phase.name}: time = Σ count × max(flops/peak, bytes/BW) over the ops; "
                     f"tokens/s = B / time" if phase.name == "decode" else
                     f"{phase.name}: time = Σ count × max(flops/peak, bytes/BW) over the ops")
        for t in phase.ops:
            lines += explain_op(t, phase.name)
        lines.append("")
    return lines
