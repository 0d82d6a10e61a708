"""The report of `rooflint comm`: one collective's bound and forecast."""

from __future__ import annotations

from rooflint.analysis.collectives import Collective
from rooflint.report.common import hardware_dict
from rooflint.report.model import Column, Report, Section, Table
from rooflint.report.render_values import human
from rooflint.specs import Hardware

_COLUMNS = (Column("op", "op"), Column("message_bytes", "message", "bytes"), Column("gpus", "GPUs", "int"),
            Column("nodes", "nodes", "int"), Column("traffic_bytes", "sent per rank", "bytes"),
            Column("time_s", "bound", "seconds"), Column("time_forecast_s", "forecast", "seconds"),
            Column("protocol", "protocol"), Column("busbw_bytes_per_s", "busbw", "bytes_per_s"))


def comm_report(c: Collective, hw: Hardware) -> Report:
    row = {"op": c.op, "message_bytes": c.message_bytes, "gpus": c.gpus, "nodes": c.nodes,
           **{t.key: t.value for t in c.terms}, "protocol": c.protocol}
    data = {"schema": "rooflint.comm/1", **row, "hardware": hardware_dict(hw),
            "formulas": {t.key: str(t.expr) for t in c.terms}, "sources": list(c.sources)}
    where = f"{c.gpus} GPUs" + (f" on {c.nodes} nodes" if c.nodes > 1 else "")
    title = f"rooflint comm {c.op} of {human(c.message_bytes, 'bytes')} over {where} of {hw.name}"
    notes = ("bound: each rank's traffic over the link alone; forecast: the faster of NCCL's LL and Simple "
             "protocols, latency + hops + traffic over the share of the link each reaches",)
    return Report("rooflint.comm/1", title, data, (Table("collective", _COLUMNS, (row,)),), notes=notes,
                  explain=lambda: (Section(f"{c.op} ({where})", c.terms, c.sources),))
