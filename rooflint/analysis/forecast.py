"""The forecast: what a good engine's kernel takes, beside the roofline bound.

The bound divides an op's FLOPs and bytes by the datasheet peaks. The forecast divides them by
what kernels reach (hardware.achievable, fitted on published measurements by
bench/fit_forecast.py), and adds the structure the bound leaves out, each a small term:

    t = present * max(t_launch, t_floor + max(F / (P f_peak eta), bytes / (BW f_bw), waves t_wave))

- t_floor: the least time a kernel takes on the GPU (achievable.kernel_floor_s; attention kernels,
  which set up paged-KV lookups and splits, achievable.attention_floor_s); t_launch: the
  host's time to launch one kernel when the engine runs eagerly (0 under CUDA graphs), which the
  GPU waits for when its kernel is shorter.
- f_peak: the share of the dtype's peak a large GEMM reaches (fp8 reaches less of its spec than
  bf16), times the engine's kernel quality; FlashAttention's prefill uses its own share by head_dim.
- eta: wave quantization. A GEMM is cut into 128 x 128 output tiles (FlashAttention into 128-query
  tiles per head); the SMs run them in waves, and a last partial wave leaves SMs idle:
  eta = u / (ceil(u / sm) sm) for u tiles. When there are fewer tiles than SMs, libraries split K
  (split-K, stream-K) in chunks of at least SPLIT_K_MIN to fill them.
- waves t_wave: a FlashAttention kernel's blocks each load a Q tile and their K/V tiles, run the
  softmax and write O, a pipeline that short sequences never fill: each wave of blocks
  (ceil(u / sm)) takes at least t_wave = achievable.attention_wave_s x head_dim / 128, however few
  FLOPs it holds (many short prompts in a batch: aiconfigurator's context rows at 32-512 tokens run
  2-8x their FLOP and byte times).
- f_bw: the share of the bandwidth a streaming kernel reaches; decode attention reads a paged KV
  cache at its own share; a weight-only quantized GEMV (int4 weights, bf16 activations)
  dequantizes on the fly at the engine's dequant efficiency for that format.
- An engine that fuses elementwise ops (norms, activations, residuals, RoPE) into their neighbours
  runs them without a kernel of their own: their bytes remain, their floor and launch go.

A pass's forecast is the sum over its ops plus the engine's per-step overhead (totals); the bound
has neither.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from rooflint.analysis.expr import Const, Expr, ceil, emax, emin, floor, sym, wrap
from rooflint.analysis.ops import ELEMENTWISE, MATMUL, Op
from rooflint.analysis.roofline import Timed, hardware_terms, place
from rooflint.analysis.terms import Term
from rooflint.dtypes import DTYPES
from rooflint.specs import Hardware
from rooflint.specs.achievable import Achievable
from rooflint.specs.engine import Engine

GEMM_TILE = (128, 128)  # output tile of the CUTLASS / cuBLAS kernels engines pick for large GEMMs
ATTENTION_TILE = 128  # query rows per FlashAttention-2/3 thread block
SPLIT_K_MIN = 256  # the shortest K slice a split-K GEMM gives one SM

_F, _RD, _WR, _ON, _P, _BW, _H = sym("flops bytes_read bytes_written present peak BW F_half")
_FP, _FB, _ETA, _T0, _TL, _NW, _TW = sym("f_peak f_bw eta t_floor t_launch waves t_wave")
_ROOFS = emax((_F + _H) / (_P * _FP * _ETA), (_RD + _WR) / (_BW * _FB))
FORECAST: Expr = _ON * emax(_TL, _T0 + emax(_ROOFS, _NW * _TW))
"""present * max(t_launch, t_floor + max((flops + F_half) / (peak f_peak eta), bytes / (BW f_bw), waves t_wave));
F_half is a calibrated profile's ramp-up work of a matmul (0 on a datasheet profile), as the bound has it."""

UNWAVED: Expr = _ON * emax(_TL, _T0 + _ROOFS)
"""FORECAST of an op without a wave term (t_wave = 0: every kernel but FlashAttention's prefill)."""

_U, _SM = sym("u sm")
WAVE: Expr = _U / (ceil(_U / _SM) * _SM)
"""eta = u / (ceil(u / sm) sm): the busy share of the SMs over the waves of u tiles."""


@dataclass(frozen=True, slots=True)
class Tiling:
    """How a kernel is cut into thread blocks: `tiles` output tiles, `depth` the reduction length a
    split-K may cut (None: not split), head_dim for attention kernels."""

    tiles: Expr
    depth: Expr | None = None
    head_dim: int | None = None


def gemm_tiling(rows, cols, depth, groups=1) -> Tiling:
    """groups x [rows, depth] x [depth, cols] in 128 x 128 output tiles."""
    return Tiling(wrap(groups) * ceil(wrap(rows) / GEMM_TILE[0]) * ceil(wrap(cols) / GEMM_TILE[1]), wrap(depth))


