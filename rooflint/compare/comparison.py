"""Predictions against measurements: for each measured kernel, the analyzer's time on the
datasheet profile and on the calibrated one, achieved rates, % of roofline, the error, and
whether the predicted bound is the one observed. Every figure is a term (compare_terms).

- error = predicted / measured - 1 (negative: the prediction is too fast).
- fraction of roofline = the roofline time max(F / P, bytes / BW) on the reference ceilings (the
  calibrated ones when the run has them, else the datasheet's) over the measured time.
- observed bound: the roof the kernel came closer to, achieved FLOP/s / peak against achieved
  B/s / bandwidth; predicted bound: the bound of the op that dominates the roofline time.

A row's terms are keyed relative to the row (`flops`, `ops[0].bytes_read`, `ops[0].calibrated_time_s`;
`datasheet_ops[1].time_s` for an op a profile shapes otherwise than the reference profile does);
a report places them with `keyed(terms, prefix)`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from rooflint.analysis.expr import Expr, add, mul, sym
from rooflint.analysis.ops import Op, intensity_term, op_terms
from rooflint.analysis.roofline import COMPUTE, MEMORY, TIME, Timed, place, timed_terms
from rooflint.analysis.terms import Figure, Term, evaluate_figures, figure
from rooflint.compare.kernels import case_ops
from rooflint.errors import SpecError
from rooflint.measure.result import Measurement
from rooflint.specs import Hardware

PROFILES = ("datasheet", "calibrated")
ROOF: Expr = TIME.substitute({"t0": 0, "F_half": 0})
"""The bare roofline time of one instance: max(flops/peak, (bytes_read + bytes_written)/BW)."""

_flops, _bytes, _measured, _roof = sym("flops bytes measured_s roof_s")
_median, _q1, _q3 = sym("median q1 q3")


@dataclass(frozen=True, slots=True)
class Comparison:
    m: Measurement
    flops: float
    bytes: float
    datasheet_s: float | None
    calibrated_s: float | None
    roof_s: float | None  # max(F/P, bytes/BW) per op on the reference ceilings, no losses
    predicted_bound: str | None
    observed_bound: str | None
    reference: str | None = None  # datasheet | calibrated: the profile the ops and the roof are on
    ops: tuple[Op, ...] = ()  # the kernel's ops as the reference profile shapes them
    # profile (datasheet | calibrated) -> the kernel's ops placed on it
    placed: Mapping[str, tuple[Timed, ...]] = field(default_factory=dict, compare=False)
    figures: Mapping[str, Term] = field(default_factory=dict, compare=False)  # the row's figures by key

    @property
    def measured_s(self) -> float:
        return self.m.time_s

    def _value(self, key: str) -> float | None:
        t = self.figures.get(key)
        return None if t is None else t.value

    @property
    def achieved_flop_per_s(self) -> float:
        return self._value("achieved_flop_per_s")

    @property
    def achieved_bytes_per_s(self) -> float:
        return self._value("achieved_bytes_per_s")

    @property
    def roofline_fraction(self) -> float | None:
        """Roofline time / measured time: 1.0 is a kernel at the roof."""
        return self._value("roofline_fraction")

    @property
    def datasheet_error(self) -> float | None:
        return self._value("datasheet_error")

    @property
    def calibrated_error(self) -> float | None:
        return self._value("calibrated_error")

    @property
    def bounds_agree(self) -> bool | None:
        if self.predicted_bound is None or self.observed_bound is None:
            return None
        return self.predicted_bound == self.observed_bound

    def terms(self) -> list[Term]:
        """Every figure of the row, in reading order (compare_terms groups them)."""
        g = compare_terms(self)
        return [*g.measurement, *(t for _, ts in g.ops for t in ts), *g.totals]


def error(predicted: float | None, measured: float) -> float | None:
    return None if predicted is None else predicted / measured - 1


def _placed(m: Measurement, hw: Hardware | None) -> tuple[Timed, ...] | None:
    """The kernel's ops on hw; None when hw lacks the peak of one of them."""
    if hw is None:
        return None
    try:
        return tuple(place(o, hw) for o in case_ops(m.case, hw))
    except SpecError:
        return None


