"""Budgets for CI: cases (a model on a GPU with settings, or kernels of a measured run) and the
limits they must hold. Loading is strict (every field checked, errors name file and field);
evaluating (evaluate.py) is the analyzer's and the comparison's math. A case's settings are
Workload fields, resolved like every command's options.

    results: run.json            # optional: a saved `rooflint measure -f json`
    cases:
      - name: llama3-8b chat
        model: llama3-8b
        gpu: h100
        settings: {batch: 16, prompt: 2048, context: 4096, kv_dtype: fp8, attention: flash}
        limits: {fits: true, max_kv_cache: 8 GiB, max_tpot: 30 ms, min_tokens_per_s: 500, max_ttft: 1 s}
      - name: GEMMs near the roof
        measured: {kernel: gemm, dtype: bf16}
        limits: {min_roofline: 70%}
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rooflint.errors import SpecError, one_line
from rooflint.inputs import read_mapping
from rooflint.units import MAX_COUNT, UnitParseError, parse_quantity

MODEL_LIMITS = {"fits": "bool", "max_kv_cache": "bytes", "max_tpot": "seconds", "max_ttft": "seconds",
                "min_tokens_per_s": "number"}
MEASURED_LIMITS = {"min_roofline": "percent", "max_abs_error": "percent"}
SETTINGS = {"batch": int, "prompt": int, "context": int, "prefix": int, "dtype": str, "kv_dtype": str,
            "weight_dtype": str, "attention": str, "mla_mode": str, "kv_group_size": int, "weight_group_size": int,
            "quantize": str, "memory_utilization": float, "chunk": int}
MEASURED_FILTER = ("kernel", "variant", "dtype", "backend")
MAX_CASES = 10_000


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    where: str  # "budget.yaml: cases[0]" for messages
    limits: Mapping[str, Any]
    model: str | None = None
    gpu: str | None = None
    settings: Mapping[str, Any] | None = None
    measured: Mapping[str, str] | None = None  # filter over the results' kernels


@dataclass(frozen=True, slots=True)
class Budget:
    path: str
    cases: tuple[Case, ...]
    results: str | None = None




def load_budget(path: str) -> Budget:
    raw = read_mapping(Path(path))
    _keys(raw, {"cases", "results"}, path, "")
    cases = raw.get("cases")
    if not isinstance(cases, list) or not cases:
        raise SpecError(path, "cases", "expected a non-empty list of cases")
    if len(cases) > MAX_CASES:
        raise SpecError(path, "cases", f"{len(cases):,} cases: at most {MAX_CASES:,}")
    results = raw.get("results")
    if results is not None and (not isinstance(results, str) or not results.strip()):
        raise SpecError(path, "results", "expected the path of a `rooflint measure -f json` file")
    if results is not None:
        results = str((Path(path).parent / results)) if not Path(results).is_absolute() else results
    return Budget(path, tuple(_case(c, f"cases[{i}]", path) for i, c in enumerate(cases)), results)


def _case(raw: Any, field: str, path: str) -> Case:
    if not isinstance(raw, dict):
        raise SpecError(path, field, "expected a mapping with name, limits and model/gpu or measured")
    _keys(raw, {"name", "model", "gpu", "settings", "limits", "measured"}, path, field + ".")
    name = raw.get("name", field)
    if not isinstance(name, str) or not name.strip() or one_line(name) != name:
        raise SpecError(path, f"{field}.name", f"expected a name (text on one line), got {name!r}")
    limits = raw.get("limits")
    if not isinstance(limits, dict) or not limits:
        raise SpecError(path, f"{field}.limits", "expected a mapping of limits, e.g. {max_tpot: 30 ms}")
    if raw.get("measured") is not None:
        measured = raw["measured"]
        if not isinstance(measured, dict):
            raise SpecError(path, f"{field}.measured", "expected a filter such as {kernel: gemm, dtype: bf16}")
        _keys(measured, set(MEASURED_FILTER), path, f"{field}.measured.")
        for k, v in measured.items():
            if not isinstance(v, str):
                raise SpecError(path, f"{field}.measured.{k}", f"expected a name, got {v!r}")
        _keys(limits, set(MEASURED_LIMITS), path, f"{field}.limits.")
        return Case(str(name), f"{path}: {field}", {k: _limit(v, MEASURED_LIMITS[k], path, f"{field}.limits.{k}")
                                                     for k, v in limits.items()},
                    measured=dict(measured))
    for key in ("model", "gpu"):
        if not isinstance(raw.get(key), str):
            raise SpecError(path, f"{field}.{key}", "missing (a built-in name or a spec file)")
    settings = raw.get("settings") or {}
    if not isinstance(settings, dict):
        raise SpecError(path, f"{field}.settings", "expected a mapping such as {batch: 8, prompt: 2048}")
    _keys(settings, set(SETTINGS), path, f"{field}.settings.")
    for k, v in settings.items():
        if SETTINGS[k] is int and (isinstance(v, bool) or not isinstance(v, int) or v < (0 if k == "prefix" else 1)
                                   or v > MAX_COUNT):
            raise SpecError(path, f"{field}.settings.{k}", f"expected a positive whole number (at most 2**53), "
                            f"got {v!r}")
        if SETTINGS[k] is float and (isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= 1):
            raise SpecError(path, f"{field}.settings.{k}", f"expected a fraction in (0, 1], got {v!r}")
        if SETTINGS[k] is str and not isinstance(v, str):
            raise SpecError(path, f"{field}.settings.{k}", f"expected a name, got {v!r}")
    _keys(limits, set(MODEL_LIMITS), path, f"{field}.limits.")
    return Case(str(name), f"{path}: {field}",
                {k: _limit(v, MODEL_LIMITS[k], path, f"{field}.limits.{k}") for k, v in limits.items()},
                model=raw["model"], gpu=raw["gpu"], settings=settings)


def _limit(value: Any, kind: str, path: str, field: str) -> Any:
    if kind == "bool":
        if not isinstance(value, bool):
            raise SpecError(path, field, f"expected true or false, got {value!r}")
        return value
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
            raise SpecError(path, field, f"expected a positive number, got {value!r}")
        return float(value)
    if kind == "percent":  # '70%' or 70 -> 0.70
        if isinstance(value, bool) or not isinstance(value, (int, float, str)) or len(str(value)) > 32:
            raise SpecError(path, field, f"expected a percentage such as 70%, got {value!r}")
        text = str(value).strip().removesuffix("%")
        try:
            number = float(text) / 100
        except ValueError:
            raise SpecError(path, field, f"expected a percentage such as 70%, got {value!r}") from None
        if not 0 < number < math.inf:
            raise SpecError(path, field, f"expected a positive percentage, got {value!r}")
        return number
    try:
        return parse_quantity(value, kind)
    except UnitParseError as exc:
        raise SpecError(path, field, str(exc)) from None


def _keys(raw: Mapping, allowed: set[str], path: str, prefix: str) -> None:
    for key in raw:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
            hint = f"did you mean '{prefix}{close[0]}'? " if close else ""
            raise SpecError(path, f"{prefix}{key}", f"unknown field; {hint}expected one of {', '.join(sorted(allowed))}")
