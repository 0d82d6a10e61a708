"""Model and hardware specs are checked at the boundary: every value has its schema's type (no
coercion) and lies within rooflint's bounds, nested and derived fields are checked before use,
--set text is parsed by the same checks. Bad input is one line `error: <file>: <field>: <reason>`,
exit 2, no traceback; anything accepted gives finite figures.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import yaml
from conftest import DATA, Run
from fuzz_support import finite_json, numbers
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rooflint import load_hardware, load_model
from rooflint.specs import fields
from rooflint.specs.catalog import resolve_path
from rooflint.specs.hf_config import settable_fields
from rooflint.specs.hf_schema import COUNTS, FLAGS, WHOLES
from rooflint.specs.model import OPTIONAL_COUNTS

ROOT = Path(__file__).resolve().parents[1]
HF = Path(DATA) / "configs"
MODEL_YAMLS = sorted((ROOT / "models").glob("*.yaml"))
HF_CONFIGS = sorted(HF.glob("*/config.json"))
HARDWARE_YAMLS = sorted((ROOT / "hardware").glob("*.yaml")) + sorted((Path(DATA) / "hw").glob("*.yaml"))


def _base(path: Path) -> dict:
    return json.loads(path.read_text()) if path.suffix == ".json" else yaml.safe_load(path.read_text())


def _write(folder: Path, name: str, doc: dict) -> str:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc) if name.endswith(".json") else yaml.safe_dump(doc, allow_unicode=True))
    return str(path)


def _mutated(folder: Path, base: Path, edits: dict, *, nested: str | None = None) -> str:
    """A copy of a real spec with fields replaced (a value of ... deletes the field)."""
    doc = _base(base)
    target = doc[nested] if nested else doc
    for key, value in edits.items():
        if value is ...:
            target.pop(key, None)
        else:
            target[key] = value
    return _write(folder, "config.json" if base.suffix == ".json" else base.name, doc)


def _refused(result, source: str, field: str, *words: str) -> str:
    """Exactly one line `error: <source>: <field>: <reason>`, exit 2, no traceback; the reason."""
    assert result.exit_code == 2, (result.exit_code, result.output[-2000:])
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    prefix = f"error: {source}: {field}: "
    assert lines[0].startswith(prefix), (prefix, lines[0])
    reason = lines[0][len(prefix):]
    for word in words:
        assert word in reason, (word, lines[0])
    return reason


def _finite_report(result) -> dict:
    """An accepted run's JSON: no NaN/Infinity, every figure finite and (headroom aside) >= 0."""
    assert result.exit_code == 0, result.output[-2000:]
    doc = finite_json(result.stdout)
    for where, value in numbers(doc):
        assert math.isfinite(value), where
        assert value >= 0 or "free" in where, (where, value)  # free_bytes < 0: it does not fit
    return doc


# ---------------------------------------------------------------- 1. every value type-checked

LLAMA_YAML = ROOT / "models" / "llama2-7b.yaml"
LLAMA_JSON = HF / "llama3-8b" / "config.json"
GPT2_JSON = HF / "gpt2" / "config.json"
FALCON_YAML = ROOT / "models" / "falcon-7b.yaml"