def _name(o: Op) -> str:
    return "".join(c if c.isalnum() or c == "_" else "_" for c in o.name)


def _total(ops: Iterable[Op], part: str) -> Expr:
    return add(*(mul(o.count, sym(f"{part}_{_name(o)}")) for o in ops))


def compare(m: Measurement, datasheet: Hardware | None, calibrated: Hardware | None) -> Comparison:
    reference_name = "calibrated" if calibrated is not None else "datasheet" if datasheet is not None else None
    reference = calibrated or datasheet
    ops = tuple(case_ops(m.case, reference))
    placed = {name: t for name, hw in zip(PROFILES, (datasheet, calibrated)) if (t := _placed(m, hw)) is not None}
    s = m.stats
    values: dict[str, float] = {"median": s.median, "q1": s.q1, "q3": s.q3}
    figs: list[Figure] = [
        figure("measured_s", _median, "seconds", f"median of {s.n} samples ({m.method}, {m.stop_reason}); "
                                                 f"p10 {s.p10:.4g} s, p90 {s.p90:.4g} s"),
        figure("noise_rel_iqr", (_q3 - _q1) / _median, "fraction", "interquartile range / median"),
        figure("flops", _total(ops, "flops"), "flops", "sum of count x FLOPs over the ops"),
        figure("bytes", add(*(mul(o.count, sym(f"bytes_read_{_name(o)}") + sym(f"bytes_written_{_name(o)}"))
                              for o in ops)), "bytes", "sum of count x (read + written) over the ops"),
        figure("achieved_flop_per_s", _flops / _measured, "flop_per_s"),
        figure("achieved_bytes_per_s", _bytes / _measured, "bytes_per_s"),
    ]
    for o in ops:
        values.update({f"flops_{_name(o)}": o.flops, f"bytes_read_{_name(o)}": o.bytes_read,
                       f"bytes_written_{_name(o)}": o.bytes_written})
    roof = predicted_bound = observed = None
    ref_timed = placed.get(reference_name) if reference_name else None
    if ref_timed is not None:
        bare = [_roof_value(t) * t.op.count for t in ref_timed]
        predicted_bound = ref_timed[max(range(len(bare)), key=bare.__getitem__)].bound
        values.update({f"roof_{_name(t.op)}": _roof_value(t) for t in ref_timed})
        figs += [figure("roof_s", _total(ops, "roof"), "seconds",
                        f"sum of count x max(flops/peak, bytes/BW) on the {reference_name} profile: no t0, no F_half"),
                 figure("roofline_fraction", _roof / _measured, "fraction", "roofline time / measured time")]
    terms: dict[str, Term] = {}
    env = dict(values)

    def evaluate(group: list[Figure], extra: Mapping[str, float]) -> None:
        for t in evaluate_figures(group, {**env, **extra}):
            terms[t.key] = t
            env[t.symbol] = t.value

    evaluate(figs, {})
    for name in PROFILES:  # each profile's times, under the same symbols
        if name in placed:
            times = {f"time_{_name(t.op)}": t.time_s for t in placed[name]}
            total = add(*(mul(t.op.count, sym(f"time_{_name(t.op)}")) for t in placed[name]))
            evaluate([figure(f"{name}_s", total, "seconds", f"sum of count x TIME over the ops on the {name} profile"),
                      figure(f"{name}_error", sym(f"{name}_s") / _measured - 1, "ratio",
                             "predicted / measured - 1 (negative: the prediction is too fast)")], times)
    if ref_timed is not None:
        roof = terms["roof_s"].value
        flops, nbytes, t = terms["flops"].value, terms["bytes"].value, m.time_s
        compute_share = flops / t / reference.peak(ops[0].peak_key) if flops else 0.0
        observed = COMPUTE if compute_share > nbytes / t / reference.bandwidth_bytes_per_s else MEMORY
    value = lambda k: terms[k].value if k in terms else None  # noqa: E731
    return Comparison(m, terms["flops"].value, terms["bytes"].value, value("datasheet_s"), value("calibrated_s"),
                      roof, predicted_bound, observed, reference_name, ops, placed, terms)


