"""Reports listing and showing the hardware and model specs."""

from __future__ import annotations

from rooflint.analysis.kernels import ridge_terms
from rooflint.analysis.kv_cache import kv_bytes_per_token
from rooflint.analysis.params import (
    mtp_parameter_count,
    parameter_breakdown,
    parameter_count,
    parameter_terms,
)
from rooflint.report.common import achievable_dict, hardware_dict, model_dict, quantization_line
from rooflint.report.model import Column, Report, Section, Table
from rooflint.specs import Hardware, Model


def hardware_list_report(profiles: list[Hardware]) -> Report:
    rows = [{"name": h.name, "aliases": ", ".join(h.aliases), "description": h.description,
             "fp16_flop_per_s": h.peak_flop_per_s.get("fp16"),
             "bandwidth_bytes_per_s": h.bandwidth_bytes_per_s, "capacity_bytes": h.capacity_bytes,
             "ridge_point_fp16": h.ridge_point("fp16") if "fp16" in h.peak_flop_per_s else None,
             "path": h.path} for h in profiles]
    cols = (Column("name", "name"), Column("aliases", "aliases"), Column("description", "description"),
            Column("fp16_flop_per_s", "fp16 peak", "flop_per_s"),
            Column("bandwidth_bytes_per_s", "bandwidth", "bytes_per_s"),
            Column("capacity_bytes", "memory", "bytes"), Column("ridge_point_fp16", "ridge fp16", "intensity"))
    data = {"schema": "rooflint.hardware-list/1", "hardware": [hardware_dict(h) for h in profiles]}

    def explain() -> tuple[Section, ...]:
        return tuple(Section(h.name, tuple(ridge_terms(h, f"hardware[{i}].ridge_points")))
                     for i, h in enumerate(profiles))
    return Report("rooflint.hardware-list/1", "hardware profiles", data, (Table("hardware", cols, tuple(rows)),),
                  explain=explain)


def hardware_show_report(h: Hardware) -> Report:
    a, ach = h.achievable, achievable_dict(h)
    rows = [{"dtype": k, "peak_flop_per_s": v, "achievable_flop_per_s": ach["peak_flop_per_s"][k],
             "ridge_point": h.ridge_point(k)} for k, v in h.peak_flop_per_s.items()]
    cols = (Column("dtype", "dtype"), Column("peak_flop_per_s", "dense peak", "flop_per_s"),
            Column("achievable_flop_per_s", "achievable (large GEMM)", "flop_per_s"),
            Column("ridge_point", "ridge (FLOP/B)", "intensity"))
    summary = (("name", h.name, "text"), ("description", h.description, "text"),
               ("memory", h.capacity_bytes, "bytes"), ("bandwidth", h.bandwidth_bytes_per_s, "bytes_per_s"),
               ("  achievable (streaming)", ach["bandwidth_bytes_per_s"], "bytes_per_s"),
               ("kernel floor (attention)", f"{a.kernel_floor_s * 1e6:.3g} µs ({a.attention_floor_s * 1e6:.3g} µs)",
                "text"),
               ("SMs", h.sm_count, "int"), ("shared memory per SM", h.sram_per_sm_bytes, "bytes"),
               ("L2", h.l2_bytes, "bytes"), ("interconnect", h.interconnect_bytes_per_s, "bytes_per_s"),
               ("network (per GPU)", h.network_bytes_per_s, "bytes_per_s"),
               ("source", " ".join(h.source.split()), "text"), ("file", h.path, "text"),
               ("achievable from", a.source.get("bandwidth_fraction", ""), "text"))
    return Report("rooflint.hardware/1", f"hardware {h.name}",
                  {"schema": "rooflint.hardware/1", "hardware": hardware_dict(h)},
                  (Table("compute peaks", cols, tuple(rows)),), summary,
                  explain=lambda: (Section("ridge points", tuple(ridge_terms(h, "hardware.ridge_points"))),))


def model_list_report(models: list[Model]) -> Report:
    rows = [{"name": m.name, "model_type": m.model_type, "params": parameter_count(m),
             "num_hidden_layers": m.num_hidden_layers, "hidden_size": m.hidden_size,
             "num_attention_heads": m.num_attention_heads, "num_key_value_heads": m.num_key_value_heads,
             "head_dim": m.head_dim, "kv_bytes_per_token_fp16": kv_bytes_per_token(m, 2)} for m in models]
    cols = (Column("name", "name"), Column("model_type", "family"), Column("params", "params", "count"),
            Column("num_hidden_layers", "L", "int"), Column("hidden_size", "D", "int"),
            Column("num_attention_heads", "H_q", "int"), Column("num_key_value_heads", "H_kv", "int"),
            Column("head_dim", "d", "int"), Column("kv_bytes_per_token_fp16", "KV/token fp16", "bytes"))
    data = {"schema": "rooflint.model-list/1", "models": [{**model_dict(m), "params": parameter_count(m)} for m in models]}

    def explain() -> tuple[Section, ...]:
        return tuple(Section(m.name, tuple(parameter_terms(m, f"models[{i}].params"))) for i, m in enumerate(models))
    return Report("rooflint.model-list/1", "models", data, (Table("models", cols, tuple(rows)),), explain=explain)


def model_show_report(m: Model) -> Report:
    parts = parameter_breakdown(m)
    rows = [{"part": k, "params": v} for k, v in parts.items()] + [{"part": "total", "params": sum(parts.values())}]
    mtp = mtp_parameter_count(m)
    if mtp:  # stored beside the model, loaded only for speculative decoding
        rows.append({"part": "mtp (apart, not in the total)", "params": mtp})
    fields = model_dict(m)
    summary = tuple((k, quantization_line(m) if k == "quantization" else v if v is not None else "—", "text")
                    for k, v in fields.items() if k not in ("derived",))
    summary += tuple(("derived", d, "text") for d in m.derived)
    return Report("rooflint.model/1", f"model {m.name}",
                  {"schema": "rooflint.model/1", "model": {**fields, "params": sum(parts.values()),
                                                            "params_breakdown": parts, "mtp_params": mtp}},
                  (Table("parameters", (Column("part", "part"), Column("params", "params", "int")), tuple(rows)),),
                  summary, explain=lambda: (Section("parameters", tuple(parameter_terms(m, "model.params")),
                                                    tuple(f"derived: {d}" for d in m.derived)),))