@pytest.mark.parametrize("base,field,value,words", [
    # booleans are real booleans
    (LLAMA_YAML, "tie_word_embeddings", "maybe", ["true or false", "'maybe'"]),
    (LLAMA_YAML, "tie_word_embeddings", 1, ["true or false", "got 1"]),
    (LLAMA_YAML, "attention_bias", [True], ["true or false", "a list"]),
    (LLAMA_JSON, "attention_bias", "false", ["true or false"]),
    (FALCON_YAML, "multi_query", "yes", ["true or false"]),
    (FALCON_YAML, "parallel_attn", 0, ["true or false"]),
    # counts are integers within their bound: not bools, floats, text or lists
    (LLAMA_YAML, "num_hidden_layers", 10**12, ["at most 1,024", "rooflint's bound"]),
    (LLAMA_YAML, "num_hidden_layers", True, ["positive integer", "got true"]),
    (LLAMA_YAML, "num_hidden_layers", 1.5, ["positive integer", "1.5"]),
    (LLAMA_YAML, "num_hidden_layers", "32", ["positive integer", "'32'"]),
    (LLAMA_YAML, "num_hidden_layers", [32], ["positive integer", "a list"]),
    (LLAMA_JSON, "num_key_value_heads", 8.0, ["positive integer"]),
    (LLAMA_JSON, "vocab_size", 2**25, ["at most 16,777,216"]),
    (LLAMA_JSON, "intermediate_size", 2**23, ["at most 4,194,304"]),
    (LLAMA_JSON, "hidden_size", 2**21, ["at most 1,048,576"]),
    (LLAMA_JSON, "num_attention_heads", 2**15, ["at most 16,384"]),
    (GPT2_JSON, "n_layer", 2000, ["at most 1,024"]),
    (GPT2_JSON, "n_embd", -768, ["positive integer"]),
    # max_position_embeddings: a positive integer
    (LLAMA_YAML, "max_position_embeddings", 0, ["positive integer"]),
    (LLAMA_YAML, "max_position_embeddings", -1, ["positive integer"]),
    (LLAMA_YAML, "max_position_embeddings", 1.5, ["positive integer"]),
    (LLAMA_YAML, "max_position_embeddings", "32", ["positive integer"]),
    (LLAMA_YAML, "max_position_embeddings", [], ["positive integer"]),
    (LLAMA_JSON, "max_position_embeddings", 2**32, ["at most 2,147,483,648"]),
    (GPT2_JSON, "n_positions", "1024", ["positive integer"]),
    # floats are finite numbers of their sign
    (LLAMA_JSON, "rope_theta", -1, ["positive number"]),
    (LLAMA_JSON, "rope_theta", "500000", ["positive number"]),
    (LLAMA_JSON, "rms_norm_eps", "1e-5", ["number"]),
    (LLAMA_JSON, "rms_norm_eps", True, ["number"]),
    # names are text without control characters; free text is text
    (LLAMA_YAML, "name", "a\nb", ["control characters", "\\n"]),
    (LLAMA_YAML, "name", "x\x1b[31m", ["control characters", "\\x1b"]),
    (LLAMA_YAML, "name", 7, ["expected a name"]),
    (LLAMA_YAML, "hidden_act", ["silu"], ["expected a name"]),
    (LLAMA_YAML, "source", {"url": "x"}, ["expected text", "a mapping"]),
    (LLAMA_JSON, "hidden_act", "si\x07lu", ["control characters"]),
    (LLAMA_YAML, "model_type", 5, ["expected a family name"]),
])
def test_every_value_is_typed(cli, tmp_path, base, field, value, words):
    path = _mutated(tmp_path, base, {field: value})
    for command in ("analyze", "kv"):
        _refused(cli(command, path, code=2), path, field, *words)


def test_null_reads_as_absent(cli, tmp_path):
    """null is the family default, not a value: a null flag is the default, not None."""
    path = _mutated(tmp_path, GPT2_JSON, {"tie_word_embeddings": None, "n_inner": None})
    doc = cli.json("kv", path)
    assert doc["model"]["tie_word_embeddings"] is True and doc["model"]["intermediate_size"] == 4 * 768


def test_a_file_name_with_control_characters_is_no_model_name(cli, tmp_path):
    doc = _base(LLAMA_YAML)
    del doc["name"]
    path = _write(tmp_path, "bad\x1b[2Jname.yaml", doc)
    result = cli("kv", path, code=2)
    assert result.output.count("\n") == 1 and "\x1b" not in result.output
    assert "name: a name may not hold control characters" in result.output


# ---------------------------------------------------------------- 2. nested and derived fields

DEEPSEEK_YAML = ROOT / "models" / "deepseek-v2-lite.yaml"
MIXTRAL_YAML = ROOT / "models" / "mixtral-8x7b.yaml"
GEMMA2_JSON = HF / "gemma2-2b" / "config.json"
QWEN_JSON = HF / "qwen2.5-7b" / "config.json"
MISTRAL_JSON = HF / "mistral-7b-v0.1" / "config.json"


