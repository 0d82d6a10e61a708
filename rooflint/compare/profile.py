"""A run's profiles: the datasheet one it is compared with (given, or detected from the device
name), the one calibrated from its own copy and GEMM sweeps, and that one as hardware YAML that
`--gpu FILE` reads back."""

from __future__ import annotations

import yaml

from rooflint.compare.calibration import Calibration, calibrate, profile_document
from rooflint.errors import RooflintError, SpecError
from rooflint.inputs import parse_yaml
from rooflint.measure.environment import match_profile
from rooflint.measure.result import Run
from rooflint.specs import Hardware
from rooflint.specs.catalog import builtin_names, hardware_from_mapping, load_hardware


def datasheet_profile(run: Run, gpu: str | None) -> Hardware | None:
    """--gpu when given, else the built-in profile whose device_names holds the device's name."""
    if gpu:
        return load_hardware(gpu)
    name = str(run.environment.get("device_name", ""))
    return match_profile(name, [load_hardware(n) for n in builtin_names("hardware")]) if name else None


def calibrate_run(run: Run) -> Calibration | None:
    """The run's empirical roofline, or None when it has no copy and GEMM measurements."""
    env = run.environment
    cpu = env.get("device", "cpu") == "cpu"
    cache = env.get("llc_bytes") if cpu else None
    gpu_memory = next((b.get("memory_bytes") for b in env.get("backends", {}).values() if b.get("memory_bytes")), None)
    capacity = env.get("memory_total_bytes") if cpu else gpu_memory
    try:
        return calibrate(run.measurements, str(env.get("device_name", "?")), str(env.get("date", ""))[:10],
                         cache, capacity)
    except RooflintError:
        return None


def profile_yaml(hw: Hardware, path: str) -> str:
    """The calibrated profile as hardware YAML, checked to load back (as `path`) before it is
    returned; the caller writes it (compare/ writes no files).

    Text from a run (the device name, from a saved file that may be hostile) reaches the YAML only
    through the emitter, which quotes and escapes it; the comment lines hold it escaped, so that no
    newline (YAML's line breaks include U+0085, U+2028, U+2029) can end a comment and start a key."""
    doc = profile_document(hw)
    header = (f"# {comment_text(hw.description)}\n"
              f"# Written by `rooflint measure --save-profile`; use with --gpu {comment_text(path)}\n")
    for allow_unicode in (True, False):  # PyYAML writes U+0085 (a YAML line break) raw in a quoted scalar
        text = header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=allow_unicode)
        back = parse_yaml(text, path)  # as --gpu reads it: no anchors, no duplicate keys
        if back == doc:
            hardware_from_mapping(back, path)  # what --gpu will read must load
            return text
    raise SpecError(path, None, "the calibrated profile does not read back as it was written")


def comment_text(text: str, limit: int = 200) -> str:
    """Text safe in a one-line YAML comment: every character that is not printable (newlines and
    every other line break, control characters, a BOM) shown as an escape; at most `limit` long."""
    out = "".join(c if c.isprintable() else f"\\u{ord(c):04x}" if ord(c) > 0xff else
                  f"\\x{ord(c):02x}" for c in str(text))
    return out if len(out) <= limit else out[: limit - 1] + "…"
