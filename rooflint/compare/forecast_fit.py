"""Fitting the forecast's named parameters to measured cases, and cross-validating the fit.

A case's forecast is a sum over the ops its features hold (validation.Features) of FORECAST
(analysis/forecast.py), each factor the product of named parameters (`hw.peak_fraction.bf16`,
`engine.gemm_efficiency`, ...), plus the engine's step overhead per pass and the all-reduces'
RING_FORECAST (analysis/plan.py). Both formulas are compiled once over numpy arrays; the fit varies
the parameters in log space (scipy.optimize.least_squares, a soft-L1 loss on log(forecast /
measured), each category weighted alike, a weak pull towards the starting values so that a
parameter the data cannot see stays where it was).

GPU parameters are fitted per GPU where the data has at least MIN_GPU_CASES cases of it; the
other GPUs' cases share `default` (what a GPU without data gets). leave_gpu_out pools every GPU but
one and forecasts that one: the error on a GPU the fit never saw. Engine parameters are the engines'
own; the reference engine's efficiencies stay 1 (they multiply the GPU's achievable shares and
cannot be told apart from them).
"""

from __future__ import annotations

import csv
import math
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from statistics import median
from typing import Any

from rooflint.analysis.codegen import compile_function
from rooflint.analysis.forecast import FORECAST
from rooflint.analysis.plan import RING_FORECAST
from rooflint.compare.validation import Result
from rooflint.errors import RooflintError
from rooflint.specs.achievable import PRIOR
from rooflint.specs.catalog import fitted_achievable, fitted_gpus, load_engine, load_hardware

MIN_GPU_CASES = 20
REFERENCE_ENGINE = "trtllm"
PRIOR_WEIGHT = 0.05  # residual per parameter: PRIOR_WEIGHT x log(value / start)
LOSS_SCALE = 0.03  # soft-L1: errors beyond ~3% count linearly, not squared (outliers pull less)
FOLDS = 5
# Parameters whose value bounds are not (0, 1]: (lower, upper).
_RANGES = {"kernel_floor_s": (1e-6, 1e-5), "attention_floor_s": (1e-6, 1.2e-5), "attention_wave_s": (1e-7, 5e-5), "link_fraction": (0.25, 0.6), "launch_s": (1e-7, 1e-4), "step_overhead_s": (1e-6, 2e-2),
           "allreduce_latency_s": (5e-7, 2e-4), "gemm_efficiency": (0.2, 2.0), "attention_efficiency": (0.2, 2.0),
           "decode_attention_efficiency": (0.2, 2.0)}
_OP_INPUTS = ["flops", "bytes_read", "bytes_written", "present", "peak", "BW", "f_peak", "f_bw", "eta", "t_floor",
              "t_launch", "F_half", "waves", "t_wave"]
_PARTS = ("f_peak", "f_bw", "t_floor", "t_launch", "t_wave")
_RING_INPUTS = ["L", "N", "T", "D", "b_a", "link", "f_link", "t_ar"]


@lru_cache(maxsize=1)
def _compiled():
    """FORECAST and RING_FORECAST over numpy arrays (compiled on first use)."""
    return (compile_function([FORECAST], _OP_INPUTS, numpy=True), compile_function([RING_FORECAST], _RING_INPUTS,
                                                                                  numpy=True))


def _range(name: str) -> tuple[float, float]:
    return _RANGES.get(name.split(".")[1], (0.02, 1.0))


