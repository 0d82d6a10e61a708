"""`rooflint measure` at the command line: a saved run compared, bad input, missing backends,
Ctrl-C writing what was measured."""

import json
import os

import pytest

from rooflint.measure.cases import case
from rooflint.measure.result import Measurement, Run
from rooflint.measure.stats import summarize

FIXTURE = os.path.join(os.path.dirname(__file__), "data", "measurements", "cpu-quick.json")


def test_load_compares_every_kernel(cli):
    doc = cli.json("measure", "--load", FIXTURE)
    run = doc["run"]
    assert len(doc["comparisons"]) == len(run["measurements"]) > 40
    for row in doc["comparisons"]:
        assert row["measured_s"] > 0 and row["noise_rel_iqr"] >= 0 and row["samples"] >= 3
        assert row["achieved_bytes_per_s"] == pytest.approx(row["bytes"] / row["measured_s"])
        if row["calibrated_s"] is not None:
            assert row["calibrated_error"] == pytest.approx(row["calibrated_s"] / row["measured_s"] - 1)
    # No built-in profile is this CPU: the datasheet columns stay empty rather than guessed.
    assert doc["datasheet"] is None and all(r["datasheet_s"] is None for r in doc["comparisons"])
    kinds = {(r["kernel"], r["variant"]) for r in doc["comparisons"]}
    assert {("copy", ""), ("gemm", ""), ("qk", ""), ("softmax", ""), ("attention", "eager"),
            ("attention", "sdpa-flash"), ("decode_attention", "sdpa"), ("generate", "cached"),
            ("generate", "uncached")} <= kinds


def test_recorded_cpu_run_shows_seed_001(cli):
    """Without a cache the step time grows with the context; with one it stays flat."""
    doc = cli.json("measure", "--load", FIXTURE)
    steps = {(r["variant"], int(r["size"].split("=")[1])): r["measured_s"]
             for r in doc["comparisons"] if r["kernel"] == "generate"}
    assert steps[("uncached", 512)] / steps[("uncached", 128)] > 2.5  # ~4x the tokens
    assert steps[("cached", 512)] / steps[("cached", 128)] < 1.5


def test_gpu_datasheet_columns_fill_in(cli):
    doc = cli.json("measure", "--load", FIXTURE, "--gpu", "h100")
    assert doc["datasheet"] == "h100-sxm"
    fp32 = [r for r in doc["comparisons"] if r["dtype"] == "fp32" and r["kernel"] == "gemm"]
    assert all(r["datasheet_s"] < r["measured_s"] for r in fp32)  # an H100 beats this CPU


def test_table_and_markdown_render(cli):
    out = cli("measure", "--load", FIXTURE).stdout
    assert "empirical roofline" in out and "eager vs fused" in out and "tiny decoder" in out
    md = cli("measure", "--load", FIXTURE, "-f", "markdown").stdout
    assert md.count("|") > 100


@pytest.mark.parametrize("content, message", [
    ("{not json", "malformed JSON"),
    ('{"schema": "rooflint.analyze/1"}', "expected a rooflint measure result"),
    ('{"schema": "rooflint.measure-run/1", "measurements": [{"case": {}}]}', "environment: missing"),
])
def test_bad_load_file_is_one_line(cli, tmp_path, content, message):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    out = cli("measure", "--load", str(bad), code=2)
    assert message in out.output and str(bad) in out.output and "Traceback" not in out.output


def test_bad_time_budget(cli):
    out = cli("measure", "--time-budget", "-3", code=2)
    assert "--time-budget" in out.output


def test_no_backend_for_the_device_is_one_line(cli):
    try:
        import cupy  # noqa: F401
        pytest.skip("CuPy is installed here")
    except ImportError:
        pass
    out = cli("measure", "--backend", "cupy", "--device", "cuda", code=2)
    assert "no backend can run on cuda: cupy: cupy is not installed" in out.output


def test_ctrl_c_writes_what_was_measured(cli, tmp_path, monkeypatch):
    from rooflint.measure import session

    done = Measurement(case("copy", "fp32", n=4096), "numpy", "cpu", summarize([1e-6] * 5), "host-clock",
                       "settled", 0.0, 1)
    partial = Run({"device_name": "Fake CPU", "device": "cpu"}, (done,), (), interrupted=True)
    monkeypatch.setattr(session, "build_backends", lambda names, device: ([], []))
    monkeypatch.setattr(session, "run_suite", lambda *a, **k: partial)
    target = tmp_path / "partial.json"
    cli("measure", "--device", "cpu", "-f", "json", "-o", str(target), code=130)
    doc = json.loads(target.read_text())
    assert doc["run"]["interrupted"] is True and len(doc["run"]["measurements"]) == 1


def test_roofline_fraction_is_against_the_bare_roof(cli):
    """The GEMM that set the fp32 peak sits exactly on the roof (no t0, no F_half in the roof);
    a small GEMM sits well below it."""
    doc = cli.json("measure", "--load", FIXTURE)
    rows = {(r["backend"], r["dtype"], r["size"]): r for r in doc["comparisons"] if r["kernel"] == "gemm"}
    assert rows[("torch", "fp32", "M=2048 N=2048 K=2048")]["roofline_fraction"] == pytest.approx(1.0, abs=1e-9)
    assert rows[("torch", "fp32", "M=128 N=128 K=128")]["roofline_fraction"] < 0.6


@pytest.mark.parametrize("args, option", [
    (["--suite", "huge"], "--suite"),
    (["--device", "gpu"], "--device"),
    (["--time-budget", "soon"], "--time-budget"),
    (["--backend", ","], "--backend"),
    (["--format", "yaml"], "--format"),
])
def test_bad_options_are_one_line_naming_the_option(cli, args, option):
    out = cli("measure", "--load", FIXTURE, *args, code=2)
    assert out.output.startswith("error: ") and option in out.output and "Traceback" not in out.output
