"""Report of `rooflint paged`: KV memory needed vs paged (vLLM blocks) vs contiguous preallocation.

Every number comes from a term of analysis/paged.py, placed at the JSON key the term names
(`rows[1].bytes`, `groups[0].blocks`, `kv_cache_bytes_per_token`).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from rooflint.analysis.kv_cache import state_bytes
from rooflint.analysis.paged import SCHEMES, PagedPlan
from rooflint.report.common import layers_line, model_dict
from rooflint.report.model import Column, Report, Section, Table
from rooflint.report.render_values import human

SCHEMA = "rooflint.paged/2"
LIST_LIMIT = 10_000  # drawn lengths are listed in the JSON up to this many (statistics always)
ROW_KEYS = ("tokens", "bytes", "waste_bytes", "waste_share", "fits")
TOP_KEYS = ("kv_cache_bytes_per_token", "block_bytes", "blocks")


def _how(scheme: str, windowed: bool) -> str:
    cached = "min(len, W)" if windowed else "len"
    return {"needed": f"{cached} each",
            "paged": f"whole blocks: ceil({cached}/B)*B each",
            "contiguous": f"{'min(max_len, W)' if windowed else 'max_len'} reserved each"}[scheme]


def _rows(plan: PagedPlan) -> list[dict[str, Any]]:
    windowed = any(g.window for g in plan.groups)
    rows = []
    for j, scheme in enumerate(SCHEMES):
        row: dict[str, Any] = {"scheme": scheme, "allocation": _how(scheme, windowed)}
        for name in ROW_KEYS:
            t = plan.terms.get(f"rows[{j}].{name}")
            row[name] = None if t is None else t.value
        if f"rows[{j}].waste_bound_bytes" in plan.terms:
            row["waste_bound_bytes"] = plan.terms[f"rows[{j}].waste_bound_bytes"].value
        rows.append(row)
    return rows


def _groups(plan: PagedPlan) -> list[dict[str, Any]]:
    return [{"label": g.label, "window": g.window, "layers": g.layers, **{k: t.value for k, t in g.terms.items()}}
            for g in plan.groups]


def _model_line(plan: PagedPlan) -> str:
    m = plan.model
    heads = f"MLA latent {m.kv_lora_rank}+{m.qk_rope_head_dim}" if m.is_mla else f"H_kv={m.num_key_value_heads} d={m.head_dim}"
    return f"{m.name}: {layers_line(m)} {heads}" + (f" window={m.sliding_window}" if m.sliding_window else "")


def _source(plan: PagedPlan) -> str:
    d = plan.draw
    if d is None:
        return "given"
    return f"{d.dist}, mean {d.mean:g}" + (f", std {d.std:g}" if d.std is not None else "") + f", seed {d.seed}"


def _element_line(plan: PagedPlan) -> str:
    r = plan.resolved
    scales = f" (an fp16 scale per {r.kv_group_size} elements)" if r.kv_group_size else ""
    return f"{r.kv.name}: {r.b_kv:g} B incl. scales{scales}" + (f", MLA {r.mla_mode}" if plan.model.is_mla else "")


def paged_report(plan: PagedPlan) -> Report:
    r, m, stats = plan.resolved, plan.model, plan.stats
    rows = _rows(plan)
    cols = [Column("scheme", "scheme"), Column("allocation", "allocation"),
            Column("tokens", "token slots", "int"), Column("bytes", "KV bytes", "bytes"),
            Column("waste_bytes", "waste", "bytes"), Column("waste_share", "waste %", "percent")]
    if plan.memory_bytes is not None:
        cols.append(Column("fits", f"seqs in {human(plan.memory_bytes, 'bytes')}", "int"))
    listed = plan.given or plan.num_seqs <= LIST_LIMIT
    data: dict[str, Any] = {
        "schema": SCHEMA, "model": model_dict(m),
        "settings": {"kv_dtype": r.kv.name, "kv_group_size": r.kv_group_size, "kv_bytes_per_element": r.b_kv,
                     "mla_mode": r.mla_mode if m.is_mla else None, "block_size": plan.block_size,
                     "max_len": r.max_len, "num_seqs": plan.num_seqs, "memory_bytes": plan.memory_bytes,
                     "defaults": [d for d in r.defaults if d.startswith("max_len")]},
        **{k: plan.terms[k].value for k in TOP_KEYS},
        "fit_ratio": plan.fit_ratio,
        "draw": asdict(plan.draw) if plan.draw else None,
        "length_stats": dict(stats),
        "lengths": plan.lengths.tolist() if listed else None,
        "groups": _groups(plan), "rows": rows}

    summary: list[tuple[str, Any, str]] = [
        ("model", _model_line(plan), "text"),
        ("KV element", _element_line(plan), "text"),
        ("KV cache per token", plan.kv_bytes_per_token, "bytes"),
        ("block", f"{plan.block_size} tokens = {human(plan.block_bytes, 'bytes')}", "text"),
        ("sequences", f"{plan.num_seqs:,} ({_source(plan)})", "text"),
        ("lengths", f"min {stats['min']:,}, mean {stats['mean']:,.1f}, median {stats['median']:,.0f}, "
                    f"max {stats['max']:,}", "text"),
        ("max length", r.max_len, "int"),
        ("blocks", plan.blocks, "int"),
    ]
    notes = []
    if plan.memory_bytes is not None:
        summary.append(("KV memory budget", plan.memory_bytes, "bytes"))
        paged_fit, contiguous_fit = plan.fits("paged"), plan.fits("contiguous")
        notes.append(f"{paged_fit:,} sequences of this mix fit paged, {contiguous_fit:,} contiguous"
                     + (f" ({plan.fit_ratio:.2f}x)" if plan.fit_ratio is not None else ""))
    if len(plan.groups) > 1:
        notes.append("layers with different windows keep separate blocks; token slots are averaged over layers")
    if m.is_hybrid:
        state = state_bytes(m, r.b_a)
        notes.append(f"the linear-attention layers keep {human(state, 'bytes')} of state per sequence outside the "
                     "blocks (any length), not in these figures")
    if not listed:
        notes.append(f"{plan.num_seqs:,} drawn lengths: the JSON gives their statistics, not the list")
    title = f"rooflint paged {m.name} ({r.kv.name}, block {plan.block_size})"
    return Report(SCHEMA, title, data, (Table("KV cache by allocation scheme", tuple(cols), tuple(rows)),),
                  tuple(summary), tuple(notes), lambda: paged_explanation(plan))


def _group_title(plan: PagedPlan, i: int) -> str:
    g, layers = plan.groups[i], plan.model.num_hidden_layers
    what = f"window {g.window}" if g.window else "full attention"
    return f"groups[{i}]: {g.layers} of {layers} layers, {what}"


def paged_explanation(plan: PagedPlan) -> tuple[Section, ...]:
    terms, r = plan.terms, plan.resolved
    budget = f", M = {human(plan.memory_bytes, 'bytes')} of KV memory" if plan.memory_bytes is not None else ""
    out = [Section("settings (as resolved)", lines=(
        f"b_kv: {_element_line(plan)}", *(d for d in r.defaults if d.startswith("max_len")),
        f"N = {plan.num_seqs:,} sequences ({_source(plan)}), B = {plan.block_size} tokens per block{budget}"))]
    out.append(Section("KV cache per token and per block", (terms["kv_cache_bytes_per_token"], terms["block_bytes"])))
    for i, g in enumerate(plan.groups):
        s = f"_{g.label}" if g.label else ""
        cap = f"min(len, {g.window})" if g.window else "len"
        out.append(Section(_group_title(plan, i), tuple(g.terms.values()),
                           (f"T{s} = sum over the N sequences of {cap}; K{s} = sum of ceil({cap}/B) "
                            "(summed over the lengths with numpy)",)))
    out.append(Section("blocks of all groups", (terms["blocks"],)))
    why = {"needed": "no waste: every slot holds a token",
           "paged": "waste: the empty slots of each sequence's last block, at most B-1 each",
           "contiguous": "waste: T_max reserved for each sequence less what it caches"}
    for j, scheme in enumerate(SCHEMES):
        prefix = f"rows[{j}]."
        out.append(Section(f"rows[{j}]: {scheme} ({_how(scheme, any(g.window for g in plan.groups))})",
                           tuple(t for k, t in terms.items() if k.startswith(prefix)),
                           (why[scheme] + "; waste % = waste / the scheme's bytes",)))
    if "fit_ratio" in terms:
        out.append(Section("paged vs contiguous", (terms["fit_ratio"],)))
    return tuple(out)
