"""KV cache sizes as figures: per token, per sequence at a context, for the batch.

Per layer and token the cache holds e elements: 2 (K and V) * H_kv * d; for MLA the latent
r_kv + d_r (no factor 2) when the latent is what is cached ("absorbed"), or H_q * (d_n + d_r +
d_vh) when the decompressed K and V are ("naive", as the Hugging Face implementation caches
them). A sliding window caps a layer's cached tokens at min(C, W); layers with the same window
form a group of L_g layers. b_kv is the bytes per element, quantization scales included.
"""

from __future__ import annotations

from dataclasses import dataclass

from rooflint.analysis import linear_attention
from rooflint.analysis.expr import Expr, add, emin, sym
from rooflint.analysis.terms import Figure, evaluate_figures, figure
from rooflint.specs import Model

L, H_kv, H_q, d, b_kv, B, C = sym("L H_kv H_q d b_kv B C")
r_kv, d_r, d_n, d_vh = sym("r_kv d_r d_n d_vh")
ABSORBED, NAIVE = "absorbed", "naive"


def elements_per_token_per_layer(m: Model, mla_mode: str = ABSORBED) -> Expr:
    if m.is_mla:
        return H_q * (d_n + d_r + d_vh) if mla_mode == NAIVE else r_kv + d_r
    return 2 * H_kv * d


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class WindowGroup:
    label: str  # "" when every layer caches alike, else "full" / "sliding"
    layers: int
    window: int | None


def window_groups(m: Model) -> tuple[WindowGroup, ...]:
    """Layers that cache K and V, grouped by window (linear-attention layers keep a state instead)."""
    counts: dict[int | None, int] = {}
    for i in range(m.num_hidden_layers):
        if m.layer_kind(i) != "linear":
            counts[m.layer_window(i)] = counts.get(m.layer_window(i), 0) + 1
    if len(counts) == 1:
        (window, layers), = counts.items()
        return (WindowGroup("", layers, window),)
    kinds = {m.layer_window(i): m.layer_kind(i) for i in range(m.num_hidden_layers) if m.layer_kind(i) != "linear"}
    return tuple(WindowGroup(kinds[w], n, w) for w, n in counts.items())


def cached_tokens(g: WindowGroup) -> Expr:
    """Tokens a layer of the group holds per sequence at a context C: min(C, W)."""
    return emin(C, sym(_w(g))) if g.window else C


def _l(g: WindowGroup) -> str:
    return f"L_{g.label}" if g.label else "L"


def _w(g: WindowGroup) -> str:
    return f"W_{g.label}" if g.label else "W"


def constants(m: Model, kv_bytes_per_element: float, act_bytes: float = 2.0) -> dict[str, float]:
    out: dict[str, float] = {"L": sum(g.layers for g in window_groups(m)), "H_kv": m.num_key_value_heads, "H_q": m.num_attention_heads,
                             "d": m.head_dim, "b_kv": kv_bytes_per_element}
    if m.is_mla:
        out.update(r_kv=m.kv_lora_rank, d_r=m.qk_rope_head_dim, d_n=m.qk_nope_head_dim, d_vh=m.v_head_dim)
    for g in window_groups(m):
        if g.label:
            out[_l(g)] = g.layers
        if g.window:
            out[_w(g)] = g.window
    if m.is_hybrid:
        out.update(linear_attention.constants(m), L_lin=m.num_hidden_layers - out["L"], b_a=act_bytes)
    return out


def kv_figures(m: Model, mla_mode: str = ABSORBED, prefix: str = "memory.") -> list[Figure]:
    e = elements_per_token_per_layer(m, mla_mode)
    groups = window_groups(m)
    per_sequence = add(*(sym(_l(g)) * e * b_kv * cached_tokens(g) for g in groups))
    what = "latent c_KV + RoPE key" if m.is_mla and mla_mode != NAIVE else "K and V"
    state: list[Figure] = []
    if m.is_hybrid:
        state = [figure(f"{prefix}state_bytes_per_sequence", sym("L_lin") * linear_attention.STATE_BYTES, "bytes",
                        "the linear-attention layers' conv and recurrent (fp32) state: constant in the context")]
        per_sequence = per_sequence + sym("state_bytes_per_sequence")
    return [figure(f"{prefix}kv_cache_bytes_per_token", L * e * b_kv, "bytes",
                   f"{what} of one token, all {'attention ' if m.is_hybrid else ''}layers"), *state,
            figure(f"{prefix}kv_cache_bytes_per_sequence", per_sequence, "bytes",
                   "one sequence at the context" + ("; each layer group capped at its window" if len(groups) > 1
                                                    or groups[0].window else "")
                   + ("; with the recurrent state" if m.is_hybrid else "")),
            figure(f"{prefix}kv_cache_bytes", B * sym("kv_cache_bytes_per_sequence"), "bytes", "the batch")]


def kv_bytes(m: Model, kv_bytes_per_element: float, context: int, batch: int = 1, mla_mode: str = ABSORBED,
             act_bytes: float = 2.0) -> float:
    """KV cache of `batch` sequences at `context` tokens each (the figure's value); a hybrid's
    recurrent state included (all there is at context 0)."""
    terms = evaluate_figures(kv_figures(m, mla_mode), {**constants(m, kv_bytes_per_element, act_bytes), "B": batch,
                                                       "C": context})
    return terms[-1].value


def state_bytes(m: Model, act_bytes: float = 2.0, batch: int = 1) -> float:
    """A hybrid's recurrent state for the batch (the figure's value; 0 without linear-attention layers)."""
    if not m.is_hybrid:
        return 0.0
    state = next(f for f in kv_figures(m) if f.key.endswith("state_bytes_per_sequence"))
    return batch * evaluate_figures([state], constants(m, 2.0, act_bytes))[0].value


def kv_bytes_per_token(m: Model, kv_bytes_per_element: float, mla_mode: str = ABSORBED) -> float:
    return evaluate_figures(kv_figures(m, mla_mode)[:1], constants(m, kv_bytes_per_element))[0].value
