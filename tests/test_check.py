"""`rooflint check BUDGET.yaml`: exit 0 when every limit holds, 1 when one breaks, 2 on bad input;
Markdown and JUnit outputs."""

import os
import xml.etree.ElementTree as ET

import pytest

from rooflint import Workload, analyze
from rooflint.dtypes import dtype
from rooflint.specs.catalog import load_hardware, load_model

FIXTURE = os.path.join(os.path.dirname(__file__), "data", "measurements", "cpu-quick.json")
CASE = """
  - name: llama3-8b on h100
    model: llama3-8b
    gpu: h100
    settings: {batch: 16, prompt: 2048, context: 4096, kv_dtype: fp8, attention: flash}
    limits: {LIMITS}
"""


def budget(tmp_path, limits: str, extra: str = "", results: bool = False):
    text = (f"results: {FIXTURE}\n" if results else "") + "cases:" + CASE.replace("{LIMITS}", limits) + extra
    path = tmp_path / "budget.yaml"
    path.write_text(text)
    return str(path)


def reference():
    """What the analyzer says for the case: the limits below are set around these numbers."""
    return analyze(load_model("llama3-8b"), load_hardware("h100"),
                   Workload(batch=16, prompt=2048, context=4096, kv_dtype=dtype("fp8"), attention="flash"))


def test_all_limits_hold_exit_0(cli, tmp_path):
    a = reference()
    assert a.kv_bytes == 16 * 4096 * 32 * 2 * 8 * 128  # B * C * L * (K+V) * H_kv * d * 1 byte = 4 GiB
    path = budget(tmp_path, f"{{fits: true, max_kv_cache: 4 GiB, max_tpot: {a.tpot_s * 1e3 * 1.01:.4f} ms, "
                            f"min_tokens_per_s: {a.decode_tokens_per_s * 0.99:.1f}, max_ttft: {a.ttft_s * 1.01:.4f} s}}")
    doc = cli.json("check", path)
    assert doc["passed"] and doc["failed"] == 0 and len(doc["checks"]) == 5
    tpot = next(c for c in doc["checks"] if c["limit"] == "max_tpot")
    assert tpot["value"] == pytest.approx(a.tpot_s)


def test_a_broken_limit_exits_1_with_markdown_and_junit(cli, tmp_path):
    a = reference()
    path = budget(tmp_path, f"{{max_tpot: {a.tpot_s * 1e3 * 0.99:.4f} ms, fits: true}}")
    md, xml = tmp_path / "summary.md", tmp_path / "junit.xml"
    out = cli("check", path, "--markdown", str(md), "--junit", str(xml), code=1)
    assert "1 of 2 limits broken" in out.stdout
    summary = md.read_text()
    assert "❌ 1 of 2 limits broken" in summary and "| llama3-8b on h100 | `max_tpot` |" in summary
    suite = ET.parse(xml).getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("failures")) == ("2", "1")
    failed = [c for c in suite.iter("testcase") if c.find("failure") is not None]
    assert [c.get("name") for c in failed] == ["max_tpot"]


def test_does_not_fit_exits_1(cli, tmp_path):
    path = budget(tmp_path, "{fits: true}")
    with open(path) as fh:
        text = fh.read().replace("batch: 16", "batch: 4096")  # 1 TiB of KV cache
    with open(path, "w") as fh:
        fh.write(text)
    doc = cli.json("check", path, code=1)
    assert doc["checks"][0]["limit"] == "fits" and doc["checks"][0]["result"] == "FAIL"


def test_measured_roofline_from_a_results_file(cli, tmp_path):
    """The fixture's best torch fp32 GEMM is the calibrated roof itself (100%); the 128^3 GEMM is
    far below it: a limit of 99% fails on the worst kernel, one of 1% holds."""
    extra = """
  - name: torch fp32 GEMMs
    measured: {kernel: gemm, backend: torch, dtype: fp32}
    limits: {min_roofline: PCT}
"""
    ok = budget(tmp_path, "{fits: true}", extra.replace("PCT", "1%"), results=True)
    cli("check", ok)
    bad = budget(tmp_path, "{fits: true}", extra.replace("PCT", "99%"), results=True)
    doc = cli.json("check", bad, code=1)
    roof = doc["checks"][-1]
    assert roof["limit"] == "min_roofline" and roof["result"] == "FAIL" and roof["value"] < 0.99


@pytest.mark.parametrize("text, message", [
    ("cases: []", "cases: expected a non-empty list"),
    ("cases:\n  - model: llama3-8b\n    gpu: h100\n    limits: {max_tpot: 30 parsecs}", "cases[0].limits.max_tpot"),
    ("cases:\n  - model: llama3-8b\n    gpu: h100\n    limits: {max_latency: 1 s}", "cases[0].limits.max_latency: unknown field"),
    ("cases:\n  - model: llama3-8b\n    limits: {fits: true}", "cases[0].gpu: missing"),
    ("cases:\n  - model: llama3-8b\n    gpu: h100\n    settings: {batch: -1}\n    limits: {fits: true}", "cases[0].settings.batch"),
    ("cases:\n  - model: llama3-8b\n    gpu: h100\n    limits: {fits: yes please}", "cases[0].limits.fits"),
    ("cases:\n  - model: nope\n    gpu: h100\n    limits: {fits: true}", "unknown model 'nope'"),
    ("cases:\n  - measured: {kernel: gemm}\n    limits: {min_roofline: 50%}", "give results: FILE"),
    ("cases: [1, 2", "budget.yaml"),
])
def test_bad_budget_exits_2_with_one_line(cli, tmp_path, text, message):
    path = tmp_path / "budget.yaml"
    path.write_text(text)
    out = cli("check", str(path), code=2)
    assert message in out.output and len(out.output.strip().splitlines()) == 1
