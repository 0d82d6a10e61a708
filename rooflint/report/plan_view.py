"""Report for `rooflint plan`: memory per GPU under the one rule, what fits, and the time it takes."""

from __future__ import annotations

from typing import Any

from rooflint.analysis.plan import Plan, prompt_pass
from rooflint.report.common import (
    hardware_dict,
    model_dict,
    op_dict,
    settings_dict,
    settings_section,
)
from rooflint.report.model import Column, Report, Section, Table

SCHEMA = "rooflint.plan/2"
MEMORY_KEYS = ("weights_bytes", "kv_cache_bytes", "workspace_bytes", "total_bytes", "usable_bytes", "reserved_bytes",
               "free_bytes")


def _forecast_parts(p: Plan) -> dict[str, Any]:
    """What the TPOT forecast sums, and the TTFT's for a prompt of one chunk: the ops of one pass per
    GPU, the passes (each pays the engine's step overhead) and the all-reduces (count, ranks, bytes each)."""
    r, hw = p.resolved, p.hardware
    link = hw.interconnect_bytes_per_s or 0

    def part(phase, tokens: int) -> dict[str, Any]:
        reduces = {"count": 2 * p.model.num_hidden_layers, "ranks": p.tp, "bytes": tokens * p.model.hidden_size * r.b_a,
                   "link_bytes_per_s": link} if p.tp > 1 else None
        return {"ops": [op_dict(t, hw, r.engine) for t in phase.ops], "passes": 1, "allreduces": reduces}
    out = {"tpot_s": part(p.at_batch.decode, r.batch)}
    if p.chunk_count == 1:
        out["ttft_s"] = part(prompt_pass(p).prefill, r.batch * r.prompt)
    return out


