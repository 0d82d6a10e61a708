"""Progress on long work: the runner counts what it timed against what it will time; the CLI shows
a bar with the count, elapsed and ETA on a terminal, one line per kernel elsewhere, and nothing
with --quiet (stdout carries only the report)."""

import io
import sys

from test_measure_runner import RULE, FakeBackend

from rooflint.measure.cases import case
from rooflint.measure.runner import Limits, run_cases


def test_the_runner_reports_each_case_done_of_all():
    seen = []
    cases = [case("copy", "fp32", n=1 << k) for k in (10, 12, 14)] + [case("softmax", "fp32", rows=4, cols=8)]
    run_cases([FakeBackend()], cases, RULE, Limits(None), {"device_name": "fake"},
              lambda line, done, total: seen.append((done, total)))
    # the softmax is not this backend's to time (a skip before timing): three to do, counted 1..3
    assert seen == [(1, 3), (2, 3), (3, 3)]


def test_a_terminal_gets_a_bar_with_count_elapsed_and_eta(monkeypatch):
    from rooflint.cli.progress import progress

    fake = io.StringIO()
    fake.isatty = lambda: True
    monkeypatch.setattr(sys, "stderr", fake)
    with progress("measure quick") as step:
        for i in range(1, 4):
            step(f"kernel {i}", i, 3)
    out = fake.getvalue()
    assert "kernel 2" in out and "3/3" in out and "elapsed" in out and "ETA" in out


def test_no_terminal_gets_lines_and_quiet_gets_nothing(monkeypatch, capsys):
    from rooflint.cli.progress import progress

    with progress("measure quick") as step:
        step("copy fp32 4 KiB", 1, 2)
    assert capsys.readouterr().err == "[1/2] copy fp32 4 KiB\n"
    with progress("measure quick", quiet=True) as step:
        step("copy fp32 4 KiB", 1, 2)
    with progress("sweep", lines=False) as step:  # a sweep's blocks are not worth a line each
        step("llama2-7b on h100", 1, 2)
    assert capsys.readouterr().err == ""


def test_serve_and_sweep_print_nothing_but_the_report_when_quiet(cli):
    r = cli("serve", "llama3-8b", "--gpus", "2", "--concurrency", "1,8", "--quiet", "-f", "json")
    assert r.stdout.lstrip().startswith("{")
    r = cli("sweep", "--models", "llama2-7b", "--gpu", "h100", "--batch", "1,8", "--context", "1k", "--quiet",
            "-f", "csv")
    assert r.stdout.startswith("model,")
