"""The building blocks of a decoder layer as op forms: linear layers, norms, rotary embedding,
residual adds, MLPs, and the attention core (eager or fused) over one group of layers.

Symbols: T token rows in the pass (B*S_q), D hidden size, H_q / H_kv heads, d head dim,
F MLP width, b_wa / b_wm / b_ws / b_we / b_lm bytes per weight element of the attention, dense MLP,
shared-expert, routed-expert and lm_head classes (a checkpoint may store each differently),
b_h per unquantized weight, b_a per activation, b_kv per cached element. A linear layer's bias,
like a norm's weight, stays unquantized (b_h).
"""

from __future__ import annotations

from dataclasses import dataclass

from rooflint.analysis import flash
from rooflint.analysis.attention import eager_ops
from rooflint.analysis.expr import Expr, emin, floor, sym
from rooflint.analysis.forecast import gemm_tiling
from rooflint.analysis.ops import ELEMENTWISE, MATMUL, OpForm, op
from rooflint.dtypes import VECTOR_PEAK_KEY

# FLOPs per element of the elementwise kernels: named assumptions, shown by --explain.
NORM_FLOP_PER_ELEMENT = {"rmsnorm": 4, "layernorm": 7}  # square/sum/scale/weight (+mean, bias)
ACT_FLOP_PER_ELEMENT = {"gated": 5, "plain": 8}  # silu(g)*u ~ 4+1; gelu (tanh form) ~ 8
ROPE_FLOP_PER_ELEMENT = 3  # x*cos + rotate(x)*sin

T, D, H_q, H_kv, d, F, V, b_h, b_a, C, W = sym("T D H_q H_kv d F V b_h b_a C W")
# Bytes per weight element of each weight class (specs/quantization.WEIGHT_CLASSES), scales included.
CLASS_SYMBOLS = {"attention": "b_wa", "mlp": "b_wm", "shared_experts": "b_ws", "experts": "b_we", "lm_head": "b_lm"}
b_wa, b_wm, b_ws, b_we, b_lm = sym(" ".join(CLASS_SYMBOLS.values()))
WEIGHT_BYTE_SYMBOLS = (*CLASS_SYMBOLS.values(), "b_h")


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Kernels:
    """How the attention kernels run: the choices of a resolved workload that shape the ops."""

    phase: str  # prefill | decode
    attention: str  # eager | flash
    mm: str  # peak key the matmuls run at
    causal: bool
    tile: tuple[int, int] | None  # explicit flash tiles (B_r, B_c), else sized from the SRAM
    sram_bytes: float
    act_bytes: float
    peaks: tuple[tuple[str, str], ...] = ()  # weight class -> the peak its GEMMs run at

    def mm_of(self, weight_class: str) -> str:
        return dict(self.peaks).get(weight_class, self.mm)

    def tiles(self, head_dim: int) -> flash.Tiles:
        if self.tile:
            return flash.Tiles(*self.tile)
        return flash.tile_sizes(self.sram_bytes, head_dim, self.act_bytes)


def linear(name: str, count: int, mm: str, n_in: Expr, n_out: Expr, bias: bool, scope: str = "layer",
           w: Expr = b_wa, note: str = "") -> OpForm:
    """y = x W (+ b): the weight at w bytes per element (its class's), the bias 16-bit."""
    return op(name, scope, count, MATMUL, mm,
              flops=2 * T * n_in * n_out + (T * n_out if bias else 0),
              read=n_in * n_out * w + (n_out * b_h if bias else 0) + T * n_in * b_a,
              write=T * n_out * b_a, note=note, tiling=gemm_tiling(T, n_out, n_in))


def norm(name: str, count: int, kind: str, width: Expr = D, scope: str = "layer") -> OpForm:
    c = NORM_FLOP_PER_ELEMENT[kind]
    params = (2 if kind == "layernorm" else 1) * width * b_h
    return op(name, scope, count, ELEMENTWISE, VECTOR_PEAK_KEY, flops=c * T * width,
              read=T * width * b_a + params, write=T * width * b_a, note=f"{kind}: {c} FLOP per element")


def rope(count: int, width: Expr) -> OpForm:
    return op("rope", "layer", count, ELEMENTWISE, VECTOR_PEAK_KEY, flops=ROPE_FLOP_PER_ELEMENT * T * width,
              read=T * width * b_a, write=T * width * b_a, note="rotary embedding of q and k (cos/sin tables not counted)")


def residual(name: str, count: int) -> OpForm:
    return op(name, "layer", count, ELEMENTWISE, VECTOR_PEAK_KEY, flops=T * D, read=2 * T * D * b_a, write=T * D * b_a)


def mlp(kind: str, act_name: str, count: int, mm: str, width: Expr = F, bias: bool = False,
        prefix: str = "", w: Expr = b_wm, fused: bool = False) -> list[OpForm]:
    """A dense MLP; `fused`: gate and up as one gate_up_proj matmul (Phi-3), the input read once."""
    c = ACT_FLOP_PER_ELEMENT[kind]
    if kind == "gated":
        up = ([linear(f"{prefix}gate_up_proj", count, mm, D, 2 * width, bias, w=w)] if fused else
              [linear(f"{prefix}gate_proj", count, mm, D, width, bias, w=w),
               linear(f"{prefix}up_proj", count, mm, D, width, bias, w=w)])
        return [*up,
                op(f"{prefix}act_mul", "layer", count, ELEMENTWISE, VECTOR_PEAK_KEY, flops=c * T * width,
                   read=2 * T * width * b_a, write=T * width * b_a, note=f"{act_name}(gate) * up: {c} FLOP per element"),
                linear(f"{prefix}down_proj", count, mm, width, D, bias, w=w)]
    return [linear(f"{prefix}fc_in", count, mm, D, width, bias, w=w),
            op(f"{prefix}act", "layer", count, ELEMENTWISE, VECTOR_PEAK_KEY, flops=c * T * width,
               read=T * width * b_a, write=T * width * b_a, note=f"{act_name}: {c} FLOP per element"),
            linear(f"{prefix}fc_out", count, mm, width, D, bias, w=w)]


def core_attention(k: Kernels, count: int, window: int | None, groups: int, head_dim: int,
                   head_defs: tuple = (), shared_kv: bool = False, chunked: bool = False) -> list[OpForm]:
    """The attention of one group of layers. A decode step attends over S_kv = min(C, W) keys of
    a sliding-window layer, and over the C - W floor((C - 1) / W) keys of its own chunk in a
    chunked-local layer (Llama 4); a prefill attends over all C (eager computes them all, a fused
    kernel skips the tiles outside the window; a chunked layer is held to a window of its chunk
    size, which covers each query's chunk: an upper bound on its work)."""
    if k.phase == "decode":
        if window and chunked:
            s_kv = (("W", window), ("S_kv", C - W * floor((C - 1) / W)))
        else:
            s_kv = (("W", window), ("S_kv", emin(C, W))) if window else (("S_kv", C),)
        defs = (*head_defs, *s_kv)
        if k.attention == "flash":
            return flash.decode_ops(count, k.mm, defs, shared_kv)
        return eager_ops(count, k.mm, defs, shared_kv)
    if k.attention == "flash":
        return [flash.prefill_op(count, k.mm, k.tiles(head_dim), groups, window, k.causal, head_defs, shared_kv,
                                head_dim)]
    return eager_ops(count, k.mm, (*head_defs, ("S_kv", C)), shared_kv)
