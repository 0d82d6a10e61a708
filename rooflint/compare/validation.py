"""Forecast and bound against published measurements: cases, their evaluation, and the error
by category.

A case is one measured time and the rooflint commands that describe the same work, with terms
saying how the rooflint time is composed from the commands' JSON (shared/reference/measured's
conventions: `published.json` cases, `kernels.csv` rows). Evaluating a case runs its commands
(through a callback: compare/ does not know the CLI) and reads each term's bound at its path and
its forecast at the sibling `*_forecast_s` path.

Each case also yields its **features**: the ops the forecast summed (their FLOPs, bytes, wave
efficiency and the named parameters each factor multiplies), the passes that paid the engine's
step overhead, and the all-reduces. With them, compare/forecast_fit.py recomputes every forecast
for other parameter values without running rooflint again: that is what the fit and its
cross-validation vary.
"""

from __future__ import annotations

import csv
import json
import math
import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import Any

from rooflint.errors import SpecError
from rooflint.measure.stats import quantile

BOUND_SLACK = 0.05  # a measurement may beat the bound by this share before it counts as a violation

# How a source's engine reads as an engine preset; kernel benchmarks time one kernel back to back
# (no host between kernels), as TensorRT-LLM's runtime runs them.
ENGINE_PRESETS = (("gpt-fast", "gpt-fast"), ("torchao", "gpt-fast"), ("vllm", "vllm"), ("sglang", "sglang"),
                  ("tensorrt-llm", "trtllm"), ("trt-llm", "trtllm"), ("trtllm", "trtllm"), ("llama.cpp", "llama.cpp"))
KERNEL_ENGINE = "trtllm"
_RATE_WORK = {"tokens/s": ("tokens", 1.0), "TFLOP/s": ("flops", 1e12), "GB/s": ("bytes", 1e9)}
_TIME_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6}


def engine_preset(text: str) -> str:
    low = text.lower()
    return next((preset for key, preset in ENGINE_PRESETS if key in low), KERNEL_ENGINE)


@dataclass(frozen=True, slots=True)
class Part:
    """One term: scale x the value at `path` in the JSON of command `cmd` (or scale / value)."""

    cmd: int
    path: str
    scale: float = 1.0
    ops: tuple[str, ...] = ()  # sum time_s over the ops of these names in the list at path
    reciprocal: bool = False


@dataclass(frozen=True, slots=True)
class Case:
    id: str
    category: str
    engine: str  # the engine preset the forecast runs with
    gpu: str
    commands: tuple[tuple[str, ...], ...]
    parts: tuple[Part, ...]
    measured_s: float
    source: str = ""


# ---------------------------------------------------------------- loading


def load_cases(path: str | Path) -> list[Case]:
    """Cases from a published-measurements JSON or a kernel-rows CSV (by suffix)."""
    path = Path(path)
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(where, None, f"cannot read: {exc.strerror or exc}") from None
    if path.suffix == ".csv":
        return _csv_cases(text, where)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError(where, None, f"not JSON: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("cases"), list):
        raise SpecError(where, "cases", "expected a list of cases")
    return [_json_case(c, where, i) for i, c in enumerate(doc["cases"])]


def _json_case(c: Any, where: str, i: int) -> Case:
    at = f"cases[{i}]"
    if not isinstance(c, dict):
        raise SpecError(where, at, "expected a mapping")
    try:
        measured = _measured_seconds(c["measured"], c.get("work") or {})
        commands = tuple(tuple(str(a) for a in cmd) for cmd in c["commands"])
        parts = tuple(_part(t, len(commands)) for t in c["terms"])
        source = c.get("source", {})
        return Case(str(c["id"]), str(c["category"]), engine_preset(str(c.get("engine", ""))), str(c["gpu"]),
                    commands, parts, measured, source.get("url") or source.get("title", "") if isinstance(source, dict)
                    else str(source))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise SpecError(where, at, f"malformed case: {exc}") from None


def _part(t: Mapping[str, Any], commands: int) -> Part:
    ops = t.get("ops") or ()
    if isinstance(ops, str) or not all(isinstance(o, str) for o in ops):
        raise ValueError(f"ops must be a list of op names, got {ops!r}")
    cmd, path, scale = int(t.get("cmd", 0)), str(t["path"]), float(t.get("scale", 1.0))
    if not 0 <= cmd < commands:
        raise ValueError(f"cmd {cmd} names no command (there are {commands})")
    if not math.isfinite(scale) or scale <= 0:
        raise ValueError(f"scale {scale!r} is not positive")
    reciprocal = bool(t.get("reciprocal", False))
    if reciprocal and not path.startswith("hardware."):
        raise ValueError(f"reciprocal applies to a hardware rate (hardware.*), not {path}")
    return Part(cmd, path, scale, tuple(ops), reciprocal)


def _measured_seconds(m: Mapping[str, Any], work: Mapping[str, Any]) -> float:
    value, unit = float(m["value"]), str(m["unit"])
    if unit in _TIME_UNITS:
        seconds = value * _TIME_UNITS[unit]
    elif unit in _RATE_WORK:
        what, scale = _RATE_WORK[unit]
        seconds = float(work[what]) / (value * scale)
    else:
        raise ValueError(f"unknown unit {unit!r}")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"measured time {seconds!r} is not positive")
    return seconds


