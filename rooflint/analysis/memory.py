"""What a workload needs in GPU memory, and the one rule for whether it fits.

    total_bytes  = weights_bytes + kv_cache_bytes + workspace_bytes
    usable_bytes = u * capacity          (u: memory utilization, vLLM's 0.9 by default)
    free_bytes   = usable_bytes - total_bytes;  it fits when free_bytes >= 0

The workspace is the largest live activation footprint of one op in a prefill chunk of
`chunk` tokens (batch 1): its inputs and outputs once each, weights not counted, so eager
attention's S and P count and a fused kernel's do not (nor its K/V tile re-reads, which are
traffic, not memory). The (1 - u) * capacity left out is the runtime's
reserve (CUDA context, allocator slack, graphs). plan, sweep, check and plot all use this rule.
"""

from __future__ import annotations

from dataclasses import replace

from rooflint.analysis.attention import SP_BYTES
from rooflint.analysis.blocks import WEIGHT_BYTE_SYMBOLS
from rooflint.analysis.evaluate import compile_phase
from rooflint.analysis.expr import Const, sym
from rooflint.analysis.layers import PhaseForm
from rooflint.analysis.ops import bindings
from rooflint.analysis.terms import Figure, Term, evaluate_figures, figure, figure_values

u, capacity = sym("u capacity")
weights, kv, workspace, total, usable = sym("weights_bytes kv_cache_bytes workspace_bytes total_bytes usable_bytes")

RULE = (figure("memory.total_bytes", weights + kv + workspace, "bytes", "weights + KV cache + activation workspace"),
        figure("memory.usable_bytes", u * capacity, "bytes", "the share of the memory a deployment may use"),
        figure("memory.reserved_bytes", capacity - usable, "bytes", "left to the runtime (CUDA context, allocator)"),
        figure("memory.free_bytes", usable - total, "bytes", "fits when free_bytes >= 0"))


def scores_figures(attention: str) -> list[Figure]:
    if attention == "flash":
        return [figure("memory.attention_scores_bytes_per_layer", Const(0), "bytes",
                       "a fused kernel keeps S and P in SRAM")]
    return [figure("memory.attention_scores_bytes_per_layer", SP_BYTES, "bytes",
                   "S and P of one layer's eager prefill (all heads, the whole batch)")]


NO_WEIGHTS = dict.fromkeys(WEIGHT_BYTE_SYMBOLS, 0)  # the workspace counts activations, not weights
_WORKSPACES: dict[tuple[int, int], tuple[PhaseForm, int, float]] = {}


def _workspace(form: PhaseForm, chunk: int) -> tuple[int, float]:
    """(index of the op, its activation bytes) of the largest op of a prefill chunk."""
    hit = _WORKSPACES.get((id(form), chunk))
    if hit is None or hit[0] is not form:
        live = replace(form, ops=tuple(replace(o, bytes_read=o.live_bytes, bytes_written=Const(0)) for o in form.ops))
        values = compile_phase(live, None, overrides=NO_WEIGHTS)(1, chunk, chunk)
        sizes = [values[5 * i + 1] for i in range(len(form.ops))]
        best = max(range(len(sizes)), key=sizes.__getitem__)
        if len(_WORKSPACES) > 512:
            _WORKSPACES.clear()
        hit = _WORKSPACES[id(form), chunk] = (form, best, sizes[best])
    return hit[1], hit[2]


_TERMS: dict[tuple[int, int], tuple[PhaseForm, Term]] = {}


def workspace_term(form: PhaseForm, chunk: int) -> Term:
    """The workspace as a term (its op's live bytes with their bindings); once per form and chunk."""
    hit = _TERMS.get((id(form), chunk))
    if hit is None or hit[0] is not form:
        if len(_TERMS) > 512:
            _TERMS.clear()
        hit = _TERMS[id(form), chunk] = (form, _workspace_term(form, chunk))
    return hit[1]


def _workspace_term(form: PhaseForm, chunk: int) -> Term:
    i, value = _workspace(form, chunk)
    o = form.ops[i]
    env = {**form.constants, **NO_WEIGHTS, "B": 1, "S_q": chunk, "C": chunk}
    for name, e in form.defs:
        env[name] = e.evaluate(env)
    expr = o.live_bytes.substitute(NO_WEIGHTS)
    own = bindings(o, env)
    (term,) = evaluate_figures([figure("memory.workspace_bytes", expr, "bytes",
                                       f"{o.name}'s activations in a prefill chunk of {chunk} tokens (batch 1, weights "
                                       f"not counted): the largest of its {len(form.ops)} ops")],
                               {**env, **own})
    return term


def _rule_inputs(weights_bytes: float, kv_bytes: float, workspace_: Term, capacity_bytes: float,
                 utilization: float) -> dict[str, float]:
    return {"weights_bytes": weights_bytes, "kv_cache_bytes": kv_bytes, "workspace_bytes": workspace_.value,
            "u": utilization, "capacity": capacity_bytes}


def fit_terms(weights_bytes: float, kv_bytes: float, workspace_: Term, capacity_bytes: float,
              utilization: float) -> list[Term]:
    """The rule's terms for these parts."""
    return [workspace_, *evaluate_figures(RULE, _rule_inputs(weights_bytes, kv_bytes, workspace_, capacity_bytes,
                                                             utilization))]


def fit_values(weights_bytes: float, kv_bytes: float, workspace_: Term, capacity_bytes: float,
               utilization: float) -> dict[str, float]:
    """The same rule's values by key (no terms built)."""
    return {workspace_.key: workspace_.value,
            **figure_values(RULE, _rule_inputs(weights_bytes, kv_bytes, workspace_, capacity_bytes, utilization))}