@pytest.mark.parametrize("base,edits,field,words", [
    # layer_types: a list of known names, one per layer
    (GEMMA2_JSON, {"layer_types": ["full_attention"] * 3}, "layer_types", ["3 entries for 26 layers"]),
    (GEMMA2_JSON, {"layer_types": ["linear_attention"] * 26}, "layer_types", ["unsupported layer type"]),
    (GEMMA2_JSON, {"layer_types": "full_attention"}, "layer_types", ["expected a list"]),
    (GEMMA2_JSON, {"layer_types": [1] * 26}, "layer_types", ["expected a list of layer type names"]),
    (GEMMA2_JSON, {"layer_types": ["full_attention"] * 2000}, "layer_types", ["expected a list"]),
    # sliding_window: a positive integer within the context, or null
    (MISTRAL_JSON, {"sliding_window": 0}, "sliding_window", ["positive integer"]),
    (MISTRAL_JSON, {"sliding_window": True}, "sliding_window", ["positive integer"]),
    (MISTRAL_JSON, {"sliding_window": "4096"}, "sliding_window", ["positive integer"]),
    (MISTRAL_JSON, {"sliding_window": 65536}, "sliding_window", ["exceeds max_position_embeddings 32,768"]),
    (MISTRAL_JSON, {"max_position_embeddings": 2048}, "sliding_window", ["exceeds max_position_embeddings 2,048"]),
    # Qwen's max_window_layers: a whole number within the layers when it is used
    (QWEN_JSON, {"max_window_layers": -1}, "max_window_layers", ["whole number"]),
    (QWEN_JSON, {"max_window_layers": "28"}, "max_window_layers", ["whole number"]),
    (QWEN_JSON, {"use_sliding_window": True, "max_window_layers": 29}, "max_window_layers",
     ["exceeds num_hidden_layers 28"]),
    (QWEN_JSON, {"use_sliding_window": "false"}, "use_sliding_window", ["true or false"]),
    # MoE: counts, top-k within the experts, dense layers within the layers, every-layer MoE
    (DEEPSEEK_YAML, {"num_experts_per_tok": 65}, "num_experts_per_tok", ["exceeds n_routed_experts 64"]),
    (DEEPSEEK_YAML, {"n_routed_experts": 0}, "n_routed_experts", ["positive integer"]),
    (DEEPSEEK_YAML, {"n_routed_experts": 2**17}, "n_routed_experts", ["at most 65,536"]),
    (DEEPSEEK_YAML, {"first_k_dense_replace": 28}, "first_k_dense_replace", ["28 dense layers of 27"]),
    (DEEPSEEK_YAML, {"first_k_dense_replace": -1}, "first_k_dense_replace", ["whole number"]),
    (DEEPSEEK_YAML, {"n_shared_experts": 1.5}, "n_shared_experts", ["whole number"]),
    (DEEPSEEK_YAML, {"moe_layer_freq": 2}, "moe_layer_freq", ["only every-layer MoE"]),
    (DEEPSEEK_YAML, {"moe_layer_freq": True}, "moe_layer_freq", ["positive integer"]),
    (MIXTRAL_YAML, {"num_local_experts": 1}, "num_experts_per_tok", ["2 exceeds num_experts 1"]),
    (MIXTRAL_YAML, {"num_local_experts": "8"}, "num_local_experts", ["positive integer"]),
    # MLA: positive integers, all of them
    (DEEPSEEK_YAML, {"kv_lora_rank": 1.5}, "kv_lora_rank", ["positive integer"]),
    (DEEPSEEK_YAML, {"qk_rope_head_dim": 0}, "qk_rope_head_dim", ["positive integer"]),
    (DEEPSEEK_YAML, {"v_head_dim": "128"}, "v_head_dim", ["positive integer"]),
    (DEEPSEEK_YAML, {"q_lora_rank": []}, "q_lora_rank", ["positive integer"]),
    (DEEPSEEK_YAML, {"kv_lora_rank": ...}, "kv_lora_rank", ["missing", "latent attention"]),
    # head_dim: a positive integer, consistent with the heads
    (LLAMA_JSON, {"head_dim": 0}, "head_dim", ["positive integer"]),
    (LLAMA_JSON, {"head_dim": 2**15}, "head_dim", ["at most 16,384"]),
    (LLAMA_JSON, {"head_dim": 4096, "num_attention_heads": 4096, "num_key_value_heads": 8}, "head_dim",
     ["num_attention_heads x head_dim"]),
    (LLAMA_JSON, {"hidden_size": 4095}, "head_dim", ["not a multiple"]),
    # rope_scaling / rope_parameters: a mapping or null
    (LLAMA_JSON, {"rope_scaling": 5}, "rope_scaling", ["mapping or null"]),
    (LLAMA_JSON, {"rope_scaling": "yarn"}, "rope_scaling", ["mapping or null"]),
    (LLAMA_JSON, {"rope_parameters": [1]}, "rope_parameters", ["mapping or null"]),
])
def test_nested_and_derived_fields(cli, tmp_path, base, edits, field, words):
    path = _mutated(tmp_path, base, edits)
    _refused(cli("analyze", path, code=2), path, field, *words)


