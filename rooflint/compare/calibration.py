"""The empirical roofline: ceilings and small-shape losses fitted from measurements (pure math).

- Bandwidth: the best copy of the sweep (bytes read + written / time) among those whose data
  did not fit in a cache: on a CPU, the copy's rotated working set is at least twice the
  last-level cache; on a GPU, L2 is flushed before every sample.
- Peak FLOP/s per dtype: the best GEMM of that dtype's sweep (matrix units: bf16 on AMX, fp16/
  bf16/tf32 on tensor cores).
- Kernel overhead t0, per backend: the time of the smallest copy less its bytes / bandwidth.
- Matmul half-work F_half, per backend and dtype: the F that makes t0 + max((F + F_half) / P,
  bytes / BW) closest to that backend's GEMM times in log error (a grid over 10^3..10^13 FLOP).

A ceiling keeps its provenance: kernel, size, backend, method, noise, date.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from rooflint.analysis.expr import Const, emax, sym
from rooflint.analysis.roofline import Timed
from rooflint.analysis.terms import Term, evaluate_figures, figure
from rooflint.compare.kernels import case_bytes, case_flops, case_ops
from rooflint.dtypes import dtype
from rooflint.errors import RooflintError
from rooflint.measure.result import Measurement
from rooflint.specs import Hardware, freeze
from rooflint.specs.achievable import PRIOR, Achievable, achievable_document

HALF_GRID = [0.0] + [10 ** (3 + i / 24) for i in range(24 * 10 + 1)]  # 1e3 .. 1e13 FLOP, 24 per decade
PRIMARY_BACKENDS = ("torch", "cupy", "numpy")  # whose t0 and F_half a saved profile carries


@dataclass(frozen=True, slots=True)
class Ceiling:
    value: float  # B/s or FLOP/s
    measurement: Measurement
    note: str = ""

    def provenance(self, date: str) -> dict[str, Any]:
        m = self.measurement
        out = {"kernel": m.case.kernel, "dtype": m.case.dtype, "size": m.case.size_label, "backend": m.backend,
               "device": m.device, "method": m.method, "median_s": m.stats.median,
               "noise_rel_iqr": round(m.stats.rel_iqr, 4), "samples": m.stats.n, "date": date}
        if self.note:
            out["note"] = self.note
        return out


@dataclass(frozen=True, slots=True)
class StackCalibration:
    """One backend's roofline on this machine: its best copy and GEMMs, and its small-shape
    losses. Per backend because the software stack is part of what is measured: glibc's copy
    switches to streaming stores for large chunks, one BLAS beats another."""

    bandwidth: Ceiling | None
    peaks: Mapping[str, Ceiling]
    overhead_s: float
    overhead_from: Measurement | None
    half_flop: Mapping[str, float] = field(default_factory=dict)  # peak key -> F_half
    half_fit_points: Mapping[str, int] = field(default_factory=dict)  # peak key -> GEMMs F_half was fitted on


@dataclass(frozen=True, slots=True)
class Calibration:
    device_name: str
    date: str
    stacks: Mapping[str, StackCalibration]  # backend -> its calibration
    capacity_bytes: float | None = None  # the device's memory, for a profile without a base

    @property
    def primary_backend(self) -> str:
        return next((b for b in PRIMARY_BACKENDS if b in self.stacks), next(iter(self.stacks)))

    @property
    def bandwidth(self) -> Ceiling:
        """The machine's best copy over all backends."""
        return max((s.bandwidth for s in self.stacks.values() if s.bandwidth), key=lambda c: c.value)

    @property
    def peaks(self) -> dict[str, Ceiling]:
        best: dict[str, Ceiling] = {}
        for s in self.stacks.values():
            for k, c in s.peaks.items():
                if k not in best or c.value > best[k].value:
                    best[k] = c
        return best

    def hardware(self, base: Hardware | None = None, backend: str | None = None, name: str | None = None) -> Hardware:
        """A profile with one backend's measured ceilings and losses (the primary backend's by
        default); what it did not measure comes from the best backend, then the base's datasheet."""
        backend = backend or self.primary_backend
        stack = self.stacks[backend]
        bandwidth = stack.bandwidth or self.bandwidth
        measured = {**self.peaks, **stack.peaks}
        peaks = dict(base.peak_flop_per_s) if base else {}
        peaks.update({k: c.value for k, c in measured.items()})
        prov = {"bandwidth": bandwidth.provenance(self.date),
                **{f"compute.{k}": c.provenance(self.date) for k, c in measured.items()}}
        if stack.overhead_from is not None:
            prov["calibration.kernel_overhead"] = {**Ceiling(stack.overhead_s, stack.overhead_from).provenance(self.date),
                                                   "fit": "smallest copy's time less bytes / bandwidth"}
        for k in stack.half_flop:
            prov[f"calibration.matmul_half_work.{k}"] = {"fit": f"log-error fit over {backend}'s {k} GEMM times",
                                                         "backend": backend, "date": self.date}
        for k in peaks:
            if k not in measured and base:
                prov[f"compute.{k}"] = {"note": f"datasheet ({base.name}), not measured"}
        return Hardware(
            name=name or _slug(f"measured-{self.device_name}-{backend}"),
            description=f"{self.device_name} as {backend} sees it, measured by rooflint measure on {self.date}",
            capacity_bytes=base.capacity_bytes if base else (self.capacity_bytes or 1.0),
            bandwidth_bytes_per_s=bandwidth.value,
            peak_flop_per_s=freeze(peaks),
            sm_count=base.sm_count if base else None,
            sram_per_sm_bytes=base.sram_per_sm_bytes if base else None,
            l2_bytes=base.l2_bytes if base else None,
            interconnect_bytes_per_s=base.interconnect_bytes_per_s if base else None,
            network_bytes_per_s=base.network_bytes_per_s if base else None,
            vendor=base.vendor if base else "",
            source=f"rooflint measure ({backend}), {self.date}" + (f"; unmeasured fields from {base.name}" if base else ""),
            provenance=freeze(prov),
            kernel_overhead_s=stack.overhead_s,
            matmul_half_flop=freeze(dict(stack.half_flop)),
            device_names=(self.device_name,),
            achievable=self.achievable(stack, backend, base),
        )

    def achievable(self, stack: StackCalibration, backend: str, base: Hardware | None) -> Achievable:
        """The forecast's parameters from this run: the measured copy and GEMMs are the profile's
        ceilings, so a streaming kernel and a large GEMM reach all of them (fraction 1); the
        kernel floor is the fitted t0. What a copy and GEMM sweep cannot see (decode attention's
        and FlashAttention's shares, relative to those ceilings; links) comes from the base
        profile's fit, else the prior."""
        ref = base.achievable if base else PRIOR
        when = f"rooflint measure ({backend}), {self.date}"
        measured = {**self.peaks, **stack.peaks}
        # a measured dtype's GEMMs reach its measured peak; one not measured keeps the datasheet's
        # peak in the profile, so it keeps the base fit's share of it
        peaks = {k: 1.0 if k in measured else ref.peak_fraction_of(k) for k in (base.peak_flop_per_s if base else {})}
        peaks.update({k: 1.0 for k in measured})
        peaks["*"] = ref.peak_fraction_of("*") if base else 1.0
        rel = lambda v, of: min(1.0, v / of) if of else 1.0  # noqa: E731
        key = ref.peak_key("bf16")
        source = {"bandwidth_fraction": f"{when}: the measured copy is the ceiling",
                  "copy_bandwidth_fraction": f"{when}: the measured copy is the ceiling",
                  "peak_fraction": f"{when}: the measured GEMMs are the ceilings",
                  "kernel_floor_s": f"{when}: t0, the smallest copy less its bytes / bandwidth",
                  "attention_floor_s": f"{when}: t0 x the base profile's attention / kernel floor ratio"}
        inherited = f"from {base.name if base else 'the prior'}, relative to its own ceilings (not measured)"
        source.update({k: inherited for k in ("decode_bandwidth_fraction", "attention_fraction", "attention_wave_s",
                                              "link_fraction", "collective_latency_s", "network_fraction",
                                              "network_latency_s", "collectives")})
        t0 = stack.overhead_s or ref.kernel_floor_s
        return Achievable(
            bandwidth_fraction=1.0, copy_bandwidth_fraction=1.0,
            decode_bandwidth_fraction=rel(ref.decode_bandwidth_fraction, ref.bandwidth_fraction),
            peak_fraction=peaks,
            attention_fraction={d: rel(v, ref.peak_fraction_of(key)) for d, v in ref.attention_fraction.items()},
            kernel_floor_s=min(t0, 1e-3),
            attention_floor_s=min(t0 * ref.attention_floor_s / ref.kernel_floor_s if ref.kernel_floor_s else t0, 1e-3),
            attention_wave_s=ref.attention_wave_s, link_fraction=ref.link_fraction,
            collective_latency_s=ref.collective_latency_s, network_fraction=ref.network_fraction,
            network_latency_s=ref.network_latency_s, collectives=ref.collectives, source=source)