def _roof_value(t: Timed) -> float:
    return max(t.op.flops / t.peak_flop_per_s, t.memory_time_s)


def _roof_term(t: Timed, key: str) -> Term:
    o = t.op
    values = {"flops": o.flops, "bytes_read": o.bytes_read, "bytes_written": o.bytes_written,
              "peak": t.peak_flop_per_s, "BW": t.bandwidth_bytes_per_s}
    return Term(key, ROOF, {k: values[k] for k in ROOF.symbols()}, _roof_value(t), "seconds",
                "the bare roofline: no t0, no F_half")


def _same(a: Op, b: Op) -> bool:
    return (a.flops, a.bytes_read, a.bytes_written) == (b.flops, b.bytes_read, b.bytes_written)


@dataclass(frozen=True, slots=True)
class RowTerms:
    """A row's terms in reading order: the measurement; per op (on the reference profile, then any
    a profile shapes otherwise) its FLOPs, bytes, intensity, bare roof and time on each profile;
    then the row's totals, rates, roof fraction, predictions and errors."""

    measurement: tuple[Term, ...]
    ops: tuple[tuple[Op, tuple[Term, ...]], ...]
    totals: tuple[Term, ...]


def compare_terms(c: Comparison) -> RowTerms:
    f = c.figures
    ref_timed = c.placed.get(c.reference) if c.reference else None
    groups: dict[str, tuple[Op, list[Term], str]] = {}  # op name -> the op, its terms, its JSON place
    for j, o in enumerate(c.ops):
        key = f"ops[{j}]"
        terms = op_terms(o, key)
        if ref_timed is not None:
            t = ref_timed[j]
            terms.append(intensity_term(o, f"{key}.intensity", f"vs ridge peak/BW = {t.ridge_point:.1f} FLOP/B: "
                                                                f"{t.bound}-bound"))
            terms.append(_roof_term(t, f"{key}.roof_s"))
        else:
            terms.append(intensity_term(o, f"{key}.intensity"))
        groups[o.name] = (o, terms, key)
    totals = [f[k] for k in ("flops", "bytes", "achieved_flop_per_s", "achieved_bytes_per_s", "roof_s",
                             "roofline_fraction") if k in f]
    for name in PROFILES:
        for j, t in enumerate(c.placed.get(name, ())):
            mine = groups.get(t.op.name)
            if mine is not None and _same(t.op, mine[0]):  # the reference's op: its time sits beside it
                (time,) = [x for x in timed_terms(t, "x") if x.key == "x.time_s"]
                mine[1].append(replace(time, key=f"{mine[2]}.{name}_time_s", note=f"on the {name} profile"))
                continue
            key = f"{name}_ops[{j}]"  # shaped otherwise on this profile: the op again, with its time
            mine = groups.setdefault(f"{name}:{t.op.name}", (t.op, [], key))
            mine[1].extend(op_terms(t.op, key))
            mine[1].extend(x for x in timed_terms(t, key) if x.key.endswith(".time_s"))
        if name in c.placed:
            totals += [f[f"{name}_s"], f[f"{name}_error"]]
    return RowTerms((f["measured_s"], f["noise_rel_iqr"]), tuple((o, tuple(ts)) for o, ts, _ in groups.values()),
                    tuple(totals))


def keyed(terms: Iterable[Term], prefix: str) -> list[Term]:
    """Terms placed under a JSON prefix: `flops` -> `comparisons[3].flops`."""
    return [replace(t, key=f"{prefix}.{t.key}") for t in terms]
