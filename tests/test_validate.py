"""`rooflint validate`: the shipped sets, the statistics recomputed from its own JSON, the gate,
the plot, bad input; the fit's features reproduce rooflint's forecasts exactly."""

import csv
import json
import math
import os
from statistics import median

import pytest

from rooflint.cli.validate_cmd import run_command, shipped_sets
from rooflint.compare import forecast_fit as ff
from rooflint.compare.validation import evaluate, forecast_path, load_cases
from rooflint.measure.stats import quantile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL = "kernel-copy,kernel-gemm,e2e-decode-b1"


def test_the_shipped_sets_are_the_folder_s_published_cases():
    """published.json is a copy of shared/reference/measured/published-train.json: its 50 cases,
    their categories as the folder's README counts them."""
    with open(shipped_sets()[0], encoding="utf-8") as f:
        doc = json.load(f)
    counts = {}
    for c in doc["cases"]:
        counts[c["category"]] = counts.get(c["category"], 0) + 1
    assert counts == {"kernel-gemm": 7, "kernel-attention": 8, "kernel-copy": 2, "e2e-decode-b1": 11,
                      "e2e-batched": 8, "e2e-prefill": 5, "e2e-tp": 9}
    cases = load_cases(shipped_sets()[0])
    gptfast = next(c for c in cases if c.id == "gptfast-a100-llama2-7b-bf16")
    assert gptfast.measured_s == pytest.approx(200 / 104.9)  # 200 tokens at 104.9 tokens/s
    assert gptfast.engine == "gpt-fast"


def test_validate_reports_what_its_cases_say(cli):
    doc = json.loads(cli("validate", "--category", SMALL, "--no-cv", "--format", "json").stdout)
    cases = doc["cases"]
    assert {c["category"] for c in cases} == set(SMALL.split(","))
    for c in cases:
        assert c["error"] == pytest.approx(c["time_forecast_s"] / c["measured_s"] - 1)
        assert c["bound_ratio"] == pytest.approx(c["measured_s"] / c["time_s"])
    for row in doc["categories"]:
        mine = [abs(c["error"]) for c in cases if row["category"] in ("all", c["category"])]
        assert row["cases"] == len(mine)
        assert row["median_error"] == pytest.approx(median(mine))
        assert row["p90_error"] == pytest.approx(quantile(mine, 0.9))
    # the forecast is the engine's number, the bound a floor: no case beats its bound
    assert all(c["bound_ratio"] >= 0.95 for c in cases)
    assert doc["passed"] is True


def test_validate_gates_on_a_threshold(cli):
    r = cli("validate", "--category", "kernel-gemm", "--no-cv", "--max-median", "0.0001", code=1)
    assert "FAILED kernel-gemm: median |error|" in r.stdout
    cli("validate", "--category", "kernel-gemm", "--no-cv", "--max-median", "0.9", "--max-p90", "0.9",
        "--max-violations", "0")


def test_validate_writes_the_plot(cli, tmp_path):
    out = tmp_path / "fc.png"
    cli("validate", "--category", "kernel-copy,kernel-gemm", "--no-cv", "--plot", str(out))
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


@pytest.mark.parametrize("args,needle", [
    (["--category", "nope"], "--category"),
    (["--plot", "plot.txt"], "expected a .png or .svg"),
    (["-o", "plot.png"], "draw the plot with --plot plot.png"),  # -o is the report, as everywhere
])
def test_validate_refuses_bad_options(cli, args, needle):
    r = cli("validate", "--no-cv", *args, code=2)
    assert needle in r.stderr and r.stderr.count("\n") == 1


def test_validate_refuses_a_malformed_set(cli, tmp_path):
    bad = tmp_path / "cases.json"
    bad.write_text('{"cases": [{"id": "x"}]}')
    r = cli("validate", str(bad), "--no-cv", code=2)
    assert str(bad) in r.stderr and "cases[0]" in r.stderr and r.stderr.count("\n") == 1
    bad.write_text("{not json")
    assert "not JSON" in cli("validate", str(bad), "--no-cv", code=2).stderr


