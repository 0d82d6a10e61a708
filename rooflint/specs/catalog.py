"""Find and load specs: built-in names and aliases, YAML files, Hugging Face config.json.

Search order for a name: each folder of $ROOFLINT_PATH (holding hardware/ and models/), the
source tree's top-level hardware/ and models/ (a checkout or editable install), then the copy
packaged inside the wheel (rooflint/_data). A path to a file (or a folder holding config.json)
is always loaded as given.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from rooflint.errors import SpecError, UnknownNameError
from rooflint.inputs import read_mapping, read_text
from rooflint.specs import Hardware, Model, freeze
from rooflint.specs.hf_config import model_from_mapping
from rooflint.units import UnitParseError, parse_quantity

_PACKAGE = Path(__file__).resolve().parents[1]  # rooflint/


def data_dirs(kind: str) -> list[Path]:
    """Folders searched for built-in specs of a kind ('hardware' or 'models'), in order."""
    dirs = [Path(p) / kind for p in os.environ.get("ROOFLINT_PATH", "").split(os.pathsep) if p]
    dirs += [_PACKAGE.parent / kind, _PACKAGE / "_data" / kind]
    return [d for d in dirs if d.is_dir()]


@lru_cache(maxsize=None)
def _index(kind: str) -> dict[str, Path]:
    """name and aliases (lowercase) -> file, first folder wins."""
    found: dict[str, Path] = {}
    for folder in data_dirs(kind):
        for path in sorted(folder.glob("*.yaml")):
            found.setdefault(path.stem.lower(), path)
            if kind == "hardware":
                for alias in _aliases_of(path):
                    found.setdefault(alias.lower(), path)
    return found


def _aliases_of(path: Path) -> list[str]:
    # Aliases sit on one line near the top; reading them without yaml keeps `list` fast.
    for line in read_text(path).splitlines():
        if line.startswith("aliases:"):
            inner = line.split(":", 1)[1].split("#", 1)[0].strip().strip("[]")
            return [a.strip().strip("'\"") for a in inner.split(",") if a.strip()]
    return []


def builtin_names(kind: str) -> list[str]:
    """Names (file stems) of the built-in specs of a kind."""
    return sorted({p.stem for p in _index(kind).values()})


def resolve_path(kind: str, name_or_path: str) -> Path:
    """A file for a name, an alias, a path to a file, or a folder holding config.json."""
    candidate = Path(name_or_path).expanduser()
    if candidate.is_dir() and (candidate / "config.json").is_file():
        return candidate / "config.json"
    if candidate.is_file():
        return candidate
    if candidate.suffix in (".yaml", ".yml", ".json") or os.sep in name_or_path:
        raise SpecError(name_or_path, None, "no such file")
    try:
        return _index(kind)[name_or_path.lower()]
    except KeyError:
        known = list(_index(kind))
        raise UnknownNameError("GPU" if kind == "hardware" else "model", name_or_path, known) from None


# ---------------------------------------------------------------- hardware

_HARDWARE_KEYS = {"name", "aliases", "description", "vendor", "memory", "compute", "sm_count",
                  "sram_per_sm", "l2_cache", "interconnect", "tdp", "source", "notes", "provenance",
                  "calibration", "device_names"}
_COMPUTE_KEYS = {"fp32", "tf32", "fp16", "bf16", "fp8", "int8", "int4", "fp64"}


def load_hardware(name_or_path: str) -> Hardware:
    path = resolve_path("hardware", name_or_path)
    return hardware_from_mapping(read_mapping(path), str(path))


def hardware_from_mapping(raw: Mapping[str, Any], where: str) -> Hardware:
    _check_keys(raw, _HARDWARE_KEYS, where, "")
    memory = _section(raw, "memory", where, {"capacity", "bandwidth"})
    compute = _section(raw, "compute", where, _COMPUTE_KEYS)
    if not compute:
        raise SpecError(where, "compute", "expected at least one dtype peak, e.g. 'fp16: 312 TFLOP/s'")
    peaks = {k: _quantity(compute, k, "flop_per_s", where, "compute.") for k in compute}

    def optional(key: str, dim: str) -> float | None:
        return _quantity(raw, key, dim, where) if raw.get(key) is not None else None

    sm_count = raw.get("sm_count")
    if sm_count is not None and (isinstance(sm_count, bool) or not isinstance(sm_count, int) or sm_count <= 0):
        raise SpecError(where, "sm_count", f"expected a positive integer, got {sm_count!r}")
    aliases, device_names = _names(raw, "aliases", where), _names(raw, "device_names", where)
    overhead, half = _calibration(raw, where, set(peaks))
    return Hardware(
        name=_required_str(raw, "name", where),
        description=str(raw.get("description", "")),
        capacity_bytes=_quantity(memory, "capacity", "bytes", where, "memory."),
        bandwidth_bytes_per_s=_quantity(memory, "bandwidth", "bytes_per_s", where, "memory."),
        peak_flop_per_s=freeze(peaks),
        sm_count=sm_count,
        sram_per_sm_bytes=optional("sram_per_sm", "bytes"),
        l2_bytes=optional("l2_cache", "bytes"),
        interconnect_bytes_per_s=optional("interconnect", "bytes_per_s"),
        vendor=str(raw.get("vendor", "")),
        aliases=tuple(aliases),
        source=str(raw.get("source", "")),
        path=where,
        provenance=_provenance(raw, where),
        kernel_overhead_s=overhead,
        matmul_half_flop=freeze(half),
        device_names=tuple(device_names),
    )


def _names(raw: Mapping[str, Any], key: str, where: str) -> list[str]:
    value = raw.get(key) or []
    if not isinstance(value, list) or not all(isinstance(a, str) for a in value):
        raise SpecError(where, key, "expected a list of names")
    return value


def _calibration(raw: Mapping[str, Any], where: str, dtypes: set[str]) -> tuple[float, dict[str, float]]:
    """A measured profile's small-shape losses: kernel_overhead (a time) and per dtype the
    matmul_half_work (FLOPs); both absent in a datasheet profile."""
    if raw.get("calibration") is None:
        return 0.0, {}
    section = _section(raw, "calibration", where, {"kernel_overhead", "matmul_half_work"})
    overhead = 0.0
    if section.get("kernel_overhead") is not None:
        overhead = _quantity(section, "kernel_overhead", "seconds", where, "calibration.", allow_zero=True)
    half = section.get("matmul_half_work") or {}
    if not isinstance(half, dict):
        raise SpecError(where, "calibration.matmul_half_work", f"expected a mapping of dtype to FLOPs, got {half!r}")
    _check_keys(half, dtypes, where, "calibration.matmul_half_work.")
    return overhead, {k: _quantity(half, k, "flop", where, "calibration.matmul_half_work.", allow_zero=True)
                      for k in half}


def _provenance(raw: Mapping[str, Any], where: str) -> Mapping[str, Any]:
    """ceiling -> how it was measured: a mapping of plain values (kernel, size, backend, date...)."""
    value = raw.get("provenance") or {}
    if not isinstance(value, dict):
        raise SpecError(where, "provenance", f"expected a mapping of ceiling to its measurement, got {value!r}")
    for key, entry in value.items():
        ok = isinstance(entry, str) or (isinstance(entry, dict) and all(
            isinstance(v, (str, int, float, bool)) or v is None for v in entry.values()))
        if not ok:
            raise SpecError(where, f"provenance.{key}", "expected text or a mapping of plain values")
    return freeze({k: dict(v) if isinstance(v, dict) else v for k, v in value.items()})


def _section(raw: Mapping[str, Any], key: str, where: str, allowed: set[str]) -> Mapping[str, Any]:
    value = raw.get(key)
    if value is None:
        raise SpecError(where, key, "missing")
    if not isinstance(value, dict):
        raise SpecError(where, key, f"expected a mapping, got {value!r}")
    _check_keys(value, allowed, where, key + ".")
    return value


def _quantity(raw: Mapping[str, Any], key: str, dim: str, where: str, prefix: str = "",
              allow_zero: bool = False) -> float:
    if raw.get(key) is None:
        raise SpecError(where, prefix + key, "missing")
    try:
        value = parse_quantity(raw[key], dim)
    except UnitParseError as exc:
        raise SpecError(where, prefix + key, str(exc)) from None
    if value < 0 or (value == 0 and not allow_zero):
        raise SpecError(where, prefix + key, f"expected a positive quantity, got {raw[key]!r}")
    return value


def _required_str(raw: Mapping[str, Any], key: str, where: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value:
        raise SpecError(where, key, "missing" if value is None else f"expected a string, got {value!r}")
    return value


def _check_keys(raw: Mapping[str, Any], allowed: set[str], where: str, prefix: str) -> None:
    for key in raw:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
            hint = f"; did you mean '{prefix}{close[0]}'?" if close else ""
            raise SpecError(where, f"{prefix}{key}", f"unknown field{hint}")


# ---------------------------------------------------------------- models

def load_model(name_or_path: str, overrides: Mapping[str, str] | None = None) -> Model:
    """A model by built-in name, YAML file, or HF config.json, with --set overrides applied."""
    path = resolve_path("models", name_or_path)
    raw = read_mapping(path)
    strict = path.suffix != ".json"  # our YAML is checked key by key; HF configs carry extras
    return model_from_mapping(raw, str(path), strict=strict, overrides=overrides or {},
                              default_name=path.parent.name if path.name == "config.json" else path.stem)
