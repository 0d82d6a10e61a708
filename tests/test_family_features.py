"""What the new families bring beyond their counts: refusals that name what is not understood and
--as-family for a derivative, MLA's expand mode, a hybrid's recurrent state in decode, and a
multimodal checkpoint's vision tower reported apart."""

import json
import os

import pytest

from rooflint.analysis.inference import analyze
from rooflint.analysis.params import parameter_breakdown, text_parameter_count
from rooflint.errors import SpecError
from rooflint.specs.catalog import load_model
from rooflint.workload import Workload

CONFIGS = os.path.join(os.path.dirname(__file__), "data", "configs")


def _config(tmp_path, base, **edits):
    with open(os.path.join(CONFIGS, base, "config.json"), encoding="utf-8") as f:
        raw = json.load(f)
    raw.update(edits)
    (tmp_path / "config.json").write_text(json.dumps(raw))
    return str(tmp_path)


def test_an_unknown_family_is_refused_by_name_and_as_family_reads_it(tmp_path, cli):
    path = _config(tmp_path, "llama3-8b", model_type="my_llama_finetune")
    with pytest.raises(SpecError) as err:
        load_model(path)
    assert err.value.field == "model_type" and "--as-family FAMILY" in err.value.message
    assert "refusing to guess" not in err.value.message
    m = load_model(path, as_family="llama")
    assert m.model_type == "llama" and "read as llama (--as-family)" in m.derived
    doc = cli.json("analyze", path, "--as-family", "llama")
    assert doc["model"]["params"] == 8_030_261_248  # Meta-Llama-3-8B's count
    out = cli("analyze", path, "--as-family", "llama-ish", code=2).output.strip().splitlines()
    assert len(out) == 1 and "--as-family" in out[0] and "not a family rooflint maps" in out[0]


@pytest.mark.parametrize("base,edits,field,words", [
    # a plain-GQA family carrying one feature key: the feature is named, and who maps it
    ("llama3-8b", {"attention_chunk_size": 8192}, "attention_chunk_size", ["chunked local attention", "llama4_text"]),
    ("llama3-8b", {"partial_rotary_factor": 0.5}, "partial_rotary_factor", ["partial rotary", "phi3"]),
    ("mistral-7b-v0.1", {"vision_config": {"hidden_size": 1024}}, "vision_config", ["a vision tower"]),
    ("llama3-8b", {"linear_num_key_heads": 16}, "linear_num_key_heads", ["linear-attention", "qwen3_next"]),
    ("gemma2-2b", {"layer_types": ["linear_attention"] * 26}, "layer_types", ["unsupported layer type",
                                                                                "gemma2"]),
    ("llama3-8b", {"model_type": "nemotron_h"}, "model_type", ["not a family rooflint maps"]),
])
def test_refusals_name_the_feature(tmp_path, base, edits, field, words):
    with pytest.raises(SpecError) as err:
        load_model(_config(tmp_path, base, **edits))
    assert err.value.field == field, err.value
    for w in words:
        assert w in err.value.message, err.value.message


def test_mla_expand_reexpands_the_whole_cache_every_step():
    m = load_model("deepseek-v3")
    steps = {mode: analyze(m, "h200", Workload(prompt=1023, context=1024, mla_mode=mode))
             for mode in ("absorbed", "expand")}
    flops = {mode: sum(t.op.count * t.op.flops for t in a.decode.ops) for mode, a in steps.items()}
    # kv_b_proj over all 1,024 cached latents in each of the 61 layers: 2 C r_kv H (d_n + d_v)
    kv_b = sum(t.op.count * t.op.flops for t in steps["expand"].decode.ops if t.op.name.startswith("kv_b_proj"))
    assert kv_b == 61 * 2 * 1024 * 512 * 128 * (128 + 128)
    assert flops["expand"] == pytest.approx(2.17e12, rel=0.01) and flops["absorbed"] == pytest.approx(0.09e12, rel=0.05)
    # both cache the latent: 576 elements per layer and token
    assert steps["expand"].kv_bytes_per_token == steps["absorbed"].kv_bytes_per_token == 61 * 576 * 2


def test_a_hybrid_decode_step_reads_its_state():
    m = load_model(os.path.join(CONFIGS, "qwen3-next-80b-a3b"))
    per_layer_state = 32 * 128 * 128 * 4  # fp32 S of 32 value heads, read and written each step
    for batch in (1, 8):
        a = analyze(m, "h200", Workload(batch=batch, prompt=128, context=65536))
        rule = next(t.op for t in a.decode.ops if t.op.name.startswith("gated_delta_rule"))
        assert rule.count == 36
        assert rule.bytes_read >= batch * per_layer_state and rule.bytes_written >= batch * per_layer_state
        assert rule.flops == batch * 7 * 32 * 128 * 128  # 7 d_k d_v per value head and token
    # a linear-attention layer costs the same at any context; the 12 attention layers grow with it
    short, long_ = (analyze(m, "h200", Workload(prompt=128, context=c)) for c in (1024, 131072))
    lin = lambda a: sum(t.op.count * t.time_s for t in a.decode.ops if "@linear" in t.op.name)  # noqa: E731
    att = lambda a: sum(t.op.count * t.time_s for t in a.decode.ops if "@full" in t.op.name)  # noqa: E731
    assert lin(short) == pytest.approx(lin(long_), rel=1e-12) and att(long_) > 2 * att(short)


@pytest.mark.parametrize("slug,tower,projector", [
    ("gemma-3-27b", 416_866_032, 6_194_304),  # SigLIP So400m; Gemma3MultiModalProjector (transformers build)
    ("mistral-small-3.1-24b", 403_305_472, 35_652_608),  # Pixtral encoder; Mistral3MultiModalProjector
    ("llama-4-scout", 850_960_896, 20_971_520),  # Llama4VisionModel (+ pixel-shuffle adapter); projector
])
def test_the_vision_tower_is_counted_apart(slug, tower, projector, cli):
    m = load_model(os.path.join(CONFIGS, slug))
    assert parameter_breakdown(m)["vision"] == tower + projector
    doc = cli.json("analyze", os.path.join(CONFIGS, slug), "--gpu", "h200")
    assert doc["checkpoint"]["vision_params"] == tower + projector
    assert doc["model"]["params"] == text_parameter_count(m) + tower + projector
    # its weights are loaded (16-bit) but run no op of the text passes
    names = {o["name"] for o in doc["phases"]["decode"]["ops"]}
    assert not any("vision" in n or "patch" in n for n in names)
