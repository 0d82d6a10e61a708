"""Terminal output that fits: at 80, 100 and 140 columns ($COLUMNS, as a terminal of that width
sets it) no line is wider than the terminal, no header or number is cut to an ellipsis or split
across lines, the columns that matter stay, and what was left out is named in a note."""

import os

import pytest
from conftest import DATA
from rich.cells import cell_len

from rooflint.report.render_values import human

WIDTHS = (80, 100, 140)
COMMANDS = {
    "analyze": (["analyze", "llama3-8b", "--gpu", "h100"], ["op", "FLOPs", "bound", "time (each)", "forecast"],
                ["lm_head", "flash_decode_reduce", "1.051 GFLOP"]),
    "plan": (["plan", "llama3-70b", "--gpu", "h100", "--gpus", "8"], ["layout", "fits", "TPOT fcst", "why"],
             ["tp8 x dp1", "tp4 x pp2 x dp1"]),
    "sweep": (["sweep", "--models", "llama2-7b,llama3-8b", "--gpu", "h100,a100", "--batch", "1,64", "--context",
               "4k,32k"], ["model", "GPU", "batch", "context", "fits", "TPOT", "forecast"], ["llama3-8b", "a100-40gb"]),
    "measure": (["measure", "--load", os.path.join(DATA, "measurements", "cpu-quick.json")],
                ["backend", "kernel", "size", "measured"], ["decode_attention", "M=512 N=512 K=512"]),
    "serve": (["serve", "llama3-8b", "--gpus", "2", "--concurrency", "1,64"],
              ["layout", "concurrency", "TPOT fcst", "tok/s/user", "tok/s/GPU"], ["tp2 x dp1"]),
}


def _headers(text):
    """The header cells of every table (the lines between ┏ and ┡), joined per column."""
    out = set()
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("┏"):
            j = i + 1
            rows = []
            while not lines[j].startswith("┡"):
                rows.append([c.strip() for c in lines[j].strip("┃").split("┃")])
                j += 1
            out |= {" ".join(r[k] for r in rows if r[k]).strip() for k in range(len(rows[0]))}
    return out


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", list(COMMANDS))
def test_tables_fit_the_terminal(cli, monkeypatch, name, width):
    args, columns, whole = COMMANDS[name]
    monkeypatch.setenv("COLUMNS", str(width))
    text = cli(*args).stdout
    widest = max(cell_len(line) for line in text.splitlines())
    assert widest <= width, (widest, [line for line in text.splitlines() if cell_len(line) > width][:3])
    assert "…" not in text
    headers = _headers(text)
    for header in columns:  # kept, and whole (a header folded over lines would not match)
        assert header in headers, (header, headers)
    for value in whole:  # names and numbers are never split across lines
        assert any(value in line for line in text.splitlines()), value
    if width == 140 and name != "measure":
        assert "left out at" not in text


def test_a_narrow_terminal_names_what_it_left_out(cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    text = cli("analyze", "llama3-8b", "--gpu", "h100").stdout
    note = " ".join(text.split("note: prefill ops")[1].split("\n      "))
    assert "weight, read, written" in note and "left out at 80 columns" in note


def test_a_file_keeps_every_column(cli, monkeypatch, tmp_path):
    """-o FILE is laid out at 140 columns whatever the terminal: the report to share is whole."""
    monkeypatch.setenv("COLUMNS", "80")
    out = tmp_path / "a.txt"
    cli("analyze", "llama3-8b", "--gpu", "h100", "-o", str(out))
    assert {"weight", "read", "written", "share"} <= _headers(out.read_text())


@pytest.mark.parametrize("width", [40, 52, 64])
def test_too_narrow_for_any_table_shows_records(cli, monkeypatch, width):
    """Below what a table needs even with its droppable columns gone, each row is a record of
    (field, value) lines: names and numbers stay whole, nothing is squeezed to nothing."""
    monkeypatch.setenv("COLUMNS", str(width))
    text = cli("serve", "llama3-8b", "--gpus", "2", "--concurrency", "1,64").stdout
    assert max(cell_len(line) for line in text.splitlines()) <= width
    assert "one record per row" in " ".join(text.split())
    assert any("tp2 x dp1" in line for line in text.splitlines())
    monkeypatch.delenv("COLUMNS")
    doc = cli.json("serve", "llama3-8b", "--gpus", "2", "--concurrency", "1,64")
    tpot = human(doc["points"][0]["tpot_forecast_s"], "seconds")
    assert any(tpot in line for line in text.splitlines())  # the TPOT forecast at concurrency 1, whole


def test_columns_below_40_are_40(cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "20")
    text = cli("analyze", "llama3-8b", "--gpu", "h100").stdout
    assert max(cell_len(line) for line in text.splitlines()) <= 40
