"""Find and load specs: built-in names and aliases, YAML files, Hugging Face config.json.

Search order for a name: each folder of $ROOFLINT_PATH (holding hardware/ and models/), the
source tree's top-level hardware/ and models/ (a checkout or editable install), then the copy
packaged inside the wheel (rooflint/_data). A path to a file (or a folder holding config.json)
is always loaded as given.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from rooflint.dtypes import PEAK_KEYS
from rooflint.errors import SpecError, UnknownNameError
from rooflint.inputs import read_mapping, read_text
from rooflint.specs import Hardware, Model, fields, freeze
from rooflint.specs.achievable import PRIOR, Achievable, achievable_from_mapping
from rooflint.specs.engine import DEFAULT_ENGINE, Engine, engine_from_mapping
from rooflint.specs.hf_config import model_from_mapping
from rooflint.units import UnitParseError, format_bytes, format_seconds, format_si, parse_quantity

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


_WHAT = {"hardware": "GPU", "models": "model", "engines": "engine"}


def resolve_path(kind: str, name_or_path: str) -> Path:
    """A file for a name, an alias, a path to a file, or a folder holding config.json."""
    what = _WHAT[kind]
    if not isinstance(name_or_path, str) or not name_or_path.strip() or "\0" in name_or_path:
        raise SpecError(what, None, f"expected a {what} name or a path to a file, got {fields.show(name_or_path)}")
    try:
        candidate = Path(name_or_path).expanduser()
        if candidate.is_dir() and (candidate / "config.json").is_file():
            return candidate / "config.json"
        if candidate.is_file():
            return candidate
    except (OSError, RuntimeError) as exc:  # a name too long for a path; ~user unknown
        raise SpecError(name_or_path, None, f"cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    if candidate.suffix in (".yaml", ".yml", ".json") or os.sep in name_or_path:
        raise SpecError(name_or_path, None, "no such file")
    try:
        return _index(kind)[name_or_path.lower()]
    except KeyError:
        known = list(_index(kind))
        raise UnknownNameError(what, name_or_path, known) from None


# ---------------------------------------------------------------- hardware

_HARDWARE_KEYS = {"name", "aliases", "description", "vendor", "memory", "compute", "sm_count",
                  "sram_per_sm", "l2_cache", "interconnect", "network", "tdp", "source", "notes", "provenance",
                  "calibration", "device_names", "achievable"}
_COMPUTE_KEYS = set(PEAK_KEYS)


def load_hardware(name_or_path: str) -> Hardware:
    """A hardware profile by name or file: one object per file as it stands (a file rewritten since,
    as measure --save-profile does, is read again), so what is compiled for it is reused."""
    path = resolve_path("hardware", name_or_path)
    st = path.stat()  # which file (device, inode) as it stands: a rewrite changes ctime, which utime cannot reset
    return _hardware(str(path), (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size))


@lru_cache(maxsize=64)
def _hardware(path: str, identity: tuple) -> Hardware:
    return hardware_from_mapping(read_mapping(Path(path)), path)


def hardware_from_mapping(raw: Mapping[str, Any], where: str) -> Hardware:
    """A hardware profile from its parsed YAML: every field typed and within bounds
    (fields.QUANTITY_BOUNDS), names without control characters, free text as text."""
    fields.known_keys(raw, _HARDWARE_KEYS, where, "")
    memory = _section(raw, "memory", where, {"capacity", "bandwidth"})
    compute = _section(raw, "compute", where, _COMPUTE_KEYS)
    if not compute:
        raise SpecError(where, "compute", "expected at least one dtype peak, e.g. 'fp16: 312 TFLOP/s'")
    peaks = {k: _quantity(compute, k, "flop_per_s", where, "compute.", bound="compute") for k in compute}

    def optional(key: str, dim: str) -> float | None:
        return _quantity(raw, key, dim, where) if raw.get(key) is not None else None

    sm_count = raw.get("sm_count")
    if sm_count is not None:
        fields.whole(where, "sm_count", sm_count, 1, fields.MAX_SM_COUNT)
    optional("tdp", "watts")  # not used in any figure, but a profile's fields are all checked
    fields.text(where, "notes", raw.get("notes"))
    vendor = raw.get("vendor")
    overhead, half = _calibration(raw, where, set(peaks))
    return Hardware(
        name=fields.name(where, "name", _required(raw, "name", where)),
        description=fields.text(where, "description", raw.get("description")),
        capacity_bytes=_quantity(memory, "capacity", "bytes", where, "memory."),
        bandwidth_bytes_per_s=_quantity(memory, "bandwidth", "bytes_per_s", where, "memory."),
        peak_flop_per_s=freeze(peaks),
        sm_count=sm_count,
        sram_per_sm_bytes=optional("sram_per_sm", "bytes"),
        l2_bytes=optional("l2_cache", "bytes"),
        interconnect_bytes_per_s=optional("interconnect", "bytes_per_s"),
        network_bytes_per_s=optional("network", "bytes_per_s"),
        vendor="" if vendor is None else fields.name(where, "vendor", vendor),
        aliases=fields.names(where, "aliases", raw.get("aliases")),
        source=fields.text(where, "source", raw.get("source")),
        path=where,
        provenance=_provenance(raw, where),
        kernel_overhead_s=overhead,
        matmul_half_flop=freeze(half),
        device_names=fields.names(where, "device_names", raw.get("device_names")),
        achievable=(achievable_from_mapping(raw["achievable"], where) if raw.get("achievable") is not None
                    else fitted_achievable(str(raw.get("name")))),
    )


FITTED = Path("achievable") / "fitted.yaml"  # beside the hardware profiles; bench/fit_forecast.py writes it


@lru_cache(maxsize=None)
def _fitted() -> dict[str, Any]:
    for folder in data_dirs("hardware"):
        if (folder / FITTED).is_file():
            path = folder / FITTED
            raw = read_mapping(path)
            gpus = raw.get("gpus")
            if not isinstance(gpus, dict) or "default" not in gpus:
                raise SpecError(str(path), "gpus", "expected a mapping with a 'default' entry")
            return {name: achievable_from_mapping(v, str(path), f"gpus.{name}") for name, v in gpus.items()}
    return {}


def fitted_gpus() -> list[str]:
    """The GPUs with fitted parameters of their own."""
    return sorted(k for k in _fitted() if k != "default")


def fitted_achievable(name: str) -> Achievable:
    """The fitted ceilings of a GPU: its own entry, else the fit over every GPU, else the prior."""
    fitted = _fitted()
    return fitted.get(name) or fitted.get("default") or PRIOR


def _calibration(raw: Mapping[str, Any], where: str, dtypes: set[str]) -> tuple[float, dict[str, float]]:
    """A measured profile's small-shape losses: kernel_overhead (a time) and per dtype the
    matmul_half_work (FLOPs); both absent in a datasheet profile."""
    if raw.get("calibration") is None:
        return 0.0, {}
    section = _section(raw, "calibration", where, {"kernel_overhead", "matmul_half_work"})
    overhead = 0.0
    if section.get("kernel_overhead") is not None:
        overhead = _quantity(section, "kernel_overhead", "seconds", where, "calibration.")
    half = section.get("matmul_half_work")
    if half is None:
        return overhead, {}
    if not isinstance(half, dict):
        raise SpecError(where, "calibration.matmul_half_work",
                        f"expected a mapping of dtype to FLOPs, got {fields.show(half)}")
    fields.known_keys(half, dtypes, where, "calibration.matmul_half_work.")
    return overhead, {k: _quantity(half, k, "flop", where, "calibration.matmul_half_work.",
                                   bound="calibration.matmul_half_work") for k in half}


MAX_PROVENANCE = 256  # ceilings a profile records how it measured


def _provenance(raw: Mapping[str, Any], where: str) -> Mapping[str, Any]:
    """ceiling -> how it was measured: text, or a mapping of plain values (text, numbers, true /
    false, null) such as kernel, size, backend, date."""
    value = fields.mapping(where, "provenance", raw.get("provenance")) or {}
    if len(value) > MAX_PROVENANCE:
        raise SpecError(where, "provenance", f"{len(value):,} entries (at most {MAX_PROVENANCE})")
    out: dict[str, Any] = {}
    for key, entry in value.items():
        field = f"provenance.{fields.name(where, 'provenance', key)}"
        if isinstance(entry, str):
            out[key] = fields.text(where, field, entry)
            continue
        if not isinstance(entry, dict) or len(entry) > MAX_PROVENANCE:
            raise SpecError(where, field, f"expected text or a mapping of plain values, got {fields.show(entry)}")
        for k, v in entry.items():
            inner = f"{field}.{fields.name(where, field, k)}"
            if isinstance(v, str):
                fields.text(where, inner, v)
            elif isinstance(v, float):
                fields.number(where, inner, v)
            elif not (v is None or isinstance(v, (bool, int))):
                raise SpecError(where, inner, f"expected a plain value (text, a number, true/false, null), "
                                f"got {fields.show(v)}")
        out[key] = dict(entry)
    return freeze(out)


def _section(raw: Mapping[str, Any], key: str, where: str, allowed: set[str]) -> Mapping[str, Any]:
    value = raw.get(key)
    if value is None:
        raise SpecError(where, key, "missing")
    if not isinstance(value, dict):
        raise SpecError(where, key, f"expected a mapping, got {fields.show(value)}")
    fields.known_keys(value, allowed, where, key + ".")
    return value


_UNITS = {"bytes": "B", "bytes_per_s": "B/s", "flop_per_s": "FLOP/s", "watts": "W", "flop": "FLOP", "seconds": "s"}


def _shown(value: float, dim: str) -> str:
    return format_bytes(value) if dim == "bytes" else format_seconds(value) if dim == "seconds" else \
        format_si(value, _UNITS[dim])


def _quantity(raw: Mapping[str, Any], key: str, dim: str, where: str, prefix: str = "",
              bound: str | None = None) -> float:
    """A quantity with its unit (units.parse_quantity), finite and within QUANTITY_BOUNDS."""
    field = prefix + key
    if raw.get(key) is None:
        raise SpecError(where, field, "missing")
    try:
        value = parse_quantity(raw[key], dim)
    except (UnitParseError, ValueError, OverflowError) as exc:
        raise SpecError(where, field, str(exc) or "not a quantity") from None
    lo, hi = fields.QUANTITY_BOUNDS[bound or field]
    if not math.isfinite(value) or value < 0 or (value == 0 and lo > 0):
        raise SpecError(where, field, f"expected a {'positive' if lo > 0 else 'finite'} quantity, "
                        f"got {fields.show(raw[key])}")
    if value < lo:
        raise SpecError(where, field, f"{fields.show(raw[key])} is below {_shown(lo, dim)} (rooflint's bound)")
    if value > hi:
        raise SpecError(where, field, f"{fields.show(raw[key])} exceeds {_shown(hi, dim)} (rooflint's bound)")
    return value


def _required(raw: Mapping[str, Any], key: str, where: str) -> Any:
    if raw.get(key) is None:
        raise SpecError(where, key, "missing")
    return raw[key]


# ---------------------------------------------------------------- engines

def load_engine(name_or_path: str | None = None) -> Engine:
    """An engine preset by name (engines/*.yaml) or file; DEFAULT_ENGINE when None."""
    path = resolve_path("engines", name_or_path or DEFAULT_ENGINE)
    return _engine(str(path))


@lru_cache(maxsize=64)
def _engine(path: str) -> Engine:
    return engine_from_mapping(read_mapping(Path(path)), path)


# ---------------------------------------------------------------- models

def load_model(name_or_path: str, overrides: Mapping[str, str] | None = None, as_family: str | None = None) -> Model:
    """A model by built-in name, YAML file, or HF config.json, with --set overrides applied;
    `as_family` reads a derivative family's config as the named one."""
    path = resolve_path("models", name_or_path)
    raw = read_mapping(path)
    strict = path.suffix != ".json"  # our YAML is checked key by key; HF configs carry extras
    return model_from_mapping(raw, str(path), strict=strict, overrides=overrides or {}, as_family=as_family,
                              default_name=path.parent.name if path.name == "config.json" else path.stem)
