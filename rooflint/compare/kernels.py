"""The analyzer's ops for each kernel `rooflint measure` times, so that a measured time is held
against the same op model (FLOPs, bytes, formulas) the analysis commands use.

Kernels and their parameters (measure/cases.py holds the shapes; this module their op forms):
    copy              n (bytes of the source; the copy reads n and writes n)
    gemm              M, N, K                                   [M,K] x [K,N]
    qk                G, N, d                                   G = b*h products [N,d] x [d,N]
    softmax           R, N                                      rows of N, R = b*h*N
    attention         B, H, N, d  (variant eager | sdpa-*)      non-causal, one layer
    decode_attention  B, H_q, H_kv, C, d (variant eager | sdpa) one query token over C cached
    generate          n (variant cached | uncached)             one step of the tiny decoder

Every fused variant (sdpa-flash, sdpa-efficient, sdpa-math, sdpa) is held against the analyzer's
flash kernel: what an ideal fused kernel moves. The flash facts (shared memory per SM for the
tiles, SMs for the split-KV chunks) come from workload.kernel_facts / resolve, the profile's own
or rooflint's fallback.
"""

from __future__ import annotations

from functools import lru_cache

from rooflint.analysis import flash
from rooflint.analysis.attention import SOFTMAX_FLOP_PER_ELEMENT, SP_BYTES, eager_ops
from rooflint.analysis.expr import sym
from rooflint.analysis.gemm import gemm_form
from rooflint.analysis.layers import DECODE, PREFILL, phase_form
from rooflint.analysis.ops import ELEMENTWISE, MEMORY, Op, OpForm, evaluate_op, op
from rooflint.analysis.terms import Term, evaluate_figures, figure
from rooflint.dtypes import VECTOR_PEAK_KEY, dtype
from rooflint.errors import SpecError
from rooflint.measure.cases import TINY_DECODER, Case
from rooflint.specs import Hardware
from rooflint.workload import Workload, kernel_facts, resolve

n, R, N, b_a = sym("n R N b_a")
C = sym("C")

COPY = op("copy", "model", 1, MEMORY, VECTOR_PEAK_KEY, read=n, write=n,
          note="device/host memory copy: n bytes read, n written")
SOFTMAX = op("softmax", "model", 1, ELEMENTWISE, VECTOR_PEAK_KEY, flops=SOFTMAX_FLOP_PER_ELEMENT * R * N,
             read=R * N * b_a, write=R * N * b_a, note="row softmax: reads S, writes P")
KEYS = (("S_kv", C),)  # a measured attention attends over all C keys (no window)


def case_ops(case: Case, hw: Hardware | None = None) -> list[Op]:
    """The ops one call of the kernel performs (each with its count): the kernels that run."""
    if case.kernel == "generate":
        return list(_step_ops(case, hw))
    return list(_evaluated(case, _facts(case, hw)))


def case_flops(case: Case, hw: Hardware | None = None) -> float:
    """FLOPs of one call: the sum of count x FLOPs over its ops."""
    return sum(o.flops * o.count for o in case_ops(case, hw))


def case_bytes(case: Case, hw: Hardware | None = None) -> float:
    """Bytes one call moves: the sum of count x (read + written) over its ops."""
    return sum(o.bytes * o.count for o in case_ops(case, hw))


def _facts(case: Case, hw: Hardware | None) -> tuple:
    """What besides its shape decides a case's ops: the flash facts, for a fused attention."""
    if case.kernel in ("attention", "decode_attention") and case.variant != "eager":
        sm, sram, _ = kernel_facts(hw)
        return (sm, sram)
    return ()


def _workload(case: Case) -> Workload:
    n_ = case.params["n"]
    step = {"context": n_} if case.variant == "cached" else {"prompt": n_}  # a decode step at n, or a pass over n
    return Workload(batch=1, dtype=case.dtype, attention="flash", **step)


def _resolved(case: Case, hw: Hardware | None):
    try:
        return resolve(TINY_DECODER, hw, _workload(case))
    except SpecError:  # the profile has no peak for this dtype: it cannot time the step; its FLOPs and bytes
        return resolve(TINY_DECODER, None, _workload(case))  # use rooflint's fallback hardware facts


@lru_cache(maxsize=1024)
def _evaluated(case: Case, facts: tuple) -> tuple[Op, ...]:
    forms, values = _forms(case, facts)
    ops = (evaluate_op(f, values) for f in forms)
    return tuple(o for o in ops if o.present)


def _forms(case: Case, facts: tuple) -> tuple[list[OpForm], dict]:
    """The op forms of a case and the values of their symbols."""
    p, dt = case.params, dtype(case.dtype)
    b, mm = dt.bytes, dt.peak_key
    k = case.kernel
    if k == "copy":
        return [COPY], {"n": p["n"]}
    if k == "gemm":
        return [gemm_form(mm)], {"M": p["M"], "N": p["N"], "K": p["K"], "G": 1, "b": b}
    if k == "qk":
        return [gemm_form(mm, "qk_matmul")], {"M": p["N"], "N": p["N"], "K": p["d"], "G": p["G"], "b": b}
    if k == "softmax":
        return [SOFTMAX], {"R": p["R"], "N": p["N"], "b_a": b}
    if k in ("attention", "decode_attention"):
        prefill = k == "attention"
        h_q, h_kv = (p["H"], p["H"]) if prefill else (p["H_q"], p["H_kv"])
        values = {"B": p["B"], "S_q": p["N"] if prefill else 1, "C": p["N"] if prefill else p["C"], "H_q": h_q,
                  "H_kv": h_kv, "d": p["d"], "d_v": p["d"], "b_a": b, "b_k": b}
        if case.variant == "eager":
            return eager_ops(1, mm, KEYS), values
        sm, sram = facts
        values["sm"] = sm
        if prefill:  # non-causal: every tile of the N x N scores is computed
            return [flash.prefill_op(1, mm, flash.tile_sizes(sram, p["d"], b), h_q // h_kv, None, False)], values
        return flash.decode_ops(1, mm, KEYS), values
    raise ValueError(f"unknown kernel {k!r}")


_STEPS: dict[tuple, tuple[Op, ...]] = {}


def _step_ops(case: Case, hw: Hardware | None) -> tuple[Op, ...]:
    """One step of the tiny decoder as analyze() sees it: a decode step at context n (cached) or
    a prefill of n tokens (uncached), flash attention, every default from resolve."""
    r = _resolved(case, hw)
    key = (case, r.structure)
    hit = _STEPS.get(key)
    if hit is None:
        phase = DECODE if case.variant == "cached" else PREFILL
        form = phase_form(TINY_DECODER, r, phase)
        env = {**form.constants, "B": r.batch, "C": r.context if phase == DECODE else r.prefill_kv_len}
        if phase == PREFILL:
            env["S_q"] = r.prompt
        for name, e in form.defs:
            env[name] = e.evaluate(env)
        hit = tuple(o for o in (evaluate_op(f, env) for f in form.ops) if o.present)
        if len(_STEPS) > 1024:
            _STEPS.clear()
        _STEPS[key] = hit
    return hit


def sp_terms(case: Case, key: str) -> list[Term]:
    """S and P of eager attention, B*H*N*N elements each: what materializing them costs."""
    p = case.params
    values = {"B": p["B"], "H_q": p["H"], "S_q": p["N"], "S_kv": p["N"], "b_a": dtype(case.dtype).bytes}
    return evaluate_figures([figure(key, SP_BYTES, "bytes", "S and P of one eager layer, B*H_q*S_q*S_kv each")],
                            values)
