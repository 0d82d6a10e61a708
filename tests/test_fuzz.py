"""Generated bad and odd input against the real loaders and the CLI, in-process. Each run must
keep the rule in fuzz_support.check_outcome: finite figures when accepted, one line and exit 2
when refused, never a traceback. Counts of what was tried and how it ended are printed at the
end of the session (conftest). A longer profile: ROOFLINT_FUZZ=long pytest tests/test_fuzz.py.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest
import yaml
from fuzz_support import check_outcome, examples, finite_json, json_values, numbers, odd_text, option_text
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rooflint.cli import app
from rooflint.errors import one_line

ROOT = Path(__file__).resolve().parents[1]
HF = ROOT / "tests" / "data" / "configs"
FUZZ = settings(deadline=None, suppress_health_check=list(HealthCheck), derandomize=not os.environ.get("ROOFLINT_FUZZ"),
                database=None)


def fuzz(n: int) -> settings:
    """n examples per CI run (fixed, derandomized); 50 n and random with ROOFLINT_FUZZ=long."""
    return settings(FUZZ, max_examples=examples(n))
NEGATIVE_OK = ("free_bytes", "kv_budget_bytes", "error")  # a margin that does not fit; a signed error


def run(cli_runner, *args: str):
    return cli_runner.invoke(app, list(args))


@pytest.fixture(scope="module")
def runner():
    from typer.testing import CliRunner

    return CliRunner()


def accepted_json(result) -> None:
    """An accepted -f json run: every number finite; none negative but a margin."""
    for path, value in numbers(finite_json(result.stdout)):
        assert value >= 0 or path.endswith(NEGATIVE_OK) or "bindings" in path, f"negative figure {path} = {value}"


# ---------------------------------------------------------------- options

COMMANDS = {
    "analyze": (["analyze", "llama2-7b"], ["--prompt", "--batch", "--context", "--prefix", "--dtype", "--kv-dtype",
                                           "--weight-dtype", "--kv-group-size", "--weight-group-size", "--quantize",
                                           "--attention", "--mla-mode", "--flash-tile", "--chunk", "--mem-util",
                                           "--gpu"]),
    "kv": (["kv", "deepseek-v2-lite"], ["--context", "--batch", "--kv-dtype", "--kv-group-size", "--mla-mode"]),
    "gemm": (["gemm", "64", "64", "64"], ["--dtype", "--batch", "--gpu"]),
    "attention": (["attention"], ["--seq", "--head-dim", "--heads", "--batch", "--gpu"]),
    "paged": (["paged", "llama2-7b", "--lengths", "100,2000"], ["--lengths", "--block-size", "--max-len", "--memory", "--kv-dtype"]),
    "paged-draw": (["paged", "llama2-7b", "--dist", "lognormal"], ["--num-seqs", "--mean", "--std", "--seed"]),
    "generate": (["generate", "gpt2", "-p", "64", "-t", "8"], ["--prompt", "--new-tokens", "--batch", "--attention",
                                                              "--kv-dtype", "--weight-dtype"]),
    "plan": (["plan", "llama2-7b"], ["--context", "--batch", "--tp", "--mem-util", "--chunk", "--prompt"]),
    "measure-load": (["measure", "--load", str(Path(__file__).parent / "data" / "measurements" / "cpu-quick.json")],
                     ["--gpu", "--suite", "--backend", "--device", "--time-budget"]),
    "sweep": (["sweep", "-m", "gpt2", "-g", "a100", "-b", "1", "-c", "1k"], ["--batch", "--context", "--kv-dtype",
                                                                          "--attention", "--dtype", "--mem-util",
                                                                          "--chunk", "--models", "--gpus"]),
}


@fuzz(150)
@given(st.sampled_from(sorted(COMMANDS)), st.data())
def test_options(runner, name, data):
    base, options = COMMANDS[name]
    chosen = data.draw(st.lists(st.sampled_from(options), min_size=1, max_size=3, unique=True))
    args = [*base]
    for option in chosen:
        args += [option, data.draw(option_text)]
    result = run(runner, *args, "-f", "json")
    if check_outcome("options", result) == "accepted":
        accepted_json(result)
    else:  # the culprit is named: one of the options given, or the value given to one
        line = result.output.strip().splitlines()[-1]
        values = args[len(base) + 1::2]
        tokens = {one_line(t.strip())[:20] for v in values for t in [v, *v.split(",")] if t.strip()}
        tokens |= {one_line(repr(v))[:20] for v in values}
        names = chosen + [b for b in base if b.startswith("-")]
        assert any(n in line for n in names) or any(t in line for t in tokens), line


@fuzz(40)
@given(st.sampled_from(["hardware", "models"]), option_text)
def test_spec_names(runner, command, name):
    result = run(runner, command, name, "-f", "json")
    if check_outcome("spec names", result) == "accepted":
        finite_json(result.stdout)


FIELDS = ["num_hidden_layers", "hidden_size", "num_attention_heads", "num_key_value_heads", "intermediate_size",
          "vocab_size", "max_position_embeddings", "tie_word_embeddings", "head_dim", "sliding_window", "model_type",
          "attention_bias", "num_local_experts", "num_experts_per_tok", "rope_theta", "nonexistent_field"]


@fuzz(60)
@given(st.sampled_from(FIELDS), option_text)
def test_set_overrides(runner, field, value):
    result = run(runner, "analyze", "llama2-7b", "--set", f"{field}={value}", "-f", "json")
    if check_outcome("--set", result) == "accepted":
        accepted_json(result)


# ---------------------------------------------------------------- spec files

def _bases() -> list[tuple[str, dict]]:
    out = [(p.name, yaml.safe_load(p.read_text())) for p in sorted((ROOT / "models").glob("*.yaml"))]
    out += [(f"{p.parent.name}.json", json.loads(p.read_text())) for p in sorted(HF.glob("*/config.json"))]
    return out


MODEL_BASES = _bases()
HARDWARE_BASES = [(p.name, yaml.safe_load(p.read_text())) for p in sorted((ROOT / "hardware").glob("*.yaml"))]


def mutate(data, doc: dict) -> dict:
    """One field of a (possibly nested) mapping or list replaced or deleted, or an unknown field
    added."""
    doc = copy.deepcopy(doc)
    target = doc
    while True:
        keys = sorted(target, key=str) if isinstance(target, dict) else list(range(len(target)))
        nested = [k for k in keys if isinstance(target[k], (dict, list)) and target[k]]
        if nested and data.draw(st.integers(0, 3)) > 0:  # mostly down to a leaf
            target = target[data.draw(st.sampled_from(nested))]
            continue
        break
    action = data.draw(st.sampled_from(["set", "set", "set", "delete", "add"]))
    if not keys or action == "add":
        if isinstance(target, dict):
            target[data.draw(odd_text)] = data.draw(json_values)
        else:
            target.append(data.draw(json_values))
    elif action == "delete":
        del target[data.draw(st.sampled_from(keys))]
    else:
        target[data.draw(st.sampled_from(keys))] = data.draw(json_values)
    return doc


def _write(tmp: Path, name: str, doc) -> Path:
    path = tmp / name
    if name.endswith(".json"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc, allow_nan=True))
    else:
        path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    return path


@fuzz(200)
@given(st.sampled_from(range(len(MODEL_BASES))), st.data())
def test_model_files(runner, tmp_path_factory, index, data):
    name, base = MODEL_BASES[index]
    doc = mutate(data, base)
    path = _write(tmp_path_factory.mktemp("model"), name, doc)
    for args in (["analyze", str(path), "-f", "json"], ["kv", str(path), "-f", "json"]):
        result = run(runner, *args)
        if check_outcome("model files", result) == "accepted":
            accepted_json(result)


@fuzz(120)
@given(st.sampled_from(range(len(HARDWARE_BASES))), st.data())
def test_hardware_files(runner, tmp_path_factory, index, data):
    name, base = HARDWARE_BASES[index]
    doc = mutate(data, base)
    path = _write(tmp_path_factory.mktemp("hw"), name, doc)
    result = run(runner, "analyze", "gpt2", "--gpu", str(path), "-f", "json")
    if check_outcome("hardware files", result) == "accepted":
        accepted_json(result)


BUDGET = yaml.safe_load((ROOT / "examples" / "budget.yaml").read_text())
BUDGET["results"] = str(ROOT / "tests" / "data" / "measurements" / "cpu-quick.json")


@fuzz(80)
@given(st.data())
def test_budgets(runner, tmp_path_factory, data):
    doc = BUDGET
    for _ in range(data.draw(st.integers(1, 2))):
        doc = mutate(data, doc)
    path = _write(tmp_path_factory.mktemp("budget"), "budget.yaml", doc)
    result = run(runner, "check", str(path), "-f", "json")
    if check_outcome("budgets", result, ok_codes=(0, 1)) == "accepted":
        finite_json(result.stdout)


# ---------------------------------------------------------------- raw text

YAML_TRAPS = [
    "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n",
    "name: &n x\nmodel_type: *n\n",
    "[" * 5000 + "]" * 5000,
    "".join("  " * i + "a:\n" for i in range(200)) + "  " * 200 + "x\n",
    "num_hidden_layers: " + "9" * 5000 + "\n",
    "num_hidden_layers: 1e400\n",
    "num_hidden_layers: .nan\n",
    "name: !!python/object/apply:os.system ['true']\n",
    "base: &b {hidden_size: 64}\nother:\n  <<: *b\n",
    "a: 1\na: 2\n",
    "--- \na: 1\n--- \nb: 2\n",
    "!!binary aGVsbG8=\n",
    "d: 2001-12-14t21:59:43.10-05:00\n",
    "s: !!set {a, b}\n",
    "\ufeffname: x\n",
    "name: x\n\x00\n",
    "\t\tname: x",
    "- 1\n- 2\n",
    "just text",
    "",
]


@fuzz(150)
@given(st.one_of(st.sampled_from(YAML_TRAPS), st.text(max_size=200),
                 st.binary(max_size=64).map(lambda b: b.decode("latin-1"))),
       st.sampled_from([".yaml", ".json"]), st.sampled_from(["model", "gpu", "budget", "run"]))
def test_raw_text(runner, tmp_path_factory, text, suffix, role):
    path = tmp_path_factory.mktemp("raw") / f"input{suffix}"
    path.write_bytes(text.encode("utf-8", "surrogatepass") if role != "run" else text.encode("utf-8", "surrogatepass"))
    args = {"model": ["analyze", str(path)], "gpu": ["analyze", "gpt2", "--gpu", str(path)],
            "budget": ["check", str(path)], "run": ["measure", "--load", str(path)]}[role]
    check_outcome("raw text", run(runner, *args, "-f", "json"), ok_codes=(0, 1))


def test_files_that_are_not_files(cli, tmp_path):
    """A folder without config.json, a FIFO and a device are refused before anything is read."""
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    for path in (str(fifo), "/dev/zero", "/dev/null"):
        out = cli("analyze", "gpt2", "--gpu", path, code=2).output
        assert out.startswith(f"error: {path}: ") and out.count("\n") == 1, out
        assert "not a regular file" in out or "no such file" in out, out
