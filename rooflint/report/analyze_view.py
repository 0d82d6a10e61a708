"""The report of `rooflint analyze`: every op of prefill and decode, memory, times."""

from __future__ import annotations

from typing import Any

from rooflint.analysis.inference import Analysis, PhaseResult
from rooflint.analysis.params import mtp_parameter_count
from rooflint.report.common import (
    OP_COLUMNS,
    formats_line,
    hardware_dict,
    layers_line,
    model_dict,
    op_rows,
    phase_dict,
    phase_sections,
    settings_dict,
    settings_section,
)
from rooflint.report.model import Column, Report, Section, Table
from rooflint.report.render_values import human

SCHEMA = "rooflint.analyze/2"
ATTENTION_OPS = ("qk_matmul", "softmax", "pv_matmul", "flash_attention", "flash_decode", "flash_decode_reduce")
MEMORY_KEYS = ("weights_bytes", "kv_cache_bytes_per_token", "kv_cache_bytes_per_sequence", "kv_cache_bytes",
               "attention_scores_bytes_per_layer", "workspace_bytes", "total_bytes", "usable_bytes",
               "reserved_bytes", "free_bytes")
TOTAL_KEYS = ("ttft_s", "ttft_forecast_s", "tpot_s", "tpot_forecast_s", "decode_tokens_per_s", "prefill_tokens_per_s")


def _attention_totals(phase: PhaseResult) -> tuple[float, float, float]:
    """(HBM bytes, roofline time, forecast) of the attention kernels of a phase, all layers."""
    ops = [t for t in phase.ops if t.op.name.split("@")[0] in ATTENTION_OPS]
    return (sum(t.op.count * t.op.bytes for t in ops), sum(t.op.count * t.time_s for t in ops),
            sum(t.op.count * t.forecast_s for t in ops))


def _kernel_comparison(a: Analysis, other: Analysis) -> Table:
    eager, flash = (a, other) if a.resolved.attention == "eager" else (other, a)
    rows = []
    for phase in ("prefill", "decode"):
        eb, et, ec = _attention_totals(getattr(eager, phase))
        fb, ft, fc = _attention_totals(getattr(flash, phase))
        key = "ttft_forecast_s" if phase == "prefill" else "tpot_forecast_s"
        rows.append({"phase": phase, "eager_bytes": eb, "flash_bytes": fb, "bytes_ratio": eb / fb if fb else None,
                     "eager_time_s": et, "eager_time_forecast_s": ec, "flash_time_s": ft, "flash_time_forecast_s": fc,
                     "eager_scores_bytes": eager.scores_bytes_per_layer if phase == "prefill" else None,
                     "phase_time_eager_s": getattr(eager, phase).time_s,
                     "phase_time_eager_forecast_s": eager.value(f"totals.{key}"),
                     "phase_time_flash_s": getattr(flash, phase).time_s,
                     "phase_time_flash_forecast_s": flash.value(f"totals.{key}")})
    cols = (Column("phase", "phase"), Column("eager_bytes", "eager HBM", "bytes"),
            Column("flash_bytes", "flash HBM", "bytes"), Column("bytes_ratio", "eager/flash", "ratio", 3),
            Column("eager_time_s", "eager time", "seconds", 2), Column("flash_time_s", "flash time", "seconds", 1),
            Column("eager_scores_bytes", "S+P/layer", "bytes", 4),
            Column("phase_time_eager_s", "pass, eager", "seconds"),
            Column("phase_time_flash_s", "pass, flash", "seconds"))
    return Table("attention kernels, all layers: eager vs flash", cols, tuple(rows))


def _model_line(a: Analysis) -> str:
    m = a.model
    heads = (f"MLA latent {m.kv_lora_rank}+{m.qk_rope_head_dim}" if m.is_mla
             else f"H_kv={m.num_key_value_heads} d={m.head_dim}")
    return (f"{m.name}: {a.param_count / 1e9:.2f} B params, {layers_line(m)} D={m.hidden_size} "
            f"H_q={m.num_attention_heads} {heads}"
            + (f", MoE {m.num_experts_per_tok} of {m.num_experts} experts" if m.is_moe else "")
            + (f", window {m.sliding_window}" if m.sliding_window else ""))


def _workload_line(a: Analysis) -> str:
    r = a.resolved
    return (f"batch {r.batch}, prompt {r.prompt}" + (f" after {r.prefix} cached" if r.prefix else "")
            + f", decode context {r.context}, {r.attention} attention" + (f", MLA {r.mla_mode}" if a.model.is_mla else ""))


def weight_formats(r) -> dict[str, Any]:
    """Each weight class's stored format: dtype, bytes per element and the scales' share of them."""
    out = {}
    for c, size in r.class_bytes:
        f = dict(r.formats).get(c)
        out[c] = {"dtype": f.dtype if f else r.high.name, "bytes_per_element": size,
                  "scale_bytes_per_element": f.scale_bytes_per_element if f else 0.0,
                  "label": f.label if f else r.high.name, "gemm_peak": dict(r.class_peaks)[c]}
    return out


def _precision_line(a: Analysis) -> str:
    r = a.resolved
    if a.model.quantization is not None and r.workload.weight_dtype is None:
        kinds = formats_line(r.formats)
        return (f"activations {r.act.name}, checkpoint {a.model.quantization.method}: {kinds}; others {r.high.name}; "
                f"KV {r.kv.name} {r.b_kv:.4g} B")
    return (f"activations {r.act.name}, weights {r.weight.name} {r.b_w:.4g} B, KV {r.kv.name} {r.b_kv:.4g} B"
            " per element (scales included)" + (f", others {r.high.name}" if r.high.name != r.weight.name else ""))