KERNEL_CATEGORY = {"gemm": "aic-gemm", "context_attention": "aic-context-attention",
                   "generation_attention": "aic-decode-attention"}


def _csv_cases(text: str, where: str) -> list[Case]:
    """kernels.csv rows (shared/reference/measured's columns) that rooflint can express and that
    are not suspect or warm-L2 (an HBM forecast does not describe an L2-resident timing)."""
    out = []
    for n, row in enumerate(csv.DictReader(text.splitlines())):
        try:
            if row.get("expressible") != "1" or row.get("suspect") == "1" or row.get("l2_resident") == "1":
                continue
            ops = tuple(o for o in (row.get("ops") or "").split("+") if o)
            kind = row["kind"]
            category = KERNEL_CATEGORY[kind] + ("-fp8" if kind == "gemm" and "fp8" in row["dtype"] else
                                                "-int8" if kind == "gemm" and row["dtype"] == "sq" else "")
            args = shlex.split(row["command"])
            args = args[1:] if args and args[0] == "rooflint" else args
            measured = float(row["measured_s"])
            if not math.isfinite(measured) or measured <= 0:
                raise ValueError(f"measured_s {row['measured_s']!r} is not a positive time")
            out.append(Case(row["id"], category, row["engine"], row["gpu"], (tuple(args),),
                            (Part(0, row["path"], 1.0, ops),), measured, "ai-dynamo/aiconfigurator " + row["id"]))
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            raise SpecError(where, f"row {n + 2}", f"malformed row: {exc}") from None
    return out


# ---------------------------------------------------------------- evaluation


@dataclass(frozen=True, slots=True)
class Features:
    """What one case's forecast is made of, per term: ops (one dict each, as op JSON gives them,
    with the term's scale), passes paying the step overhead, and all-reduces."""

    ops: tuple[Mapping[str, Any], ...]  # each with "scale", "count", flops, bytes, peak, BW, eta, factors
    passes: float  # forward passes (x scale) that pay engine.step_overhead_s
    allreduces: tuple[Mapping[str, float], ...]  # count (x scale), ranks, bytes, link_bytes_per_s


@dataclass(frozen=True, slots=True)
class Result:
    case: Case
    bound_s: float
    forecast_s: float
    features: Features | None = None

    @property
    def error(self) -> float:
        """(forecast - measured) / measured."""
        return self.forecast_s / self.case.measured_s - 1

    @property
    def bound_ratio(self) -> float:
        """measured / bound: below 1 - BOUND_SLACK the bound is violated."""
        return self.case.measured_s / self.bound_s


def forecast_path(path: str) -> str:
    """The forecast's key beside a bound's: `x_s` -> `x_forecast_s`; a hardware rate -> its achievable
    (the memory bandwidth a bandwidth test measures is a copy's: `copy_bandwidth_bytes_per_s`)."""
    if path == "hardware.bandwidth_bytes_per_s":
        return "hardware.achievable.copy_bandwidth_bytes_per_s"
    if path.startswith("hardware."):
        return "hardware.achievable." + path.split(".", 1)[1]
    head, _, last = path.rpartition(".")
    return (head + "." if head else "") + last[:-2] + "_forecast_s"


def _lookup(doc: Any, path: str) -> Any:
    """The value at a dotted path (list indices as numbers); plan's times live in its `plan` section."""
    if isinstance(doc, dict) and path.split(".", 1)[0] not in doc and isinstance(doc.get("plan"), dict):
        doc = doc["plan"]
    value = doc
    for part in path.split("."):
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value


def evaluate_case(case: Case, run: Callable[[Sequence[str], str], Mapping[str, Any]]) -> Result:
    """Runs the case's commands (run(args, engine) -> JSON document) and composes bound and forecast."""
    docs = [run(cmd, case.engine) for cmd in case.commands]
    bound = forecast = 0.0
    ops: list[dict] = []
    passes = 0.0
    reduces: list[dict] = []
    complete = True
    for t in case.parts:
        doc = docs[t.cmd]
        if t.ops:
            chosen = [o for o in _lookup(doc, t.path) if o["name"] in t.ops]
            b = sum(o["time_s"] for o in chosen)
            f = sum(o["time_forecast_s"] for o in chosen)
            ops += [_with_roofs({**o, "count": 1, "scale": t.scale, "gpu": _gpu(doc)}, doc) for o in chosen]
        elif t.reciprocal:
            rate, rate_fc = _lookup(doc, t.path), _lookup(doc, forecast_path(t.path))
            b, f = 1 / rate, 1 / rate_fc
            ops.append(_with_roofs(_copy_op(doc, t.scale), doc))
        else:
            b, f = _lookup(doc, t.path), _lookup(doc, forecast_path(t.path))
            parts = _term_parts(doc, t.path)
            if parts is None:
                complete = False
            else:
                term_ops, term_passes, term_reduces = parts
                ops += [_with_roofs({**o, "scale": t.scale, "gpu": _gpu(doc)}, doc) for o in term_ops]
                passes += term_passes * t.scale
                reduces += [{**r, "count": r["count"] * t.scale, "gpu": _gpu(doc)} for r in term_reduces]
        bound += t.scale * b
        forecast += t.scale * f
    features = Features(tuple(ops), passes, tuple(reduces)) if complete else None
    return Result(case, bound, forecast, features)