@dataclass
class Problem:
    """The cases' features as arrays, each factor an index into the parameter vector."""

    keys: list[tuple[str, str]]  # (owner, parameter): owner a GPU, 'default' or an engine
    start: Any  # numpy arrays, here and below
    case_ids: list[str]
    measured: Any
    weights: Any
    ops: dict[str, Any]  # case, scale x count, flops, bytes_read, bytes_written, present, peak, BW, eta,
    # waves x wave_scale
    factors: dict[str, Any]  # part -> [ops, k] parameter indices it multiplies (times: adds); padded
    passes: Any  # per case
    step_index: Any  # per case: its engine's step overhead parameter
    reduces: dict[str, Any]  # case, count, ranks, bytes, link, latency index, link-fraction index

    def forecast(self, theta):
        """Every case's forecast for parameters theta (in natural units)."""
        import numpy as np

        op_fn, ring_fn = _compiled()
        o = self.ops
        n = len(theta)
        padded = np.concatenate([theta, [1.0, 0.0]])  # index n: a factor of 1, n + 1: a time of 0
        parts = {}
        for part, ix in self.factors.items():
            ix = np.where(ix < 0, n if part.startswith("f_") else n + 1, ix)
            parts[part] = np.minimum(1.0, padded[ix].prod(axis=1)) if part.startswith("f_") else padded[ix].sum(axis=1)
        (t,) = op_fn(o["flops"], o["bytes_read"], o["bytes_written"], o["present"], o["peak"], o["BW"],
                     parts["f_peak"], parts["f_bw"], o["eta"], parts["t_floor"], parts["t_launch"], o["F_half"],
                     o["waves"], parts["t_wave"])
        out = np.bincount(o["case"], weights=o["weight"] * t, minlength=len(self.case_ids))
        out += self.passes * np.where(self.step_index >= 0, theta[np.maximum(self.step_index, 0)], 0.0)
        r = self.reduces
        if len(r["case"]):
            (ar,) = ring_fn(r["count"] / 2, r["ranks"], r["bytes"], 1.0, 1.0, r["link"],
                             theta[r["f_link"]], theta[r["t_ar"]])
            out += np.bincount(r["case"], weights=ar, minlength=len(self.case_ids))
        return out


def build(results: Sequence[Result], value_of: Callable[[str, str], float],
          per_gpu: Sequence[str] = (), reference: str = REFERENCE_ENGINE, hold: Sequence[str] = (),
          held: Mapping[tuple[str, str], float] | None = None) -> Problem:
    """The fit's arrays for the results with features. `value_of(owner, name)` gives a parameter's
    starting value; GPUs in per_gpu get parameters of their own, the others share `default`; the
    owners in `hold`, and the (owner, parameter)s in `held` (at the values given), stay as they are."""
    import numpy as np

    held = held or {}
    usable = [r for r in results if r.features is not None]
    if not usable:
        raise RooflintError("no case holds the features a fit needs")
    keys: dict[tuple[str, str], int] = {}
    start: list[float] = []

    def index(owner: str, name: str, fixed: bool = False) -> int:
        key = ("fixed:" + owner if fixed or owner in hold or (owner, name) in held else owner, name)
        if key not in keys:
            keys[key] = len(start)
            start.append(held.get((owner, name), value_of(owner, name)))
        return keys[key]

    by_category: dict[str, int] = {}
    for r in usable:
        by_category[r.case.category] = by_category.get(r.case.category, 0) + 1
    cols = {k: [] for k in ("case", "weight", "flops", "bytes_read", "bytes_written", "present", "peak", "BW", "eta",
                            "F_half", "waves")}
    factors: dict[str, list[list[int]]] = {part: [] for part in _PARTS}
    red = {k: [] for k in ("case", "count", "ranks", "bytes", "link", "f_link", "t_ar")}
    passes, steps = [], []
    for ci, r in enumerate(usable):
        eng = r.case.engine
        for o in r.features.ops:
            gpu = o["gpu"] if o["gpu"] in per_gpu else "default"
            for k, v in (("case", ci), ("weight", o["scale"] * o["count"]), ("flops", o["flops"]),
                         ("bytes_read", o["bytes_read"]), ("bytes_written", o["bytes_written"]),
                         ("present", o["present"]), ("peak", o["peak"]), ("BW", o["BW"]),
                         ("eta", o["forecast"]["wave_efficiency"]), ("F_half", o["forecast"].get("F_half", 0.0)),
                         ("waves", o["forecast"].get("waves", 0.0) * o["forecast"].get("wave_scale", 0.0))):
                cols[k].append(v)
            for part in _PARTS:
                names = o["forecast"]["factors"].get(part, [])
                ix = []
                for n in names:
                    owner, name = n.split(".", 1)
                    if owner == "engine" and eng == reference and name in ("gemm_efficiency", "attention_efficiency",
                                                                           "decode_attention_efficiency"):
                        ix.append(index(eng, n, fixed=True))
                    else:
                        ix.append(index(gpu if owner == "hw" else eng, n))
                factors[part].append(ix)
        passes.append(r.features.passes)
        steps.append(index(eng, "engine.step_overhead_s") if r.features.passes else -1)
        for a in r.features.allreduces:
            gpu = a["gpu"] if a["gpu"] in per_gpu else "default"
            for k, v in (("case", ci), ("count", a["count"]), ("ranks", a["ranks"]), ("bytes", a["bytes"]),
                         ("link", a["link_bytes_per_s"]), ("f_link", index(gpu, "hw.link_fraction")),
                         ("t_ar", index(eng, "engine.allreduce_latency_s"))):
                red[k].append(v)
    measured = np.array([r.case.measured_s for r in usable])
    weights = np.array([1 / math.sqrt(by_category[r.case.category]) for r in usable])
    ops = {k: np.asarray(v, dtype=float) if k != "case" else np.asarray(v, dtype=int) for k, v in cols.items()}
    reduces = {k: np.asarray(v, dtype=int if k in ("case", "f_link", "t_ar") else float) for k, v in red.items()}
    padded = {}
    for part, lists in factors.items():
        width = max([len(ix) for ix in lists] + [1])
        padded[part] = np.array([ix + [-1] * (width - len(ix)) for ix in lists], dtype=int).reshape(len(lists), width)
    return Problem([k for k, _ in sorted(keys.items(), key=lambda kv: kv[1])], np.array(start),
                   [r.case.id for r in usable], measured, weights, ops, padded, np.array(passes, dtype=float),
                   np.array(steps), reduces)


