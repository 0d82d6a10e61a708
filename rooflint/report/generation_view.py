"""Report of `rooflint generate`: a whole request with and without a KV cache."""

from __future__ import annotations

from typing import Any

from rooflint.analysis.generation import DECODE, RECOMPUTE, Coeffs, Generation, Piece, StepSum, poly_sum, power_sum
from rooflint.analysis.inference import PhaseResult
from rooflint.report.model import Column, Report, Table
from rooflint.report.render import human
from rooflint.report.views import hardware_dict, model_dict

SCHEMA = "rooflint.generate/1"

REQUEST_COLUMNS = (
    Column("mode", "mode"), Column("passes", "passes", "int"), Column("flops", "FLOPs", "flops"),
    Column("bytes_read", "read", "bytes"), Column("bytes_written", "written", "bytes"),
    Column("ttft_s", "time to first token", "seconds"), Column("time_s", "latency", "seconds"),
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


def _coeffs(c: Coeffs) -> list[float]:
    return [float(x) for x in c]


def _groups(s: StepSum) -> list[tuple[int, int, Piece | None, float, float]]:
    """(lo, hi, fitted piece or None, FLOPs, bytes): neighbouring lengths taken one by one grouped."""
    out: list[tuple[int, int, Piece | None, float, float]] = []
    for p in s.pieces:
        flops, nbytes = float(poly_sum(p.flops, p.lo, p.hi)), float(poly_sum(p.bytes, p.lo, p.hi))
        if not p.fitted and out and out[-1][2] is None and out[-1][1] == p.lo - 1:
            lo, _, _, f0, b0 = out[-1]
            out[-1] = (lo, p.hi, None, f0 + flops, b0 + nbytes)
        else:
            out.append((p.lo, p.hi, p if p.fitted else None, flops, nbytes))
    return out


def _pieces(s: StepSum, prompt: int) -> list[dict[str, Any]]:
    return [{"first_step": lo - prompt, "last_step": hi - prompt, "first_tokens": lo, "last_tokens": hi,
             "fitted": p is not None, "flops": flops, "bytes": nbytes,
             "flops_coefficients": _coeffs(p.flops) if p else None,
             "bytes_coefficients": _coeffs(p.bytes) if p else None}
            for lo, hi, p, flops, nbytes in _groups(s)]


def _step_dict(s: StepSum, prompt: int) -> dict[str, Any]:
    return {"steps": s.steps, "first_tokens": s.lo if s.steps else None, "last_tokens": s.hi if s.steps else None,
            "flops": s.flops, "bytes": s.bytes, "bytes_read": s.bytes_read, "bytes_written": s.bytes_written,
            "time_s": s.time_s, "pieces": _pieces(s, prompt)}


def _phase_numbers(p: PhaseResult) -> dict[str, Any]:
    return {"flops": p.flops, "bytes": p.bytes, "time_s": p.time_s}


def _op_rows(g: Generation) -> list[dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}

    def row(name: str, count: int) -> dict[str, Any]:
        return rows.setdefault(name, {
            "name": name, "count": count, "cached_flops": 0.0, "cached_bytes_read": 0.0,
            "cached_bytes_written": 0.0, "cached_time_s": 0.0, "prefill_bound": "", "decode_bound": "",
            "decode_compute_steps": 0, "uncached_flops": 0.0, "uncached_bytes_read": 0.0,
            "uncached_bytes_written": 0.0, "uncached_time_s": 0.0, "recompute_bound": "",
            "recompute_compute_steps": 0})

    for t in g.prefill.ops:
        r, n = row(t.op.name, t.op.count), t.op.count
        r["cached_flops"] += n * t.op.flops
        r["cached_bytes_read"] += n * t.op.bytes_read
        r["cached_bytes_written"] += n * t.op.bytes_written
        r["cached_time_s"] += n * t.time_s
        r["prefill_bound"] = t.bound
    for side, total in (("cached", g.decode), ("uncached", g.recompute)):
        for o in total.ops:
            r = row(o.name, o.count)
            r[f"{side}_flops"] += o.flops
            r[f"{side}_bytes_read"] += o.bytes_read
            r[f"{side}_bytes_written"] += o.bytes_written
            r[f"{side}_time_s"] += o.time_s
            r[f"{total.name}_bound"] = o.bound
            r[f"{total.name}_compute_steps"] = o.compute_steps
    for r in rows.values():
        r["time_ratio"] = _ratio(r["uncached_time_s"], r["cached_time_s"])
    return list(rows.values())


def _step_rows(g: Generation) -> list[dict[str, Any]]:
    rows = []
    for i, (cached, uncached) in sorted(g.steps.items()):
        rows.append({"step": i, "tokens": g.prompt + i, "cached_phase": cached.name,
                     "cached_flops": cached.flops, "cached_bytes": cached.bytes, "cached_time_s": cached.time_s,
                     "uncached_flops": uncached.flops, "uncached_bytes": uncached.bytes,
                     "uncached_time_s": uncached.time_s, "flops_ratio": _ratio(uncached.flops, cached.flops)})
    return rows


def generate_report(g: Generation) -> Report:
    m, hw, s, P, T, B = g.model, g.hardware, g.settings, g.prompt, g.new_tokens, g.batch
    time_ratio = _ratio(g.uncached_time_s, g.cached_time_s)
    request = (
        {"mode": "with KV cache", "passes": T, "flops": g.cached_flops,
         "bytes_read": g.cached_bytes_read, "bytes_written": g.cached_bytes_written, "bytes": g.cached_bytes,
         "ttft_s": g.ttft_s, "time_s": g.cached_time_s, "tokens_per_s": g.cached_tokens_per_s, "time_ratio": 1.0},
        {"mode": "without KV cache", "passes": T, "flops": g.uncached_flops,
         "bytes_read": g.recompute.bytes_read, "bytes_written": g.recompute.bytes_written,
         "bytes": g.uncached_bytes, "ttft_s": g.ttft_s, "time_s": g.uncached_time_s,
         "tokens_per_s": g.uncached_tokens_per_s, "time_ratio": time_ratio},
    )
    steps, ops = _step_rows(g), _op_rows(g)
    growth = {"cached": g.step_growth(DECODE), "uncached": g.step_growth(RECOMPUTE)}
    data = {
        "schema": SCHEMA,
        "model": {**model_dict(m), "params": g.end.param_count},
        "hardware": hardware_dict(hw, g.dtype.peak_key),
        "settings": {"batch": B, "prompt": P, "new_tokens": T, "dtype": g.dtype.name, "kv_dtype": g.kv_dtype.name},
        "with_cache": {**{k: v for k, v in request[0].items() if k not in ("mode", "time_ratio")},
                       "decode_time_s": g.decode.time_s, "prefill": _phase_numbers(g.prefill),
                       "decode": _step_dict(g.decode, P)},
        "without_cache": {**{k: v for k, v in request[1].items() if k not in ("mode", "time_ratio")},
                          "recompute": _step_dict(g.recompute, P)},
        "ratios": {"flops": _ratio(g.uncached_flops, g.cached_flops),
                   "bytes": _ratio(g.uncached_bytes, g.cached_bytes), "time": time_ratio},
        "per_step": steps,
        "step_flops_growth": growth,
        "memory": {"weights_bytes": g.end.weights_bytes, "kv_cache_bytes_per_token": g.end.kv_bytes_per_token,
                   "kv_cache_tokens_end": g.kv_context_end,
                   "kv_cache_bytes_per_sequence_end": g.end.kv_bytes_per_sequence,
                   "kv_cache_bytes_end": g.kv_bytes_end, "capacity_bytes": hw.capacity_bytes},
        "ops": ops,
        "notes": list(g.notes),
    }
    summary = (
        ("model", f"{m.name}: {g.end.param_count / 1e9:.2f} B params, L={m.num_hidden_layers} D={m.hidden_size} "
                  f"H_q={m.num_attention_heads} H_kv={m.num_key_value_heads} d={m.head_dim}"
                  + (f" window={m.sliding_window}" if m.sliding_window else ""), "text"),
        ("hardware", f"{hw.name}: {g.dtype.name} {hw.peak(g.dtype.peak_key) / 1e12:g} TFLOP/s, "
                     f"{hw.bandwidth_bytes_per_s / 1e9:g} GB/s, ridge {hw.ridge_point(g.dtype.peak_key):.1f} FLOP/B", "text"),
        ("request", f"batch {B}, prompt P={P}, T={T} new tokens, {g.dtype.name} (KV {g.kv_dtype.name}); "
                    "logits for the last position only", "text"),
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
              "the uncached pass recomputes them)", STEP_COLUMNS, tuple(steps)),
        Table("ops, summed over the request (bound: where it switches, the length it switches at)",
              OP_COLUMNS, tuple(ops)),
    )
    title = f"rooflint generate {m.name} on {hw.name}: prompt {P}, {T} new tokens, batch {B}"
    return Report(SCHEMA, title, data, tables, summary, g.notes, tuple(_explanation(g)))


