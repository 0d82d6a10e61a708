"""`rooflint gemm`, `rooflint attention`, `rooflint kv`: one matmul, one attention layer, one cache."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from rooflint.analysis.gemm import gemm_op
from rooflint.analysis.kernels import attention_rows, kv_rows
from rooflint.cli import options as o
from rooflint.cli import params as p
from rooflint.cli.app import command, emit
from rooflint.report.kernel_views import attention_report, gemm_report, kv_report
from rooflint.specs.catalog import load_engine, load_hardware, load_model
from rooflint.workload import DEFAULT_DTYPE, resolve, target_gpu

Size = Annotated[str, typer.Argument(metavar=p.COUNT)]


@command()
def gemm(m: Size, n: Size, k: Size, gpu: o.Gpu = None, dtype: o.Dtype = None,
         batch: Annotated[Optional[str], typer.Option("--batch", "-b", metavar=p.COUNT, show_default="1",
                                                      help="Independent matmuls of this shape.")] = None,
         engine: o.Engine = None, fmt: o.Format = None, output: o.Output = None, explain: o.Explain = False) -> None:
    """Intensity and bound of one matmul [M,K]x[K,N] (also counting inputs only, as seed 000 does)."""
    form = o.fmt(fmt)
    dims = [p.whole(v, name) for v, name in ((m, "M"), (n, "N"), (k, "K"))]
    count = p.whole(batch, "--batch") or 1
    dt = p.dtype_name(dtype or DEFAULT_DTYPE, "--dtype")
    hw = target_gpu(gpu)
    hw.peak(dt.peak_key)
    emit(gemm_report(gemm_op(*dims, dt, count), *dims, dt, hw, load_engine(engine), count), form, output, explain)


@command()
def attention(seq: Annotated[Optional[str], typer.Option("--seq", "-n", metavar=p.COUNTS,
                                                         show_default="512,1024,2048,4096,8192,16384",
                                                         help="Sequence lengths N.")] = None,
              head_dim: Annotated[Optional[str], typer.Option("--head-dim", "-d", metavar=p.COUNT, show_default="64",
                                                              help="Head dimension d.")] = None,
              heads: Annotated[Optional[str], typer.Option("--heads", metavar=p.COUNT, show_default="1",
                                                           help="Heads h.")] = None,
              batch: o.Batch = None, dtype: o.Dtype = None,
              gpu: Annotated[Optional[str], typer.Option("--gpu", "-g", metavar="GPU", show_default="none",
                                                         help="Place the eager kernels and a flash kernel on this "
                                                              "GPU's roofline.")] = None,
              causal: Annotated[bool, typer.Option("--causal/--no-causal",
                                                   help="Flash skips masked tiles (eager never does).")] = True,
              engine: o.Engine = None, fmt: o.Format = None, output: o.Output = None,
              explain: o.Explain = False) -> None:
    """Eager attention's memory: Q/K/V/O against the N×N S and P, and the three kernels' intensities."""
    form = o.fmt(fmt)
    lengths = p.counts(seq, "--seq") or [512, 1024, 2048, 4096, 8192, 16384]
    d, h, b = p.whole(head_dim, "--head-dim") or 64, p.whole(heads, "--heads") or 1, p.whole(batch, "--batch") or 1
    dt = p.dtype_name(dtype or DEFAULT_DTYPE, "--dtype")
    hw = load_hardware(gpu) if gpu else None
    if hw is not None:
        hw.peak(dt.peak_key)
    preset = load_engine(engine)
    rows, assumed = attention_rows(lengths, d, h, b, dt, hw, causal, preset)
    emit(attention_report(rows, d, h, b, dt, hw, causal, assumed, preset), form, output, explain)


@command()
def kv(model: o.ModelArg,
       context: Annotated[Optional[str], typer.Option("--context", "-c", metavar=p.COUNTS,
                                                      show_default="prefix + prompt (the prompt rule)",
                                                      help="Context lengths (4k = 4096).")] = None,
       batch: o.Batch = None, kv_dtype: o.KvDtype = None, kv_group_size: o.KvGroup = None,
       mla_mode: o.MlaMode = None, dtype: o.Dtype = None, set_: o.Set = None, as_family: o.AsFamily = None, fmt: o.Format = None,
       output: o.Output = None, explain: o.Explain = False) -> None:
    """KV cache per token, per sequence at each context, and for the batch."""
    form = o.fmt(fmt)
    spec = load_model(model, p.overrides(set_), as_family)
    contexts = p.counts(context, "--context") or [None]
    runs = [resolve(spec, None, o.workload(batch=batch, context=None if c is None else str(c), dtype=dtype,
                                           kv_dtype=kv_dtype, kv_group_size=kv_group_size, mla_mode=mla_mode))
            for c in contexts]
    emit(kv_report(spec, kv_rows(spec, runs), runs), form, output, explain)
