"""Report of `rooflint generate`: a whole request with and without a KV cache."""

from __future__ import annotations

from typing import Any

from rooflint.analysis.generation import DECODE, RECOMPUTE, Generation, StepSum
from rooflint.analysis.stepped import ForecastSum
from rooflint.report.common import (
    hardware_dict,
    layers_line,
    model_dict,
    settings_dict,
    settings_section,
)
from rooflint.report.model import Column, Report, Section, Table

SCHEMA = "rooflint.generate/2"

REQUEST_COLUMNS = (
    Column("mode", "mode"), Column("passes", "passes", "int"), Column("flops", "FLOPs", "flops"),
    Column("bytes_read", "read", "bytes"), Column("bytes_written", "written", "bytes"),
    Column("ttft_s", "time to first token", "seconds"), Column("time_s", "latency", "seconds"),
    Column("time_forecast_s", "forecast", "seconds"),
    Column("tokens_per_s", "tokens/s", "ratio"), Column("time_ratio", "time ×", "ratio"),
)
STEP_COLUMNS = (
    Column("step", "step i", "int"), Column("tokens", "tokens P+i", "int"),
    Column("cached_flops", "cached FLOPs", "flops"), Column("cached_bytes", "cached bytes", "bytes"),
    Column("cached_time_s", "cached time", "seconds"),
    Column("uncached_flops", "uncached FLOPs", "flops"), Column("uncached_bytes", "uncached bytes", "bytes"),
    Column("uncached_time_s", "uncached time", "seconds"), Column("flops_ratio", "FLOPs ×", "ratio"),
)
OP_COLUMNS = (
    Column("name", "op"), Column("count", "×", "int"),
    Column("cached_flops", "cached FLOPs", "flops"), Column("cached_time_s", "cached time", "seconds"),
    Column("prefill_bound", "prefill"), Column("decode_bound", "decode steps"),
    Column("uncached_flops", "uncached FLOPs", "flops"), Column("uncached_time_s", "uncached time", "seconds"),
    Column("recompute_bound", "uncached passes"), Column("time_ratio", "time ×", "ratio"),
)


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def _sum_dict(s: StepSum, fc: ForecastSum) -> dict[str, Any]:
    return {"steps": s.steps, "first_tokens": s.lo if s.steps else None, "last_tokens": s.hi if s.steps else None,
            "flops": s.flops, "bytes": s.bytes, "bytes_read": s.bytes_read, "bytes_written": s.bytes_written,
            "time_s": s.time_s, "time_forecast_s": fc.total_s, "forecast_passes_evaluated": fc.evaluated,
            "ops": {o.name: {"count": o.count, "flops": o.flops, "bytes_read": o.bytes_read,
                             "bytes_written": o.bytes_written, "time_s": o.time_s,
                             "time_forecast_s": fc.ops.get(o.name, 0.0), "compute_steps": o.compute_steps,
                             "bound": o.bound, "runs": [list(r) for r in o.runs]} for o in s.ops}}


def _op_rows(g: Generation) -> list[dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}

    def row(name: str, count: int) -> dict[str, Any]:
        return rows.setdefault(name, {"name": name, "count": count, "cached_flops": 0.0, "cached_time_s": 0.0,
                                      "cached_time_forecast_s": 0.0, "prefill_bound": "", "decode_bound": "",
                                      "uncached_flops": 0.0, "uncached_time_s": 0.0, "uncached_time_forecast_s": 0.0,
                                      "recompute_bound": ""})

    for t in g.prefill.ops:
        r = row(t.op.name, t.op.count)
        r["cached_flops"] += t.op.count * t.op.flops
        r["cached_time_s"] += t.op.count * t.time_s
        r["cached_time_forecast_s"] += t.op.count * t.forecast_s
        r["prefill_bound"] = t.bound
    for side, total, fc in (("cached", g.decode, g.decode_forecast), ("uncached", g.recompute, g.recompute_forecast)):
        for o in total.ops:
            r = row(o.name, o.count)
            r[f"{side}_flops"] += o.flops
            r[f"{side}_time_s"] += o.time_s
            r[f"{side}_time_forecast_s"] += fc.ops.get(o.name, 0.0)
            r[f"{total.name}_bound"] = o.bound
    for r in rows.values():
        r["time_ratio"] = _ratio(r["uncached_time_s"], r["cached_time_s"])
    return list(rows.values())


