"""What a measurement run produces, as plain data that round-trips through JSON.

A run's JSON (`rooflint measure -f json`) holds these under "run"; `--load FILE` reads it back,
so a GPU run recorded elsewhere can be compared and calibrated from here. Reading one back checks
every field (validate.py): what to_dict wrote loads back equal; anything else is a SpecError
naming the field, never a number computed from nonsense.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rooflint.measure.cases import Case
from rooflint.measure.stats import Summary
from rooflint.measure.validate import (
    At,
    boolean,
    fields,
    integer,
    mapping,
    name,
    number,
    optional,
    plain,
    sequence,
    text,
)

RUN_SCHEMA = "rooflint.measure-run/1"
DEVICES = ("cpu", "cuda")
METHODS = {"cpu": ("host-clock",), "cuda": ("cuda-events", "cuda-graph")}  # how each device's samples are timed
STOP_REASONS = ("settled", "budget", "max-samples")
EXTRA = ("peak_bytes",)
# Which backend names a run may hold, and the devices each runs on; None: any name (a test's
# fake backend). load_run holds a file to the real ones (measure/backends).
Backends = Mapping[str, tuple[str, ...]] | None


@dataclass(frozen=True, slots=True)
class Measurement:
    """One timed case: the samples' statistics (seconds per call) and how they were taken."""

    case: Case
    backend: str  # numpy | torch | cupy
    device: str  # cpu | cuda
    stats: Summary
    method: str  # host-clock | cuda-events | cuda-graph
    stop_reason: str  # settled | budget | max-samples
    check_error: float  # relative error of the result against a float64 reference
    rotation_sets: int  # input sets rotated through (1 on GPU, where L2 is flushed instead)
    calls_per_sample: int = 1
    extra: Mapping[str, float] = field(default_factory=dict)  # e.g. peak_bytes of eager attention

    @property
    def time_s(self) -> float:
        return self.stats.median

    def to_dict(self) -> dict[str, Any]:
        return {"case": self.case.to_dict(), "key": self.case.key, "backend": self.backend,
                "device": self.device, "stats": self.stats.as_dict(), "method": self.method,
                "stop_reason": self.stop_reason, "check_error": self.check_error,
                "rotation_sets": self.rotation_sets, "calls_per_sample": self.calls_per_sample,
                "extra": dict(self.extra)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], at: At | None = None, backends: Backends = None) -> Measurement:
        at = at or At("measurement")
        d = fields(d, at, ("case", "key", "backend", "device", "stats", "method", "stop_reason", "check_error",
                           "rotation_sets"), ("calls_per_sample", "extra"))
        c = _case(d, at)
        backend, device = _backend(d, at, backends)
        method = text(d["method"], at.key("method"), METHODS[device])
        extra = fields(optional(d.get("extra"), at.key("extra"), mapping) or {}, at.key("extra"), (), EXTRA)
        return cls(c, backend, device, Summary.from_dict(d["stats"], at.key("stats")), method,
                   text(d["stop_reason"], at.key("stop_reason"), STOP_REASONS),
                   number(d["check_error"], at.key("check_error"), zero=True),
                   integer(d["rotation_sets"], at.key("rotation_sets")),
                   integer(d.get("calls_per_sample", 1), at.key("calls_per_sample")),
                   {k: number(v, at.key("extra").key(k), zero=True) for k, v in extra.items()})


@dataclass(frozen=True, slots=True)
class Skip:
    """A case not measured, and why (no memory, no backend support, out of time, failed check)."""

    case: Case
    backend: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"case": self.case.to_dict(), "key": self.case.key, "backend": self.backend, "reason": self.reason}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], at: At | None = None, backends: Backends = None) -> Skip:
        at = at or At("skip")
        d = fields(d, at, ("case", "key", "backend", "reason"))
        return cls(_case(d, at), _backend_name(d["backend"], at.key("backend"), backends),
                   text(d["reason"], at.key("reason"), empty=False))


