"""Pieces several reports share: specs and settings as JSON, a pass's ops as rows and as terms."""

from __future__ import annotations

import dataclasses
from typing import Any

from rooflint.analysis.forecast import forecast_lines, forecast_parts, forecast_terms
from rooflint.analysis.inference import PhaseResult
from rooflint.analysis.ops import op_terms
from rooflint.analysis.roofline import Timed, timed_terms
from rooflint.report.model import Column, Section
from rooflint.specs import Hardware, Model
from rooflint.specs.engine import Engine
from rooflint.workload import Resolved

OP_COLUMNS = (  # drop: what a narrow terminal leaves out first (the pass totals and the split of bytes)
    Column("name", "op"), Column("count", "×", "int", 2), Column("weight", "weight", drop=4),
    Column("flops", "FLOPs", "flops"), Column("bytes_read", "read", "bytes", 6),
    Column("bytes_written", "written", "bytes", 7), Column("intensity", "FLOP/B", "intensity", 3),
    Column("bound", "bound"), Column("time_s", "time (each)", "seconds"),
    Column("time_forecast_s", "forecast", "seconds"),
    Column("total_time_s", "time (all)", "seconds", 8), Column("share", "share", "percent", 5),
)


def layers_line(m: Model) -> str:
    """L=…, with a hybrid's split: the layers that cache K/V and those that keep a state."""
    if not m.is_hybrid:
        return f"L={m.num_hidden_layers}"
    linear = sum(1 for i in range(m.num_hidden_layers) if m.layer_kind(i) == "linear")
    return f"L={m.num_hidden_layers} ({m.num_hidden_layers - linear} attention, {linear} linear-attention)"


def model_dict(m: Model) -> dict[str, Any]:
    out = dataclasses.asdict(m)
    if m.quantization is not None:  # formats by class, as a mapping
        out["quantization"] = {**out["quantization"], "formats": dict(out["quantization"]["formats"])}
    return out


def formats_line(formats) -> str:
    """Weight classes grouped by their format: "attention + mlp fp8 e4m3, ...; experts mxfp4: ..."."""
    groups: dict[str, list[str]] = {}
    for c, f in formats:
        if f is not None:
            groups.setdefault(f.label, []).append(c)
    return "; ".join(f"{' + '.join(cs)} {label}" for label, cs in groups.items()) or "no class quantized"


def quantization_line(m: Model) -> str:
    q = m.quantization
    if q is None:
        return "none (the checkpoint's 16-bit type)"
    return f"{q.method}: {formats_line(q.formats)}" + (f"; not converted: {', '.join(q.not_converted)}"
                                                       if q.not_converted else "")


def hardware_dict(hw: Hardware, dtype_key: str | None = None) -> dict[str, Any]:
    data = {f.name: getattr(hw, f.name) for f in dataclasses.fields(hw)}
    data["peak_flop_per_s"] = dict(hw.peak_flop_per_s)
    data["provenance"] = {k: dict(v) if hasattr(v, "items") else v for k, v in hw.provenance.items()}
    data["matmul_half_flop"] = dict(hw.matmul_half_flop)
    data["ridge_points"] = {k: hw.ridge_point(k) for k in hw.peak_flop_per_s}
    data["achievable"] = achievable_dict(hw)
    if dtype_key:
        data["ridge_point"] = hw.ridge_point(dtype_key)
    return data


def achievable_dict(hw: Hardware) -> dict[str, Any]:
    """What a good kernel reaches on hw: the fitted shares as rates, and where each came from."""
    a = hw.achievable
    return {"bandwidth_bytes_per_s": hw.bandwidth_bytes_per_s * a.bandwidth_fraction,
            "copy_bandwidth_bytes_per_s": hw.bandwidth_bytes_per_s * a.copy_bandwidth_fraction,
            "decode_attention_bandwidth_bytes_per_s": hw.bandwidth_bytes_per_s * a.decode_bandwidth_fraction,
            "peak_flop_per_s": {k: v * a.peak_fraction_of(k) for k, v in hw.peak_flop_per_s.items()},
            "kernel_floor_s": a.kernel_floor_s, "attention_floor_s": a.attention_floor_s,
            "attention_wave_s": a.attention_wave_s,
            "interconnect_bytes_per_s": (hw.interconnect_bytes_per_s * a.link_fraction
                                         if hw.interconnect_bytes_per_s else None),
            "collective_latency_s": a.collective_latency_s,
            "collectives": {op: dict(v) for op, v in a.collectives.items()},
            "network_fraction": a.network_fraction, "network_latency_s": a.network_latency_s,
            "fractions": {"bandwidth": a.bandwidth_fraction, "decode_bandwidth": a.decode_bandwidth_fraction,
                          "copy_bandwidth": a.copy_bandwidth_fraction,
                          "peak": dict(a.peak_fraction), "attention": {str(k): v for k, v in a.attention_fraction.items()},
                          "link": a.link_fraction},
            "source": dict(a.source)}


