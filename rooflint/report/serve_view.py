"""The report of `rooflint serve`: every (layout, concurrency) point and the frontier."""

from __future__ import annotations

from typing import Any

from rooflint.analysis.serve import Point, Serving
from rooflint.report.common import hardware_dict, model_dict
from rooflint.report.model import Column, Report, Section, Table

_COLUMNS = (Column("layout", "layout"), Column("concurrency", "concurrency", "int"),
            Column("per_replica", "per replica", "int", 3), Column("fits", "fits", drop=5),
            Column("ttft_s", "TTFT", "seconds", 2), Column("ttft_forecast_s", "TTFT fcst", "seconds"),
            Column("tpot_s", "TPOT", "seconds", 1), Column("tpot_forecast_s", "TPOT fcst", "seconds"),
            Column("interactivity", "tok/s/user", "ratio"), Column("throughput_per_gpu", "tok/s/GPU", "ratio"),
            Column("on_frontier", "frontier", drop=4))
_KEYS = ("ttft_s", "ttft_forecast_s", "tpot_s", "tpot_forecast_s", "interactivity", "throughput_per_gpu")


def _row(p: Point, on: bool) -> dict[str, Any]:
    return {"concurrency": p.concurrency, "layout": p.layout.label,
            "per_replica": p.per_replica, "kv_capacity": p.kv_capacity, "fits": "yes" if p.fits else "no",
            **{k: p.value(k) for k in _KEYS}, "on_frontier": "*" if on else ""}


def _doc(p: Point, on: bool) -> dict[str, Any]:
    return {"concurrency": p.concurrency, "layout": p.layout.as_dict(), "per_replica": p.per_replica,
            "kv_capacity": p.kv_capacity, "fits": p.fits, **{k: p.value(k) for k in _KEYS}, "frontier": on}


def serve_report(s: Serving) -> Report:
    front = set(s.frontier)
    rows = tuple(_row(p, i in front) for i, p in enumerate(s.points))
    data = {"schema": "rooflint.serve/1", "model": model_dict(s.model), "hardware": hardware_dict(s.hardware),
            "settings": {"gpus": s.gpus, "isl": s.isl, "osl": s.osl, "prefix_hit": s.prefix_hit, "engine": s.engine,
                         "lengths": ({"requests": s.mix.requests, "mean_context": s.mix.context,
                                      "mean_kv_tokens": s.mix.longest} if s.mix else None)},
            "points": [_doc(p, i in front) for i, p in enumerate(s.points)],
            "frontier": [_doc(s.points[i], True) for i in s.frontier]}
    title = f"rooflint serve {s.model.name} on {s.gpus} x {s.hardware.name}: isl {s.isl}, osl {s.osl:.0f}, {s.engine}"
    notes = ("tpot = a step: the batch's decode at the mean context (isl + osl/2) and c/osl of a prefill (less "
             "a one-token pass's cost, which the step pays already); "
             "ttft = the prefill and the step it joins; tok/s from the forecast; frontier (*): no fitting point has "
             "both more tok/s/user and more tok/s/GPU",
             "fits: the replica's KV budget holds its requests at isl + osl tokens (blocks of 16)")

    def explain() -> tuple[Section, ...]:
        return tuple(Section(f"concurrency {s.points[i].concurrency}, {s.points[i].layout.label} (frontier)",
                             s.points[i].terms) for i in s.frontier)
    frontier_rows = tuple(rows[i] for i in s.frontier)
    tables = (Table("frontier", _COLUMNS, frontier_rows),)
    if len(rows) > len(frontier_rows):  # the points off the frontier too
        tables += (Table("every point", _COLUMNS, rows),)
    return Report("rooflint.serve/1", title, data, tables, notes=notes, explain=explain)
