"""The report of `rooflint measure`: ceilings, every kernel against its predictions, eager vs
fused attention, generation with and without a KV cache, and what was skipped. Every number is a
term from compare/ (its key is its place in the JSON); this module only arranges them."""

from __future__ import annotations

from typing import Any

from rooflint.analysis.terms import Term
from rooflint.compare.calibration import NOISE_LIMIT, Calibration, StackTerms, calibration_terms, noisy_ceilings
from rooflint.compare.comparison import (
    PROFILES,
    Comparison,
    RowTerms,
    compare,
    compare_terms,
    keyed,
)
from rooflint.compare.groups import Row, attention_rows, generation_rows, summary_terms
from rooflint.measure.result import Run
from rooflint.report.model import Column, Report, Section, Table
from rooflint.specs import Hardware

SCHEMA = "rooflint.measure/1"
SUMMARY_LABELS = {"median_abs_error_memory_calibrated": "median |error|, memory-bound, calibrated",
                  "median_abs_error_compute_calibrated": "median |error|, compute-bound, calibrated",
                  "median_abs_error_memory_datasheet": "median |error|, memory-bound, datasheet"}


def measure_report(run: Run, datasheet: Hardware | None, calibration: Calibration | None,
                   saved_to: str | None = None) -> Report:
    calibrated = {b: calibration.hardware(datasheet, backend=b) for b in calibration.stacks} if calibration else {}
    rows = [compare(m, datasheet, calibrated.get(m.backend)) for m in run.measurements]
    grouped = [compare_terms(r) for r in rows]
    row_dicts = [_row(r, g) for r, g in zip(rows, grouped)]
    env = run.environment
    device = env.get("device_name", "?")
    stacks, machine = calibration_terms(calibration, datasheet) if calibration else ({}, ())
    summary_t = summary_terms(rows, datasheet is not None)
    attention, generation = attention_rows(rows), generation_rows(rows)
    tables = [_kernel_table(row_dicts), *_attention_tables(attention), *_generation_tables(generation)]
    if calibration:
        tables = _ceiling_tables(calibration, stacks, datasheet) + tables
    if run.skipped:
        tables.append(Table("skipped", (Column("backend", "backend"), Column("case", "case"), Column("reason", "reason")),
                            tuple({"backend": s.backend, "case": s.case.key, "reason": s.reason} for s in run.skipped)))
    summary = [("device", device, "text"), ("datasheet profile", datasheet.name if datasheet else None, "text"),
               ("kernels measured", len(run.measurements), "int"), ("skipped", len(run.skipped), "int")]
    summary += [(SUMMARY_LABELS[k], t.value if t else None, "percent") for k, t in summary_t.items()]
    data = {"schema": SCHEMA, "run": run.to_dict(),
            "datasheet": datasheet.name if datasheet else None,
            "calibration": _calibration_dict(calibration, datasheet, stacks, machine) if calibration else None,
            "comparisons": row_dicts,
            "attention": [r.values for r in attention], "generation": [r.values for r in generation],
            "summary": {k: t.value if t else None for k, t in summary_t.items()}}

    def explain() -> tuple[Section, ...]:
        return _explanation(rows, grouped, stacks, machine, summary_t, attention, generation)

    return Report(SCHEMA, f"rooflint measure on {device}", data, tuple(tables), tuple(summary),
                  tuple(_notes(run, rows, datasheet, saved_to, calibration)), explain)


def _notes(run: Run, rows: list[Comparison], datasheet: Hardware | None, saved_to: str | None,
           calibration: Calibration | None = None) -> list[str]:
    notes = list(_environment_notes(run.environment))
    notes += list(conditions(run.environment, rows))
    if calibration is not None:
        notes += [f"noisy ceiling: {line}" for line in noisy_ceilings(calibration)]
    if run.interrupted:
        notes.insert(0, "interrupted (Ctrl-C): these are the kernels measured before it")
    above = [r for r in rows if r.roofline_fraction and r.roofline_fraction > 1.0]
    if above:
        notes.append(f"{len(above)} kernel(s) beat the roofline (e.g. {above[0].m.backend} {above[0].m.case.key}, "
                     f"{100 * above[0].roofline_fraction:.0f}%): the bandwidth ceiling is a copy's, which writes "
                     "as much as it reads; a read-mostly kernel (a GEMV streaming weights) can go faster")
    if saved_to:
        notes.append(f"calibrated profile written to {saved_to} (use it with --gpu {saved_to})")
    if datasheet is None:
        notes.append(f"no built-in profile lists the device name {run.environment.get('device_name', '?')!r}: "
                     "datasheet columns are empty (pass --gpu NAME to compare with one)")
    return notes


