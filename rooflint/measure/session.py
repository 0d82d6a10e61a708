"""One `rooflint measure`: pick the device and backends, record the environment, run the suite;
or load a run recorded elsewhere. (Detecting the datasheet profile and calibrating from the run
are compare/profile.py's: they join the measurements with the analyzer's ops.)"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rooflint.errors import BackendUnavailable, SpecError
from rooflint.measure.backends import BACKENDS, DEVICES, cuda_present, make_backend
from rooflint.measure.cases import suite
from rooflint.measure.environment import gpu_telemetry, host_environment
from rooflint.measure.result import RUN_SCHEMA, Run
from rooflint.measure.runner import RULES, Limits, rotation_target, run_cases


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if cuda_present() else "cpu"
    return device


def build_backends(names: list[str], device: str) -> tuple[list, list[str]]:
    """The backends asked for that can run on the device, and a line for each that cannot."""
    wanted = [n for n in BACKENDS if device in DEVICES[n]] if names == ["all"] else names
    built, missing = [], []
    for name in wanted:
        try:
            built.append(make_backend(name, device))
        except BackendUnavailable as exc:
            missing.append(f"{name}: {exc}")
    if not built:
        raise BackendUnavailable(f"no backend can run on {device}: " + "; ".join(missing))
    return built, missing


def environment(backends: list, device: str) -> dict[str, Any]:
    env = host_environment()
    env["device"] = device
    names = [b.device_name() for b in backends if getattr(b, "device_name", None)]
    env["device_name"] = names[0] if names else env["cpu"]
    env["backends"] = {b.name: b.environment() for b in backends}
    if device == "cuda":
        env["gpu_before"] = gpu_telemetry()
    return env


def run_suite(suite_name: str, backends: list, device: str, time_budget_s: float | None,
              progress: Callable[[str], None]) -> Run:
    env = environment(backends, device)
    limits = Limits(time_budget_s, rotation_target(env.get("llc_bytes"), env.get("memory_available_bytes")))
    env["rotation_bytes"] = limits.rotation_bytes if device == "cpu" else 0
    env["suite"] = suite_name
    run = run_cases(backends, suite(suite_name, device), RULES[suite_name], limits, env, progress)
    if device == "cuda":
        run.environment["gpu_after"] = gpu_telemetry()
    return run


def load_run(path: str) -> Run:
    """A run from `rooflint measure -f json` output (or its "run" member)."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise SpecError(path, None, f"cannot read: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise SpecError(path, None, f"not JSON: {exc.msg} at line {exc.lineno}") from None
    doc = raw.get("run", raw) if isinstance(raw, dict) else None
    if not isinstance(doc, dict) or doc.get("schema") != RUN_SCHEMA:
        raise SpecError(path, "schema", f"expected a rooflint measure result ({RUN_SCHEMA})")
    try:
        return Run.from_dict(doc)
    except (KeyError, TypeError, ValueError) as exc:
        raise SpecError(path, "measurements", f"malformed measurement: {exc}") from None
