"""`rooflint report`: one self-contained HTML file with an interactive roofline per GPU."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from rooflint.analysis.inference import analyze
from rooflint.cli import options as o
from rooflint.cli import params as p
from rooflint.cli.app import command, note
from rooflint.errors import SpecError
from rooflint.report.html_report import report_html
from rooflint.report.output import check_target, write_atomic
from rooflint.specs.catalog import load_model
from rooflint.workload import DEFAULT_GPU, target_gpu


@command()
def report(model: o.ModelArg,
           output: Annotated[str, typer.Option("--output", "-o", metavar="FILE.html",
                                               help="The HTML file (written whole or not at all).")],
           gpu: Annotated[Optional[list[str]], typer.Option(
               "--gpu", "-g", metavar="GPU", show_default=DEFAULT_GPU,
               help="A built-in GPU name or hardware YAML; repeat for a section per GPU.")] = None,
           prompt: o.Prompt = None, batch: o.Batch = None, context: o.Context = None, prefix: o.Prefix = None,
           dtype: o.Dtype = None, kv_dtype: o.KvDtype = None, weight_dtype: o.WeightDtype = None,
           attention: o.Attention = None, engine: o.Engine = None, mem_util: o.MemUtil = None,
           set_: o.Set = None, as_family: o.AsFamily = None) -> None:
    """One HTML file that works offline: per GPU a roofline to hover, memory vs context, prefill vs
    decode, the op tables."""
    if not output.lower().endswith((".html", ".htm")):
        raise SpecError("--output", None, f"expected an .html file, got {output}")
    check_target(output)
    spec = load_model(model, p.overrides(set_), as_family)
    gpus = list({hw.path or hw.name: hw for hw in map(target_gpu, gpu or [DEFAULT_GPU])}.values())  # once each
    work = o.workload(batch=batch, prompt=prompt, context=context, prefix=prefix, dtype=dtype, kv_dtype=kv_dtype,
                      weight_dtype=weight_dtype, attention=attention, mem_util=mem_util, engine=engine)
    write_atomic(output, report_html([analyze(spec, hw, work) for hw in gpus]))
    note(f"wrote {output}")