def _values(g: RowTerms) -> dict[str, float]:
    return {t.key: t.value for t in (*g.measurement, *(t for _, ts in g.ops for t in ts), *g.totals)}


def _ops(r: Comparison, values: dict[str, float]) -> list[dict[str, Any]]:
    """The kernel's ops on the reference profile: numbers, formulas and bindings (enough to recompute),
    and each one's time on the profiles."""
    return [{"name": o.name, "count": o.count, "kind": o.kind, "peak_key": o.peak_key, "flops": o.flops,
             "bytes_read": o.bytes_read, "bytes_written": o.bytes_written, "intensity": values[f"ops[{j}].intensity"],
             "roof_s": values.get(f"ops[{j}].roof_s"),
             **{f"{p}_time_s": values.get(f"ops[{j}].{p}_time_s") for p in PROFILES},
             "formulas": o.formulas, "defs": {n: str(e) for n, e in o.form.defs}, "symbols": dict(o.symbols),
             "note": o.note}
            for j, o in enumerate(r.ops)]


def _profile_time(values: dict[str, float], r: Comparison, profile: str, j: int) -> float:
    """Op j's time on a profile: beside the reference's op of that name, else in the profile's list."""
    own = values.get(f"{profile}_ops[{j}].time_s")
    if own is not None:
        return own
    i = next(i for i, o in enumerate(r.ops) if o.name == r.placed[profile][j].op.name)
    return values[f"ops[{i}].{profile}_time_s"]


def _row(r: Comparison, g: RowTerms) -> dict[str, Any]:
    values = _values(g)
    m, s = r.m, r.m.stats
    row = {"backend": m.backend, "kernel": m.case.kernel, "variant": m.case.variant, "dtype": m.case.dtype,
           "size": m.case.size_label, "flops": r.flops, "bytes": r.bytes,
           "measured_s": values["measured_s"], "p10_s": s.p10, "p90_s": s.p90,
           "noise_rel_iqr": values["noise_rel_iqr"], "samples": s.n, "outliers": s.outliers,
           "method": m.method, "stop_reason": m.stop_reason,
           "achieved_flop_per_s": r.achieved_flop_per_s, "achieved_bytes_per_s": r.achieved_bytes_per_s,
           "roof_s": r.roof_s, "roofline_fraction": r.roofline_fraction,
           "datasheet_s": r.datasheet_s, "datasheet_error": r.datasheet_error,
           "calibrated_s": r.calibrated_s, "calibrated_error": r.calibrated_error,
           "predicted_bound": r.predicted_bound, "observed_bound": r.observed_bound,
           "bounds_agree": None if r.bounds_agree is None else ("yes" if r.bounds_agree else "NO"),
           "check_error": m.check_error, "rotation_sets": m.rotation_sets, "peak_bytes": m.extra.get("peak_bytes"),
           "reference": r.reference, "ops": _ops(r, values)}
    for name in PROFILES:  # each profile's ops as it shapes them (the reference's, unless its facts differ)
        row[f"{name}_ops"] = [{"name": t.op.name, "count": t.op.count, "flops": t.op.flops,
                               "bytes_read": t.op.bytes_read, "bytes_written": t.op.bytes_written,
                               "symbols": dict(t.op.symbols), "time_s": _profile_time(values, r, name, j),
                               "bound": t.bound}
                              for j, t in enumerate(r.placed[name])] if name in r.placed else None
    return row


