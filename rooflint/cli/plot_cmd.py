"""`rooflint plot`: the roofline with the ops (and measured kernels) placed on it, and memory vs context."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from rooflint.cli import options as o
from rooflint.cli import params as p
from rooflint.cli.app import command, note
from rooflint.compare.comparison import compare
from rooflint.compare.profile import calibrate_run
from rooflint.errors import SpecError
from rooflint.measure.environment import match_profile
from rooflint.measure.session import load_run
from rooflint.report.output import write_atomic
from rooflint.report.plot import image_target, render_png_or_svg
from rooflint.specs.catalog import load_model
from rooflint.workload import target_gpu


@command()
def plot(model: o.ModelArg,
         output: Annotated[str, typer.Option("--output", "-o", metavar="FILE",
                                             help="Image file: .png or .svg (written whole or not at all).")],
         gpu: o.Gpu = None, prompt: o.Prompt = None, batch: o.Batch = None, context: o.Context = None,
         dtype: o.Dtype = None, kv_dtype: o.KvDtype = None, attention: o.Attention = None,
         measured: Annotated[Optional[str], typer.Option("--measured", metavar="FILE",
                                                         help="A saved `rooflint measure -f json` run: its kernels "
                                                              "are placed too, on the roofline of the device they ran "
                                                              "on (--gpu: its profile, as measure --save-profile "
                                                              "writes it).")] = None,
         set_: o.Set = None, as_family: o.AsFamily = None) -> None:
    """The roofline with prefill and decode ops (and measured kernels) placed on it, and memory vs context."""
    image_target(output, "--output")
    spec, hw = load_model(model, p.overrides(set_), as_family), target_gpu(gpu)
    work = o.workload(batch=batch, prompt=prompt, context=context, dtype=dtype, kv_dtype=kv_dtype, attention=attention)
    rows = ()
    if measured:
        run = load_run(measured)
        device = str(run.environment.get("device_name", ""))
        if not match_profile(device, [hw]):  # a CPU's kernels do not belong on a GPU's roofline
            where = repr(device) if device else "an unnamed device"
            raise SpecError("--measured", None, f"{measured} was measured on {where}, not on {hw.name}: its kernels "
                            f"go on that device's roofline (rooflint measure --load {measured} --save-profile "
                            f"DEVICE.yaml, then plot --gpu DEVICE.yaml --dtype DTYPE --measured {measured}, with a "
                            "DTYPE it measured, e.g. fp32 on a CPU)")
        cal = calibrate_run(run)
        rows = tuple(compare(m, hw, cal.hardware(None, m.backend) if cal and m.backend in cal.stacks else None)
                     for m in run.measurements)
    write_atomic(output, render_png_or_svg(output, spec, hw, work, rows))
    note(f"wrote {output}")