def _step_rows(g: Generation) -> list[dict[str, Any]]:
    step = g.resolved.engine.step_overhead_s
    return [{"step": i, "tokens": g.prompt + i, "cached_flops": c.flops, "cached_bytes": c.bytes,
             "cached_time_s": c.time_s, "cached_time_forecast_s": c.kernels_forecast_s + step,
             "uncached_flops": u.flops, "uncached_bytes": u.bytes, "uncached_time_s": u.time_s,
             "uncached_time_forecast_s": u.kernels_forecast_s + step, "flops_ratio": _ratio(u.flops, c.flops)}
            for i, (c, u) in sorted(g.steps.items())]


def generate_report(g: Generation) -> Report:
    m, hw, r, terms = g.model, g.hardware, g.resolved, g.terms
    P, T, B = g.prompt, g.new_tokens, g.batch
    value = lambda key: terms[key].value  # noqa: E731
    time_ratio = _ratio(g.uncached_time_s, g.cached_time_s)
    request = (
        {"mode": "with KV cache", "passes": T, "flops": value("with_cache.flops"),
         "bytes_read": g.cached_bytes_read, "bytes_written": g.cached_bytes_written,
         "ttft_s": g.ttft_s, "ttft_forecast_s": g.ttft_forecast_s, "time_s": value("with_cache.time_s"),
         "time_forecast_s": value("with_cache.time_forecast_s"), "tokens_per_s": value("with_cache.tokens_per_s"),
         "time_ratio": 1.0},
        {"mode": "without KV cache", "passes": T, "flops": value("without_cache.flops"),
         "bytes_read": g.recompute.bytes_read, "bytes_written": g.recompute.bytes_written, "ttft_s": g.ttft_s,
         "ttft_forecast_s": g.ttft_forecast_s, "time_s": value("without_cache.time_s"),
         "time_forecast_s": value("without_cache.time_forecast_s"),
         "tokens_per_s": value("without_cache.tokens_per_s"), "time_ratio": time_ratio},
    )
    growth = {"cached": g.step_growth(DECODE), "uncached": g.step_growth(RECOMPUTE)}
    data = {
        "schema": SCHEMA, "model": {**model_dict(m), "params": g.end.param_count},
        "hardware": hardware_dict(hw, r.act.peak_key),
        "settings": {**settings_dict(r), "new_tokens": T},
        "with_cache": {"flops": value("with_cache.flops"), "bytes": value("with_cache.bytes"),
                       "bytes_read": g.cached_bytes_read, "bytes_written": g.cached_bytes_written,
                       "ttft_s": g.ttft_s, "ttft_forecast_s": g.ttft_forecast_s, "time_s": value("with_cache.time_s"),
                       "time_forecast_s": value("with_cache.time_forecast_s"),
                       "tokens_per_s": value("with_cache.tokens_per_s"), "decode_time_s": g.decode.time_s,
                       "decode_time_forecast_s": g.decode_forecast.total_s,
                       "prefill": {"flops": g.prefill.flops, "bytes": g.prefill.bytes, "time_s": g.prefill.time_s,
                                   "time_forecast_s": g.ttft_forecast_s},
                       "decode": _sum_dict(g.decode, g.decode_forecast)},
        "without_cache": {"flops": value("without_cache.flops"), "bytes": value("without_cache.bytes"),
                          "time_s": value("without_cache.time_s"),
                          "time_forecast_s": value("without_cache.time_forecast_s"),
                          "tokens_per_s": value("without_cache.tokens_per_s"),
                          "recompute": _sum_dict(g.recompute, g.recompute_forecast)},
        "ratios": {"flops": _ratio(g.uncached_flops, g.cached_flops), "bytes": _ratio(g.uncached_bytes, g.cached_bytes),
                   "time": time_ratio},
        "per_step": _step_rows(g),
        "step_flops_growth": growth,
        "memory": {"weights_bytes": g.end.weights_bytes, "kv_cache_bytes_per_token": g.end.kv_bytes_per_token,
                   "kv_cache_tokens_end": g.kv_context_end,
                   "kv_cache_bytes_per_sequence_end": g.end.kv_bytes_per_sequence,
                   "kv_cache_bytes_end": g.kv_bytes_end, "capacity_bytes": hw.capacity_bytes},
        "ops": _op_rows(g),
        "notes": list(g.notes),
    }
    summary = (
        ("model", f"{m.name}: {g.end.param_count / 1e9:.2f} B params, {layers_line(m)} D={m.hidden_size} "
                  f"H_q={m.num_attention_heads} H_kv={m.num_key_value_heads} d={m.head_dim}"
                  + (f" window={m.sliding_window}" if m.sliding_window else ""), "text"),
        ("hardware", f"{hw.name}: {r.act.name} {hw.peak(r.act.peak_key) / 1e12:g} TFLOP/s, "
                     f"{hw.bandwidth_bytes_per_s / 1e9:g} GB/s, ridge {hw.ridge_point(r.act.peak_key):.1f} FLOP/B", "text"),
        ("request", f"batch {B}, prompt P={P}, T={T} new tokens, {r.attention} attention, {r.act.name} "
                    f"(KV {r.kv.name}); logits for the last position only", "text"),
        ("time to first token (prefill)", g.ttft_s, "seconds"),
        ("with KV cache: latency (TTFT + Σ decode)", g.cached_time_s, "seconds"),
        ("with KV cache: tokens/s (B·T / latency)", g.cached_tokens_per_s, "ratio"),
        ("without KV cache: latency (Σ full passes)", g.uncached_time_s, "seconds"),
        ("without KV cache: tokens/s", g.uncached_tokens_per_s, "ratio"),
        ("without / with: time", time_ratio, "ratio"),
        ("without / with: FLOPs", data["ratios"]["flops"], "ratio"),
        ("step FLOPs i=T−1 / i=1, with cache (linear in P+i)", growth["cached"], "ratio"),
        ("step FLOPs i=T−1 / i=1, without (quadratic in P+i)", growth["uncached"], "ratio"),
        (f"KV cache at the end ({g.kv_context_end} tokens × batch {B})", g.kv_bytes_end, "bytes"),
    )
    tables = (
        Table("request (whole generation)", REQUEST_COLUMNS, request),
        Table("per step (i = 0 is the prefill; the cached step i attends over P+i tokens, "
              "the uncached pass recomputes them)", STEP_COLUMNS, tuple(data["per_step"])),
        Table("ops, summed over the request (bound: where it switches, the length it switches at)",
              OP_COLUMNS, tuple(data["ops"])),
    )
    title = f"rooflint generate {m.name} on {hw.name}: prompt {P}, {T} new tokens, batch {B}"
    return Report(SCHEMA, title, data, tables, summary, g.notes, lambda: _explanation(g))