def attention_tiling(queries, heads, head_dim: int) -> Tiling:
    """FlashAttention's grid: a thread block per 128 queries of each (sequence, head)."""
    return Tiling(wrap(heads) * ceil(wrap(queries) / ATTENTION_TILE), None, head_dim)


def units(t: Tiling, sm: Expr) -> Expr:
    """Thread blocks launched: the tiles, times the split-K factor that fills the SMs."""
    if t.depth is None:
        return t.tiles
    split = emin(emax(floor(sm / t.tiles), 1), emax(ceil(t.depth / SPLIT_K_MIN), 1))
    return t.tiles * split


@dataclass(frozen=True, slots=True)
class Parameters:
    """The forecast's parameters for one op: each a product of named parameters (`factors`), so
    that a fit can vary the named ones and a reader can see where each came from."""

    f_peak: float
    f_bw: float
    t_floor: float
    t_launch: float
    t_wave: float  # the named parameters' sum x wave_scale
    wave_scale: float  # head_dim / 128 for FlashAttention (its blocks' tiles grow with it), else 0
    factors: tuple[tuple[str, tuple[str, ...]], ...]  # f_peak -> ("hw.peak_fraction.bf16", "engine.gemm_efficiency")
    sources: tuple[tuple[str, str], ...]


def factor_names(form, hw: Hardware, engine: Engine) -> dict[str, tuple[str, ...]]:
    """f_peak, f_bw, t_floor and t_launch of an op form as the named parameters they multiply:
    `hw.<achievable field>[.key]` and `engine.<field>[.key]` (a time with none is 0)."""
    a: Achievable = hw.achievable
    if form.name.startswith("flash_attention"):
        head_dim = form.tiling.head_dim if form.tiling is not None else 128
        f_peak = (f"hw.attention_fraction.{a.attention_key(head_dim)}", "engine.attention_efficiency")
    else:
        f_peak = (f"hw.peak_fraction.{a.peak_key(form.peak_key)}",) + (("engine.gemm_efficiency",) if form.kind == MATMUL else ())
    if form.name.startswith("flash_decode"):
        f_bw: tuple[str, ...] = ("hw.decode_bandwidth_fraction", "engine.decode_attention_efficiency")
    else:
        f_bw = ("hw.bandwidth_fraction",)
    fmt = form.weight.split("+")[0] if form.weight else ""
    if fmt in DTYPES and DTYPES[fmt].peak_key != form.peak_key and fmt in engine.dequant_efficiency:
        f_bw += (f"engine.dequant_efficiency.{fmt}",)  # weight-only: the GEMV dequantizes as it streams
    fused = engine.fuses_elementwise and form.kind == ELEMENTWISE
    attention = form.name.startswith(("flash_attention", "flash_decode"))
    floor = "hw.attention_floor_s" if attention else "hw.kernel_floor_s"
    return {"f_peak": f_peak, "f_bw": f_bw, "t_floor": () if fused else (floor,),
            "t_launch": () if fused or engine.graphs else ("engine.launch_s",),
            "t_wave": ("hw.attention_wave_s",) if form.name.startswith("flash_attention") else ()}


def wave_scale(form) -> float:
    """What one wave's least time scales by: head_dim / 128 for FlashAttention's prefill, else 0."""
    if not form.name.startswith("flash_attention"):
        return 0.0
    return (form.tiling.head_dim if form.tiling is not None and form.tiling.head_dim else 128) / 128


def parameter_value(name: str, hw: Hardware, engine: Engine) -> float:
    """A named parameter's value: hw.* from hw.achievable, engine.* from the engine preset."""
    owner, field, *key = name.split(".", 2)
    source = hw.achievable if owner == "hw" else engine
    value = getattr(source, field)
    if key:
        return value[int(key[0])] if field == "attention_fraction" else value[key[0]]
    return value


def parameters(form, hw: Hardware, engine: Engine) -> Parameters:
    """f_peak, f_bw, t_floor and t_launch for an op form (kind, name, peak key, weight format)."""
    names = factor_names(form, hw, engine)
    src = dict(hw.achievable.source)
    values, sources = {}, []
    for part, factors in names.items():
        if part.startswith("f_"):  # a share of a datasheet figure: never above it (the bound stays a bound)
            values[part] = min(1.0, math.prod(parameter_value(n, hw, engine) for n in factors))
        else:
            values[part] = sum(parameter_value(n, hw, engine) for n in factors)
        told = [f"{n} = {parameter_value(n, hw, engine):.4g}" + (
            f" ({src.get(n.split('.')[1], '')})" if n.startswith("hw.") else f" ({engine.name})") for n in factors]
        fused = not names["t_floor"]  # a fused op has neither a floor nor a launch of its own
        if part == "t_wave":
            if told:
                sources.append((part, f"{told[0]} x head_dim / 128 = {wave_scale(form):g}"))
            continue
        sources.append((part, " x ".join(told) if told else "none: fused" if fused else "none: CUDA graphs"))
    scale = wave_scale(form)
    return Parameters(values["f_peak"], values["f_bw"], values["t_floor"], values["t_launch"],
                      values["t_wave"] * scale, scale, tuple(names.items()), tuple(sources))