def fit(problem: Problem, rows=None):
    """Parameters minimising the weighted soft-L1 log error over `rows` (all cases when None)."""
    import numpy as np
    from scipy.optimize import least_squares

    free = np.array([not owner.startswith("fixed") for owner, _ in problem.keys])
    lo = np.log([_range(n)[0] if f else v * 0.999 for (_, n), v, f in zip(problem.keys, problem.start, free)])
    hi = np.log([_range(n)[1] if f else v * 1.001 for (_, n), v, f in zip(problem.keys, problem.start, free)])
    x0 = np.clip(np.log(problem.start), lo + 1e-9, hi - 1e-9)
    sel = np.arange(len(problem.measured)) if rows is None else rows
    log_meas = np.log(problem.measured[sel])

    def residuals(x):
        fc = problem.forecast(np.exp(x))[sel]
        return np.concatenate([problem.weights[sel] * (np.log(fc) - log_meas), PRIOR_WEIGHT * (x - x0) * free])

    res = least_squares(residuals, x0, bounds=(lo, hi), loss="soft_l1", f_scale=LOSS_SCALE, max_nfev=6000,
                        x_scale=1.0)
    return np.where(free, np.exp(res.x), problem.start)  # the held ones exactly as they were


def folds(case_ids: Sequence[str], k: int = FOLDS):
    """A fold per case, from a hash of its id (stable across runs and machines)."""
    import numpy as np

    return np.array([zlib.crc32(c.encode()) % k for c in case_ids])


Values = Mapping[tuple[str, str], float]  # (owner, parameter) -> value


