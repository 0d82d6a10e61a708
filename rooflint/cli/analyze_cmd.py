"""`rooflint analyze`: every op of prefill and one decode step on a GPU's roofline."""

from __future__ import annotations

from dataclasses import replace

from rooflint.analysis.inference import analyze as run
from rooflint.cli import options as o
from rooflint.cli.app import command, emit
from rooflint.cli.params import overrides
from rooflint.report.analyze_view import analyze_report
from rooflint.specs.catalog import load_model
from rooflint.workload import resolve, target_gpu


@command()
def analyze(model: o.ModelArg, gpu: o.Gpu = None, prompt: o.Prompt = None, batch: o.Batch = None,
            context: o.Context = None, prefix: o.Prefix = None, dtype: o.Dtype = None, attention: o.Attention = None,
            kv_dtype: o.KvDtype = None, weight_dtype: o.WeightDtype = None, kv_group_size: o.KvGroup = None,
            weight_group_size: o.WeightGroup = None, quantize: o.Quantize = None, mla_mode: o.MlaMode = None,
            flash_tile: o.FlashTile = None, all_logits: o.AllLogits = False, chunk: o.Chunk = None,
            mem_util: o.MemUtil = None, set_: o.Set = None, as_family: o.AsFamily = None, engine: o.Engine = None,
            fmt: o.Format = None, output: o.Output = None, explain: o.Explain = False) -> None:
    """Roofline of prefill and one decode step: every op's FLOPs, bytes, bound and time; memory."""
    form = o.fmt(fmt)
    spec, hw = load_model(model, overrides(set_), as_family), target_gpu(gpu)
    work = o.workload(batch, prompt, context, prefix, dtype, kv_dtype, weight_dtype, kv_group_size,
                      weight_group_size, quantize, attention, mla_mode, flash_tile, all_logits, mem_util, chunk,
                      engine=engine)
    resolved = resolve(spec, hw, work)
    result = run(spec, hw, resolved)
    other = run(spec, hw, replace(work, attention="eager" if resolved.attention == "flash" else "flash"))
    emit(analyze_report(result, other), form, output, explain)