def _kernel_table(rows: list[dict[str, Any]]) -> Table:
    # narrow terminals keep what was measured and how well it was predicted; rates and bounds go first
    cols = (Column("backend", "backend"), Column("kernel", "kernel"), Column("variant", "variant", drop=5),
            Column("dtype", "dtype"), Column("size", "size"), Column("measured_s", "measured", "seconds"),
            Column("noise_rel_iqr", "noise", "percent", 3), Column("achieved_flop_per_s", "FLOP/s", "flop_per_s", 12),
            Column("achieved_bytes_per_s", "B/s", "bytes_per_s", 11), Column("roofline_fraction", "% roof", "percent", 4),
            Column("datasheet_s", "datasheet", "seconds", 7), Column("datasheet_error", "err (sheet)", "percent", 6),
            Column("calibrated_s", "calibrated", "seconds", 2), Column("calibrated_error", "err (cal.)", "percent", 1),
            Column("predicted_bound", "pred. bound", drop=10), Column("observed_bound", "obs. bound", drop=9),
            Column("bounds_agree", "agree", drop=8))
    return Table("kernels: measured against predicted", cols, tuple(rows))


def _value(terms: tuple[Term, ...], part: str) -> float | None:
    """The value of the term whose key has this part (noise., of_datasheet., ...)."""
    return next((t.value for t in terms if f".{part}" in t.key), None)


def _ceiling_tables(c: Calibration, stacks: dict[str, StackTerms], datasheet: Hardware | None) -> list[Table]:
    """Each backend's measured ceilings next to the datasheet's, and its small-shape losses."""
    def row(backend: str, label: str, ceiling, terms: tuple[Term, ...], leaf: str, sheet: float | None,
            best) -> dict[str, Any]:
        m = ceiling.measurement
        return {"backend": backend, "ceiling": label, "measured": terms[0].value, "datasheet": sheet,
                "ratio": _value(terms, f"of_datasheet.{leaf}"),
                "from": f"{m.case.kernel} {m.case.dtype} {m.case.size_label} ({m.method})"
                        + (f"; {ceiling.note}" if ceiling.note else ""),
                "noise": _value(terms, f"noise.{leaf}"), "machine_best": "best" if ceiling is best else ""}

    def cols(kind: str) -> tuple[Column, ...]:
        return (Column("backend", "backend"), Column("ceiling", "ceiling"), Column("measured", "measured", kind),
                Column("datasheet", "datasheet", kind, 3), Column("ratio", "of datasheet", "percent", 2),
                Column("from", "best point of the sweep", drop=4), Column("noise", "noise", "percent", 1),
                Column("machine_best", "", drop=5))

    sheet_bw = datasheet.bandwidth_bytes_per_s if datasheet else None
    best_bw, best_peaks = c.bandwidth, c.peaks
    bw = [row(b, "copy (read + write)", st.bandwidth, stacks[b].bandwidth, "bandwidth", sheet_bw, best_bw)
          for b, st in c.stacks.items() if st.bandwidth]
    peaks = []
    for b, st in c.stacks.items():
        for k, v in st.peaks.items():
            terms = tuple(t for t in stacks[b].peaks if t.key.endswith(f".{k}"))
            peaks.append(row(b, f"peak {k}", v, terms, k, datasheet.peak_flop_per_s.get(k) if datasheet else None,
                             best_peaks[k]))
    losses = []
    for b, st in c.stacks.items():
        t0, *halves = stacks[b].losses
        losses.append({"backend": b, "kernel_overhead_s": t0.value,
                       "from": (f"copy {st.overhead_from.case.size_label}: time - bytes/BW" if st.overhead_from else "—"),
                       "matmul_half_flop": ", ".join(f"{t.key.rsplit('.', 1)[1]}: {t.value:.3g}" for t in halves) or "—"})
    return [Table("empirical roofline: memory bandwidth", cols("bytes_per_s"), tuple(bw)),
            Table("empirical roofline: peak FLOP/s per dtype (GEMM sweep)", cols("flop_per_s"), tuple(peaks)),
            Table("small-shape losses (fitted)", (Column("backend", "backend"),
                  Column("kernel_overhead_s", "overhead t0", "seconds"), Column("from", "fitted on", drop=1),
                  Column("matmul_half_flop", "matmul F_half (FLOP)")), tuple(losses))]


