"""`rooflint serve`: steady-state continuous batching over concurrency levels and layouts."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from rooflint.analysis.paged import DISTRIBUTIONS, LengthDraw
from rooflint.analysis.serve import serve as run_serve
from rooflint.analysis.speculative import Speculation
from rooflint.cli import options as o
from rooflint.cli import params as p
from rooflint.cli.app import command, emit, note
from rooflint.cli.progress import progress
from rooflint.errors import SpecError
from rooflint.report.plot import frontier_png_or_svg, image_target
from rooflint.report.serve_view import serve_report
from rooflint.specs.catalog import load_model
from rooflint.workload import target_gpu


def _count(default: int, what: str):
    return typer.Option(metavar=p.COUNT, show_default=str(default), help=what)


@command()
def serve(model: o.ModelArg, gpu: o.Gpu = None,
          gpus: Annotated[Optional[str], typer.Option("--gpus", "-n", metavar=p.COUNT, show_default="1",
                                                      help="GPUs serving the model.")] = None,
          isl: Annotated[Optional[str], typer.Option("--isl", metavar=p.COUNT, show_default="1024",
                                                     help="Prompt tokens per request.")] = None,
          osl: Annotated[Optional[str], typer.Option("--osl", metavar=p.COUNT, show_default="1024",
                                                     help="Output tokens per request.")] = None,
          concurrency: Annotated[Optional[str], typer.Option("--concurrency", metavar=p.COUNTS,
                                                             show_default="1,2,4,...,1024",
                                                             help="Requests in flight over all the GPUs.")] = None,
          tp: Annotated[Optional[str], typer.Option("--tp", metavar=p.COUNT, show_default="every power of 2 up to 8",
                                                    help="Tensor-parallel GPUs per replica (the rest replicas).")] = None,
          pp: Annotated[Optional[str], typer.Option("--pp", metavar=p.COUNT,
                                                    show_default="1 (and across nodes with tp 8)",
                                                    help="Pipeline stages per replica.")] = None,
          prefix_hit: Annotated[Optional[str], typer.Option("--prefix-hit", metavar="SHARE", show_default="0",
                                                            help="Share of each prompt found in the prefix cache.")] = None,
          spec_tokens: Annotated[Optional[str], typer.Option("--spec-tokens", metavar=p.COUNT, show_default="none",
                                                             help="Speculative decoding: tokens drafted per step.")] = None,
          acceptance: Annotated[Optional[str], typer.Option("--acceptance", metavar="SHARE", show_default="0.7",
                                                            help="Chance a drafted token is accepted.")] = None,
          draft: Annotated[Optional[str], typer.Option("--draft", metavar="MODEL", show_default="the model's MTP module",
                                                       help="The draft model of speculative decoding.")] = None,
          disagg: Annotated[Optional[str], typer.Option("--disagg", metavar="P:D", show_default="none",
                                                        help="Disaggregated prefill and decode pools: P of every "
                                                             "P + D GPUs prefill.")] = None,
          dist: Annotated[Optional[str], typer.Option("--dist", metavar="|".join(DISTRIBUTIONS), show_default="none",
                                                      help="Draw prompts and outputs of means --isl and --osl from "
                                                           "this distribution (as paged does).")] = None,
          num_seqs: Annotated[Optional[str], typer.Option("--num-seqs", metavar=p.COUNT, show_default="256",
                                                          help="Requests drawn with --dist.")] = None,
          seed: Annotated[Optional[str], typer.Option("--seed", metavar="SEED", show_default="0",
                                                      help="Seed of the draw.")] = None,
          dp_attention: Annotated[Optional[bool], typer.Option(
              "--dp-attention/--no-dp-attention", show_default="tried for MoE models",
              help="Data-parallel attention with the routed experts over all the GPUs (only that layout), "
                   "or never.")] = None,
          dtype: o.Dtype = None, kv_dtype: o.KvDtype = None, weight_dtype: o.WeightDtype = None,
          attention: o.Attention = None, mla_mode: o.MlaMode = None, mem_util: o.MemUtil = None,
          chunk: o.Chunk = None, set_: o.Set = None, as_family: o.AsFamily = None, engine: o.Engine = None,
          plot: Annotated[Optional[str], typer.Option("--plot", metavar="FILE.png|FILE.svg",
                                                      help="Also draw the frontier here.")] = None,
          network: o.Network = None, quiet: o.Quiet = False, fmt: o.Format = None, output: o.Output = None,
          explain: o.Explain = False) -> None:
    """Throughput per GPU against tokens/s per user at each concurrency and layout, and the frontier."""
    form = o.fmt(fmt)
    o.report_target(output)
    if plot is not None:
        image_target(plot, "--plot")
    hit = _share(prefix_hit, "--prefix-hit", 0.0)
    spec, hw = load_model(model, p.overrides(set_), as_family), o.with_network(target_gpu(gpu), network)
    speculation = None
    if spec_tokens is None and (acceptance is not None or draft is not None):
        raise SpecError("--acceptance" if acceptance is not None else "--draft", None,
                        "applies to speculative decoding: give --spec-tokens K")
    if spec_tokens is not None:
        speculation = Speculation(p.whole(spec_tokens, "--spec-tokens") or 1, _share(acceptance, "--acceptance", 0.7),
                                  load_model(draft) if draft else None)
    draw = None
    if dist is not None:
        draw = LengthDraw(dist.strip().lower(), p.whole(num_seqs, "--num-seqs"), 1, None,
                          p.whole(seed, "--seed", 0), spec.max_position_embeddings)
    elif num_seqs is not None or seed is not None:
        raise SpecError("--num-seqs" if num_seqs is not None else "--seed", None, "applies to drawn lengths (--dist) only")
    pools = None
    if disagg is not None:
        parts = disagg.split(":")
        if len(parts) != 2:
            raise SpecError("--disagg", None, f"expected P:D such as 1:3, got {disagg!r}")
        pools = (p.whole(parts[0], "--disagg"), p.whole(parts[1], "--disagg"))
    work = o.workload(dtype=dtype, kv_dtype=kv_dtype, weight_dtype=weight_dtype, attention=attention,
                      mla_mode=mla_mode, mem_util=mem_util, chunk=chunk, engine=engine)
    with progress("serve: layouts", quiet, lines=False) as step:
        s = run_serve(spec, hw, p.whole(gpus, "--gpus") or 1, p.whole(isl, "--isl") or 1024,
                      p.whole(osl, "--osl") or 1024, work, p.counts(concurrency, "--concurrency"), p.whole(tp, "--tp"),
                      hit, dp_attention, p.whole(pp, "--pp"), speculation, pools, draw, progress=step)
    also = ((plot, frontier_png_or_svg(plot, s)),) if plot else ()
    emit(serve_report(s), form, output, explain, also)
    if plot:
        note(f"wrote {plot}")


def _share(text: str | None, option: str, default: float) -> float:
    if text is None:
        return default
    try:
        return float(text)
    except ValueError:
        raise SpecError(option, None, f"expected a share such as 0.5, got {text!r}") from None
