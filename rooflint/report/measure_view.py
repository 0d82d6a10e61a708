"""The report of `rooflint measure`: ceilings, every kernel against its predictions, eager vs
fused attention, generation with and without a KV cache, and what was skipped."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from rooflint.analysis.kernels import sp_bytes
from rooflint.analysis.roofline import MEMORY
from rooflint.calibration import Calibration
from rooflint.compare import Comparison, compare, growth_exponent, median_abs_error
from rooflint.measure.result import Run
from rooflint.report.explain import explain_op
from rooflint.report.model import Column, Report, Table
from rooflint.specs import Hardware

SCHEMA = "rooflint.measure/1"


def measure_report(run: Run, datasheet: Hardware | None, calibration: Calibration | None,
                   saved_to: str | None = None) -> Report:
    calibrated = {b: calibration.hardware(datasheet, backend=b) for b in calibration.stacks} if calibration else {}
    rows = [compare(m, datasheet, calibrated.get(m.backend)) for m in run.measurements]
    env = run.environment
    device = env.get("device_name", "?")
    tables = [_kernel_table(rows), *_attention_tables(rows), *_generation_tables(rows)]
    if calibration:
        tables = _ceiling_tables(calibration, datasheet) + tables
    if run.skipped:
        tables.append(Table("skipped", (Column("backend", "backend"), Column("case", "case"), Column("reason", "reason")),
                            tuple({"backend": s.backend, "case": s.case.key, "reason": s.reason} for s in run.skipped)))
    mem_err = median_abs_error(rows, MEMORY)
    summary = [("device", device, "text"), ("datasheet profile", datasheet.name if datasheet else None, "text"),
               ("kernels measured", len(run.measurements), "int"), ("skipped", len(run.skipped), "int"),
               ("median |error|, memory-bound, calibrated", mem_err, "percent"),
               ("median |error|, compute-bound, calibrated", median_abs_error(rows, "compute"), "percent")]
    if datasheet:
        summary.append(("median |error|, memory-bound, datasheet", median_abs_error(rows, MEMORY, "datasheet"), "percent"))
    notes = list(_environment_notes(env))
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
        notes.append(f"no built-in profile lists the device name {device!r}: datasheet columns are empty "
                     "(pass --gpu NAME to compare with one)")
    data = {"schema": SCHEMA, "run": run.to_dict(),
            "datasheet": datasheet.name if datasheet else None,
            "calibration": _calibration_dict(calibration, datasheet) if calibration else None,
            "comparisons": [_row(r) for r in rows]}
    return Report(SCHEMA, f"rooflint measure on {device}", data, tuple(tables), tuple(summary), tuple(notes),
                  tuple(_explanation(rows, calibrated, datasheet)))


def _row(r: Comparison) -> dict[str, Any]:
    m, s = r.m, r.m.stats
    return {"backend": m.backend, "kernel": m.case.kernel, "variant": m.case.variant, "dtype": m.case.dtype,
            "size": m.case.size_label, "flops": r.flops, "bytes": r.bytes,
            "measured_s": s.median, "p10_s": s.p10, "p90_s": s.p90, "noise_rel_iqr": s.rel_iqr, "samples": s.n,
            "outliers": s.outliers, "method": m.method, "stop_reason": m.stop_reason,
            "achieved_flop_per_s": r.achieved_flop_per_s, "achieved_bytes_per_s": r.achieved_bytes_per_s,
            "roofline_fraction": r.roofline_fraction,
            "datasheet_s": r.datasheet_s, "datasheet_error": r.datasheet_error,
            "calibrated_s": r.calibrated_s, "calibrated_error": r.calibrated_error,
            "predicted_bound": r.predicted_bound, "observed_bound": r.observed_bound,
            "bounds_agree": None if r.bounds_agree is None else ("yes" if r.bounds_agree else "NO"),
            "check_error": m.check_error, "rotation_sets": m.rotation_sets,
            "peak_bytes": m.extra.get("peak_bytes")}


def _kernel_table(rows: list[Comparison]) -> Table:
    cols = (Column("backend", "backend"), Column("kernel", "kernel"), Column("variant", "variant"),
            Column("dtype", "dtype"), Column("size", "size"), Column("measured_s", "measured", "seconds"),
            Column("noise_rel_iqr", "noise", "percent"), Column("achieved_flop_per_s", "FLOP/s", "flop_per_s"),
            Column("achieved_bytes_per_s", "B/s", "bytes_per_s"), Column("roofline_fraction", "% roof", "percent"),
            Column("datasheet_s", "datasheet", "seconds"), Column("datasheet_error", "err", "percent"),
            Column("calibrated_s", "calibrated", "seconds"), Column("calibrated_error", "err", "percent"),
            Column("predicted_bound", "pred. bound"), Column("observed_bound", "obs. bound"),
            Column("bounds_agree", "agree"))
    return Table("kernels: measured against predicted", cols, tuple(_row(r) for r in rows))


def _ceiling_tables(c: Calibration, datasheet: Hardware | None) -> list[Table]:
    """Each backend's measured ceilings next to the datasheet's, and its small-shape losses."""
    def row(backend: str, label: str, ceiling, sheet: float | None, best) -> dict[str, Any]:
        m = ceiling.measurement
        return {"backend": backend, "ceiling": label, "measured": ceiling.value, "datasheet": sheet,
                "ratio": ceiling.value / sheet if sheet else None,
                "from": f"{m.case.kernel} {m.case.dtype} {m.case.size_label} ({m.method})"
                        + (f"; {ceiling.note}" if ceiling.note else ""),
                "noise": m.stats.rel_iqr, "machine_best": "best" if ceiling is best else ""}

    def cols(kind: str) -> tuple[Column, ...]:
        return (Column("backend", "backend"), Column("ceiling", "ceiling"), Column("measured", "measured", kind),
                Column("datasheet", "datasheet", kind), Column("ratio", "of datasheet", "percent"),
                Column("from", "best point of the sweep"), Column("noise", "noise", "percent"),
                Column("machine_best", ""))

    sheet_bw = datasheet.bandwidth_bytes_per_s if datasheet else None
    best_bw, best_peaks = c.bandwidth, c.peaks
    bw = [row(b, "copy (read + write)", st.bandwidth, sheet_bw, best_bw) for b, st in c.stacks.items() if st.bandwidth]
    peaks = [row(b, f"peak {k}", v, datasheet.peak_flop_per_s.get(k) if datasheet else None, best_peaks[k])
             for b, st in c.stacks.items() for k, v in st.peaks.items()]
    losses = [{"backend": b, "kernel_overhead_s": st.overhead_s,
               "from": (f"copy {st.overhead_from.case.size_label}: time - bytes/BW" if st.overhead_from else "—"),
               "matmul_half_flop": ", ".join(f"{k}: {v:.3g}" for k, v in st.half_flop.items()) or "—"}
              for b, st in c.stacks.items()]
    return [Table("empirical roofline: memory bandwidth", cols("bytes_per_s"), tuple(bw)),
            Table("empirical roofline: peak FLOP/s per dtype (GEMM sweep)", cols("flop_per_s"), tuple(peaks)),
            Table("small-shape losses (fitted)", (Column("backend", "backend"),
                  Column("kernel_overhead_s", "overhead t0", "seconds"), Column("from", "fitted on"),
                  Column("matmul_half_flop", "matmul F_half (FLOP)")), tuple(losses))]


def _attention_tables(rows: list[Comparison]) -> list[Table]:
    """Eager (S and P through memory) against each fused variant, per N."""
    by: dict[tuple, dict[str, Comparison]] = defaultdict(dict)
    for r in rows:
        if r.m.case.kernel == "attention":
            p = r.m.case.params
            by[(r.m.backend, r.m.case.dtype, p["B"], p["H"], p["N"], p["d"])][r.m.case.variant] = r
    out = []
    for (backend, dt, b, h, n, d), variants in sorted(by.items()):
        eager = variants.get("eager")
        for v, r in variants.items():
            out.append({"backend": backend, "dtype": dt, "N": n, "variant": v, "measured_s": r.measured_s,
                        "speedup_vs_eager": eager.measured_s / r.measured_s if eager else None,
                        "predicted_bytes": r.bytes, "sp_bytes": sp_bytes({"B": b, "H": h, "N": n}, dt) if v in ("eager", "sdpa-math") else 0,
                        "peak_bytes": r.m.extra.get("peak_bytes"), "calibrated_error": r.calibrated_error})
    if not out:
        return []
    cols = (Column("backend", "backend"), Column("dtype", "dtype"), Column("N", "N", "int"), Column("variant", "variant"),
            Column("measured_s", "measured", "seconds"), Column("speedup_vs_eager", "× eager", "ratio"),
            Column("predicted_bytes", "predicted traffic", "bytes"), Column("sp_bytes", "S+P materialized", "bytes"),
            Column("peak_bytes", "peak alloc (CUDA)", "bytes"), Column("calibrated_error", "err", "percent"))
    return [Table("attention: eager vs fused", cols, tuple(out))]


def _generation_tables(rows: list[Comparison]) -> list[Table]:
    steps: dict[tuple, dict[int, dict[str, Comparison]]] = defaultdict(lambda: defaultdict(dict))
    for r in rows:
        if r.m.case.kernel == "generate":
            steps[(r.m.backend, r.m.case.dtype)][r.m.case.params["n"]][r.m.case.variant] = r
    out = []
    for (backend, dt), by_n in steps.items():
        for n, v in sorted(by_n.items()):
            c, u = v.get("cached"), v.get("uncached")
            out.append({"backend": backend, "dtype": dt, "context": n,
                        "cached_s": c.measured_s if c else None, "uncached_s": u.measured_s if u else None,
                        "ratio": u.measured_s / c.measured_s if c and u else None,
                        "cached_pred_s": c.calibrated_s if c else None, "uncached_pred_s": u.calibrated_s if u else None,
                        "cached_flops": c.flops if c else None, "uncached_flops": u.flops if u else None})
        for variant in ("cached", "uncached"):
            pts = [(n, v[variant].measured_s) for n, v in sorted(by_n.items()) if variant in v]
            k = growth_exponent(pts)
            if k is not None:
                out.append({"backend": backend, "dtype": dt, "context": None, "growth": f"{variant}: time ∝ n^{k:.2f}"})
    if not out:
        return []
    cols = (Column("backend", "backend"), Column("context", "context n", "int"),
            Column("cached_s", "step, KV cache", "seconds"), Column("uncached_s", "step, no cache", "seconds"),
            Column("ratio", "no cache / cache", "ratio"), Column("cached_pred_s", "predicted (cache)", "seconds"),
            Column("uncached_pred_s", "predicted (no cache)", "seconds"),
            Column("cached_flops", "FLOPs (cache)", "flops"), Column("uncached_flops", "FLOPs (no cache)", "flops"),
            Column("growth", "growth with n"))
    return [Table("generation on the tiny decoder: one step at context n (seed 001)", cols, tuple(out))]


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


def _calibration_dict(c: Calibration, datasheet: Hardware | None) -> dict[str, Any]:
    return {"device_name": c.device_name, "date": c.date, "primary_backend": c.primary_backend,
            "machine_bandwidth_bytes_per_s": c.bandwidth.value,
            "machine_peak_flop_per_s": {k: v.value for k, v in c.peaks.items()},
            "backends": {b: {"bandwidth_bytes_per_s": st.bandwidth.value if st.bandwidth else None,
                             "peak_flop_per_s": {k: v.value for k, v in st.peaks.items()},
                             "kernel_overhead_s": st.overhead_s, "matmul_half_flop": dict(st.half_flop),
                             "provenance": {k: dict(v) for k, v in c.hardware(datasheet, b).provenance.items()}}
                         for b, st in c.stacks.items()}}


def _explanation(rows: list[Comparison], calibrated: dict[str, Hardware], datasheet: Hardware | None) -> list[str]:
    from rooflint.analysis.roofline import place

    lines = []
    for r in rows:
        hw = calibrated.get(r.m.backend) or datasheet
        if hw is None:
            continue
        lines.append(f"{r.m.backend} {r.m.case.key}: measured {r.measured_s:.4g} s (median of {r.m.stats.n}, "
                     f"noise {100 * r.m.stats.rel_iqr:.1f}%), {r.m.method}")
        for op in r.m.case.ops(hw):
            try:
                lines += explain_op(place(op, hw), r.m.case.kernel)
            except Exception:  # a dtype the profile has no peak for
                lines.append(f"  {op.name}: {hw.name} has no {op.peak_key} peak")
    return lines