def _attention_tables(rows: list[Row]) -> list[Table]:
    if not rows:
        return []
    cols = (Column("backend", "backend"), Column("dtype", "dtype", drop=2), Column("N", "N", "int"),
            Column("variant", "variant"), Column("measured_s", "measured", "seconds"),
            Column("speedup_vs_eager", "× eager", "ratio"), Column("predicted_bytes", "predicted traffic", "bytes", 4),
            Column("sp_bytes", "S+P materialized", "bytes", 3), Column("peak_bytes", "peak alloc (CUDA)", "bytes", 5),
            Column("calibrated_error", "err (cal.)", "percent", 1))
    return [Table("attention: eager vs fused", cols, tuple(r.values for r in rows))]


def _generation_tables(rows: list[Row]) -> list[Table]:
    if not rows:
        return []
    cols = (Column("backend", "backend"), Column("context", "context n", "int"),
            Column("cached_s", "step, KV cache", "seconds"), Column("uncached_s", "step, no cache", "seconds"),
            Column("ratio", "no cache / cache", "ratio", 1), Column("cached_pred_s", "predicted (cache)", "seconds", 4),
            Column("uncached_pred_s", "predicted (no cache)", "seconds", 5),
            Column("cached_flops", "FLOPs (cache)", "flops", 6), Column("uncached_flops", "FLOPs (no cache)", "flops", 7),
            Column("growth", "growth with n", drop=3), Column("growth_exponent", "time ∝ n^k: k", "ratio", 2))
    return [Table("generation on the tiny decoder: one step at context n (seed 001)", cols,
                  tuple(r.values for r in rows))]


BUSY_LOAD = 0.5  # load average per core at the start above which other work competes for the cores
PLAUSIBLE_LLC_BYTES = 256 * 2**20  # a CPU's last-level cache above this is a VM's fiction


def conditions(env: dict[str, Any], rows: list[Comparison]) -> list[str]:
    """What makes this run's numbers less trustworthy, said plainly: a busy machine, a cache size
    that cannot be real, kernels whose samples spread widely."""
    out = []
    load, cores = env.get("load_average_1m"), env.get("cpu_cores")
    if isinstance(load, (int, float)) and isinstance(cores, int) and cores and load > BUSY_LOAD * cores:
        out.append(f"busy machine: load average {load:.2f} on {cores} cores when the run started; other work "
                   "shares the cores and memory, so times are slower and noisier than this machine can do")
    llc = env.get("llc_bytes")
    if isinstance(llc, (int, float)) and llc > PLAUSIBLE_LLC_BYTES:
        out.append(f"implausible cache: the OS reports a {llc / 2**20:,.0f} MiB last-level cache (a virtual "
                   "machine's figure?); copies sized to spill it may be larger than needed, or still cached")
    noisy = [r for r in rows if r.m.stats.rel_iqr > NOISE_LIMIT]
    if noisy:
        worst = max(noisy, key=lambda r: r.m.stats.rel_iqr)
        out.append(f"{len(noisy)} of {len(rows)} kernel(s) have noise above {100 * NOISE_LIMIT:g}% (worst: "
                   f"{worst.m.backend} {worst.m.case.key}, {100 * worst.m.stats.rel_iqr:,.0f}%)")
    return out


def _environment_notes(env: dict[str, Any]):
    yield f"measured {env.get('date', '?')} on {env.get('cpu', '?')} ({env.get('cpu_cores', '?')} cores)"
    for name, b in env.get("backends", {}).items():
        facts = [f"{k}={v}" for k, v in b.items() if k in ("torch", "numpy", "cupy", "threads", "blas_threads",
                                                             "copy_threads", "cuda", "tf32_matmul_default",
                                                             "float32_matmul_precision", "cpu_capability")]
        yield f"{name}: " + ", ".join(facts) + (f" — {b['note']}" if b.get("note") else "")
    for label in ("gpu_before", "gpu_after"):
        g = env.get(label)
        if g and "sm_clock_mhz" in g:
            yield (f"{label}: SM {g['sm_clock_mhz']}/{g.get('sm_clock_max_mhz')} MHz, mem {g.get('mem_clock_mhz')} MHz, "
                   f"{g.get('power_w')}/{g.get('power_limit_w')} W, {g.get('temperature_c')} °C")
    yield "noise = IQR / median of the samples; error = predicted / measured - 1; % roof = roofline time / measured"