def _gemma3(text_config: object) -> dict:
    """A Gemma 3 multimodal config (text_config inside) built from the Gemma 2 fixture."""
    text = _base(GEMMA2_JSON)
    text.update(model_type="gemma3_text", sliding_window=512, sliding_window_pattern=6)
    return {"model_type": "gemma3", "text_config": text if text_config is None else text_config}


def test_gemma3_text_config_is_checked_like_the_top(cli, tmp_path):
    good = _write(tmp_path / "good", "config.json", _gemma3(None))
    m = load_model(good)
    assert m.layer_types[:6] == ("sliding_attention",) * 5 + ("full_attention",) and m.sliding_window == 512
    bad = _write(tmp_path / "list", "config.json", _gemma3([1, 2]))
    _refused(cli("kv", bad, code=2), bad, "text_config", "mapping")
    doc = _gemma3(None)
    doc["text_config"]["num_hidden_layers"] = 10**9
    deep = _write(tmp_path / "deep", "config.json", doc)
    _refused(cli("kv", deep, code=2), deep, "text_config.num_hidden_layers", "at most 1,024")
    doc = _gemma3(None)
    doc["text_config"]["sliding_window_pattern"] = 0  # (i + 1) % 0 would divide by zero
    zero = _write(tmp_path / "zero", "config.json", doc)
    _refused(cli("kv", zero, code=2), zero, "text_config.sliding_window_pattern", "positive integer")


def test_qwen_sliding_layers_follow_max_window_layers(tmp_path):
    path = _mutated(tmp_path, QWEN_JSON, {"use_sliding_window": True, "max_window_layers": 20,
                                          "sliding_window": 4096})
    m = load_model(path)
    assert m.layer_types == ("full_attention",) * 20 + ("sliding_attention",) * 8 and m.sliding_window == 4096
    # unused, the window may exceed the context (Qwen2.5-7B-Instruct's file does: 131072 > 32768)
    inert = _mutated(tmp_path / "inert", QWEN_JSON, {"max_position_embeddings": 32768})
    assert load_model(inert).sliding_window is None


# ---------------------------------------------------------------- 3. --set overrides

@pytest.mark.parametrize("pair,field,words", [
    ("tie_word_embeddings=maybe", "tie_word_embeddings", ["true or false", "'maybe'"]),
    ("qk_norm=1", "qk_norm", ["true or false"]),
    ("num_hidden_layers=1e12", "num_hidden_layers", ["whole number", "'1e12'"]),
    ("num_hidden_layers=", "num_hidden_layers", ["no value given"]),
    ("num_hidden_layers=1025", "num_hidden_layers", ["at most 1,024", "rooflint's bound"]),
    ("num_hidden_layers=0", "num_hidden_layers", ["positive integer"]),
    ("num_hidden_layers=-3", "num_hidden_layers", ["whole number"]),
    ("num_hidden_layers=2.5", "num_hidden_layers", ["whole number"]),
    ("num_hidden_layers=" + "9" * 400, "num_hidden_layers", ["at most 100"]),
    ("hidden_size=999999g", "hidden_size", ["at most 1,048,576"]),
    ("max_position_embeddings=[]", "max_position_embeddings", ["whole number"]),
    ("num_shared_experts=null", "num_shared_experts", ["whole number"]),  # not optional
    ("mlp=fancy", "mlp", ["one of gated, plain"]),
    ("hidden_act=si\x1blu", "hidden_act", ["control characters"]),
    ("num_hiden_layers=3", "num_hiden_layers", ["not a model field", "did you mean 'num_hidden_layers'"]),
    ("layer_types=full_attention", "layer_types", ["not a model field"]),
])
def test_set_is_parsed_by_the_same_checks(cli, pair, field, words):
    for command in ("analyze", "kv"):
        _refused(cli(command, "llama2-7b", "--set", pair, code=2), "--set", field, *words)


