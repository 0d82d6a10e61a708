"""The table writer's direct layout (used when nothing needs wrapping, for start-up speed) prints
exactly what rich's Table prints; when something must wrap or shrink, rich does it."""

import os

import pytest
from conftest import DATA

from rooflint.report import render

CORPUS = [
    ["analyze", "llama2-7b", "--gpu", "a100"], ["analyze", "llama2-7b", "--gpu", "a100", "--explain"],
    ["analyze", "deepseek-v3", "--attention", "eager"], ["analyze", "llama3-8b", "--weight-dtype", "int4"],
    ["analyze", os.path.join(DATA, "configs", "gemma2-2b"), "--context", "9000"],
    ["kv", "llama2-7b", "--context", "4095,4096", "--set", "num_key_value_heads=8"],
    ["kv", os.path.join(DATA, "configs", "gemma2-2b"), "--context", "8192"],
    ["attention"], ["attention", "--gpu", "h100"], ["gemm", "4096", "4096", "4096"],
    ["plan", "llama3-70b", "--tp", "4", "--context", "32k"], ["generate", "gpt2", "--new-tokens", "64"],
    ["hardware"], ["hardware", "h100"], ["models"], ["models", "gpt2"],
    ["paged", "llama2-7b", "--lengths", "1,16,17", "--memory", "20GiB"],
    ["sweep", "-m", "llama3-8b,mistral-7b", "-g", "h100", "-b", "1,64", "-c", "32k"],
    ["check", os.path.join(os.path.dirname(DATA), "..", "examples", "budget.yaml")],
    ["measure", "--load", os.path.join(DATA, "measurements", "cpu-quick.json")],
]


@pytest.mark.parametrize("args", CORPUS)
def test_direct_layout_is_what_rich_prints(cli, monkeypatch, args):
    fast = cli(*args).stdout
    monkeypatch.setattr(render, "laid_out", lambda *a, **k: None)
    assert cli(*args).stdout == fast


def test_the_fast_path_is_taken_for_the_common_reports(cli, monkeypatch):
    taken = []
    real = render.laid_out
    monkeypatch.setattr(render, "laid_out", lambda *a, **k: taken.append(real(*a, **k) is not None) or real(*a, **k))
    for args in (["analyze", "llama2-7b", "--gpu", "a100"], ["kv", "llama3-8b"], ["attention"]):
        cli(*args)
    assert all(taken) and len(taken) == 3