def fit_all(results: Sequence[Result], held: Values) -> dict[tuple[str, str], float]:
    """The whole fit, from the priors (so that a refit reproduces it): first every GPU pooled as
    `default`, then each covered GPU's own parameters with `default` held at the pooled values.
    `held` (link shares, all-reduce latencies from collective rows) stays as given."""
    pooled = build(results, prior_value, held=held)
    learned = dict(zip(pooled.keys, fit(pooled)))
    start = lambda owner, name: learned.get((owner, name), prior_value(owner, name))  # noqa: E731
    per = build(results, start, per_gpu=covered_gpus(results), hold=("default",), held=held)
    out = {**{k: v for k, v in learned.items() if not k[0].startswith("fixed")}, **held}
    for (owner, name), v in zip(per.keys, fit(per)):
        out[(owner.split(":", 1)[1] if owner.startswith("fixed:") else owner, name)] = float(v)
    return out


def forecast_with(results: Sequence[Result], values: Values, per_gpu: Sequence[str]) -> dict[str, float]:
    """Each case's forecast with these parameters (the priors where they say nothing)."""
    problem = build(results, lambda owner, name: values.get((owner, name), prior_value(owner, name)),
                    per_gpu=per_gpu)
    return dict(zip(problem.case_ids, (float(v) for v in problem.forecast(problem.start))))


def cross_validate(results: Sequence[Result], held: Values, k: int = FOLDS) -> dict[str, float]:
    """Each case's forecast from the whole fit redone without its fold: case id -> seconds."""
    usable = [r for r in results if r.features is not None]
    fold = folds([r.case.id for r in usable], k)
    out: dict[str, float] = {}
    for f in range(k):
        train = [r for r, g in zip(usable, fold) if g != f]
        test = [r for r, g in zip(usable, fold) if g == f]
        if train and test:
            out.update(forecast_with(test, fit_all(train, held), covered_gpus(train)))
    return out


def leave_gpu_out(results: Sequence[Result], held: Values) -> dict[str, float]:
    """Each case's forecast from the whole fit redone without its GPU, which then gets `default`:
    how the forecast does on a GPU the fit never saw."""
    usable = [r for r in results if r.features is not None]
    out: dict[str, float] = {}
    for g in sorted({r.case.gpu for r in usable}):
        train = [r for r in usable if r.case.gpu != g]
        test = [r for r in usable if r.case.gpu == g]
        if train:
            values = fit_all(train, {k: v for k, v in held.items() if k[0] != g})
            out.update(forecast_with(test, values, [x for x in covered_gpus(train) if x != g]))
    return out


# Where every engine's fitted parameters start (the same for all: what the data does not move stays
# a plain prior, not a previous fit's number).
ENGINE_PRIOR = {"gemm_efficiency": 1.0, "attention_efficiency": 1.0, "decode_attention_efficiency": 1.0,
                "launch_s": 5e-6, "step_overhead_s": 3e-4, "allreduce_latency_s": 1e-5, "dequant_efficiency": 0.6}


def prior_value(owner: str, name: str) -> float:
    """A parameter's starting value: the GPU prior (achievable.PRIOR) or ENGINE_PRIOR."""
    kind, field = name.split(".", 1)
    if kind == "hw":
        return value_in(PRIOR, field)
    return ENGINE_PRIOR[field.split(".", 1)[0]]


def covered_gpus(results: Sequence[Result]) -> list[str]:
    """The GPUs with at least MIN_GPU_CASES cases: they get parameters of their own."""
    counts: dict[str, int] = {}
    for r in results:
        if r.features is not None:
            counts[r.case.gpu] = counts.get(r.case.gpu, 0) + 1
    return sorted(g for g, n in counts.items() if n >= MIN_GPU_CASES)


def shipped_value(owner: str, name: str) -> float:
    """A parameter's value as rooflint ships it: a GPU's (or the default) achievable, an engine's preset."""
    kind, field = name.split(".", 1)
    if kind == "hw":
        source = fitted_achievable("default") if owner == "default" else load_hardware(owner).achievable
    else:
        source = load_engine(owner)
    return value_in(source, field)


