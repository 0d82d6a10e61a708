"""`rooflint measure --explain`: every figure the report prints is a term whose expression, with
its bindings, evaluates to its value, and that value is the one the JSON holds at the term's key.
The expressions are evaluated here from their text, by Python, not by rooflint's evaluator."""

import ast
import math
import os
import re

import pytest

FIXTURE = os.path.join(os.path.dirname(__file__), "data", "measurements", "cpu-quick.json")


def at(doc, key: str):
    """The JSON value at a term's key: 'comparisons[3].ops[0].symbols.T_r'."""
    for part in key.split("."):
        m = re.fullmatch(r"(\w+)((?:\[\d+\])*)", part)
        assert m, (key, part)
        doc = doc[m.group(1)]
        for index in re.findall(r"\[(\d+)\]", m.group(2)):
            doc = doc[int(index)]
    return doc


def floor_sum(n, m, a, b):
    """sum_{j<n} floor((a*j + b) / m), term by term."""
    return sum((a * j + b) // m for j in range(int(n)))


def evaluate(text: str, bindings: dict) -> float:
    scope = {"min": min, "max": max, "ceil": math.ceil, "floor": math.floor, "floor_sum": floor_sum, **bindings}
    return eval(compile(text, "<term>", "eval"), {"__builtins__": {}}, scope)  # noqa: S307 - rooflint's own formulas


@pytest.mark.parametrize("extra", [[], ["--gpu", "h100"]], ids=["calibrated", "with-datasheet"])
def test_every_explained_term_evaluates_to_its_json_value(cli, extra):
    doc = cli.json("measure", "--load", FIXTURE, "--explain", *extra)
    terms = doc["explanation"]
    assert len(terms) > 1000
    keys = [t["key"] for t in terms]
    assert len(keys) == len(set(keys))  # one definition per figure
    for t in terms:
        assert evaluate(t["expr"], t["bindings"]) == pytest.approx(t["value"], rel=1e-9, abs=1e-300), t
        assert at(doc, t["key"]) == pytest.approx(t["value"], rel=1e-12, abs=0), t["key"]
    # The figures the tables print are among them, for every row.
    for i, row in enumerate(doc["comparisons"]):
        for field in ("measured_s", "noise_rel_iqr", "flops", "bytes", "achieved_flop_per_s",
                      "achieved_bytes_per_s", "roof_s", "roofline_fraction", "calibrated_s", "calibrated_error"):
            assert f"comparisons[{i}].{field}" in keys, (i, field)
        for j in range(len(row["ops"])):
            assert f"comparisons[{i}].ops[{j}].roof_s" in keys
            assert f"comparisons[{i}].ops[{j}].calibrated_time_s" in keys
        if extra and row["datasheet_s"] is not None:
            assert f"comparisons[{i}].datasheet_error" in keys
    for backend, c in doc["calibration"]["backends"].items():
        where = f"calibration.backends.{backend}"
        assert {f"{where}.bandwidth_bytes_per_s", f"{where}.kernel_overhead_s"} <= set(keys)
        assert {f"{where}.peak_flop_per_s.{k}" for k in c["peak_flop_per_s"]} <= set(keys)
        assert {f"{where}.matmul_half_flop.{k}" for k in c["matmul_half_flop"]} <= set(keys)
    assert "summary.median_abs_error_memory_calibrated" in keys
    assert any(k.startswith("attention[") and k.endswith(".speedup_vs_eager") for k in keys)
    assert any(k.startswith("generation[") and k.endswith(".growth_exponent") for k in keys)


def test_terms_carry_their_provenance(cli):
    doc = cli.json("measure", "--load", FIXTURE, "--explain")
    by_key = {t["key"]: t for t in doc["explanation"]}
    bw = by_key["calibration.backends.numpy.bandwidth_bytes_per_s"]
    assert bw["expr"] == "bytes/measured_s" and "copy fp32 1 GiB on numpy" in bw["note"]
    half = by_key["calibration.backends.torch.matmul_half_flop.fp32"]
    assert half["value"] == doc["calibration"]["backends"]["torch"]["matmul_half_flop"]["fp32"]
    assert "fp32 GEMMs" in half["note"] and "ln^2" in half["note"]
    t0 = by_key["calibration.backends.torch.kernel_overhead_s"]
    assert t0["bindings"]["bytes"] == 8192 and "smallest copy" in t0["note"]
    # % of roofline is the bare roof over the measured time; achieved FLOP/s is FLOPs over it
    i = next(i for i, r in enumerate(doc["comparisons"]) if r["kernel"] == "gemm")
    assert by_key[f"comparisons[{i}].roofline_fraction"]["expr"] == "roof_s/measured_s"
    assert by_key[f"comparisons[{i}].achieved_flop_per_s"]["expr"] == "flops/measured_s"
    assert by_key[f"comparisons[{i}].calibrated_error"]["expr"] == "calibrated_s/measured_s - 1"
    assert "t0" in by_key[f"comparisons[{i}].ops[0].calibrated_time_s"]["bindings"]


def test_table_explain_shows_the_formulas(cli):
    out = cli("measure", "--load", FIXTURE, "--explain").stdout
    assert "calibration of torch: small-shape losses (fitted)" in out
    gemm = r"torch gemm fp32 M=2048 N=2048 K=2048: gemm .*\n  flops = 2\*G\*M\*N\*K = 2\*1\*2048\*2048\*2048 = "
    assert re.search(gemm, out)
    assert "roofline_fraction = roof_s/measured_s = " in out
    assert "calibrated_error = calibrated_s/measured_s - 1 = " in out
    plain = cli("measure", "--load", FIXTURE).stdout
    assert "roof_s/measured_s" not in plain  # the explanation only when asked for


def test_explanation_is_built_only_when_asked(monkeypatch):
    from rooflint.compare.profile import calibrate_run
    from rooflint.measure.session import load_run
    from rooflint.report import measure_view
    from rooflint.report.render import render

    run = load_run(FIXTURE)
    report = measure_view.measure_report(run, None, calibrate_run(run))
    calls = []
    monkeypatch.setattr(measure_view, "_explanation", lambda *a: calls.append(1) or ())
    render(report, "json")
    assert not calls


def test_measure_imports_nothing_of_the_analyzer():
    """measure/ times and records (units, dtypes, errors, inputs, specs and itself); the op model
    is compare/'s. Every import statement counts, those inside functions too."""
    root = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "rooflint", "measure")
    allowed = {"units", "dtypes", "errors", "inputs", "specs", "measure"}
    seen = {}
    for folder, _, files in os.walk(root):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                with open(path, encoding="utf-8") as fh:
                    tree = ast.parse(fh.read())
                for node in ast.walk(tree):
                    mods = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                        [node.module or ""] if isinstance(node, ast.ImportFrom) else []
                    for mod in mods:
                        if mod == "rooflint" or mod.startswith("rooflint."):
                            seen.setdefault(mod.split(".")[1] if "." in mod else "rooflint", []).append(name)
    assert "measure" in seen and "specs" in seen
    assert set(seen) <= allowed, {k: v for k, v in seen.items() if k not in allowed}