def settings_dict(r: Resolved) -> dict[str, Any]:
    """The resolved workload: what was analysed, every default applied."""
    return {"batch": r.batch, "prompt": r.prompt, "context": r.context, "prefix": r.prefix,
            "dtype": r.act.name, "kv_dtype": r.kv.name, "weight_dtype": r.weight.name,
            "unquantized_weight_dtype": r.high.name, "quantize": r.quantize,
            "activation_bytes_per_element": r.b_a, "weight_bytes_per_element": r.b_w,
            "unquantized_weight_bytes_per_element": r.b_h, "kv_bytes_per_element": r.b_kv,
            "weight_group_size": r.weight_group_size, "kv_group_size": r.kv_group_size,
            "attention": r.attention, "mla_mode": r.mla_mode, "flash_tile": r.flash_tile,
            "causal": r.causal, "all_logits": r.all_logits, "sm_count": r.sm_count,
            "sram_per_sm_bytes": r.sram_per_sm_bytes, "memory_utilization": r.memory_utilization,
            "chunk": r.chunk, "engine": r.engine.name if r.engine else None, "defaults": list(r.defaults)}


def settings_section(r: Resolved) -> Section:
    return Section("settings (as resolved)", lines=tuple(r.defaults) + tuple(r.notes))


def op_rows(phase: PhaseResult) -> list[dict[str, Any]]:
    total = phase.time_s
    rows = []
    for t in phase.ops:
        o = t.op
        rows.append({"name": o.name, "scope": o.scope, "count": o.count, "weight": o.weight or "",
                     "kind": o.kind, "peak_key": o.peak_key,
                     "flops": o.flops, "bytes_read": o.bytes_read, "bytes_written": o.bytes_written,
                     "intensity": o.intensity, "bound": t.bound, "time_s": t.time_s,
                     "time_forecast_s": t.forecast_s, "total_time_s": o.count * t.time_s,
                     "total_time_forecast_s": o.count * t.forecast_s,
                     "share": o.count * t.time_s / total if total else 0.0})
    return rows


def op_dict(t: Timed, hw: Hardware, engine: Engine) -> dict[str, Any]:
    """One placed op as JSON: its numbers, bound, forecast and the forecast's parts."""
    o = t.op
    return {"name": o.name, "kind": o.kind, "peak_key": o.peak_key, "count": o.count, "present": o.present,
            "flops": o.flops, "bytes_read": o.bytes_read, "bytes_written": o.bytes_written, "time_s": t.time_s,
            "time_forecast_s": t.forecast_s, "forecast": forecast_parts(o, hw, engine)}


def phase_dict(phase: PhaseResult, phase_forecast_s: float, engine: Engine) -> dict[str, Any]:
    """A pass as JSON: totals, and per op its numbers, formulas and bindings (enough to recompute it);
    the pass's forecast with the engine's step overhead (totals' figure)."""
    ops = []
    for row, t in zip(op_rows(phase), phase.ops):
        form = t.op.form
        ops.append({**row, "formulas": t.op.formulas, "defs": {n: str(e) for n, e in form.defs},
                    "symbols": dict(t.op.symbols), "present": t.op.present, "note": form.note,
                    "forecast": forecast_parts(t.op, phase.hardware, engine)})
    return {"flops": phase.flops, "bytes": phase.bytes, "bytes_read": phase.bytes_read,
            "bytes_written": phase.bytes_written, "time_s": phase.time_s, "time_forecast_s": phase_forecast_s,
            "memory_bound_time_s": phase.time_by_bound("memory"),
            "memory_bound_time_forecast_s": phase.time_by_bound("memory", forecast=True),
            "compute_bound_time_s": phase.time_by_bound("compute"),
            "compute_bound_time_forecast_s": phase.time_by_bound("compute", forecast=True), "tokens": phase.tokens,
            "inputs": dict(phase.inputs), "ops": ops}


def phase_sections(phase: PhaseResult, key: str, engine: Engine | None = None) -> list[Section]:
    """One section per op: its derived symbols, FLOPs, bytes, intensity, time and forecast, as terms."""
    out = []
    for i, t in enumerate(phase.ops):
        o = t.op
        prefix = f"{key}.ops[{i}]"
        title = f"{phase.name}.{o.name}  ({o.kind}, x{o.count} per pass{', ' + o.note if o.note else ''})"
        forecast = forecast_terms(o, phase.hardware, engine, prefix) if engine is not None else []
        lines = forecast_lines(o, phase.hardware, engine) if engine is not None else ()
        out.append(Section(title, tuple(op_terms(o, prefix) + timed_terms(t, prefix) + forecast), lines))
    return out
