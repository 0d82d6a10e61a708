"""Shipped specs load and are plausible; HF config.json files map per family."""

import os
from pathlib import Path

import pytest
from conftest import DATA

from rooflint import SpecError, load_hardware, load_model
from rooflint.inputs import read_mapping
from rooflint.specs.catalog import builtin_names, data_dirs
from rooflint.units import parse_quantity

ROOT = Path(__file__).resolve().parents[1]
HF = os.path.join(DATA, "configs")


@pytest.mark.parametrize("path", sorted((ROOT / "hardware").glob("*.yaml")), ids=lambda p: p.stem)
def test_hardware_files(path):
    hw = load_hardware(str(path))
    assert hw.name == path.stem
    assert len(hw.source.split()) >= 5, "each profile says where its figures come from"
    assert 1e11 <= hw.bandwidth_bytes_per_s <= 2e13
    assert 8 * 2**30 <= hw.capacity_bytes <= 512 * 2**30
    assert "fp32" in hw.peak_flop_per_s, "elementwise ops are held against the fp32 vector peak"
    for key, peak in hw.peak_flop_per_s.items():
        assert 1e12 <= peak <= 1e17, key
    if "fp16" in hw.peak_flop_per_s:  # tensor units are faster than the vector unit
        assert hw.peak_flop_per_s["fp16"] > hw.peak_flop_per_s["fp32"]


@pytest.mark.parametrize("name", ["a100", "A100", "h100", "a100-40gb", "4090", "h200"])
def test_aliases(name):
    assert load_hardware(name).name in builtin_names("hardware")


@pytest.mark.parametrize("path", sorted((ROOT / "models").glob("*.yaml")), ids=lambda p: p.stem)
def test_model_files(path):
    m = load_model(str(path))
    assert m.name == path.stem
    assert m.source.startswith("https://huggingface.co/")


def test_required_builtins():
    assert {"a100-40gb", "a100-80gb", "h100-sxm", "h100-pcie", "h200", "l4", "rtx-4090", "mi300x"} <= set(builtin_names("hardware"))
    assert {"llama2-7b", "llama2-13b", "llama2-70b", "llama3-8b", "llama3-70b", "mistral-7b",
            "qwen2.5-7b", "gpt2", "falcon-7b"} <= set(builtin_names("models"))


def test_a100_figures():
    hw = load_hardware("a100")
    assert hw.peak("fp16") == 312e12 and hw.bandwidth_bytes_per_s == 1555e9
    assert hw.capacity_bytes == 40 * 2**30


def test_rooflint_path_wins(tmp_path, monkeypatch):
    (tmp_path / "hardware").mkdir()
    (tmp_path / "hardware" / "toy.yaml").write_text(
        "name: toy\nmemory: {capacity: 1 GiB, bandwidth: 1 TB/s}\ncompute: {fp16: 100 TFLOP/s, fp32: 10 TFLOP/s}\n")
    monkeypatch.setenv("ROOFLINT_PATH", str(tmp_path))
    from rooflint.specs import catalog
    catalog._index.cache_clear()
    try:
        assert data_dirs("hardware")[0] == tmp_path / "hardware"
        assert load_hardware("toy").ridge_point("fp16") == 100  # 100 TFLOP/s / 1 TB/s
    finally:
        catalog._index.cache_clear()


# ---- Hugging Face config.json, one per family (fixtures in tests/data/configs, see its README)

