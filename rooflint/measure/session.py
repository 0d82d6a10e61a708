"""One `rooflint measure`: pick the device and backends, record the environment, run the suite;
or load a run recorded elsewhere. (Detecting the datasheet profile and calibrating from the run
are compare/profile.py's: they join the measurements with the analyzer's ops.)"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from rooflint.errors import BackendUnavailable
from rooflint.inputs import MAX_INPUT_BYTES, parse_json, read_text
from rooflint.measure.backends import BACKENDS, DEVICES, cuda_present, make_backend
from rooflint.measure.cases import suite
from rooflint.measure.environment import gpu_telemetry, host_environment
from rooflint.measure.result import RUN_SCHEMA, Run
from rooflint.measure.runner import RULES, Limits, rotation_target, run_cases
from rooflint.measure.validate import At, fields

REPORT_SCHEMA = "rooflint.measure/1"  # `rooflint measure -f json`: the run under "run", the rest derived from it
# The report's other members are recomputed from the run on loading; they are not read.
REPORT_FIELDS = ("datasheet", "calibration", "comparisons", "attention", "generation", "summary")


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
              progress: Callable[[str, int, int], None]) -> Run:
    env = environment(backends, device)
    limits = Limits(time_budget_s, rotation_target(env.get("llc_bytes"), env.get("memory_available_bytes")))
    env["rotation_bytes"] = limits.rotation_bytes if device == "cpu" else 0
    env["suite"] = suite_name
    run = run_cases(backends, suite(suite_name, device), RULES[suite_name], limits, env, progress)
    if device == "cuda":
        try:  # nvidia-smi may take seconds: a Ctrl-C now ends the run, it does not lose it
            run.environment["gpu_after"] = gpu_telemetry()
        except KeyboardInterrupt:
            run = replace(run, interrupted=True)
    return run


def load_run(path: str, limit: int = MAX_INPUT_BYTES) -> Run:
    """A run from `rooflint measure -f json` output, or that output's "run" member alone, read
    as strictly as a spec (inputs.py: a regular file, UTF-8, strict JSON; then every field, see
    result.py): anything else is a SpecError naming the file and the field."""
    where = str(path)
    raw = parse_json(read_text(where, limit), where)
    root = At(where)
    if not isinstance(raw, dict) or raw.get("schema") not in (RUN_SCHEMA, REPORT_SCHEMA):
        got = f"schema {raw['schema']!r}" if isinstance(raw, dict) and isinstance(raw.get("schema"), str) else \
            ("no schema" if isinstance(raw, dict) else f"a JSON {type(raw).__name__}")
        raise root.key("schema").error(f"expected a rooflint measure result ({REPORT_SCHEMA}, or {RUN_SCHEMA}), "
                                       f"got {got}")
    if raw["schema"] == REPORT_SCHEMA:
        fields(raw, root, ("schema", "run"), REPORT_FIELDS)
        raw, root = raw["run"], root.key("run")
    return Run.from_dict(raw, root, {name: DEVICES[name] for name in BACKENDS})