def _explanation(g: Generation) -> tuple[Section, ...]:
    terms = g.terms
    lines = ("each op's FLOPs, bytes and time over the steps are sum_over(n, first, last, its expression), "
             "summed in closed form: the expression is a piecewise quasi-polynomial in n (exact)",)
    lines += (f"forecasts: each pass analysed ({g.decode_forecast.evaluated} of {g.decode_forecast.passes} decode "
              f"steps, {g.recompute_forecast.evaluated} of {g.recompute_forecast.passes} full passes; beyond 64, "
              "evenly spaced ones scaled to the count)",)
    request = Section("request", tuple(terms[k] for k in ("with_cache.flops", "with_cache.bytes", "with_cache.time_s",
                                                          "with_cache.time_forecast_s", "with_cache.tokens_per_s",
                                                          "without_cache.flops", "without_cache.bytes",
                                                          "without_cache.time_s", "without_cache.time_forecast_s",
                                                          "without_cache.tokens_per_s")), lines)
    out = [settings_section(g.resolved), request]
    for s, what in ((g.decode, "with a KV cache: decode step i = 1..T-1 attends over C = P + i"),
                    (g.recompute, "without: pass i = 0..T-1 over N = P + i tokens")):
        for o in s.ops:
            out.append(Section(f"{what}: {o.name} (x{o.count}; {o.bound})", o.terms))
    return tuple(out)
