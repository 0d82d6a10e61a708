"""Report formats: CSV of raw numbers, Markdown, explain, files written whole or not at all."""

import csv
import io
import json
import subprocess
import sys

import pytest

from rooflint.report.output import write_atomic


def test_csv_raw_numbers(cli):
    text = cli("analyze", "llama2-7b", "--format", "csv").stdout
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {r["table"].split()[0] for r in rows} == {"prefill", "decode", "attention"}
    q = next(r for r in rows if r["name"] == "q_proj" and r["table"].startswith("decode"))
    assert float(q["flops"]) == 2 * 1 * 4096 * 4096  # raw, not "33.55 MFLOP"
    assert q["bound"] == "memory"


def test_markdown(cli):
    text = cli("attention", "--format", "markdown").stdout
    assert "| N |" in text and "| 16,384 |" in text and "99.2%" in text


def test_explain_shows_formula_and_terms(cli):
    text = cli("analyze", "llama2-7b", "--explain").stdout
    assert "kv_cache_bytes_per_token = 2*L*H_kv*d*b_kv = 2*32*32*128*2 = 512 KiB" in text
    assert "decode.q_proj" in text and "flops = 2*T*D*H_q*d = 2*1*4096*32*128 = 33.55 MFLOP" in text
    data = json.loads(cli("gemm", "2048", "2048", "64", "--format", "json", "--explain").stdout)
    assert data["formulas"]["flops"] == "2*G*M*N*K" and data["explanation"]


def test_output_file_written(cli, tmp_path):
    target = tmp_path / "out.json"
    cli("kv", "llama3-8b", "--format", "json", "-o", str(target))
    assert json.loads(target.read_text())["kv_cache_bytes_per_token"] == 2 * 32 * 8 * 128 * 2
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no temp file left


def test_atomic_write_keeps_old_file_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "report.csv"
    target.write_text("old")

    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.replace", boom)
    with pytest.raises(Exception, match="No space left"):
        write_atomic(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.csv"]


@pytest.mark.parametrize("command", [["hardware"], ["hardware", "h100"], ["models"], ["models", "gpt2"],
                                     ["kv", "llama2-70b", "--context", "4k,32k"]])
def test_listing_commands(cli, command):
    out = cli(*command, "--format", "json").stdout
    assert json.loads(out)["schema"].startswith("rooflint.")


def test_llama2_70b_kv_per_token(cli):
    # 2 * 80 layers * 8 KV heads * 128 * 2 B = 327,680 B = 320 KiB
    assert cli.json("kv", "llama2-70b")["kv_cache_bytes_per_token"] == 320 * 1024


def test_python_m_and_real_process_errors():
    ok = subprocess.run([sys.executable, "-m", "rooflint", "gemm", "256", "256", "64", "--format", "json"],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and json.loads(ok.stdout)["intensity"] == pytest.approx(256 * 64 / (256 + 128))
    bad = subprocess.run([sys.executable, "-m", "rooflint", "analyze", "nope"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