def test_set_across_fields_names_the_model_file(cli):
    path = str(resolve_path("models", "llama2-7b"))  # max_position_embeddings 4096
    _refused(cli("kv", "llama2-7b", "--set", "sliding_window=8k", code=2), path, "sliding_window",
             "exceeds max_position_embeddings 4,096")
    _refused(cli("kv", "llama2-7b", "--set", "num_key_value_heads=5", code=2), path, "num_key_value_heads",
             "do not divide")


def test_set_values_that_are_sound_apply(cli):
    at_bound = cli.json("kv", "llama2-7b", "--set", "num_hidden_layers=1024", "--set", "num_key_value_heads=8")
    assert at_bound["model"]["num_hidden_layers"] == 1024 and at_bound["model"]["num_key_value_heads"] == 8
    assert cli.json("kv", "mistral-7b", "--set", "sliding_window=null")["model"]["sliding_window"] is None
    assert cli.json("kv", "mistral-7b", "--set", "sliding_window=4k")["model"]["sliding_window"] == 4096
    assert cli.json("kv", "llama2-7b", "--set", "tie_word_embeddings=TRUE")["model"]["tie_word_embeddings"] is True
    # a derived layer pattern follows the layers set; MLA's head_dim follows its parts
    gemma = load_model(str(HF / "gemma2-2b"), {"num_hidden_layers": "4"})
    assert gemma.layer_types == ("sliding_attention", "full_attention") * 2
    assert load_model("deepseek-v2-lite", {"qk_rope_head_dim": "32"}).head_dim == 128 + 32
    _refused(cli("kv", "deepseek-v2-lite", "--set", "head_dim=64", code=2),
             str(resolve_path("models", "deepseek-v2-lite")), "head_dim", "qk_nope_head_dim + qk_rope_head_dim")


# ---------------------------------------------------------------- 4. hardware YAML

A100 = ROOT / "hardware" / "a100-40gb.yaml"


def _hardware(folder: Path, section: str | None, key: str, value: object) -> str:
    doc = _base(A100)
    target = doc.setdefault(section, {}) if section else doc
    if value is ...:
        target.pop(key, None)
    else:
        target[key] = value
    return _write(folder, "hw.yaml", doc)


@pytest.mark.parametrize("section,key,value,words", [
    (None, "sm_count", True, ["positive integer", "got true"]),
    (None, "sm_count", 1.5, ["positive integer"]),
    (None, "sm_count", "108", ["positive integer"]),
    (None, "sm_count", 0, ["positive integer"]),
    (None, "sm_count", 2**17, ["at most 65,536"]),
    (None, "name", "a100\nevil", ["control characters", "\\n"]),
    (None, "name", "\x1b]0;title\x07", ["control characters", "\\x1b"]),
    (None, "name", 100, ["expected a name"]),
    (None, "name", ..., ["missing"]),
    (None, "aliases", ["ok", "bad\x1b[2J"], ["control characters"]),
    (None, "aliases", "a100", ["list of names"]),
    (None, "device_names", [1], ["expected a name"]),
    (None, "vendor", {"id": 1}, ["expected a name"]),
    (None, "description", ["x", "y"], ["expected text", "a list"]),
    (None, "source", 12, ["expected text"]),
    (None, "notes", 1.5, ["expected text"]),
    (None, "description", "x\x1b[31m", ["control characters"]),
    (None, "tdp", "-5 W", ["expected a power"]),
    (None, "tdp", "5 GW", ["exceeds"]),
    (None, "interconnect", "2000 TB/s", ["exceeds 1 PB/s"]),
    (None, "sram_per_sm", "2 GiB", ["exceeds 1 GiB"]),
    (None, "l2_cache", "2 TiB", ["exceeds 1 TiB"]),
    (None, "provenance", [1], ["mapping or null"]),
    (None, "provenance", {"bandwidth": [1]}, ["text or a mapping of plain values"]),
    (None, "provenance", {"bandwidth": {"kernel": ["copy"]}}, ["plain value"]),
    (None, "provenance", {"band\nwidth": "x"}, ["control characters"]),
    (None, "calibration", {"kernel_overhead": "2 s"}, ["exceeds 1 s"]),
    ("memory", "capacity", "2 PiB", ["exceeds 1 PiB"]),
    ("memory", "capacity", "0 GiB", ["positive quantity"]),
    ("memory", "capacity", 40, ["a size"]),
    ("memory", "bandwidth", "2 PB/s", ["exceeds 1 PB/s"]),
    ("memory", "bandwidth", "0.5 B/s", ["below 1 B/s"]),
    ("memory", "bandwidth", True, ["a bandwidth"]),
    ("compute", "fp16", "20000 PFLOP/s", ["exceeds 10000 PFLOP/s"]),
    ("compute", "fp16", "0 TFLOP/s", ["positive quantity"]),
])
def test_hardware_fields(cli, tmp_path, section, key, value, words):
    path = _hardware(tmp_path, section, key, value)
    field = f"{section}.{key}" if section else key
    if key == "provenance" and isinstance(value, dict):
        field = "provenance" if "\n" in next(iter(value)) else f"provenance.{next(iter(value))}"
        if isinstance(next(iter(value.values())), dict):
            field += ".kernel"
    elif key == "aliases" and isinstance(value, list):
        field = "aliases[1]"
    elif key == "device_names":
        field = "device_names[0]"
    elif key == "calibration":
        field = "calibration.kernel_overhead"
    _refused(cli("analyze", "gpt2", "--gpu", path, code=2), path, field, *words)