def _num(x: Any) -> str:
    x = float(x)
    return f"{int(x):,}" if x.is_integer() and abs(x) < 2**63 else f"{x:.6g}"


def _poly(c: Coeffs, var: str) -> str:
    terms = [f"{_num(c[0])}"]
    if c[1]:
        terms.append(f"{_num(c[1])}·{var}")
    if c[2]:
        terms.append(f"{_num(c[2])}·{var}²")
    return " + ".join(terms)


def _sum_lines(s: StepSum, P: int, what: str, key: str, kind: str) -> list[str]:
    """Each piece's Σ_i p(P+i) in closed form, with its numbers."""
    lines = []
    for lo, hi, p, flops, nbytes in _groups(s):
        i0, i1 = lo - P, hi - P
        if p is None:
            value = flops if key == "flops" else nbytes
            lines.append(f"    Σ_{{i={i0}}}^{{{i1}}} {what}(P+i) = {human(value, kind)}   "
                         f"({i1 - i0 + 1:,} step{'s' if i1 > i0 else ''} taken one by one)")
            continue
        c = getattr(p, key)
        k, s1, s2 = power_sum(0, i0, i1), power_sum(1, i0, i1), power_sum(2, i0, i1)
        value = c[0] * k + c[1] * (k * P + s1) + c[2] * (k * P * P + 2 * P * s1 + s2)
        a, b, cc = c
        if cc:
            form, terms = "K·(a + b·P + c·P²) + (b + 2c·P)·Σi + c·Σi²", f"b={_num(b)}, c={_num(cc)}, "
        elif b:
            form, terms = "K·(a + b·P) + b·Σi", f"b={_num(b)}, "
        else:
            form, terms = "K·a", ""
        numbers = f"K={k:,}" + (f", Σi={s1:,}" if b or cc else "") + (f", Σi²={s2:,}" if cc else "")
        lines.append(f"    Σ_{{i={i0}}}^{{{i1}}} {what}(P+i) = {form} = {human(float(value), kind)}   "
                     f"[a={_num(a)}, {terms}{numbers}]")
    return lines


