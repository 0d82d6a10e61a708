"""`rooflint paged`: paged KV cache (vLLM blocks) vs contiguous preallocation for a mix of lengths."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from rooflint.analysis import paged as pg
from rooflint.cli import options as o
from rooflint.cli import params as p
from rooflint.cli.app import command, emit
from rooflint.errors import SpecError
from rooflint.report.paged_views import paged_report
from rooflint.specs.catalog import load_model
from rooflint.workload import DEFAULT_DTYPE, DEFAULT_PROMPT, MLA_MODES, Workload


def _opt(*decls: str, metavar: str, help: str, default: str | None = None):
    return typer.Option(*decls, metavar=metavar, help=help, show_default=default or False)


Lengths = Annotated[Optional[str], _opt("--lengths", "-l", metavar=p.COUNTS,
                                        help="Sequence lengths, comma-separated (4k = 4096).")]
Dist = Annotated[Optional[str], _opt("--dist", metavar="|".join(pg.DISTRIBUTIONS), default="none",
                                     help="Draw the lengths from this distribution instead.")]
NumSeqs = Annotated[Optional[str], _opt("--num-seqs", "-n", metavar=p.COUNT, default=str(pg.DEFAULT_NUM_SEQS),
                                        help="Sequences to draw (vLLM's default max_num_seqs).")]
Mean = Annotated[Optional[str], _opt("--mean", metavar=p.COUNT, help="Mean drawn length in tokens (needed with --dist).")]
Std = Annotated[Optional[str], _opt("--std", metavar=p.COUNT, default="mean/4 for normal, mean for lognormal",
                                    help="Spread of a normal or lognormal draw.")]
Seed = Annotated[Optional[str], _opt("--seed", metavar="SEED", default=str(pg.DEFAULT_SEED),
                                     help="Random seed: the same seed draws the same lengths.")]
BlockSize = Annotated[Optional[str], _opt("--block-size", "-B", metavar=p.COUNT, default=str(pg.DEFAULT_BLOCK_SIZE),
                                          help="Tokens per KV block (vLLM's default).")]
MaxLen = Annotated[Optional[str], _opt("--max-len", metavar=p.COUNT,
                                       default=f"the model's max_position_embeddings, else {DEFAULT_PROMPT}",
                                       help="Tokens a contiguous cache reserves per sequence (and the longest draw).")]
Memory = Annotated[Optional[str], _opt("--memory", "-m", metavar=p.SIZE,
                                       help="KV cache budget, e.g. 40GiB: how many sequences of the mix fit.")]
# paged takes no --dtype, so the shared options.KvDtype (its help shows the default "--dtype") would
# read wrong here: the same option, with resolve()'s default for it shown.
KvDtype = Annotated[Optional[str], _opt("--kv-dtype", metavar=p.DTYPE, default=DEFAULT_DTYPE,
                                        help="KV cache elements; int8/int4 carry fp16 scales.")]
DRAW_ONLY = ("--num-seqs", "--mean", "--std", "--seed")


@command()
def paged(model: o.ModelArg, lengths: Lengths = None, dist: Dist = None, num_seqs: NumSeqs = None,
          mean: Mean = None, std: Std = None, seed: Seed = None, block_size: BlockSize = None,
          max_len: MaxLen = None, memory: Memory = None, kv_dtype: KvDtype = None,
          kv_group_size: o.KvGroup = None, mla_mode: o.MlaMode = None, set_: o.Set = None, as_family: o.AsFamily = None,
          fmt: o.Format = None, output: o.Output = None, explain: o.Explain = False) -> None:
    """Paged KV cache (vLLM blocks) vs contiguous preallocation: bytes, waste, sequences that fit."""
    form = o.fmt(fmt)
    spec = load_model(model, p.overrides(set_), as_family)
    work = Workload(kv_dtype=p.dtype_name(kv_dtype, "--kv-dtype"),
                    kv_group_size=p.whole(kv_group_size, "--kv-group-size"),
                    mla_mode=p.choice(mla_mode, MLA_MODES, "--mla-mode"),
                    max_len=p.whole(max_len, "--max-len"))
    given = p.counts(lengths, "--lengths")
    draw_args = (p.whole(num_seqs, "--num-seqs"), p.whole(mean, "--mean"), p.whole(std, "--std"),
                 p.whole(seed, "--seed", 0))
    draw = None
    if dist is not None:
        draw = pg.LengthDraw(dist.strip().lower(), *draw_args)
    elif given is not None:
        for option, value in zip(DRAW_ONLY, draw_args):
            if value is not None:
                raise SpecError(option, None, "applies to drawn lengths (--dist) only")
    plan = pg.plan_paged(spec, given, work, p.whole(block_size, "--block-size"),
                         p.size(memory, "--memory"), draw)
    emit(paged_report(plan), form, output, explain)
