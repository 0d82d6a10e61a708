"""Speculative decoding in serving: K drafted tokens per step, verified in one pass of the target.

With each drafted token accepted with probability a (independently, as Leviathan et al. 2023
assume), a step yields tau = (1 - a^(K+1)) / (1 - a) tokens per sequence on average: the
accepted prefix of the drafts and the target's own next token. A step costs the target's pass
over K + 1 tokens per sequence at the context (logits at every one of them) and K decode steps
of the draft: a separate draft model (`--draft`), or the target's own multi-token-prediction
module (DeepSeek-V3's MTP: one more transformer block with the shared embedding and lm_head).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from rooflint.analysis.expr import sym
from rooflint.analysis.inference import analyze
from rooflint.analysis.memo import per_object
from rooflint.analysis.plan import decode_step, plan, shard
from rooflint.analysis.terms import Term, evaluate_figures, figure
from rooflint.errors import SpecError
from rooflint.specs import Hardware, Model
from rooflint.workload import Workload


@dataclass(frozen=True, slots=True)
class Speculation:
    tokens: int  # K drafted per step
    acceptance: float  # a, per drafted token
    draft: Model | None = None  # None: the target's MTP module

    def __post_init__(self) -> None:
        if not 1 <= self.tokens <= 16:
            raise SpecError("--spec-tokens", None, f"expected 1 to 16 drafted tokens, got {self.tokens}")
        if not 0 < self.acceptance < 1:
            raise SpecError("--acceptance", None, f"expected a share in (0, 1), got {self.acceptance}")


_DRAFTS: dict = {}


def mtp_draft(m: Model) -> Model:
    """The target's MTP module as a model of its own: one block, the embedding and lm_head (one
    object per target, so what is compiled for it is reused at every level)."""
    if not m.mtp_layers:
        raise SpecError("--spec-tokens", None, f"{m.name} has no multi-token-prediction layers: give --draft MODEL")
    return per_object(_DRAFTS, (m,), lambda: replace(
        m, num_hidden_layers=m.mtp_layers, layer_types=(), mlp_layer_types=(), no_rope_layers=(),
        first_dense_layers=0, mtp_layers=0, name=f"{m.name}/mtp", path=m.path))


_STEP = (figure("tau", (1 - sym("a") ** (sym("K") + 1)) / (1 - sym("a")), "ratio",
                "tokens a step yields per sequence: the accepted drafts and the target's own"),
         figure("t_step", sym("t_verify") + sym("K") * sym("t_draft"), "seconds",
                "the target's pass over K + 1 tokens and K draft steps"),
         figure("t_step_forecast", sym("t_verify_forecast") + sym("K") * sym("t_draft_forecast"), "seconds",
                "the same from the forecasts"),
         figure("t_decode", sym("t_step") / sym("tau"), "seconds", "a step per token"),
         figure("t_decode_forecast", sym("t_step_forecast") / sym("tau"), "seconds", "the same from the forecasts"))


def speculative_step(m: Model, hw: Hardware, base: Workload, tp: int, per: int, context: int,
                     spec: Speculation) -> list[Term]:
    """A step of `per` sequences at `context` with speculation, on tp GPUs: tau, the step, and its
    time per token (t_decode, t_decode_forecast)."""
    k = spec.tokens
    verify = plan(m, hw, replace(base, batch=per, prompt=k + 1, prefix=context - k - 1, context=context,
                                 all_logits=True), tp)
    draft, d_tp = _draft(m, tp, spec)
    step = decode_step(draft, shard(draft, d_tp), hw, replace(base, batch=per, prompt=1, prefix=context - 1,
                                                              context=context), d_tp)
    values = {"a": spec.acceptance, "K": k, "t_verify": verify.ttft_s, "t_verify_forecast": verify.ttft_forecast_s,
              "t_draft": step[0].value, "t_draft_forecast": step[1].value}
    return evaluate_figures(_STEP, values)


def draft_memory(m: Model, hw: Hardware, base: Workload, tp: int, context: int, spec: Speculation) -> tuple[float, float]:
    """What the draft adds to the busiest GPU of the target's tp group: its weights (an MTP module
    shares the target's embedding and lm_head, so those are not counted again) and its KV cache
    per request of `context` tokens (bytes, bytes)."""
    draft, d_tp = _draft(m, tp, spec)
    a = analyze(shard(draft, d_tp), hw, replace(base, batch=1, prompt=1, prefix=context - 1, context=context))
    weights = a.value("memory.weights_bytes")
    if spec.draft is None:
        b = a.terms["memory.weights_bytes"].bindings
        weights -= b.get("N_lm_head", 0) * b.get("b_lm", 0) + a.params["embedding"] * b["b_h"]
    return weights, a.kv_bytes_per_sequence


def _draft(m: Model, tp: int, spec: Speculation) -> tuple[Model, int]:
    """The draft model and the GPUs it is split over: the target's tp where it splits, else one."""
    draft = spec.draft or mtp_draft(m)
    return draft, tp if spec.draft is None or _splits(draft, tp) else 1


def _splits(m: Model, tp: int) -> bool:
    try:
        shard(m, tp)
        return True
    except SpecError:
        return False
