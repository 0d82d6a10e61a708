"""Serving a mix of request lengths (`serve --dist`): the few numbers of the steady state that
depend on the lengths, from prompts and outputs drawn as `paged` draws them.

In steady state a request spends osl_i decode steps in the batch, so the batch's mean context
is weighted by them: sum_i osl_i (isl_i + osl_i / 2) / sum_i osl_i; requests finish (and new
ones prefill) at c / mean(osl) per step (Little's law); and a request's KV blocks at its end are
ceil((isl_i + osl_i) / 16), whose mean sets how many requests a KV budget holds. The prefill is
taken at the mean prompt (the attention's quadratic share makes long prompts cost a little more
than their share: left out).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from rooflint.analysis.paged import LengthDraw, draw_lengths


@dataclass(frozen=True, slots=True)
class LengthMix:
    isl: int  # mean prompt (what is prefilled)
    osl: float  # mean output (requests finish at c / osl per step)
    context: int  # the decode batch's mean context, weighted by each request's steps
    longest: int  # mean tokens of a request's KV blocks at its end
    requests: int  # how many were drawn


def length_mix(isl: LengthDraw, osl: LengthDraw, block: int) -> LengthMix:
    """The mix of `isl` prompts and `osl` outputs, drawn independently (the outputs from the
    next seed)."""
    import numpy as np

    prompts = draw_lengths(isl).astype(np.float64)
    outputs = draw_lengths(replace(osl, seed=(osl.seed or 0) + 1)).astype(np.float64)
    context = float(np.sum(outputs * (prompts + outputs / 2)) / np.sum(outputs))
    blocks = np.ceil((prompts + outputs) / block)
    return LengthMix(round(float(prompts.mean())), float(outputs.mean()), round(context),
                     round(float(blocks.mean()) * block), len(prompts))
