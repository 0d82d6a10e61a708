"""`rooflint comm`: one collective's bound and forecast."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from rooflint.analysis.collectives import OPS, collective
from rooflint.cli import options as o
from rooflint.cli import params as p
from rooflint.cli.app import command, emit
from rooflint.errors import SpecError
from rooflint.report.comm_view import comm_report
from rooflint.units import UnitParseError, parse_quantity
from rooflint.workload import target_gpu


def message_bytes(text: str) -> float:
    """A message size: bytes as a whole number (nccl-tests' sizes) or with a unit (64MiB)."""
    stripped = text.strip()
    try:
        value = float(int(stripped)) if stripped.lstrip("-").isdigit() else parse_quantity(stripped, "bytes")
    except UnitParseError as exc:
        raise SpecError("BYTES", None, str(exc)) from None
    if not 0 < value < 2.0**50:
        raise SpecError("BYTES", None, f"expected a positive message size, got {text}")
    return value


@command()
def comm(op: Annotated[str, typer.Argument(metavar="OP", help=f"The collective: {', '.join(OPS)}.")],
         size: Annotated[str, typer.Argument(metavar="BYTES",
                                             help="The message as nccl-tests counts it (the per-rank buffer; "
                                                  "all-gather's gathered output): 67108864 or 64MiB.")],
         gpu: o.Gpu = None,
         gpus: Annotated[Optional[str], typer.Option("--gpus", "-n", metavar=p.COUNT, show_default="8 (send_recv: 2)",
                                                     help="Ranks in the collective.")] = None,
         nodes: Annotated[Optional[str], typer.Option("--nodes", metavar=p.COUNT, show_default="1",
                                                      help="Nodes the ranks are spread over (evenly).")] = None,
         network: o.Network = None,
         fmt: o.Format = None, output: o.Output = None, explain: o.Explain = False) -> None:
    """One collective's bound (its traffic over the link) and forecast (NCCL's protocols)."""
    form = o.fmt(fmt)
    name = p.choice(op, OPS, "OP")
    n = p.whole(gpus, "--gpus") or (2 if name == "send_recv" else 8)
    m = p.whole(nodes, "--nodes") or 1
    hw = o.with_network(target_gpu(gpu), network)
    emit(comm_report(collective(name, message_bytes(size), n, hw, m), hw), form, output, explain)