def plan_report(p: Plan) -> Report:
    r, hw, a, t = p.resolved, p.hardware, p.at_batch, p.terms
    mem = {k: t[f"memory.{k}"].value for k in MEMORY_KEYS}
    free = mem["free_bytes"]
    rows = [
        {"part": "weights", "bytes": mem["weights_bytes"]},
        {"part": f"KV cache: batch {r.batch} x {r.context} tokens", "bytes": mem["kv_cache_bytes"]},
        {"part": f"activation workspace (largest op of a {r.chunk}-token prefill chunk)", "bytes": mem["workspace_bytes"]},
        {"part": f"reserved (1 - memory utilization {r.memory_utilization:g})", "bytes": mem["reserved_bytes"]},
        {"part": "free for more KV cache" if free >= 0 else "OVER capacity by", "bytes": abs(free)},
        {"part": "capacity", "bytes": hw.capacity_bytes},
    ]
    for row in rows:
        row["share"] = row["bytes"] / hw.capacity_bytes
    memory = Table(f"memory per GPU ({hw.name}, tp={p.tp})",
                   (Column("part", "part"), Column("bytes", "bytes", "bytes"), Column("share", "of capacity", "percent")),
                   tuple(rows))
    chunks = f"{p.chunk_count} chunk{'s' if p.chunk_count > 1 else ''} of {r.chunk}" if p.chunk_count > 1 else "one chunk"
    longest = "any (every layer is windowed)" if p.max_context is None else p.max_context
    summary = (
        ("model", f"{p.model.name} ({'tp ' + str(p.tp) + ': ' + p.shard.name if p.tp > 1 else 'one GPU'})", "text"),
        ("KV cache per sequence per GPU", a.kv_bytes_per_sequence, "bytes"),
        (f"largest batch at {r.context} tokens", p.max_batch, "int"),
        (f"longest context at batch {r.batch}", longest, "int" if p.max_context is not None else "text"),
        (f"batch {r.batch} at {r.context} tokens fits", "yes" if p.fits else "no", "text"),
        (f"time to first token: {r.prompt:,}-token prompt in {chunks} (incl. all-reduce)", p.ttft_s, "seconds"),
        (f"  forecast ({r.engine.name})", p.ttft_forecast_s, "seconds"),
        ("time per output token (incl. all-reduce)", p.tpot_s, "seconds"),
        (f"  forecast ({r.engine.name})", p.tpot_forecast_s, "seconds"),
        ("  of which all-reduce (decode)", t["plan.allreduce_decode_s"].value, "seconds"),
        ("  of which all-reduce (decode), forecast", t["plan.allreduce_decode_forecast_s"].value, "seconds"),
        ("decode tokens/s (batch)", t["plan.decode_tokens_per_s"].value, "ratio"),
    )
    notes = list(r.notes)
    limit = p.model.max_position_embeddings
    if p.max_context is not None and limit and p.max_context > limit:
        notes.append(f"the longest context that fits exceeds {p.model.name}'s max_position_embeddings ({limit})")
    if p.tp > 1:
        notes.append("the bound times all-reduces by bandwidth alone; the forecast adds each one's latency "
                     f"({r.engine.allreduce_latency_s * 1e6:g} us, {r.engine.name}) and the share of the link "
                     f"large all-reduces reach ({hw.achievable.link_fraction:g})")
    data = {
        "schema": SCHEMA, "model": model_dict(p.model), "shard": model_dict(p.shard),
        "hardware": hardware_dict(hw), "tp": p.tp, "settings": settings_dict(r),
        "memory": {**mem, "capacity_bytes": hw.capacity_bytes, "fits": p.fits},
        "plan": {"kv_budget_bytes": t["plan.kv_budget_bytes"].value, "max_batch": p.max_batch,
                 "max_context": p.max_context, "ttft_s": p.ttft_s, "ttft_forecast_s": p.ttft_forecast_s,
                 "tpot_s": p.tpot_s, "tpot_forecast_s": p.tpot_forecast_s,
                 "decode_tokens_per_s": t["plan.decode_tokens_per_s"].value, "chunks": p.chunk_count,
                 "allreduce_chunk_s": t["plan.allreduce_chunk_s"].value,
                 "allreduce_decode_s": t["plan.allreduce_decode_s"].value,
                 "allreduce_chunk_forecast_s": t["plan.allreduce_chunk_forecast_s"].value,
                 "allreduce_decode_forecast_s": t["plan.allreduce_decode_forecast_s"].value,
                 # the full chunks j = first..last (none: first and last null); the shorter last one apart
                 "prefill_chunks": {"count": p.chunks.steps, "first": 0 if p.chunks.steps else None,
                                    "last": p.chunks.hi if p.chunks.steps else None, "time_s": p.chunks.time_s,
                                    "time_forecast_s": p.chunks_forecast_s,
                                    "ops": {o.name: {"count": o.count, "flops": o.flops, "bytes_read": o.bytes_read,
                                                     "bytes_written": o.bytes_written, "time_s": o.time_s,
                                                     "time_forecast_s": p.chunk_forecasts.get(o.name, 0.0)}
                                            for o in p.chunks.ops}}},
        "kv_cache_bytes_per_sequence": a.kv_bytes_per_sequence,
    }
    data["forecast_parts"] = _forecast_parts(p)

    def explain() -> tuple[Section, ...]:
        keys = ["plan.kv_budget_bytes", "plan.max_batch", "plan.max_context", "plan.ttft_s", "plan.ttft_forecast_s",
                "plan.tpot_s", "plan.tpot_forecast_s", "plan.decode_tokens_per_s", "plan.allreduce_chunk_s",
                "plan.allreduce_decode_s", "plan.allreduce_chunk_forecast_s", "plan.allreduce_decode_forecast_s"]
        mem_terms = tuple(t[f"memory.{k}"] for k in MEMORY_KEYS)
        chunk_sections = tuple(Section(f"prefill chunks j = 0..{p.chunks.hi}: {o.name} (x{o.count})", o.terms)
                               for o in p.chunks.ops)
        return (settings_section(r), Section("memory per GPU (fits when free_bytes >= 0)", mem_terms),
                Section("plan", tuple(t[k] for k in keys if k in t)), *chunk_sections)
    return Report(SCHEMA, f"rooflint plan {p.model.name} on {p.tp} x {hw.name}", data, (memory,), summary,
                  tuple(notes), explain)
