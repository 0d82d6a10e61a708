"""`rooflint generate` and `rooflint plan`: a whole request, and what fits on a GPU group."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from rooflint.analysis.generation import generation
from rooflint.analysis.layout_ranking import rank_layouts
from rooflint.analysis.plan import plan as run_plan
from rooflint.cli import options as o
from rooflint.cli import params as p
from rooflint.cli.app import command, emit
from rooflint.errors import SpecError
from rooflint.report.generation_view import generate_report
from rooflint.report.layout_view import ranking_report
from rooflint.report.plan_view import plan_report
from rooflint.specs.catalog import load_model
from rooflint.workload import DEFAULT_NEW_TOKENS, target_gpu

NewTokens = Annotated[Optional[str], typer.Option("--new-tokens", "-t", metavar=p.COUNT, show_default=str(DEFAULT_NEW_TOKENS),
                                                  help="New tokens per sequence, T (the first comes from the prefill).")]
Tp = Annotated[Optional[str], typer.Option("--tp", metavar=p.COUNT, show_default="1", help="Tensor-parallel GPUs.")]
Gpus = Annotated[Optional[str], typer.Option("--gpus", metavar=p.COUNT, show_default="none",
                                             help="Rank every layout of this many GPUs (tensor-parallel replicas; "
                                                  "for MoE, data-parallel attention with expert parallelism).")]


@command()
def generate(model: o.ModelArg, gpu: o.Gpu = None, prompt: o.Prompt = None, new_tokens: NewTokens = None,
             batch: o.Batch = None, dtype: o.Dtype = None, kv_dtype: o.KvDtype = None,
             weight_dtype: o.WeightDtype = None, attention: o.Attention = None, mla_mode: o.MlaMode = None,
             set_: o.Set = None, as_family: o.AsFamily = None, fmt: o.Format = None, output: o.Output = None, explain: o.Explain = False) -> None:
    """A whole request with and without a KV cache: FLOPs, bytes, latency, tokens/s, summed exactly."""
    form = o.fmt(fmt)
    spec, hw = load_model(model, p.overrides(set_), as_family), target_gpu(gpu)
    work = o.workload(batch=batch, prompt=prompt, dtype=dtype, kv_dtype=kv_dtype, weight_dtype=weight_dtype,
                      attention=attention, mla_mode=mla_mode, new_tokens=new_tokens)
    emit(generate_report(generation(spec, hw, work)), form, output, explain)


@command()
def plan(model: o.ModelArg, gpu: o.Gpu = None, context: o.Context = None, prompt: o.Prompt = None,
         batch: o.Batch = None, tp: Tp = None, mem_util: o.MemUtil = None, dtype: o.Dtype = None,
         kv_dtype: o.KvDtype = None, weight_dtype: o.WeightDtype = None, attention: o.Attention = None,
         mla_mode: o.MlaMode = None, chunk: o.Chunk = None, set_: o.Set = None, as_family: o.AsFamily = None,
         engine: o.Engine = None, gpus: Gpus = None, network: o.Network = None, fmt: o.Format = None,
         output: o.Output = None,
         explain: o.Explain = False) -> None:
    """Largest batch at a context, longest context at a batch, memory per GPU, chunked TTFT and TPOT."""
    form = o.fmt(fmt)
    spec, hw = load_model(model, p.overrides(set_), as_family), target_gpu(gpu)
    work = o.workload(batch=batch, prompt=prompt, context=context, dtype=dtype, kv_dtype=kv_dtype,
                      weight_dtype=weight_dtype, attention=attention, mla_mode=mla_mode, mem_util=mem_util, chunk=chunk,
                      engine=engine)
    n = p.whole(gpus, "--gpus")
    if n is not None:
        if tp is not None:
            raise SpecError("--gpus", None, "--gpus ranks every layout of the GPUs; --tp fixes one: give one of them")
        hw = o.with_network(hw, network)
        emit(ranking_report(rank_layouts(spec, hw, work, n), spec, hw, n), form, output, explain)
        return
    emit(plan_report(run_plan(spec, hw, work, p.whole(tp, "--tp") or 1)), form, output, explain)