def test_hardware_text_is_kept_as_written(tmp_path):
    path = _hardware(tmp_path, None, "description", None)
    hw = load_hardware(path)
    assert hw.description == "" and hw.vendor == "nvidia" and hw.aliases == ("a100", "a100-sxm4-40gb")


# ---------------------------------------------------------------- the shipped specs keep within the bounds

@pytest.mark.parametrize("path", [*MODEL_YAMLS, *HF_CONFIGS], ids=lambda p: f"{p.parent.name}/{p.name}")
def test_real_models_sit_well_inside_the_bounds(path):
    m = load_model(str(path))
    for key, (lo, hi) in fields.INT_BOUNDS.items():
        value = getattr(m, key)
        assert value is None or lo <= value <= hi // 4, key  # a factor of 4 to spare at least


@pytest.mark.parametrize("path", HARDWARE_YAMLS, ids=lambda p: p.stem)
def test_real_hardware_sits_well_inside_the_bounds(path):
    hw = load_hardware(str(path))
    assert hw.capacity_bytes <= fields.QUANTITY_BOUNDS["memory.capacity"][1] / 1000
    assert hw.bandwidth_bytes_per_s <= fields.QUANTITY_BOUNDS["memory.bandwidth"][1] / 100
    assert max(hw.peak_flop_per_s.values()) <= fields.QUANTITY_BOUNDS["compute"][1] / 100
    assert hw.sm_count is None or hw.sm_count <= fields.MAX_SM_COUNT // 100


# ---------------------------------------------------------------- properties: mutate one field

ODD = st.one_of(
    st.sampled_from([0, -1, 1, 2, 3, 7, 64, 4096, 2**31, 2**53 + 1, 10**12, 10**30, -(10**12)]),
    st.integers(-10, 5000),
    st.sampled_from([0.0, -1.5, 0.5, 1.5, 1e-300, 1e300, math.inf, math.nan]),
    st.booleans(), st.none(),
    st.sampled_from(["", "abc", "32", "4k", "true", "null", "a\nb", "\x1b[31m", "full_attention", "silu"]),
    st.lists(st.sampled_from([1, "full_attention", "sliding_attention", None]), max_size=3),
    st.dictionaries(st.sampled_from(["a", "type", "factor"]), st.sampled_from([1, "x", None]), max_size=2),
)
MODEL_BASES = [*MODEL_YAMLS, *HF_CONFIGS]
EXAMPLES = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_runner = Run().runner


def _invoke(*args: str):
    from rooflint.cli import app
    return _runner.invoke(app, list(args))


def _one_error_line(result, source: str) -> str:
    assert result.exit_code == 2, (result.exit_code, result.output[-2000:])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {source}: "), result.output[-2000:]
    return lines[0]


def _wrong_type(key: str, value: object) -> bool:
    """A value the schema refuses for this key, whatever the rest of the file says."""
    if value is None:
        return False
    if key in FLAGS:
        return not isinstance(value, bool)
    bounds = fields.INT_BOUNDS.get(COUNTS.get(key, ""), WHOLES.get(key))
    if bounds:
        return not fields.is_int(value) or not bounds[0] <= value <= bounds[1]
    return False