NOISE_LIMIT = 0.5  # IQR / median above which a ceiling is not fitted or saved (measure --force overrides)


def noisy_ceilings(c: Calibration, limit: float = NOISE_LIMIT) -> list[str]:
    """The measurements a saved profile would stand on (each backend's best copy and GEMMs, and
    the copy its kernel overhead comes from) whose noise exceeds `limit`, as phrases."""
    out = []
    for backend, st in c.stacks.items():
        used = [("bandwidth", st.bandwidth.measurement)] if st.bandwidth else []
        used += [(f"{key} peak", ceiling.measurement) for key, ceiling in st.peaks.items()]
        used += [("kernel overhead", st.overhead_from)] if st.overhead_from else []
        for what, m in used:
            if m.stats.rel_iqr > limit:
                out.append(f"{backend} {what} from {m.case.kernel} {m.case.size_label} "
                           f"(noise {100 * m.stats.rel_iqr:,.0f}% > {100 * limit:g}%)")
    return list(dict.fromkeys(out))


def calibrate(measurements: Iterable[Measurement], device_name: str, date: str,
              cache_bytes: float | None, capacity_bytes: float | None = None) -> Calibration:
    ms = list(measurements)
    if not any(m.case.kernel == "copy" for m in ms) or not any(m.case.kernel == "gemm" for m in ms):
        raise RooflintError("calibration needs copy and GEMM measurements (run the quick or full suite)")
    stacks = {}
    for backend in dict.fromkeys(m.backend for m in ms):
        own = [m for m in ms if m.backend == backend]
        copies = [m for m in own if m.case.kernel == "copy"]
        gemms = [m for m in own if m.case.kernel == "gemm"]
        bandwidth = _bandwidth(copies, cache_bytes) if copies else None
        peaks: dict[str, Ceiling] = {}
        for m in gemms:
            key = dtype(m.case.dtype).peak_key
            rate = case_flops(m.case) / m.time_s
            if key not in peaks or rate > peaks[key].value:
                peaks[key] = Ceiling(rate, m)
        stacks[backend] = StackCalibration(bandwidth, freeze(peaks), 0.0, None)
    best_bw = max(s.bandwidth.value for s in stacks.values() if s.bandwidth)
    for backend, stack in stacks.items():
        bw = stack.bandwidth.value if stack.bandwidth else best_bw
        t0, src = _overhead([m for m in ms if m.backend == backend and m.case.kernel == "copy"], bw)
        sweeps = {key: own for key in stack.peaks
                  if (own := [m for m in ms if m.backend == backend and m.case.kernel == "gemm"
                              and dtype(m.case.dtype).peak_key == key])}
        half = {key: fit_half_flop(own, stack.peaks[key].value, bw, t0) for key, own in sweeps.items()}
        stacks[backend] = replace(stack, overhead_s=t0, overhead_from=src, half_flop=freeze(half),
                                  half_fit_points=freeze({k: len(v) for k, v in sweeps.items()}))
    return Calibration(device_name, date, freeze(stacks), capacity_bytes)