def test_a_forecast_key_sits_beside_its_bound():
    assert forecast_path("totals.tpot_s") == "totals.tpot_forecast_s"
    assert forecast_path("rows.0.flash_time_s") == "rows.0.flash_time_forecast_s"
    assert forecast_path("hardware.bandwidth_bytes_per_s") == "hardware.achievable.copy_bandwidth_bytes_per_s"
    assert forecast_path("hardware.peak_flop_per_s") == "hardware.achievable.peak_flop_per_s"


def test_the_features_reproduce_rooflints_forecasts():
    """The fit recomputes forecasts from the ops' numbers and named parameters (FORECAST compiled
    over arrays); at the shipped parameters it must give exactly what rooflint printed."""
    cases = [c for c in load_cases(shipped_sets()[0]) if c.category in SMALL.split(",") + ["e2e-tp", "e2e-prefill"]]
    results = evaluate(cases, run_command)
    problem = ff.build(results, ff.shipped_value, per_gpu=ff.own_entries())
    got = problem.forecast(problem.start)
    want = [r.forecast_s for r in results if r.features is not None]
    assert len(want) == len(cases)  # every one of these carries its features (plan with a one-chunk prompt)
    for g, w in zip(got, want):
        assert g == pytest.approx(w, rel=1e-9)


def test_cross_validation_holds_each_fold_out(cli):
    pytest.importorskip("scipy")
    doc = json.loads(cli("validate", "--category", "kernel-gemm,e2e-decode-b1", "--format", "json").stdout)
    held = [c["held_out_forecast_s"] for c in doc["cases"]]
    assert all(h is not None and h > 0 and math.isfinite(h) for h in held)
    assert any(c["new_gpu_forecast_s"] for c in doc["cases"])
    row = next(r for r in doc["categories"] if r["category"] == "all")
    assert row["held_out_median"] is not None and "5-fold" in doc["cross_validation"]


def test_folds_are_stable_and_balanced():
    ids = [f"case-{i}" for i in range(1000)]
    f = ff.folds(ids)
    assert list(f) == list(ff.folds(ids))
    counts = [int((f == k).sum()) for k in range(ff.FOLDS)]
    assert min(counts) > 150


XQA = "aic-xqa-h100-llama2-7b-b64-c2048"  # a case whose term sums named ops


@pytest.mark.parametrize("case_id,case_edit,needle", [
    ("gptfast-a100-llama2-7b-bf16", lambda c: c["terms"][0].update(path="totals.nope_s"), "do not match"),
    ("gptfast-a100-llama2-7b-bf16", lambda c: c["terms"][0].update(cmd=5), "names no command"),
    (XQA, lambda c: c["terms"][0].update(ops="flash_decode"), "list of op names"),
    (XQA, lambda c: c["terms"][0].update(ops=["no_such_op"]), "give no time"),
    ("gptfast-a100-llama2-7b-bf16", lambda c: c.update(terms=["x"]), "malformed case"),
    ("gptfast-a100-llama2-7b-bf16", lambda c: c["terms"][0].update(reciprocal=True), "hardware rate"),
])
def test_a_case_that_does_not_fit_its_commands_is_refused(cli, tmp_path, case_id, case_edit, needle):
    with open(shipped_sets()[0], encoding="utf-8") as f:
        doc = json.load(f)
    case = next(c for c in doc["cases"] if c["id"] == case_id)
    case_edit(case)
    path = tmp_path / "cases.json"
    path.write_text(json.dumps({"cases": [case]}))
    r = cli("validate", str(path), "--no-cv", code=2)
    assert needle in r.stderr and r.stderr.count("\n") == 1 and r.stdout == ""


def test_a_kernel_row_without_a_positive_time_is_refused(cli, tmp_path):
    with open(shipped_sets()[1], encoding="utf-8") as f:
        header, first = f.readline(), f.readline()
    cols = header.strip().split(",")
    values = next(csv.reader([first]))
    values[cols.index("measured_s")] = "0"
    path = tmp_path / "rows.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        w.writerow(values)
    r = cli("validate", str(path), "--no-cv", code=2)
    assert "measured_s" in r.stderr and r.stderr.count("\n") == 1


def test_validate_writes_its_report_with_o_as_every_command_does(cli, tmp_path):
    out = tmp_path / "v.json"
    cli("validate", "--category", "kernel-copy", "--no-cv", "-f", "json", "-o", str(out))
    assert json.loads(out.read_text())["categories"][0]["category"] == "kernel-copy"