@EXAMPLES
@given(st.sampled_from(MODEL_BASES), st.data(), ODD)
def test_one_mutated_model_field_loads_soundly_or_is_named(tmp_path_factory, base, data, value):
    doc = _base(base)
    key = data.draw(st.sampled_from(sorted(doc)))
    doc[key] = value
    folder = tmp_path_factory.mktemp("m")
    path = _write(folder, "config.json" if base.suffix == ".json" else base.name, doc)
    for command in ("analyze", "kv"):
        result = _invoke(command, path, "-f", "json")
        if result.exit_code == 0:
            _finite_report(result)
            continue
        line = _one_error_line(result, path)
        finite = not isinstance(value, float) or math.isfinite(value)
        if finite and _wrong_type(key, value):  # refused for this field, and says so
            assert line.startswith(f"error: {path}: {key}: "), (key, value, line)
        elif finite:  # a named field, then a reason
            assert re.match(rf"error: {re.escape(path)}: [\w.\[\]]+: \S", line), line


SETTABLE = settable_fields()
SET_TEXT = st.sampled_from(["", "0", "1", "2", "8", "4k", "64", "1024", "1025", "1e12", "1.5", "-1", "true", "false",
                            "null", "maybe", "gated", "plain", "learned", "alibi", "layernorm", "x\x1by", "9" * 50,
                            "131072", "4096", "32g"])


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["llama2-7b", "mistral-7b", "deepseek-v2-lite", "gpt2", "mixtral-8x7b"]),
       st.sampled_from(sorted(SETTABLE)), SET_TEXT)
def test_one_set_loads_soundly_or_is_named(model, field, text):
    for command in ("analyze", "kv"):
        result = _invoke(command, model, "--set", f"{field}={text}", "-f", "json")
        if result.exit_code == 0:
            got, kind = _finite_report(result)["model"][field], SETTABLE[field]  # the value set is the value used
            if kind is str:
                assert got == text, (field, text, got)
            elif kind is bool:
                assert got is (text == "true"), (field, text, got)
            elif text == "null":
                assert got is None and field in OPTIONAL_COUNTS, (field, got)
            else:
                assert got == int(text.replace("k", "")) * (1024 if "k" in text else 1), (field, text, got)
            continue
        line = _one_error_line(result, "--set") if result.output.startswith("error: --set") else \
            _one_error_line(result, str(resolve_path("models", model)))
        assert re.match(r"error: [^:]+: [\w.]+: \S", line), line


HW_KEYS = [(None, "sm_count"), (None, "name"), (None, "aliases"), (None, "description"), (None, "vendor"),
           (None, "source"), (None, "sram_per_sm"), (None, "l2_cache"), (None, "interconnect"), (None, "tdp"),
           ("memory", "capacity"), ("memory", "bandwidth"), ("compute", "fp16"), ("compute", "fp32")]
HW_VALUES = st.one_of(ODD, st.sampled_from(["40 GiB", "1555 GB/s", "312 TFLOP/s", "0 B", "1e30 B", "5 W",
                                            "2 PiB", "1e-9 B/s", "9" * 30 + " TFLOP/s", "nan GB/s"]))


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(HW_KEYS), HW_VALUES)
def test_one_mutated_hardware_field_loads_soundly_or_is_named(tmp_path_factory, where, value):
    section, key = where
    path = _hardware(tmp_path_factory.mktemp("hw"), section, key, value)
    result = _invoke("analyze", "gpt2", "--gpu", path, "-f", "json")
    if result.exit_code == 0:
        _finite_report(result)
        if key == "sm_count":  # accepted: null, or a count within the bound
            assert value is None or (fields.is_int(value) and 1 <= value <= fields.MAX_SM_COUNT), value
        elif key in ("name", "aliases", "vendor"):
            assert value is None or isinstance(value, (str, list)), value
        return
    line = _one_error_line(result, path)
    if not isinstance(value, float) or math.isfinite(value):  # the field is named
        field = f"{section}.{key}" if section else key
        assert line.startswith(f"error: {path}: {field}"), (field, value, line)


def test_a_sound_mutation_loads_and_is_used(tmp_path):
    """Not everything is refused: a sound value in a mutated field loads, and is the value used."""
    ok = _mutated(tmp_path, LLAMA_JSON, {"num_hidden_layers": 7, "rope_theta": 1e4, "attention_bias": True})
    model = _finite_report(_invoke("kv", ok, "-f", "json"))["model"]
    assert model["num_hidden_layers"] == 7 and model["qkv_bias"] is True and model["o_bias"] is True