@dataclass(frozen=True, slots=True)
class Run:
    """Everything one `rooflint measure` produced: the environment, the measurements, the skips."""

    environment: Mapping[str, Any]
    measurements: tuple[Measurement, ...]
    skipped: tuple[Skip, ...] = ()
    interrupted: bool = False  # Ctrl-C: what was measured before it

    def to_dict(self) -> dict[str, Any]:
        return {"schema": RUN_SCHEMA, "environment": dict(self.environment), "interrupted": self.interrupted,
                "measurements": [m.to_dict() for m in self.measurements],
                "skipped": [s.to_dict() for s in self.skipped]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], at: At | None = None, backends: Backends = None) -> Run:
        """A run as to_dict wrote it, every field checked (see validate.py); one measurement or
        skip per backend and case, all on the environment's device."""
        at = at or At("run")
        d = fields(d, at, ("schema", "environment", "interrupted", "measurements", "skipped"))
        if d["schema"] != RUN_SCHEMA:
            raise at.key("schema").error(f"expected {RUN_SCHEMA}, got {text(d['schema'], at.key('schema'))!r}")
        env = environment(d["environment"], at.key("environment"), backends)
        ms = tuple(Measurement.from_dict(m, at.key("measurements").index(i), backends)
                   for i, m in enumerate(sequence(d["measurements"], at.key("measurements"))))
        skips = tuple(Skip.from_dict(s, at.key("skipped").index(i), backends)
                      for i, s in enumerate(sequence(d["skipped"], at.key("skipped"))))
        seen: dict[tuple[str, Case], str] = {}
        for where, row in [(at.key("measurements").index(i), m) for i, m in enumerate(ms)] + \
                          [(at.key("skipped").index(i), s) for i, s in enumerate(skips)]:
            first = seen.setdefault((row.backend, row.case), where.path)
            if first != where.path:
                raise where.error(f"{row.backend} {row.case.key} again (first at {first}): one outcome per case")
        device = env.get("device")
        for i, m in enumerate(ms):
            if device is not None and m.device != device:
                raise at.key("measurements").index(i).key("device").error(
                    f"{m.device}, but the run's environment.device is {device}")
        return cls(env, ms, skips, boolean(d["interrupted"], at.key("interrupted")))


def _case(d: Mapping[str, Any], at: At) -> Case:
    """The case, and the key written beside it: the key is the case's own."""
    c = Case.from_dict(d["case"], at.key("case"))
    if text(d["key"], at.key("key")) != c.key:
        raise at.key("key").error(f"{d['key']!r} is not the case's key {c.key!r}")
    return c


def _backend_name(value: Any, at: At, backends: Backends) -> str:
    if backends is None:
        return text(value, at, empty=False)
    return text(value, at, backends)


def _backend(d: Mapping[str, Any], at: At, backends: Backends) -> tuple[str, str]:
    backend = _backend_name(d["backend"], at.key("backend"), backends)
    device = text(d["device"], at.key("device"), DEVICES if backends is None else backends[backend])
    return backend, device


_ENV_TEXT = ("date", "host", "os", "python", "cpu")
_ENV_COUNTS = ("cpu_cores", "llc_bytes", "memory_total_bytes", "memory_available_bytes")  # > 0 or null


def environment(value: Any, at: At, backends: Backends = None) -> dict[str, Any]:
    """What explains a number: any JSON values, with the ones rooflint reads typed (the device,
    its name, cache and memory sizes, each backend's facts, GPU telemetry)."""
    env = dict(plain(mapping(value, at), at))
    for k in _ENV_TEXT:
        if k in env:
            text(env[k], at.key(k))
    if "device_name" in env:  # the profile's device name: a name, never a line break or an escape
        name(env["device_name"], at.key("device_name"))
    for k in _ENV_COUNTS:
        optional(env.get(k), at.key(k), integer)
    optional(env.get("device"), at.key("device"), text, DEVICES)
    optional(env.get("suite"), at.key("suite"), text, ("quick", "full"))
    optional(env.get("rotation_bytes"), at.key("rotation_bytes"), number, zero=True)
    for k, v in mapping(env.get("thread_env", {}), at.key("thread_env")).items():
        text(v, at.key("thread_env").key(k))
    for label in ("gpu_before", "gpu_after"):
        optional(env.get(label), at.key(label), mapping)
    facts = mapping(env.get("backends", {}), at.key("backends"))
    for backend, b in facts.items():
        where = at.key("backends").key(backend)
        _backend_name(backend, where, backends)
        optional(mapping(b, where).get("memory_bytes"), where.key("memory_bytes"), number)
    return env

