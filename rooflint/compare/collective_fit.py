"""The collective model (analysis/collectives.py) against nccl-tests: its fit and its error.

The rows are aiconfigurator's nccl-tests tables (rooflint/data/validation/collectives.csv, copied
from shared/reference/measured): single-node NCCL all-reduce, all-gather, reduce-scatter and
all-to-all on 2, 4 and 8 A100s and H100s, 512 B to 512 MiB. Repeated runs of a point are taken
at their median. Per GPU and op the six parameters are fitted (scipy least_squares, soft-L1 on
the log error, a weak pull to the prior); `default` is the same fit over both GPUs at once, the
fractions being shares of each profile's own interconnect figure.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from statistics import median

from rooflint.analysis.collectives import PARAMETERS, figures, protocol_values, single_protocol, traffic_factor
from rooflint.analysis.terms import figure_values
from rooflint.measure.stats import quantile
from rooflint.specs.achievable import COLLECTIVE_BOUNDS, PRIOR_COLLECTIVES
from rooflint.specs.catalog import load_hardware

ROWS = Path(__file__).resolve().parents[1] / "data" / "validation" / "collectives.csv"
SYSTEMS = {"a100_sxm": "a100-80gb", "h100_sxm": "h100-sxm"}  # aiconfigurator's system names
OP_NAMES = {"all_reduce": "all_reduce", "all_gather": "all_gather", "reduce_scatter": "reduce_scatter",
            "alltoall": "all_to_all"}  # nccl-tests' names -> rooflint's
PRIOR_WEIGHT = 0.02


@dataclass(frozen=True, slots=True)
class Point:
    """One measured point: the median of its runs."""

    gpu: str
    op: str
    gpus: int
    message_bytes: float
    time_s: float
    runs: int


def load_points(path: Path | str = ROWS) -> list[Point]:
    """The single-node NCCL rows of a collectives CSV, one point per (GPU, op, n, size)."""
    runs: dict[tuple[str, str, int, float], list[float]] = {}
    with open(path, encoding="utf-8") as f:
        for r in csv.DictReader(f):
            if r["impl"] != "nccl" or r["n_nodes"] != "1" or r["system"] not in SYSTEMS or r["op"] not in OP_NAMES:
                continue
            if r["dtype"] not in ("fp16", "bf16"):
                continue  # int8 rows move half the bytes per element and run the same curves
            key = (SYSTEMS[r["system"]], OP_NAMES[r["op"]], int(r["n_gpus"]), float(r["message_bytes"]))
            runs.setdefault(key, []).append(float(r["time_s"]))
    return [Point(g, op, n, size, float(median(ts)), len(ts)) for (g, op, n, size), ts in sorted(runs.items())]


def _figures(op: str, params: Mapping[str, float], gpus, sizes, links) -> dict:
    """analysis/collectives.py's figures of one op over arrays of points (its own expressions)."""
    values = {"n": gpus, "T": sizes, "link": links, **protocol_values(params)}
    return figure_values(figures(op, 1), values)


def fit(points: Sequence[Point], links: Mapping[str, float]) -> dict[str, float]:
    """The six parameters of one op fitted to its points (of one GPU or several): the bandwidth
    shares of each GPU's `links` figure."""
    import numpy as np
    from scipy.optimize import least_squares

    keys = PARAMETERS
    op, = {p.op for p in points}
    prior = np.log([PRIOR_COLLECTIVES[op][k] for k in keys])
    lo = np.log([max(COLLECTIVE_BOUNDS[k][0], 1e-9) for k in keys])
    hi = np.log([COLLECTIVE_BOUNDS[k][1] for k in keys])
    measured = np.log([p.time_s for p in points])
    gpus = np.array([p.gpus for p in points], dtype=float)
    sizes = np.array([p.message_bytes for p in points])
    link = np.array([links[p.gpu] for p in points])

    def residuals(x):
        model = np.log(_figures(op, dict(zip(keys, np.exp(x))), gpus, sizes, link)["time_forecast_s"])
        return np.concatenate([model - measured, PRIOR_WEIGHT * (x - prior)])

    res = least_squares(residuals, np.clip(prior, lo + 1e-9, hi - 1e-9), bounds=(lo, hi), loss="soft_l1", f_scale=0.1)
    return {k: float(f"{v:.4g}") for k, v in zip(keys, np.exp(res.x))}


def fit_all(points: Sequence[Point], links: Mapping[str, float]) -> dict[str, dict[str, dict[str, float]]]:
    """owner (each GPU, and `default` over all of them) -> op -> its six parameters."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for owner in (*sorted({p.gpu for p in points}), "default"):
        mine = [p for p in points if owner in ("default", p.gpu)]
        out[owner] = {op: fit([p for p in mine if p.op == op], links) for op in sorted({p.op for p in mine})}
    return out


@dataclass(frozen=True, slots=True)
class OpError:
    gpu: str
    op: str
    points: int
    median_error: float
    p90_error: float
    bound_beaten: int  # points measured below 0.95 x the bound
    min_bound_ratio: float


def errors(points: Sequence[Point], params: Mapping[str, Mapping[str, Mapping[str, float]]],
           links: Mapping[str, float]) -> list[OpError]:
    """The collective forecast (with params[gpu][op]) and bound at every point, per (GPU, op)."""
    import numpy as np

    out = []
    for gpu, op in sorted({(p.gpu, p.op) for p in points}):
        mine = [p for p in points if (p.gpu, p.op) == (gpu, op)]
        measured = np.array([p.time_s for p in mine])
        got = _figures(op, params[gpu][op], np.array([p.gpus for p in mine], dtype=float),
                       np.array([p.message_bytes for p in mine]), links[gpu])
        errs = sorted(np.abs(got["time_forecast_s"] / measured - 1).tolist())
        ratios = (measured / got["time_s"]).tolist()
        out.append(OpError(gpu, op, len(mine), float(median(errs)), quantile(errs, 0.9),
                           sum(r < 0.95 for r in ratios), min(ratios)))
    return out


def shipped(points: Sequence[Point]) -> tuple[dict, dict]:
    """The parameters rooflint ships for the points' GPUs, and their links."""
    hw = {g: load_hardware(g) for g in {p.gpu for p in points}}
    return {g: h.achievable.collectives for g, h in hw.items()}, {g: h.interconnect_bytes_per_s for g, h in hw.items()}