def _bandwidth(copies: list[Measurement], cache_bytes: float | None) -> Ceiling:
    def beyond_cache(m: Measurement) -> bool:
        if m.device != "cpu":
            return True  # L2 is flushed before every sample
        return cache_bytes is None or m.case.footprint_bytes() * m.rotation_sets >= 2 * cache_bytes

    cold = [m for m in copies if beyond_cache(m)]
    pool, note = (cold, "") if cold else (copies, "no copy spanned twice the cache: this may be a cache's bandwidth")
    best = max(pool, key=lambda m: case_bytes(m.case) / m.time_s)
    return Ceiling(case_bytes(best.case) / best.time_s, best, note)


def _overhead(copies: list[Measurement], bandwidth: float) -> tuple[float, Measurement | None]:
    if not copies:
        return 0.0, None
    smallest = min(copies, key=lambda m: case_bytes(m.case))
    return max(0.0, smallest.time_s - case_bytes(smallest.case) / bandwidth), smallest


def fit_half_flop(gemms: list[Measurement], peak: float, bandwidth: float, overhead_s: float) -> float:
    """F_half minimizing the summed squared log error of t0 + max((F + F_half)/P, bytes/BW)."""
    points = [(case_ops(m.case)[0], m.time_s) for m in gemms]

    def cost(half: float) -> float:
        return sum(math.log(Timed(op, peak, bandwidth, overhead_s, half).time_s / t) ** 2 for op, t in points)

    return min(HALF_GRID, key=cost)


