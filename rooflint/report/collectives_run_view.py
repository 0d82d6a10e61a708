"""The report of `rooflint measure --collectives`: each op at each size beside its fit."""

from __future__ import annotations

from dataclasses import asdict

from rooflint.compare.collective_fit import MeasuredFit, MeasuredPoint
from rooflint.report.model import Column, Report, Table

_POINTS = (Column("op", "op"), Column("message_bytes", "message", "bytes"), Column("median_s", "measured", "seconds"),
           Column("rel_iqr", "noise (IQR)", "percent"), Column("samples", "samples", "int"),
           Column("busbw_bytes_per_s", "busbw", "bytes_per_s"), Column("fitted_s", "fit", "seconds"),
           Column("error", "fit error", "percent"))
_FITS = (Column("op", "op"), Column("latency_s", "latency", "seconds"),
         Column("bandwidth_bytes_per_s", "bus bandwidth", "bytes_per_s"), Column("points", "points", "int"),
         Column("median_error", "median |error|", "percent"))


def collectives_run_report(run, rows: list[MeasuredPoint], fits: dict[str, MeasuredFit],
                           saved: str | None = None) -> Report:
    point_rows = tuple({**asdict(r), "error": r.error} for r in rows)
    fit_rows = []
    for op, f in fits.items():
        errs = sorted(abs(r.error) for r in rows if r.op == op)
        fit_rows.append({**asdict(f), "median_error": errs[len(errs) // 2] if errs else 0.0})
    data = {"schema": "rooflint.measure-collectives/1", "environment": dict(run.environment),
            "interrupted": run.interrupted,
            "points": [{**r, "samples_s": list(p.samples_s), "calls": p.calls, "stop_reason": p.stop_reason}
                       for r, p in zip(point_rows, (q for op in fits for q in run.points if q.op == op))],
            "fit": {r["op"]: {k: v for k, v in r.items() if k != "op"} for r in fit_rows}}
    title = (f"rooflint measure --collectives: {run.world_size} ranks, {run.backend} on {run.device}"
             + (" (interrupted)" if run.interrupted else ""))
    notes = ["measured: the median over samples of the slowest rank's time per call; fit: latency + each rank's "
             "traffic / bus bandwidth, least squares on the relative error"]
    if saved:
        notes.append(f"profile with these collectives written to {saved} (use it with --gpu {saved})")
    return Report("rooflint.measure-collectives/1", title, data,
                  (Table("collectives measured", _POINTS, point_rows), Table("fit per op", _FITS, tuple(fit_rows))),
                  notes=tuple(notes))