def analyze_report(a: Analysis, other: Analysis | None = None) -> Report:
    """`other` is the same analysis with the other attention kernel, shown side by side."""
    m, hw, r, terms = a.model, a.hardware, a.resolved, a.terms
    tables = tuple(Table(f"{p.name} ops (per instance; × = instances per pass)", OP_COLUMNS, tuple(op_rows(p)))
                   for p in (a.prefill, a.decode))
    comparison = _kernel_comparison(a, other) if other is not None else None
    if comparison is not None:
        tables += (comparison,)

    def document() -> dict[str, Any]:  # the ops' bindings cost more than a table needs
        memory = {k: terms[f"memory.{k}"].value for k in MEMORY_KEYS}
        memory.update(capacity_bytes=hw.capacity_bytes, fits=a.fits)
        data: dict[str, Any] = {
            "schema": SCHEMA,
            "model": {**model_dict(m), "params": a.param_count, "active_params": a.active_param_count,
                      "params_breakdown": dict(a.params)},
            "hardware": hardware_dict(hw, r.act.peak_key),
            "settings": settings_dict(r),
            "memory": memory,
            "checkpoint": {"bytes": terms["checkpoint.bytes"].value, "mtp_bytes": terms["checkpoint.mtp_bytes"].value,
                           "mtp_params": mtp_parameter_count(m), "vision_params": m.vision_parameters,
                           "quantization": m.quantization.method if m.quantization else None,
                           "weight_formats": weight_formats(r)},
            "phases": {"prefill": phase_dict(a.prefill, a.ttft_forecast_s, r.engine),
                       "decode": phase_dict(a.decode, a.tpot_forecast_s, r.engine)},
            "totals": {k: terms[f"totals.{k}"].value for k in TOTAL_KEYS},
            "notes": list(a.notes),
        }
        if comparison is not None:
            data["attention_comparison"] = list(comparison.rows)
        return data
    summary = (
        ("model", _model_line(a), "text"),
        ("hardware", f"{hw.name}: {r.act.name} {hw.peak(r.act.peak_key) / 1e12:g} TFLOP/s, "
                     f"{hw.bandwidth_bytes_per_s / 1e9:g} GB/s, ridge {hw.ridge_point(r.act.peak_key):.1f} FLOP/B",
         "text"),
        ("workload", _workload_line(a), "text"),
        ("precision", _precision_line(a), "text"),
        *((("active params per token (MoE)", a.active_param_count, "count"),) if m.is_moe else ()),
        ("weights", a.weights_bytes, "bytes"),
        *((("checkpoint files (with MTP)", a.checkpoint_bytes, "bytes"),) if m.mtp_layers else ()),
        *((("vision tower params (not run)", m.vision_parameters, "count"),) if m.vision_parameters else ()),
        ("KV cache per token", a.kv_bytes_per_token, "bytes"),
        (f"KV cache at {r.context} tokens", a.kv_bytes_per_sequence, "bytes"),
        (f"KV cache for batch {r.batch}", a.kv_bytes, "bytes"),
        ("S+P per layer (eager prefill)" if r.attention == "eager" else "S+P per layer (flash: kept in SRAM)",
         a.scores_bytes_per_layer, "bytes"),
        (f"activation workspace ({r.chunk}-token chunk)", a.workspace_bytes, "bytes"),
        ("memory needed", f"{human(a.total_bytes, 'bytes')} of {human(terms['memory.usable_bytes'].value, 'bytes')} "
                          f"usable ({r.memory_utilization:g} x {human(hw.capacity_bytes, 'bytes')})", "text"),
        ("fits", "yes" if a.fits else "no", "text"),
        ("prefill (time to first token)", a.ttft_s, "seconds"),
        (f"  forecast ({r.engine.name})", a.ttft_forecast_s, "seconds"),
        ("prefill tokens/s", a.prefill_tokens_per_s, "ratio"),
        ("decode step (time per output token)", a.tpot_s, "seconds"),
        (f"  forecast ({r.engine.name})", a.tpot_forecast_s, "seconds"),
        ("decode tokens/s (batch)", a.decode_tokens_per_s, "ratio"),
    )
    return Report(SCHEMA, f"rooflint analyze {m.name} on {hw.name}", document, tables, summary, a.notes,
                  lambda: analyze_explanation(a))


def analyze_explanation(a: Analysis) -> tuple[Section, ...]:
    terms = a.terms
    parts = " + ".join(f"{k} {v:,}" for k, v in a.params.items() if v)
    memory = Section("memory", tuple(terms[f"memory.{k}"] for k in MEMORY_KEYS),
                     (f"fits = free_bytes >= 0: {'yes' if a.fits else 'no'}", f"params = {parts}",
                      *(f"note: {d}" for d in a.model.derived)))
    totals = Section("totals", tuple(terms[f"totals.{k}"] for k in TOTAL_KEYS))
    stored = Section("checkpoint", (terms["checkpoint.mtp_bytes"], terms["checkpoint.bytes"]),
                     tuple(f"{c}: {f.label if f else a.resolved.high.name}" for c, f in a.resolved.formats))
    e = a.resolved.engine
    return (settings_section(a.resolved), memory, stored, *phase_sections(a.prefill, "phases.prefill", e),
            *phase_sections(a.decode, "phases.decode", e), totals)
