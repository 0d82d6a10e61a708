"""`rooflint measure --collectives`: two gloo ranks on loopback, timed and fitted; the fit
reproduces what was measured within its noise, a saved profile forecasts with it, and no rank
outlives a failure or a Ctrl-C."""

import json
import math
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from statistics import median

import pytest

pytest.importorskip("torch")
torch_distributed = pytest.importorskip("torch.distributed")
if not torch_distributed.is_available():  # pragma: no cover
    pytest.skip("this torch build has no torch.distributed", allow_module_level=True)

from rooflint.errors import RooflintError  # noqa: E402
from rooflint.measure.collectives import run_collectives  # noqa: E402

OPS = ("all_reduce", "all_gather", "reduce_scatter", "all_to_all", "send_recv")


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """One run of 2 ranks (about 15 s), its JSON report and the profile it saved."""
    from conftest import Run

    path = tmp_path_factory.mktemp("coll") / "mine.yaml"
    doc = Run().json("measure", "--collectives", "--world-size", "2", "--gpu", "h100", "--save-profile", str(path))
    return doc, path


def test_every_op_is_fitted_with_a_positive_latency_and_bandwidth(measured):
    doc, _ = measured
    assert doc["environment"]["backend"] == "gloo" and doc["environment"]["world_size"] == 2
    assert set(doc["fit"]) == set(OPS)
    for op, fit in doc["fit"].items():
        assert 0 < fit["latency_s"] < 1 and math.isfinite(fit["latency_s"]), (op, fit)
        assert 0 < fit["bandwidth_bytes_per_s"] < 1e13 and math.isfinite(fit["bandwidth_bytes_per_s"]), (op, fit)


def test_the_fit_reproduces_the_measured_times_within_their_noise(measured):
    """Per op, the fit's median |error| over its six sizes is within the points' own noise
    (their median IQR / median), or 25% where loopback on a busy machine is quieter than that;
    and every point's median is a median of its samples, the busbw each rank's traffic over it."""
    doc, _ = measured
    for op in OPS:
        pts = [p for p in doc["points"] if p["op"] == op]
        assert len(pts) == 6
        noise = median(p["rel_iqr"] for p in pts)
        assert median(abs(p["error"]) for p in pts) <= max(0.25, noise), (op, [p["error"] for p in pts])
        for p in pts:
            assert p["median_s"] == pytest.approx(median(p["samples_s"]))
            factor = 1.0 if op in ("all_reduce", "send_recv") else 0.5  # 2(n-1)/n and (n-1)/n at n = 2
            assert p["busbw_bytes_per_s"] == pytest.approx(factor * p["message_bytes"] / p["median_s"])


def test_the_saved_profile_forecasts_with_the_measured_numbers(measured, cli):
    """comm on the saved profile: at 2 ranks an all-reduce sends its whole buffer (2(n-1)/n = 1), so
    the forecast is the fitted latency + 1 MiB / the fitted bus bandwidth."""
    doc, path = measured
    fit = doc["fit"]["all_reduce"]
    comm = cli.json("comm", "all_reduce", "1MiB", "--gpu", str(path), "--gpus", "2")
    assert comm["time_forecast_s"] == pytest.approx(fit["latency_s"] + 2**20 / fit["bandwidth_bytes_per_s"], rel=1e-3)
    hw = cli.json("hardware", str(path))["hardware"]
    for op in doc["fit"]:
        assert "measure --collectives (gloo, 2 ranks" in hw["achievable"]["source"][f"collectives.{op}"]
    # the H100's NVLink figure stays the bound's link unless it dwarfs the slowest op a thousandfold
    # (loopback gloo does): then the fastest measured op's bandwidth is the link, as measured ceilings are
    bws = [f["bandwidth_bytes_per_s"] for f in doc["fit"].values()]
    assert hw["interconnect_bytes_per_s"] == pytest.approx(900e9 if min(bws) >= 0.9e9 else max(bws))


def test_a_failing_rank_stops_the_run_and_leaves_no_process():
    with pytest.raises(RooflintError, match="exited with code"):
        run_collectives(2, ops=["no_such_op"], time_budget_s=20)
    assert multiprocessing.active_children() == []


def test_ctrl_c_writes_what_was_measured_and_leaves_no_process(tmp_path):
    """SIGINT to the whole process group (what a terminal's Ctrl-C does) a few points in."""
    out = tmp_path / "run.json"
    proc = subprocess.Popen([sys.executable, "-m", "rooflint", "measure", "--collectives", "-f", "json", "-o", str(out)],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, start_new_session=True)
    seen = ""
    while "[3/30]" not in seen:  # the progress lines on stderr
        line = proc.stderr.readline()
        if not line:
            proc.stderr.close()
            pytest.fail(f"exited early ({proc.wait()}): {seen}")
        seen += line
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    assert "Traceback" not in proc.stderr.read()
    proc.stderr.close()
    deadline = time.monotonic() + 15  # a rank that has exited is a zombie until init reaps it
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break  # nothing of the group is left
        time.sleep(0.2)
    else:
        pytest.fail("a process of the run outlived it")
    doc = json.loads(out.read_text())
    assert doc["interrupted"] and 3 <= len(doc["points"]) < 30


@pytest.mark.parametrize("args,needle", [
    (["--world-size", "1"], "--world-size"),
    (["--save-profile", "x.yaml"], "--gpu"),
    (["--load", "run.json"], "--load"),
])
def test_bad_collective_options_are_one_line(cli, args, needle):
    r = cli("measure", "--collectives", *args, code=2)
    assert r.stderr.count("\n") == 1 and needle in r.stderr, r.stderr
