"""The report of `rooflint plan --gpus N`: every layout of the GPUs, ranked."""

from __future__ import annotations

from rooflint.analysis.layout_ranking import Ranked
from rooflint.report.common import hardware_dict, model_dict
from rooflint.report.model import Column, Report, Table
from rooflint.specs import Hardware, Model

_COLUMNS = (Column("rank", "rank"), Column("layout", "layout"), Column("per_replica", "per replica", "int", 5),
            Column("memory_bytes", "memory per GPU", "bytes", 4), Column("fits", "fits"),
            Column("ttft_s", "TTFT", "seconds", 3), Column("ttft_forecast_s", "TTFT fcst", "seconds", 1),
            Column("tpot_s", "TPOT", "seconds", 2), Column("tpot_forecast_s", "TPOT fcst", "seconds"),
            Column("tokens_per_s", "tok/s", "ratio", 6), Column("reason", "why"))
_KEYS = ("per_replica", "memory_bytes", "weights_bytes", "usable_bytes", "ttft_s", "ttft_forecast_s", "tpot_s", "tpot_forecast_s")


def ranking_report(rows: list[Ranked], m: Model, hw: Hardware, gpus: int) -> Report:
    table = tuple({"rank": str(r.rank) if r.rank else "—", "layout": r.layout.label, "fits": "yes" if r.fits else "no",
                   "tokens_per_s": r.tokens_per_s, "reason": r.reason, **{k: getattr(r, k) for k in _KEYS}}
                  for r in rows)
    data = {"schema": "rooflint.plan-layouts/1", "model": model_dict(m), "hardware": hardware_dict(hw), "gpus": gpus,
            "batch": rows[0].batch if rows else 0,
            "layouts": [{"rank": r.rank, "layout": r.layout.as_dict(), "fits": r.fits, "tokens_per_s": r.tokens_per_s,
                         "reason": r.reason, **{k: getattr(r, k) for k in _KEYS}} for r in rows]}
    best = next((r for r in rows if r.rank == 1), None)
    notes = (f"best: {best.layout.label}" if best else "no layout fits these GPUs",
             "ranked by the forecast time per output token among the layouts that fit; tok/s: the whole batch's")
    return Report("rooflint.plan-layouts/1", f"rooflint plan {m.name} on {gpus} x {hw.name}: layouts", data,
                  (Table("layouts", _COLUMNS, table),), notes=notes)