def _explanation(g: Generation) -> list[str]:
    P, T = g.prompt, g.new_tokens
    lines = [
        f"request: prompt P={P}, T={T} new tokens, batch B={g.batch}",
        "  Σ_{i=i0}^{i1} over a per-step cost a + b·n + c·n² at n = P + i, in closed form:",
        "  = K·(a + b·P + c·P²) + (b + 2c·P)·Σi + c·Σi²,  K = i1 − i0 + 1,",
        "    Σi = S1(i1) − S1(i0−1), S1(x) = x(x+1)/2;  Σi² = S2(i1) − S2(i0−1), S2(x) = x(x+1)(2x+1)/6",
        "  (coefficients fitted exactly from the op model at three lengths of each piece, checked at more;"
        " pieces split at a sliding window)",
        "",
        "with a KV cache: prefill over P tokens (its last position gives token 1), then decode steps"
        " i = 1..T−1, step i attending over C = P + i tokens",
        f"  prefill: FLOPs {human(g.prefill.flops, 'flops')}, bytes {human(g.prefill.bytes, 'bytes')}, "
        f"time (TTFT) {human(g.ttft_s, 'seconds')}",
    ]
    if g.decode.steps:
        for p in g.decode.pieces:
            if p.fitted:
                lines.append(f"  decode step at C = {p.lo}..{p.hi}: FLOPs(C) = {_poly(p.flops, 'C')};"
                             f" bytes(C) = {_poly(p.bytes, 'C')}")
        lines += _sum_lines(g.decode, P, "FLOPs", "flops", "flops")
        lines += _sum_lines(g.decode, P, "bytes", "bytes", "bytes")
    else:
        lines.append("  no decode step (T = 1)")
    lines += [f"  latency = TTFT + Σ decode time = {human(g.ttft_s, 'seconds')} + "
              f"{human(g.decode.time_s, 'seconds')} = {human(g.cached_time_s, 'seconds')}; "
              f"tokens/s = B·T / latency = {g.tokens:,} / {human(g.cached_time_s, 'seconds')} = "
              f"{human(g.cached_tokens_per_s, 'ratio')}",
              f"  KV cache at the end = KV per token × (P + T − 1) × B = {human(g.end.kv_bytes_per_token, 'bytes')}"
              f" per token, {g.kv_context_end:,} tokens (min(·, window) where a window applies), batch {g.batch}"
              f" = {human(g.kv_bytes_end, 'bytes')}",
              "",
              "without a KV cache (seed 001): token i (i = 0..T−1) recomputes a full pass over N = P + i tokens",
              ]
    for p in g.recompute.pieces:
        if p.fitted:
            lines.append(f"  pass over N = {p.lo}..{p.hi}: FLOPs(N) = {_poly(p.flops, 'N')};"
                         f" bytes(N) = {_poly(p.bytes, 'N')}")
    lines += _sum_lines(g.recompute, P, "FLOPs", "flops", "flops")
    lines += _sum_lines(g.recompute, P, "bytes", "bytes", "bytes")
    lines += [f"  latency = Σ pass time = {human(g.uncached_time_s, 'seconds')}; tokens/s = "
              f"{human(g.uncached_tokens_per_s, 'ratio')}",
              "",
              "time: Σ over ops of count × Σ over steps of max(FLOPs/peak, bytes/BW); each op's steps are cut"
              " where FLOPs·BW − bytes·peak changes sign and each run is summed as above"]
    for total in (g.decode, g.recompute):
        for o in total.ops:
            if len(o.runs) > 1:
                lines.append(f"  {total.name}.{o.name}: {o.bound} ({o.compute_steps:,} of "
                             f"{total.steps:,} steps compute-bound)")
    return lines