def _roofs(form, hw: Hardware, p: Parameters) -> dict[str, float]:
    """FORECAST's numbers other than the op's own (FLOPs, bytes, present) and eta."""
    peak, bw, _, half = hardware_terms(hw, form.peak_key, form.kind)
    return {"peak": peak, "BW": bw, "F_half": half, "f_peak": p.f_peak, "f_bw": p.f_bw, "t_floor": p.t_floor,
            "t_launch": p.t_launch, "t_wave": p.t_wave}


def _eta(form, hw: Hardware) -> Expr:
    if form.tiling is None or not hw.sm_count:
        return Const(1)
    return WAVE.substitute({"u": units(form.tiling, Const(hw.sm_count)), "sm": Const(hw.sm_count)})


def _waves(form, hw: Hardware) -> Expr:
    """ceil(u / sm): the waves the kernel's thread blocks run in (0 untiled)."""
    if form.tiling is None or not hw.sm_count:
        return Const(0)
    return ceil(units(form.tiling, Const(hw.sm_count)) / hw.sm_count)


def forecast_expr(form, flops, read, written, present, hw: Hardware, engine: Engine) -> Expr:
    """FORECAST for one op, its parts and parameters bound (the tiles stay in the op's symbols)."""
    p = parameters(form, hw, engine)
    roofs = {k: Const(v) for k, v in _roofs(form, hw, p).items()}
    return (FORECAST if p.t_wave else UNWAVED).substitute({**roofs, "flops": wrap(flops), "bytes_read": wrap(read), "bytes_written": wrap(written),
                                "present": wrap(present), "eta": _eta(form, hw), "waves": _waves(form, hw)})


def place_forecast(op: Op, hw: Hardware, engine: Engine) -> Timed:
    """The op on hw's roofline, with its forecast."""
    e = forecast_expr(op.form, op.flops, op.bytes_read, op.bytes_written, op.present, hw, engine)
    return replace(place(op, hw), forecast_s=float(e.evaluate(dict(op.symbols))))


def forecast_parts(o, hw: Hardware, engine: Engine) -> dict[str, float]:
    """The forecast's parameters for one evaluated op, and its wave efficiency."""
    p = parameters(o.form, hw, engine)
    env = dict(o.symbols)
    eta = float(_eta(o.form, hw).evaluate(env))
    waves = float(_waves(o.form, hw).evaluate(env))
    return {"f_peak": p.f_peak, "f_bw": p.f_bw, "wave_efficiency": eta, "waves": waves, "wave_scale": p.wave_scale,
            "t_wave_s": p.t_wave, "t_floor_s": p.t_floor,
            "t_launch_s": p.t_launch, "F_half": _roofs(o.form, hw, p)["F_half"],
            "factors": {k: list(v) for k, v in p.factors}}


def forecast_terms(o, hw: Hardware, engine: Engine, prefix: str) -> list[Term]:
    """The op's forecast as terms: the wave efficiency (when tiled) and the time, each parameter's
    source in the notes."""
    p = parameters(o.form, hw, engine)
    env = dict(o.symbols)
    out = []
    eta = float(_eta(o.form, hw).evaluate(env))
    if o.form.tiling is not None and hw.sm_count:
        tiles = float(o.form.tiling.tiles.evaluate(env))
        u = float(units(o.form.tiling, Const(hw.sm_count)).evaluate(env))
        what = (f"{tiles:g} tiles of {GEMM_TILE[0]}x{GEMM_TILE[1]}" if o.form.tiling.head_dim is None
                else f"{tiles:g} blocks of {ATTENTION_TILE} queries")
        split = f", split-K x{u / tiles:g}" if u != tiles else ""
        out.append(Term(f"{prefix}.forecast.wave_efficiency", WAVE, {"u": u, "sm": hw.sm_count}, eta, "ratio",
                        what + split))
    values = {"flops": o.flops, "bytes_read": o.bytes_read, "bytes_written": o.bytes_written, "present": o.present,
              "eta": eta, "waves": float(_waves(o.form, hw).evaluate(env)), **_roofs(o.form, hw, p)}
    expr = FORECAST if values["t_wave"] else UNWAVED
    expr = expr if values["F_half"] else expr.substitute({"F_half": Const(0)})  # a datasheet's: folded
    value = float(expr.evaluate(values))
    out.append(Term(f"{prefix}.time_forecast_s", expr, {k: values[k] for k in expr.symbols()}, value, "seconds"))
    return out


def forecast_lines(o, hw: Hardware, engine: Engine) -> tuple[str, ...]:
    """Where each of the forecast's parameters came from, one line each."""
    return tuple(f"forecast {part}: {text}" for part, text in parameters(o.form, hw, engine).sources)