_bytes, _time, _bw, _q1, _q3, _median, _ceiling, _sheet = sym("bytes measured_s BW q1 q3 median ceiling datasheet")


@dataclass(frozen=True, slots=True)
class StackTerms:
    """One backend's calibration as terms, keyed under `calibration.backends.<backend>`."""

    bandwidth: tuple[Term, ...]  # the ceiling, its noise, its share of the datasheet's
    peaks: tuple[Term, ...]  # per dtype key, likewise
    losses: tuple[Term, ...]  # t0 and each F_half, with their fits in the notes


def _describe(c: Ceiling, date: str) -> str:
    p = c.provenance(date)
    text = (f"best of the sweep: {p['kernel']} {p['dtype']} {p['size']} on {p['backend']} ({p['method']}, "
            f"{p['samples']} samples), {p['date']}")
    return text + (f"; {c.note}" if c.note else "")


def _ceiling_terms(c: Ceiling, stack_key: str, field_key: str, leaf: str, unit: str, work: float,
                   sheet: float | None, date: str) -> list[Term]:
    """value = bytes / measured_s of a copy, flops / measured_s of a GEMM; its noise; value / datasheet."""
    s = c.measurement.stats
    name = "bytes" if unit == "bytes_per_s" else "flops"
    figs = [figure(f"{stack_key}.{field_key}", sym(name) / _time, unit, _describe(c, date)),
            figure(f"{stack_key}.noise.{leaf}", (_q3 - _q1) / _median, "fraction", "interquartile range / median")]
    out = evaluate_figures(figs, {name: work, "measured_s": c.measurement.time_s, "q1": s.q1, "q3": s.q3,
                                  "median": s.median})
    if sheet:
        out += evaluate_figures([figure(f"{stack_key}.of_datasheet.{leaf}", _ceiling / _sheet, "fraction",
                                        "measured ceiling / the datasheet's")],
                                {"ceiling": out[0].value, "datasheet": sheet})
    return out


