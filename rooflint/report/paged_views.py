"""Report of `rooflint paged`: KV memory needed vs paged (vLLM blocks) vs contiguous preallocation."""

from __future__ import annotations

import statistics
from dataclasses import asdict
from typing import Any

from rooflint.analysis.paged import SCHEMES, LengthDraw, PagedPlan
from rooflint.dtypes import DType
from rooflint.report.explain import formula_line
from rooflint.report.model import Column, Report, Table
from rooflint.report.render import human
from rooflint.report.views import model_dict
from rooflint.specs import Model



def _how(scheme: str, windowed: bool) -> str:
    cached = "min(len, W)" if windowed else "len"
    return {"needed": f"{cached} each",
            "paged": f"whole blocks: ceil({cached}/B)*B each",
            "contiguous": f"{'min(max_len, W)' if windowed else 'max_len'} reserved each"}[scheme]


def paged_report(m: Model, plan: PagedPlan, kv: DType, draw: LengthDraw | None = None) -> Report:
    lengths = plan.lengths
    rows: list[dict[str, Any]] = []
    for scheme in SCHEMES:
        tokens = plan.tokens_of(scheme)
        rows.append({"scheme": scheme, "allocation": _how(scheme, any(g.window for g in plan.groups)),
                     "tokens": int(tokens) if float(tokens).is_integer() else tokens,
                     "bytes": plan.bytes_of(scheme), "waste_bytes": plan.waste_bytes(scheme),
                     "waste_share": plan.waste_share(scheme), "fits": plan.fits(scheme)})
    cols = [Column("scheme", "scheme"), Column("allocation", "allocation"),
            Column("tokens", "token slots", "int"), Column("bytes", "KV bytes", "bytes"),
            Column("waste_bytes", "waste", "bytes"), Column("waste_share", "waste %", "percent")]
    if plan.memory_bytes is not None:
        cols.append(Column("fits", f"seqs in {human(plan.memory_bytes, 'bytes')}", "int"))

    stats = {"min": min(lengths), "mean": statistics.fmean(lengths), "median": statistics.median(lengths),
             "max": max(lengths), "sum": sum(lengths)}
    data: dict[str, Any] = {
        "schema": "rooflint.paged/1", "model": model_dict(m), "kv_dtype": kv.name,
        "kv_bytes_per_element": kv.bytes, "kv_cache_bytes_per_token": plan.kv_bytes_per_token,
        "block_size": plan.block_size, "block_bytes": plan.block_bytes, "max_len": plan.max_len,
        "num_seqs": plan.num_seqs, "blocks": plan.blocks, "memory_bytes": plan.memory_bytes,
        "draw": asdict(draw) if draw else None, "length_stats": stats, "lengths": list(lengths),
        "groups": [asdict(g) for g in plan.groups], "rows": rows}

    window = f" window={m.sliding_window}" if m.sliding_window else ""
    source = (f"{draw.dist}, mean {draw.mean:g}" + (f", std {draw.std:g}" if draw.std is not None else "")
              + f", seed {draw.seed}" if draw else "given")
    summary: list[tuple[str, Any, str]] = [
        ("model", f"{m.name}: L={m.num_hidden_layers} H_kv={m.num_key_value_heads} d={m.head_dim}{window}", "text"),
        ("KV cache per token", plan.kv_bytes_per_token, "bytes"),
        ("block", f"{plan.block_size} tokens = {human(plan.block_bytes, 'bytes')}", "text"),
        ("sequences", f"{plan.num_seqs:,} ({source})", "text"),
        ("lengths", f"min {stats['min']:,}, mean {stats['mean']:,.1f}, median {stats['median']:,.0f}, "
                    f"max {stats['max']:,}", "text"),
        ("max length", plan.max_len, "int"),
        ("blocks", plan.blocks, "int"),
    ]
    notes = []
    if plan.memory_bytes is not None:
        summary.append(("KV memory budget", plan.memory_bytes, "bytes"))
        paged_fit, contiguous_fit = plan.fits("paged"), plan.fits("contiguous")
        if contiguous_fit:
            notes.append(f"{paged_fit:,} sequences of this mix fit paged, {contiguous_fit:,} contiguous "
                         f"({paged_fit / contiguous_fit:.2f}x)")
    if len(plan.groups) > 1:
        notes.append("layers with different windows keep separate blocks; token slots are averaged over layers")
    return Report("rooflint.paged/1", f"rooflint paged {m.name} ({kv.name}, block {plan.block_size})", data,
                  (Table("KV cache by allocation scheme", tuple(cols), tuple(rows)),), tuple(summary),
                  tuple(notes), tuple(_explanation(m, plan, kv)))


def _explanation(m: Model, plan: PagedPlan, kv: DType) -> list[str]:
    if m.is_mla:
        per_token = ("kv_cache_bytes_per_token", "L*(r_kv+d_rope)*b_kv",
                     {"L": m.num_hidden_layers, "r_kv": m.kv_lora_rank, "d_rope": m.qk_rope_head_dim, "b_kv": kv.bytes})
    else:
        per_token = ("kv_cache_bytes_per_token", "2*L*H_kv*d*b_kv",
                     {"L": m.num_hidden_layers, "H_kv": m.num_key_value_heads, "d": m.head_dim, "b_kv": kv.bytes})
    lines = [formula_line(*per_token, "bytes")]
    for g in plan.groups:
        cap = f"min(len, {g.window})" if g.window else "len"
        indent = "  "
        if len(plan.groups) > 1:
            lines.append(f"  layers with {'window ' + str(g.window) if g.window else 'full attention'} "
                         f"({g.layers} of {plan.num_layers}): P = per token * {g.layers}/{plan.num_layers}")
            indent = "    "
        sym = {"N": plan.num_seqs, "B": plan.block_size, "P": g.bytes_per_token, "T": g.needed_tokens,
               "blocks": g.blocks, "T_max": g.contiguous_tokens // plan.num_seqs}
        lines += [
            f"{indent}T = sum of {cap} over the N sequences = {g.needed_tokens:,};"
            f" blocks = sum of ceil({cap} / B) = {g.blocks:,}"
            + (f"; T_max = min(max_len, {g.window})" if g.window else "; T_max = max_len"),
            formula_line("needed_bytes", "T*P", sym, "bytes", indent),
            formula_line("paged_bytes", "blocks*B*P", sym, "bytes", indent),
            formula_line("contiguous_bytes", "N*T_max*P", sym, "bytes", indent),
            formula_line("paged_waste", "(blocks*B-T)*P", sym, "bytes", indent),
            formula_line("paged_waste_bound", "N*(B-1)*P", sym, "bytes", indent),
            formula_line("contiguous_waste", "(N*T_max-T)*P", sym, "bytes", indent),
        ]
    lines += ["  paged waste: the empty slots of each sequence's last block, at most B-1 each",
              "  contiguous waste: sum over sequences of (T_max - cached tokens); waste % = waste / the scheme's bytes"]
    if plan.memory_bytes is not None:
        for scheme in SCHEMES:
            lines.append(f"  fits.{scheme} = floor(M*N / {scheme}_bytes) = floor({_num(plan.memory_bytes)} * "
                         f"{plan.num_seqs} / {_num(plan.bytes_of(scheme))}) = {plan.fits(scheme):,}")
    return lines


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"