def _calibration_dict(c: Calibration, datasheet: Hardware | None, stacks: dict[str, StackTerms],
                      machine: tuple[Term, ...]) -> dict[str, Any]:
    def leaves(terms, part: str) -> dict[str, float]:
        return {t.key.rsplit(".", 1)[1]: t.value for t in terms if f".{part}." in t.key}

    machine_peaks = {t.key.rsplit(".", 1)[1]: t.value for t in machine if ".machine_peak_flop_per_s." in t.key}
    out = {"device_name": c.device_name, "date": c.date, "primary_backend": c.primary_backend,
           "machine_bandwidth_bytes_per_s": next(t.value for t in machine if t.key.endswith("_bandwidth_bytes_per_s")),
           "machine_peak_flop_per_s": machine_peaks, "backends": {}}
    for b, st in c.stacks.items():
        terms = stacks[b]
        every = (*terms.bandwidth, *terms.peaks)
        out["backends"][b] = {
            "bandwidth_bytes_per_s": terms.bandwidth[0].value if terms.bandwidth else None,
            "peak_flop_per_s": leaves(terms.peaks, "peak_flop_per_s"),
            "kernel_overhead_s": terms.losses[0].value, "matmul_half_flop": leaves(terms.losses, "matmul_half_flop"),
            "noise": leaves(every, "noise"), "of_datasheet": leaves(every, "of_datasheet") if datasheet else None,
            "provenance": {k: dict(v) for k, v in c.hardware(datasheet, b).provenance.items()}}
    return out


def _with_notes(title: str, terms, lines: tuple[str, ...] = ()) -> Section:
    notes = tuple(f"{t.key.rsplit('.', 1)[-1]}: {t.note}" for t in terms if t.note)
    return Section(title, tuple(terms), lines + notes)


def _explanation(rows: list[Comparison], grouped: list[RowTerms], stacks: dict[str, StackTerms],
                 machine: tuple[Term, ...], summary: dict[str, Term | None], attention: list[Row], generation: list[Row]) -> tuple[Section, ...]:
    out = []
    for b, st in stacks.items():
        out += [_with_notes(f"calibration of {b}: memory bandwidth (the best copy)", st.bandwidth),
                _with_notes(f"calibration of {b}: peak FLOP/s per dtype (the best GEMM)", st.peaks),
                _with_notes(f"calibration of {b}: small-shape losses (fitted)", st.losses)]
    if machine:
        out.append(_with_notes("calibration: the machine's best ceilings", machine))
    for i, (r, g) in enumerate(zip(rows, grouped)):
        where, name = f"comparisons[{i}]", f"{r.m.backend} {r.m.case.key}"
        out.append(_with_notes(f"{name}: measured", keyed(g.measurement, where)))
        for o, terms in g.ops:
            out.append(Section(f"{name}: {o.name}  ({o.kind}, x{o.count} per call{', ' + o.note if o.note else ''})",
                               tuple(keyed(terms, where))))
        bounds = (f"predicted bound {r.predicted_bound} (the op with the longest roofline time), observed "
                  f"{r.observed_bound} (achieved FLOP/s / peak against achieved B/s / bandwidth)",) \
            if r.predicted_bound else ()
        out.append(Section(f"{name}: against the predictions ({r.reference or 'no'} profile as the reference)",
                           tuple(keyed(g.totals, where)), bounds))
    out += [_with_notes(f"attention: {r.values['backend']} {r.values['variant']} N={r.values['N']}", r.terms)
            for r in attention if r.terms]
    out += [_with_notes(f"generation: {r.values['backend']} n={r.values['context']}" if r.values["context"]
                        else f"generation: {r.values['backend']} growth of the {r.values['growth']} step", r.terms)
            for r in generation if r.terms]
    present = tuple(t for t in summary.values() if t is not None)
    if present:
        out.append(_with_notes("summary", present))
    return tuple(out)

