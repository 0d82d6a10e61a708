"""Faults around writing outputs, in real processes: kill -9 mid-write, SIGTERM and SIGINT
mid-write, two writers of one file, outputs that are not plain files, a full or mis-encoded
stdout. The target is never torn, never replaced when it is a device or a link, and no temp
file outlives a run that could clean it up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

# A sweep whose CSV is large enough (~30 MB) for its write to be caught in the act.
SWEEP = ["sweep", "-m", "llama2-7b,gpt2", "-g", "a100,h100", "-b", ",".join(map(str, range(1, 401))),
         "-c", ",".join(str(256 * i) for i in range(1, 101)), "-f", "csv"]
ROWS = 2 * 2 * 2 * 2 * 400 * 100  # models x GPUs x KV dtypes x kernels x batches x contexts


def rooflint(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "rooflint", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            **kw)


def temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def complete_csv(path: Path) -> bool:
    lines = path.read_bytes().split(b"\n")
    return lines[-1] == b"" and len(lines) - 2 == ROWS and lines[0].startswith(b"model,")


def wait_for_temp(folder: Path, proc: subprocess.Popen, timeout: float = 60) -> bool:
    """Poll until the run's temp file appears (its write has begun); False if it never did."""
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        if temps(folder):
            return True
        time.sleep(0.0005)
    return False


@pytest.fixture(scope="module")
def old_csv(tmp_path_factory) -> bytes:
    return b"model,old\n" * 10


def test_kill_9_mid_write_never_tears_the_target_and_the_next_run_cleans_up(tmp_path, old_csv):
    target = tmp_path / "grid.csv"
    target.write_bytes(old_csv)
    proc = rooflint(*SWEEP, "-o", str(target))
    assert wait_for_temp(tmp_path, proc), proc.communicate()[1][-500:]
    proc.kill()  # SIGKILL: no handler runs
    proc.communicate()
    assert target.read_bytes() == old_csv or complete_csv(target)  # old or whole, never torn
    stale = temps(tmp_path)
    assert stale and stale[0].startswith(".grid.csv.rooflint-"), stale  # named so it is recognisable
    done = rooflint(*SWEEP, "-o", str(target))
    out, err = done.communicate(timeout=300)
    assert done.returncode == 0, err
    assert complete_csv(target)
    assert temps(tmp_path) == []  # the stale one of the killed run is gone


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_mid_write_finishes_the_file_and_leaves_no_temp(tmp_path, old_csv, sig, code):
    target = tmp_path / "grid.csv"
    target.write_bytes(old_csv)
    proc = rooflint(*SWEEP, "-o", str(target))
    assert wait_for_temp(tmp_path, proc), proc.communicate()[1][-500:]
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, (proc.returncode, err[-500:])
    assert b"Traceback" not in err, err[-2000:]
    assert complete_csv(target)  # held until the write was whole
    assert temps(tmp_path) == []


def test_two_writers_leave_one_whole_file(tmp_path):
    target = tmp_path / "grid.csv"
    procs = [rooflint(*SWEEP, "-o", str(target)) for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    assert complete_csv(target)
    assert temps(tmp_path) == []


def _one_line_error(proc: subprocess.Popen) -> str:
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, (proc.returncode, err)
    lines = err.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_devices_fifos_and_links_are_never_replaced(tmp_path):
    real = tmp_path / "real.txt"
    real.write_text("keep me\n")
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for target in ("/dev/null", "/dev/stdout", "/dev/full", str(link), str(fifo)):
        line = _one_line_error(rooflint("analyze", "gpt2", "-o", target))
        assert target in line or "symbolic link" in line, line
    assert Path("/dev/null").is_char_device() and Path("/dev/full").is_char_device()
    assert link.is_symlink() and real.read_text() == "keep me\n"
    assert fifo.is_fifo()
    assert temps(tmp_path) == []


def test_an_existing_file_keeps_its_mode(tmp_path):
    target = tmp_path / "report.json"
    target.write_text("{}")
    target.chmod(0o640)
    proc = rooflint("analyze", "gpt2", "-f", "json", "-o", str(target))
    assert proc.communicate(timeout=60) and proc.returncode == 0
    assert oct(target.stat().st_mode & 0o777) == oct(0o640)
    assert target.read_text().startswith("{\n")


def test_several_outputs_are_written_all_or_none(tmp_path):
    budget = Path(__file__).resolve().parents[1] / "examples" / "budget.yaml"
    md, junit = tmp_path / "summary.md", tmp_path / "junit.xml"
    # the JUnit path is a folder: nothing may be written, not even the Markdown
    (tmp_path / "junit.xml").mkdir()
    line = _one_line_error(rooflint("check", str(budget), "--markdown", str(md), "--junit", str(junit)))
    assert "junit.xml" in line and not md.exists()
    (tmp_path / "junit.xml").rmdir()
    proc = rooflint("check", str(budget), "--markdown", str(md), "--junit", str(junit))
    assert proc.communicate(timeout=120) and proc.returncode == 0
    assert md.read_text().startswith("### rooflint check") and junit.read_text().startswith("<?xml")


def test_full_stdout_and_an_encoding_that_cannot_show_the_report_are_one_line(tmp_path):
    with open("/dev/full", "wb") as full:
        proc = subprocess.Popen([sys.executable, "-m", "rooflint", "analyze", "gpt2"], stdout=full,
                                stderr=subprocess.PIPE)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and err.decode().splitlines() == ["error: cannot write to stdout: No space left on device"]
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}
    line = _one_line_error(rooflint("analyze", "gpt2", env=env))
    assert "encoding (ascii)" in line


def test_a_closed_pipe_ends_quietly(tmp_path):
    proc = subprocess.Popen(f"{sys.executable} -m rooflint analyze llama3-8b | head -c 10 > /dev/null",
                            shell=True, stderr=subprocess.PIPE)
    _, err = proc.communicate(timeout=60)
    assert b"Traceback" not in err and b"Exception" not in err, err