def calibration_terms(c: Calibration, datasheet: Hardware | None,
                      prefix: str = "calibration") -> tuple[dict[str, StackTerms], tuple[Term, ...]]:
    """Each backend's ceilings and fitted losses, and the machine's best ceilings, as terms."""
    stacks: dict[str, StackTerms] = {}
    best_bw = c.bandwidth.value
    for b, st in c.stacks.items():
        key = f"{prefix}.backends.{b}"
        bandwidth = tuple(_ceiling_terms(st.bandwidth, key, "bandwidth_bytes_per_s", "bandwidth", "bytes_per_s",
                                         case_bytes(st.bandwidth.measurement.case),
                                         datasheet.bandwidth_bytes_per_s if datasheet else None, c.date)
                          ) if st.bandwidth else ()
        peaks = tuple(t for k, ceiling in st.peaks.items()
                      for t in _ceiling_terms(ceiling, key, f"peak_flop_per_s.{k}", k, "flop_per_s",
                                              case_flops(ceiling.measurement.case),
                                              datasheet.peak_flop_per_s.get(k) if datasheet else None, c.date))
        bw = st.bandwidth.value if st.bandwidth else best_bw
        if st.overhead_from is not None:
            m = st.overhead_from
            (t0,) = evaluate_figures([figure(f"{key}.kernel_overhead_s", emax(0, _time - _bytes / _bw), "seconds",
                                             f"fit: the smallest copy ({m.case.size_label}, {m.method}) less its "
                                             "bytes / bandwidth: what a kernel costs whatever its size")],
                                     {"measured_s": m.time_s, "bytes": case_bytes(m.case), "BW": bw})
        else:
            t0 = Term(f"{key}.kernel_overhead_s", Const(0), {}, 0.0, "seconds", f"no copy measured on {b}")
        halves = tuple(Term(f"{key}.matmul_half_flop.{k}", Const(v), {}, v, "flops",
                            "fit: the F_half of the grid (0, or 10^3..10^13 FLOP, 24 per decade) minimizing "
                            f"the sum of ln^2((t0 + max((F + F_half)/P, bytes/BW)) / measured) over {b}'s "
                            f"{st.half_fit_points.get(k, 0)} {k} GEMMs")
                       for k, v in st.half_flop.items())
        stacks[b] = StackTerms(bandwidth, peaks, (t0, *halves))
    machine = [figure(f"{prefix}.machine_bandwidth_bytes_per_s",
                      emax(*(sym(f"bandwidth_{b}") for b, st in c.stacks.items() if st.bandwidth)), "bytes_per_s",
                      "the best copy over the backends")]
    values = {f"bandwidth_{b}": st.bandwidth.value for b, st in c.stacks.items() if st.bandwidth}
    for k in c.peaks:
        have = [b for b, st in c.stacks.items() if k in st.peaks]
        machine.append(figure(f"{prefix}.machine_peak_flop_per_s.{k}", emax(*(sym(f"{k}_{b}") for b in have)),
                              "flop_per_s", f"the best {k} GEMM over the backends"))
        values.update({f"{k}_{b}": c.stacks[b].peaks[k].value for b in have})
    return stacks, tuple(evaluate_figures(machine, values))


def profile_document(hw: Hardware) -> dict[str, Any]:
    """The hardware YAML mapping `--gpu FILE` reads back (catalog.hardware_from_mapping)."""
    doc: dict[str, Any] = {
        "name": hw.name, "description": hw.description, "device_names": list(hw.device_names),
        "memory": {"capacity": f"{hw.capacity_bytes:.0f} B", "bandwidth": f"{hw.bandwidth_bytes_per_s / 1e9:.6g} GB/s"},
        "compute": {k: f"{v / 1e12:.6g} TFLOP/s" for k, v in hw.peak_flop_per_s.items()},
        "calibration": {"kernel_overhead": f"{hw.kernel_overhead_s * 1e6:.6g} us",
                        "matmul_half_work": {k: f"{v:.6g} FLOP" for k, v in hw.matmul_half_flop.items()}},
        "achievable": achievable_document(hw.achievable),
    }
    if hw.vendor:
        doc["vendor"] = hw.vendor
    for key, value, unit in (("sm_count", hw.sm_count, None), ("sram_per_sm", hw.sram_per_sm_bytes, "B"),
                             ("l2_cache", hw.l2_bytes, "B"), ("interconnect", hw.interconnect_bytes_per_s, "B/s"),
                             ("network", hw.network_bytes_per_s, "B/s")):
        if value is not None:
            doc[key] = value if unit is None else f"{value:.0f} {unit}"
    doc["source"] = hw.source
    doc["provenance"] = {k: dict(v) for k, v in hw.provenance.items()}
    return doc


def _slug(text: str) -> str:
    out = "".join(c.lower() if c.isalnum() else "-" for c in text)
    while "--" in out:
        out = out.replace("--", "-")
    return out.strip("-")