# ---------------------------------------------------------------- a measured run (rooflint measure --collectives)

@dataclass(frozen=True, slots=True)
class MeasuredFit:
    """One op's latency + bandwidth fit to a measured run: t = latency + factor T / bandwidth,
    the bandwidth being the bus bandwidth (each rank's traffic over its time)."""

    op: str
    latency_s: float
    bandwidth_bytes_per_s: float
    points: int


def fit_measured(op: str, world: int, sizes: Sequence[float], times: Sequence[float]) -> MeasuredFit:
    """Least squares on the relative error (each point weighted by 1 / its time) of the medians;
    a latency that comes out negative (noise at the small sizes) is held at half the smallest time."""
    import numpy as np

    factor = traffic_factor(op, world)
    t = np.asarray(times, dtype=float)
    traffic = factor * np.asarray(sizes, dtype=float)
    a = np.stack([1 / t, traffic / t], axis=1)
    (latency, inverse), *_ = np.linalg.lstsq(a, np.ones_like(t), rcond=None)
    if latency <= 0 or inverse <= 0:
        latency = 0.5 * float(t.min())
        inverse = float(np.sum((t - latency) * traffic / t**2) / np.sum(traffic**2 / t**2))
    inverse = max(inverse, 1e-15)
    return MeasuredFit(op, float(latency), float(1 / inverse), len(t))


def measured_time(fit: MeasuredFit, world: int, size: float) -> float:
    """The fitted time of one point: analysis/collectives.py's forecast with both protocols the
    measured latency and bandwidth (what a profile saved from the fit forecasts)."""
    params = single_protocol(fit.latency_s, 1.0)
    return float(_figures(fit.op, params, world, size, fit.bandwidth_bytes_per_s)["time_forecast_s"])


@dataclass(frozen=True, slots=True)
class MeasuredPoint:
    op: str
    message_bytes: float
    median_s: float
    rel_iqr: float
    samples: int
    busbw_bytes_per_s: float  # each rank's traffic / the median time
    fitted_s: float

    @property
    def error(self) -> float:
        return self.fitted_s / self.median_s - 1


def compare_run(run) -> tuple[list[MeasuredPoint], dict[str, MeasuredFit]]:
    """A measured collective run (measure/collectives.py's CollectiveRun): each op's fit, and
    each point beside its fitted time."""
    fits: dict[str, MeasuredFit] = {}
    rows: list[MeasuredPoint] = []
    for op in dict.fromkeys(p.op for p in run.points):
        mine = [p for p in run.points if p.op == op]
        if len(mine) < 2:
            continue  # a line needs two points
        fits[op] = fit_measured(op, run.world_size, [p.message_bytes for p in mine], [p.stats.median for p in mine])
        factor = traffic_factor(op, run.world_size)
        rows += [MeasuredPoint(op, p.message_bytes, p.stats.median, p.stats.rel_iqr, len(p.samples_s),
                               factor * p.message_bytes / p.stats.median,
                               measured_time(fits[op], run.world_size, p.message_bytes)) for p in mine]
    return rows, fits


def with_measured_collectives(base, fits: Mapping[str, MeasuredFit], run, name: str):
    """`base` (a Hardware) with the run's collectives as its achievable.collectives: both of NCCL's
    protocols the measured latency and bus bandwidth (a share of the interconnect figure, raised to
    the fastest measured op's bandwidth when the base has none or a slower one)."""
    link = max([base.interconnect_bytes_per_s or 0.0, *(f.bandwidth_bytes_per_s for f in fits.values())])
    if min(f.bandwidth_bytes_per_s for f in fits.values()) < 1e-3 * link:
        link = max(f.bandwidth_bytes_per_s for f in fits.values())  # the datasheet link dwarfs what was run
    ops = dict(base.achievable.collectives)
    for op, f in fits.items():
        ops[op] = single_protocol(min(f.latency_s, 1e-2), min(1.0, max(1e-3, f.bandwidth_bytes_per_s / link)))
    when = f"rooflint measure --collectives ({run.backend}, {run.world_size} ranks, {run.environment.get('date', '')})"
    source = {**base.achievable.source, **{f"collectives.{op}": f"{when}: latency + bus bandwidth" for op in fits}}
    achievable = replace(base.achievable, collectives=ops, source=source)
    prov = {**base.provenance, "interconnect": {"note": f"{when}: the fastest op's bus bandwidth"
                                                if link != base.interconnect_bytes_per_s else "datasheet, not measured"}}
    return replace(base, name=name, aliases=(), interconnect_bytes_per_s=link, achievable=achievable,
                   provenance=prov, path="")
