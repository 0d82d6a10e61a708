"""Fit the forecast's parameters on the measured sets rooflint ships, and write them as data.

    python bench/fit_forecast.py            # fit, cross-validate, print the table, write the files
    python bench/fit_forecast.py --dry-run  # the same without writing

Writes hardware/achievable/fitted.yaml (each GPU the data covers with at least MIN_GPU_CASES cases,
and `default`: the fit over every GPU pooled, what every GPU without an entry gets) and the fitted numbers into
engines/*.yaml. Prints, per category, the error before the fit (the values it started from),
after it, 5-fold held out and with the GPU left out. Needs scipy (`pip install -e '.[fit]'`).
"""

from __future__ import annotations

import argparse
import datetime
import re
import sys
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rooflint.cli.validate_cmd import run_command, shipped_sets  # noqa: E402
from rooflint.compare import collective_fit  # noqa: E402
from rooflint.compare import forecast_fit as ff  # noqa: E402
from rooflint.compare.validation import category_stats, evaluate, load_cases  # noqa: E402
from rooflint.specs.achievable import BOUNDS, PRIOR, TABLES, achievable_document  # noqa: E402
from rooflint.specs.catalog import load_hardware  # noqa: E402

FITTED = ROOT / "hardware" / "achievable" / "fitted.yaml"
ENGINES = ROOT / "engines"
HW_FIELDS = tuple(k for k in BOUNDS if k not in TABLES)  # the GPU parameters that are one number
ENGINE_KEYS = {"launch_s": "launch", "step_overhead_s": "step_overhead", "gemm_efficiency": "gemm_efficiency",
               "attention_efficiency": "attention_efficiency",
               "decode_attention_efficiency": "decode_attention_efficiency", "allreduce_latency_s": "allreduce_latency"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dry-run", action="store_true")
    ap.add_argument("--no-cv", action="store_true", help="skip the cross-validation (faster)")
    args = ap.parse_args()
    cases = [c for path in shipped_sets() for c in load_cases(path)]
    print(f"evaluating {len(cases)} cases ...", file=sys.stderr)
    results = evaluate(cases, run_command)
    shipped = ff.build(results, ff.shipped_value, per_gpu=ff.own_entries())
    got = shipped.forecast(shipped.start)
    want = np.array([r.forecast_s for r in results if r.features is not None])
    drift = float(np.max(np.abs(got / want - 1)))
    assert drift < 1e-6, f"the features do not reproduce rooflint's forecasts (max drift {drift:.2e})"

    cf = ff.shipped_collectives()
    print(f"collectives: {cf.rows} all-reduce rows; link share {cf.link_fraction}, NCCL latency "
          f"{ {g: round(v * 1e6, 1) for g, v in cf.latency_s.items()} } us, engine all-reduce "
          f"{ {e: round(v * 1e6, 1) for e, v in cf.engine_latency_s.items()} } us", file=sys.stderr)
    held = ff.held_from(cf)
    ops, points = fit_collective_ops()
    final = ff.fit_all(results, held)
    gpus = ff.covered_gpus(results)
    final.update({(g, "hw.collective_latency_s"): v for g, v in cf.latency_s.items()})
    final[("default", "hw.collective_latency_s")] = float(np.mean(list(cf.latency_s.values())))
    value_final = lambda owner, name: final.get((owner, name), ff.prior_value(owner, name))  # noqa: E731

    fitted_fc = ff.forecast_with(results, final, gpus)
    held_out = ff.cross_validate(results, held) if not args.no_cv else {}
    by_gpu = ff.leave_gpu_out(results, held) if not args.no_cv else {}
    table(results, fitted_fc, held_out, by_gpu)
    if args.dry_run:
        return
    write_fitted(value_final, gpus, results, cf, ops, points)
    write_engines(final, sorted({r.case.engine for r in results}))


def table(results, fitted, held, by_gpu) -> None:
    before = {s.category: s for s in category_stats(results)}
    after_results = [type(r)(r.case, r.bound_s, fitted.get(r.case.id, r.forecast_s), r.features) for r in results]
    after = {s.category: s for s in category_stats(after_results, held)}
    new = {s.category: s for s in category_stats(after_results, by_gpu)} if by_gpu else {}
    print(f"{'category':28} {'n':>5} {'start med':>9} {'p90':>6} {'fit med':>8} {'p90':>6} {'held med':>9} {'p90':>6}"
          f" {'new-GPU med':>11}")
    for cat, s in after.items():
        b = before[cat]
        pct = lambda v: "-" if v is None else f"{v:.1%}"  # noqa: E731
        g = new.get(cat)
        print(f"{cat:28} {s.cases:5d} {pct(b.median_error):>9} {pct(b.p90_error):>6} {pct(s.median_error):>8} "
              f"{pct(s.p90_error):>6} {pct(s.held_out_median):>9} {pct(s.held_out_p90):>6} "
              f"{pct(g.held_out_median if g else None):>11}")


def _source(owner: str, results, cf) -> str:
    mine = [r for r in results if r.features is not None and (owner == "default" or r.case.gpu == owner)]
    n = len(mine)
    cats = sorted({r.case.category for r in mine})
    day = datetime.date.today().isoformat()
    scope = "every GPU pooled" if owner == "default" else owner
    return (f"fitted by bench/fit_forecast.py on {n} measured cases ({scope}; {', '.join(cats)}) of "
            f"rooflint/data/validation, from shared/reference/measured, {day}")


def fit_collective_ops():
    """analysis/collectives.py's parameters per GPU and op, fitted on the shipped nccl-tests
    rows; prints the error of the fit per (GPU, op)."""
    points = collective_fit.load_points()
    links = {g: load_hardware(g).interconnect_bytes_per_s for g in {p.gpu for p in points}}
    ops = collective_fit.fit_all(points, links)
    # held out: each GPU forecast by the fit over the other GPU alone
    other = {g: collective_fit.fit_all([p for p in points if p.gpu != g], links)["default"] for g in links}
    held = {(e.gpu, e.op): e for e in collective_fit.errors(points, other, links)}
    print(f"collective ops: {len(points)} nccl-tests points (medians of their runs); |forecast - measured| / measured",
          file=sys.stderr)
    print(f"{'GPU':10} {'op':15} {'n':>4} {'fit med':>8} {'p90':>6} {'other-GPU med':>13} {'p90':>6} {'bound beaten':>12}")
    for e in collective_fit.errors(points, ops, links):
        h = held[(e.gpu, e.op)]
        print(f"{e.gpu:10} {e.op:15} {e.points:4d} {e.median_error:8.1%} {e.p90_error:6.1%} {h.median_error:13.1%}"
              f" {h.p90_error:6.1%} {e.bound_beaten:12d}")
    return ops, points


def write_fitted(value, gpus, results, cf, ops, points) -> None:
    doc = {"about": "Achievable shares of the datasheet figures, fitted by bench/fit_forecast.py (do not edit by hand; "
                    "rerun it). `default` is the fit over every GPU pooled: what every GPU without an entry gets.",
           "gpus": {}}
    for owner in ["default", *gpus]:
        a = achievable_document(PRIOR)
        for f in HW_FIELDS:
            a[f] = round(float(value(owner, f"hw.{f}")), 9)
        a["peak_fraction"] = {k: round(float(value(owner, f"hw.peak_fraction.{k}")), 4) for k in PRIOR.peak_fraction}
        a["attention_fraction"] = {k: round(float(value(owner, f"hw.attention_fraction.{k}")), 4)
                                   for k in PRIOR.attention_fraction}
        text = _source(owner, results, cf)
        a["source"] = {k: text for k in a["source"]}
        collective = (f"from {cf.rows} single-node all-reduce rows (nccl-tests, aiconfigurator) of "
                      "rooflint/data/validation/collectives.csv" + (", the mean of the GPUs'" if owner == "default" else ""))
        a["source"]["link_fraction"] = "median NCCL bus bandwidth at >= 64 MiB / interconnect, " + collective
        a["source"]["collective_latency_s"] = "median smallest NCCL all-reduce time, " + collective
        own = ops.get(owner, ops["default"])
        a["collectives"].update(own)
        n = sum(1 for p in points if owner in ("default", p.gpu))
        a["source"]["collectives"] = (f"fitted by bench/fit_forecast.py on {n} single-node nccl-tests points "
                                      f"({'A100 and H100 pooled' if owner == 'default' else owner}; "
                                      f"{', '.join(sorted(own))}) of rooflint/data/validation/collectives.csv")
        a["source"]["collectives.send_recv"] = ("prior: no measured send/recv table (aiconfigurator models "
                                                "point-to-point analytically)")
        for k in ("network_fraction", "network_latency_s"):
            a["source"][k] = "prior: the shipped nccl-tests tables are single-node"
        doc["gpus"][owner] = a
    FITTED.parent.mkdir(parents=True, exist_ok=True)
    FITTED.write_text("# Written by bench/fit_forecast.py; rerun it to refit.\n" +
                      yaml.safe_dump(doc, sort_keys=False, width=120), encoding="utf-8")
    print(f"wrote {FITTED.relative_to(ROOT)}", file=sys.stderr)


def yaml_float(v: float) -> str:
    """4 significant digits that YAML 1.1 reads as a float (5e-06 without a dot is a string there)."""
    text = f"{v:.4g}"
    return text.replace("e", ".0e") if "e" in text and "." not in text else text


def write_engines(final, engines) -> None:
    """The fitted numbers into each engine's YAML, in place (comments and the rest kept); what the
    fit did not touch stays as the file has it."""
    for name in engines:
        touched = {n for owner, n in final if owner == name}
        path = ENGINES / f"{name}.yaml"
        text = path.read_text(encoding="utf-8")
        for param, key in ENGINE_KEYS.items():
            if f"engine.{param}" not in touched:
                continue
            v = final[(name, f"engine.{param}")]
            text = re.sub(rf"^({re.escape(key)}:\s*)([^\s#]+)", lambda m: m.group(1) + yaml_float(v), text, flags=re.M)
        m = re.search(r"^dequant_efficiency:\s*\{([^}]*)\}", text, flags=re.M)
        if m:
            parts = []
            for item in m.group(1).split(","):
                k, _, old = item.partition(":")
                v = final.get((name, f"engine.dequant_efficiency.{k.strip()}"))
                parts.append(f"{k.strip()}: {old.strip() if v is None else yaml_float(v)}")
            text = text[:m.start()] + "dequant_efficiency: {" + ", ".join(parts) + "}" + text[m.end():]
        text = text.replace("the numbers are bench/fit_forecast.py priors",
                            "the numbers fitted by bench/fit_forecast.py on rooflint/data/validation")
        path.write_text(text, encoding="utf-8")
    print(f"wrote the fitted numbers into engines/{{{','.join(engines)}}}.yaml", file=sys.stderr)


if __name__ == "__main__":
    main()
