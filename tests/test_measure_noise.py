"""An honest `measure`: ceilings measured in noise are not fitted into a saved profile unless
--force, and the report says what made a run untrustworthy (a busy machine, a cache size no CPU
has, noisy kernels). The noisy samples are injected: each copy's and GEMM's samples in the
shipped quick run replaced by a spread one of the same median (IQR / median 4.8, as a busy
machine produces), so which kernel is best, and every ceiling's value, stays the same."""

import json
import os

from conftest import DATA

from rooflint.measure.stats import summarize
from rooflint.report.measure_view import conditions

FIXTURE = os.path.join(DATA, "measurements", "cpu-quick.json")


def _noisy_run(tmp_path):
    with open(FIXTURE) as f:
        doc = json.load(f)
    for m in doc["run"]["measurements"]:
        if m["case"]["kernel"] in ("copy", "gemm"):
            med = m["stats"]["median"]
            samples = [0.2 * med] * 10 + [med] * 11 + [5 * med] * 10
            m["stats"] = summarize(samples).as_dict()
    path = tmp_path / "noisy.json"
    path.write_text(json.dumps(doc))
    return path


def test_a_clean_run_is_fitted_and_saved(cli, tmp_path):
    profile = tmp_path / "p.yaml"
    cli("measure", "--load", FIXTURE, "--save-profile", str(profile), "-o", str(tmp_path / "r.txt"))
    assert profile.is_file() and "bandwidth" in profile.read_text()


def test_a_noisy_run_is_refused_unless_forced(cli, tmp_path):
    run = _noisy_run(tmp_path)
    assert summarize([0.2] * 10 + [1.0] * 11 + [5.0] * 10).rel_iqr > 4  # the injected spread
    profile, report = tmp_path / "p.yaml", tmp_path / "r.txt"
    out = cli("measure", "--load", str(run), "--save-profile", str(profile), "-o", str(report), code=2)
    line = out.output.strip()
    assert "\n" not in line and "too noisy to fit" in line and "--force" in line
    assert "numpy bandwidth from copy" in line  # names the ceiling and its noise
    assert not profile.exists() and not report.exists()  # nothing half-written
    cli("measure", "--load", str(run), "--save-profile", str(profile), "-o", str(report), "--force")
    assert profile.is_file()
    assert "noisy ceiling: numpy bandwidth" in report.read_text()  # and the report says so


def test_the_report_names_what_makes_a_run_untrustworthy():
    busy = conditions({"load_average_1m": 3.9, "cpu_cores": 2, "llc_bytes": 480 * 2**20}, [])
    assert any(n.startswith("busy machine: load average 3.90 on 2 cores") for n in busy)
    assert any("480 MiB last-level cache" in n for n in busy)
    quiet = conditions({"load_average_1m": 0.2, "cpu_cores": 2, "llc_bytes": 32 * 2**20}, [])
    assert quiet == []
