"""`rooflint sweep`: a grid of models x GPUs x batch x context x KV dtype x attention kernel."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from rooflint.analysis import sweep as grid_sweep
from rooflint.cli import options as o
from rooflint.cli import params as p
from rooflint.cli.app import command, emit, note
from rooflint.cli.progress import progress
from rooflint.errors import SpecError
from rooflint.report.output import STDOUT, write_all
from rooflint.report.sweep_view import (
    require_pyarrow,
    sweep_csv,
    sweep_json,
    sweep_npz,
    sweep_parquet,
    sweep_report,
)
from rooflint.specs.catalog import load_hardware, load_model
from rooflint.workload import ATTENTIONS

FORMATS = ("table", "csv", "json", "markdown", "parquet", "npz")
BINARY = ("parquet", "npz")


def _opt(*decls: str, metavar: str, help: str, default: str):
    return typer.Option(*decls, metavar=metavar, help=help, show_default=default)


def _list(values) -> str:
    return ",".join(str(v) for v in values)


Models = Annotated[Optional[str], _opt("--models", "-m", metavar=p.NAMES, default="all",
                                       help="Models: built-in names or spec files, or all.")]
Gpus = Annotated[Optional[str], _opt("--gpu", "-g", metavar="GPU[,GPU...]|all", default="all",
                                     help="GPUs: built-in names or hardware files (comma-separated), or all.")]
# --gpus is a GPU count in plan, serve and comm; sweep's list was once --gpus and still reads it
GpusAlias = Annotated[Optional[str], typer.Option("--gpus", hidden=True)]
Batches = Annotated[Optional[str], _opt("--batch", "-b", metavar=p.COUNTS, default=_list(grid_sweep.DEFAULT_BATCHES),
                                        help="Batch sizes.")]
Contexts = Annotated[Optional[str], _opt("--context", "-c", metavar=p.COUNTS,
                                         default=_list(grid_sweep.DEFAULT_CONTEXTS),
                                         help="Contexts (the prompt of the prefill, the context of a decode step).")]
KvDtypes = Annotated[Optional[str], _opt("--kv-dtype", metavar="DTYPES", default=_list(grid_sweep.DEFAULT_KV_DTYPES),
                                         help="KV cache dtypes; int8/int4 carry fp16 scales.")]
Attentions = Annotated[Optional[str], _opt("--attention", metavar="eager,flash", default=_list(ATTENTIONS),
                                           help="Attention kernels: eager, flash or both.")]
Format = Annotated[Optional[str], _opt("--format", "-f", metavar="|".join(FORMATS), default="table",
                                       help="Output format (parquet and npz need -o FILE).")]


def _specs(text: str | None, option: str, load) -> list | None:
    if text is None:
        return None
    names = p.names(text, option)
    return None if names == ["all"] else [load(n) for n in names]


@command()
def sweep(models: Models = None, gpus: Gpus = None, gpus_alias: GpusAlias = None, batch: Batches = None,
          context: Contexts = None, kv_dtype: KvDtypes = None, attention: Attentions = None, dtype: o.Dtype = None,
          mem_util: o.MemUtil = None, chunk: o.Chunk = None, engine: o.Engine = None,
          forecast: Annotated[bool, typer.Option("--forecast/--no-forecast",
                                                 help="The forecast columns beside the bound (--no-forecast: "
                                                      "about 5x faster).")] = True,
          quiet: o.Quiet = False, fmt: Format = None, output: o.Output = None, explain: o.Explain = False) -> None:
    """Every combination of models x GPUs x batch x context x KV dtype x attention kernel: memory,
    fit, decode step and prefill time, from the same op model as analyze."""
    if gpus_alias is not None:
        if gpus is not None:
            raise SpecError("--gpus", None, "give the GPUs once, with --gpu")
        gpus = gpus_alias  # its errors name --gpu, the option's name now
    form = p.choice(fmt, FORMATS, "--format") or "table"
    if form in BINARY and output in (None, STDOUT):
        raise SpecError("--output", None, f"-f {form} writes a binary file: give -o FILE")
    grid = grid_sweep.Grid.of(
        _specs(models, "--models", load_model), _specs(gpus, "--gpu", load_hardware),
        batches=p.counts(batch, "--batch"), contexts=p.counts(context, "--context"),
        kv_dtypes=None if kv_dtype is None else p.dtype_names(kv_dtype, "--kv-dtype"),
        attentions=None if attention is None else p.choices(attention, ATTENTIONS, "--attention"),
        dtype=p.dtype_name(dtype, "--dtype"), memory_utilization=p.fraction(mem_util, "--mem-util"),
        chunk=p.whole(chunk, "--chunk"), engine=engine, forecast=forecast)
    if form == "parquet":
        require_pyarrow()  # before the sweep
    with progress("sweep", quiet, lines=False) as step:
        result = grid_sweep.sweep(grid, progress=step)
    if form in ("table", "markdown"):
        emit(sweep_report(result), form, output, explain)
        return
    if explain and form != "json":
        note("--explain: shown with -f table, markdown or json")
    data = {"csv": sweep_csv, "parquet": sweep_parquet, "npz": sweep_npz}.get(form)
    data = sweep_json(result, explain) if data is None else data(result)
    write_all([(STDOUT if output is None else output, data)])