@pytest.mark.parametrize("folder,expect", [
    ("llama3-8b", dict(num_hidden_layers=32, num_key_value_heads=8, head_dim=128, mlp="gated", tie_word_embeddings=False)),
    ("mistral-7b-v0.1", dict(num_key_value_heads=8, sliding_window=4096, intermediate_size=14336)),
    ("qwen2.5-7b", dict(num_key_value_heads=4, qkv_bias=True, o_bias=False, sliding_window=None)),
    # explicit head_dim 128 wins over hidden/heads = 2560/32 = 80
    ("qwen3-4b", dict(head_dim=128, hidden_size=2560, qk_norm=True, tie_word_embeddings=True)),
    ("gemma-2b", dict(head_dim=256, num_key_value_heads=1, tie_word_embeddings=True)),
    ("gpt2", dict(num_hidden_layers=12, intermediate_size=3072, mlp="plain", norm="layernorm",
                  position_embedding="learned", qkv_bias=True)),
    ("falcon-7b", dict(num_key_value_heads=1, head_dim=64, intermediate_size=18176, norms_per_layer=1)),
])
def test_hf_configs(folder, expect):
    m = load_model(os.path.join(HF, folder))  # a folder holding config.json
    for key, value in expect.items():
        assert getattr(m, key) == value, key


def test_hf_head_dim_derivation_is_recorded():
    m = load_model(os.path.join(HF, "llama3-8b", "config.json"))
    assert m.head_dim == 4096 // 32 and m.derived
    assert not load_model(os.path.join(HF, "qwen3-4b")).derived


def test_kv_heads_default_to_heads(tmp_path):
    cfg = tmp_path / "config.json"
    cfg.write_text('{"model_type": "llama", "num_hidden_layers": 2, "hidden_size": 64, '
                   '"num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100}')
    assert load_model(str(cfg)).num_key_value_heads == 4


def test_mla_moe_and_interleaved_configs():
    ds = load_model(os.path.join(HF, "deepseek-v2-lite"))
    assert (ds.kv_lora_rank, ds.qk_rope_head_dim, ds.num_experts, ds.num_experts_per_tok) == (512, 64, 64, 6)
    assert (ds.num_shared_experts, ds.first_dense_layers) == (2, 1)
    g2 = load_model(os.path.join(HF, "gemma2-2b"))
    assert g2.layer_types[:2] == ("sliding_attention", "full_attention") and g2.sliding_window == 4096


def test_fixture_files_are_json():
    for folder in Path(HF).iterdir():
        if folder.is_dir():
            assert read_mapping(folder / "config.json")["model_type"]


def test_overrides():
    m = load_model("llama2-7b", {"num_key_value_heads": "8", "sliding_window": "4k"})
    assert (m.num_key_value_heads, m.sliding_window) == (8, 4096)
    with pytest.raises(SpecError, match="did you mean 'num_key_value_heads'"):
        load_model("llama2-7b", {"num_key_value_head": "8"})


def test_units_strict():
    assert parse_quantity("3.35 TB/s", "bytes_per_s") == 3.35e12
    assert parse_quantity("624 TOP/s", "flop_per_s") == 624e12
    for bad, dim in (("3.35", "bytes_per_s"), ("312 TB/s", "flop_per_s"), ("1555 GiB/s", "bytes_per_s"),
                     ("40 GiB/s", "bytes"), (40, "bytes")):
        with pytest.raises(ValueError):
            parse_quantity(bad, dim)


@pytest.mark.parametrize("key,value", [("kv_lora_rank", 512), ("num_local_experts", 8), ("is_encoder_decoder", True)])
def test_unknown_attention_features_are_refused(tmp_path, key, value):
    import json
    cfg = {"model_type": "llama", "num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 4,
           "intermediate_size": 128, "vocab_size": 100, key: value}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(SpecError) as err:
        load_model(str(tmp_path))
    # the refusal names the field and the feature, and which families rooflint does map it for
    assert err.value.field == key and "not modelled for model_type llama" in err.value.message
    assert ("rooflint maps it for deepseek_v2" in err.value.message if key == "kv_lora_rank" else
            "mixtral" in err.value.message if key == "num_local_experts" else "no family yet" in err.value.message)


@pytest.mark.parametrize("types,words", [(["linear_attention", "full_attention"], "unsupported layer type"),
                                         (["full_attention"], "1 entries for 2 layers")])
def test_bad_layer_types(tmp_path, types, words):
    import json
    cfg = {"model_type": "llama", "num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 4,
           "intermediate_size": 128, "vocab_size": 100, "layer_types": types}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(SpecError, match=words):
        load_model(str(tmp_path))
