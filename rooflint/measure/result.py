"""What a measurement run produces, as plain data that round-trips through JSON.

A run's JSON (`rooflint measure -f json`) holds these under "run"; `--load FILE` reads it back,
so a GPU run recorded elsewhere can be compared and calibrated from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rooflint.measure.cases import Case
from rooflint.measure.stats import Summary

RUN_SCHEMA = "rooflint.measure-run/1"


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
    def from_dict(cls, d: Mapping[str, Any]) -> Measurement:
        fields = set(Summary.__dataclass_fields__)
        return cls(Case.from_dict(d["case"]), str(d["backend"]), str(d["device"]),
                   Summary(**{k: v for k, v in d["stats"].items() if k in fields}),
                   str(d["method"]), str(d["stop_reason"]), float(d["check_error"]),
                   int(d["rotation_sets"]), int(d.get("calls_per_sample", 1)), dict(d.get("extra", {})))


@dataclass(frozen=True, slots=True)
class Skip:
    """A case not measured, and why (no memory, no backend support, out of time, failed check)."""

    case: Case
    backend: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"case": self.case.to_dict(), "key": self.case.key, "backend": self.backend, "reason": self.reason}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Skip:
        return cls(Case.from_dict(d["case"]), str(d["backend"]), str(d["reason"]))


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
    def from_dict(cls, d: Mapping[str, Any]) -> Run:
        return cls(dict(d.get("environment", {})),
                   tuple(Measurement.from_dict(m) for m in d.get("measurements", [])),
                   tuple(Skip.from_dict(s) for s in d.get("skipped", [])), bool(d.get("interrupted", False)))