def value_in(source: object, field: str) -> float:
    """`attr` or `attr.key` of an Achievable or an Engine."""
    attr, _, key = field.partition(".")
    value = getattr(source, attr)
    if not key:
        return float(value)
    if attr == "attention_fraction":
        return float(value[int(key)])
    return float(value[key] if key in value else value.get("*", 1.0))


def own_entries() -> list[str]:
    """The GPUs whose fitted parameters are their own (not `default`)."""
    return fitted_gpus()


# ---------------------------------------------------------------- collectives

# aiconfigurator's system names and all-reduce implementations, as rooflint GPUs and engines.
SYSTEMS = {"a100_sxm": "a100-80gb", "h100_sxm": "h100-sxm"}
ALLREDUCE_IMPLS = {"vllm": "vllm_custom_graph", "sglang": "sglang_custom_graph", "trtllm": "trtllm_allreduce"}
LARGE_MESSAGE = 64 * 2**20  # bytes: from here an all-reduce runs at its bus bandwidth
COLLECTIVES = Path(__file__).resolve().parents[1] / "data" / "validation" / "collectives.csv"


@dataclass(frozen=True)
class CollectiveFit:
    link_fraction: dict[str, float]  # GPU -> NCCL's large all-reduce bus bandwidth / the profile's interconnect
    latency_s: dict[str, float]  # GPU -> NCCL's small all-reduce time
    engine_latency_s: dict[str, float]  # engine -> its all-reduce kernel's small-message time (CUDA graphs)
    rows: int


def fit_collectives(rows: Sequence[Mapping[str, str]], interconnect: Mapping[str, float]) -> CollectiveFit:
    """Per GPU, from single-node NCCL all-reduce rows (nccl-tests): the link share (median bus
    bandwidth of messages of LARGE_MESSAGE and more, over the profile's interconnect figure) and the
    latency (median over GPU counts of the smallest message's time). Per engine, its all-reduce
    kernel's latency the same way."""
    link: dict[str, list[float]] = {}
    small: dict[tuple[str, str, int], float] = {}
    used = 0
    for r in rows:
        if r["op"] != "all_reduce" or r["n_nodes"] != "1" or r["system"] not in SYSTEMS:
            continue
        gpu, impl, n, size, t = SYSTEMS[r["system"]], r["impl"], int(r["n_gpus"]), float(r["message_bytes"]), \
            float(r["time_s"])
        used += 1
        if impl == "nccl" and size >= LARGE_MESSAGE:
            busbw = size / t * 2 * (n - 1) / n
            link.setdefault(gpu, []).append(busbw / interconnect[gpu])
        key = (gpu, impl, n)
        small[key] = min(small.get(key, math.inf), t)

    def med(values: list[float]) -> float:
        return float(median(values))

    latency = {g: med([t for (gg, i, _), t in small.items() if gg == g and i == "nccl"]) for g in link}
    engines = {e: med([t for (_, i, _), t in small.items() if i == impl]) for e, impl in ALLREDUCE_IMPLS.items()}
    return CollectiveFit({g: med(v) for g, v in link.items()}, latency, engines, used)


def held_from(cf: CollectiveFit) -> dict[tuple[str, str], float]:
    """What the collective rows fix for the end-to-end fit: each GPU's link share (their mean for
    `default`) and each engine's all-reduce latency."""
    held = {(g, "hw.link_fraction"): v for g, v in cf.link_fraction.items()}
    held[("default", "hw.link_fraction")] = float(sum(cf.link_fraction.values()) / len(cf.link_fraction))
    held.update({(e, "engine.allreduce_latency_s"): v for e, v in cf.engine_latency_s.items()})
    return held


def shipped_collectives() -> CollectiveFit:
    """fit_collectives over the all-reduce rows rooflint ships (rooflint/data/validation)."""
    with open(COLLECTIVES, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return fit_collectives(rows, {g: load_hardware(g).interconnect_bytes_per_s for g in SYSTEMS.values()})