def _gpu(doc: Mapping[str, Any]) -> str:
    return doc["hardware"]["name"]


def _copy_op(doc: Mapping[str, Any], nbytes: float) -> dict:
    """A copy of nbytes at the achievable copy bandwidth: no floor, no launch (a bandwidth test)."""
    return {"name": "copy", "kind": "memory", "peak_key": "fp32", "count": 1, "present": 1, "flops": 0.0,
            "bytes_read": nbytes, "bytes_written": 0.0, "scale": 1.0, "gpu": _gpu(doc),
            "forecast": {"wave_efficiency": 1.0, "factors": {"f_peak": [], "f_bw": ["hw.copy_bandwidth_fraction"],
                                                             "t_floor": [], "t_launch": []}}}


def _term_parts(doc: Mapping[str, Any], path: str):
    """(ops, passes, all-reduces) behind a time's key, or None where the JSON does not hold them."""
    if path == "time_s" and "op" in doc:  # gemm
        return [doc["op"]], 0, []
    if path.startswith("rows.") and path.endswith("flash_time_s"):  # attention
        return [_lookup(doc, path.rsplit(".", 1)[0] + ".flash_op")], 0, []
    if path in ("totals.ttft_s", "totals.tpot_s"):  # analyze: the pass's ops and one step
        phase = doc["phases"]["prefill" if path == "totals.ttft_s" else "decode"]
        return phase["ops"], 1, []
    if path in doc.get("forecast_parts", {}):  # plan: TPOT, and TTFT of a one-chunk prompt
        part = doc["forecast_parts"][path]
        return part["ops"], part["passes"], [part["allreduces"]] if part["allreduces"] else []
    return None


def _with_roofs(o: Mapping[str, Any], doc: Mapping[str, Any]) -> dict:
    hw = doc["hardware"]
    return {**o, "peak": hw["peak_flop_per_s"].get(o["peak_key"], 1.0), "BW": hw["bandwidth_bytes_per_s"]}


def evaluate(cases: Iterable[Case], run: Callable[[Sequence[str], str], Mapping[str, Any]],
             progress: Callable[[int], None] | None = None) -> list[Result]:
    """Every case evaluated; a case whose paths or ops its commands' JSON does not hold is refused
    by its id (the data set is wrong, not the forecast)."""
    out = []
    for i, c in enumerate(cases):
        try:
            r = evaluate_case(c, run)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise SpecError(c.id, None, f"its terms do not match its commands' output ({type(exc).__name__}: "
                                        f"{exc})") from None
        if not (r.bound_s > 0 and math.isfinite(r.bound_s) and r.forecast_s > 0 and math.isfinite(r.forecast_s)):
            raise SpecError(c.id, None, f"its terms give no time (bound {r.bound_s!r}, forecast {r.forecast_s!r}): "
                                        "an op name or path that matches nothing?")
        out.append(r)
        if progress:
            progress(i + 1)
    return out


# ---------------------------------------------------------------- statistics


@dataclass(frozen=True, slots=True)
class CategoryStats:
    category: str
    cases: int
    median_error: float  # of |forecast - measured| / measured
    p90_error: float
    median_signed: float  # of (forecast - measured) / measured: + when the forecast is slow
    violations: int  # measurements below (1 - BOUND_SLACK) x bound
    min_bound_ratio: float  # the closest any measurement comes to its bound (measured / bound)
    held_out_median: float | None = None  # the same from cross-validation, when run
    held_out_p90: float | None = None
    worst: tuple[str, ...] = field(default=())


def category_stats(results: Sequence[Result], held_out: Mapping[str, float] | None = None) -> list[CategoryStats]:
    """Per category (and 'all'): error of the forecast, violations of the bound; `held_out` maps a
    case id to its forecast from parameters fitted without it."""
    groups: dict[str, list[Result]] = {}
    for r in results:
        groups.setdefault(r.case.category, []).append(r)
    groups["all"] = list(results)
    out = []
    for name, rs in groups.items():
        errs = [abs(r.error) for r in rs]
        ho = [abs(held_out[r.case.id] / r.case.measured_s - 1) for r in rs if held_out and r.case.id in held_out]
        worst = tuple(r.case.id for r in sorted(rs, key=lambda r: -abs(r.error))[:3])
        out.append(CategoryStats(name, len(rs), median(errs), quantile(errs, 0.9), median(r.error for r in rs),
                                 sum(r.bound_ratio < 1 - BOUND_SLACK for r in rs), min(r.bound_ratio for r in rs),
                                 median(ho) if ho else None, quantile(ho, 0.9) if ho else None, worst))
    return out
