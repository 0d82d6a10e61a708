"""Report for `rooflint plan`: memory breakdown per GPU, what fits, and the time it takes."""

from __future__ import annotations

from rooflint.analysis.plan import Plan
from rooflint.report.model import Column, Report, Table
from rooflint.report.views import hardware_dict, model_dict


def plan_report(p: Plan) -> Report:
    s, hw = p.settings, p.hardware
    kv_at_batch = p.kv_bytes_per_sequence * s.batch
    reserved = hw.capacity_bytes - p.usable_bytes
    free = p.kv_budget_bytes - kv_at_batch
    rows = [
        {"part": "weights", "bytes": p.weights_bytes},
        {"part": f"KV cache: batch {s.batch} x {s.decode_context} tokens", "bytes": kv_at_batch},
        {"part": "activation workspace (largest op)", "bytes": p.workspace_bytes},
        {"part": f"reserved (1 - memory utilization {p.memory_utilization:g})", "bytes": reserved},
        {"part": "free for more KV cache" if free >= 0 else "OVER capacity by", "bytes": abs(free)},
        {"part": "capacity", "bytes": hw.capacity_bytes},
    ]
    for row in rows:
        row["share"] = row["bytes"] / hw.capacity_bytes
    memory = Table(f"memory per GPU ({hw.name}, tp={p.tp})",
                   (Column("part", "part"), Column("bytes", "bytes", "bytes"), Column("share", "of capacity", "percent")),
                   tuple(rows))
    fits = free >= 0
    summary = (
        ("model", f"{p.model.name} ({'tp ' + str(p.tp) + ': ' + p.shard.name if p.tp > 1 else 'one GPU'})", "text"),
        ("KV cache per sequence per GPU", p.kv_bytes_per_sequence, "bytes"),
        (f"largest batch at {s.decode_context} tokens", p.max_batch, "int"),
        (f"longest context at batch {s.batch}", p.max_context, "int"),
        (f"batch {s.batch} at {s.decode_context} tokens fits", "yes" if fits else "no", "text"),
        ("time to first token (incl. all-reduce)", p.ttft_s, "seconds"),
        ("time per output token (incl. all-reduce)", p.tpot_s, "seconds"),
        ("  of which all-reduce (decode)", p.allreduce_decode_s, "seconds"),
        ("decode tokens/s (batch)", s.batch / p.tpot_s, "ratio"),
    )
    notes = list(p.at_batch.notes)
    if p.max_context >= p.context_limit:
        notes.append(f"the cache of batch {s.batch} fits at every context searched (up to {p.context_limit})")
    elif p.model.max_position_embeddings and p.max_context > p.model.max_position_embeddings:
        notes.append(f"the longest context that fits exceeds {p.model.name}'s max_position_embeddings "
                     f"({p.model.max_position_embeddings})")
    notes.append("all-reduces are timed by bandwidth alone; their latency (~10 us each on NVLink) is not counted")
    data = {
        "schema": "rooflint.plan/1", "model": model_dict(p.model), "shard": model_dict(p.shard),
        "hardware": hardware_dict(hw), "tp": p.tp, "memory_utilization": p.memory_utilization,
        "settings": {"batch": s.batch, "context": s.decode_context, "prompt": s.prompt, "attention": s.attention},
        "memory": {r["part"]: r["bytes"] for r in rows},
        "weights_bytes": p.weights_bytes, "workspace_bytes": p.workspace_bytes,
        "kv_cache_bytes_per_sequence": p.kv_bytes_per_sequence, "kv_budget_bytes": p.kv_budget_bytes,
        "max_batch": p.max_batch, "max_context": p.max_context, "fits": fits,
        "ttft_s": p.ttft_s, "tpot_s": p.tpot_s, "allreduce_prefill_s": p.allreduce_prefill_s,
        "allreduce_decode_s": p.allreduce_decode_s,
    }
    return Report("rooflint.plan/1", f"rooflint plan {p.model.name} on {p.tp} x {hw.name}", data, (memory,),
                  summary, tuple(notes),
                  explanation=("KV budget = mem_util x capacity - weights - workspace",
                               "largest batch = floor(KV budget / KV per sequence at the context)",
                               "all-reduce per layer = 2 x 2(N-1)/N x T*D*b_a / interconnect"))
