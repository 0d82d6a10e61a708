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


# ---- found in review: each could silently size the wrong thing

def test_plan_context_limit_leaves_room_for_the_state(cli):
    # at plan's longest context the batch's KV and state fit the budget; one token more does not
    from rooflint.analysis.kv_cache import kv_bytes
    from rooflint.analysis.plan import plan, shard
    m = load_model(os.path.join(CONFIGS, "qwen3-next-80b-a3b"))
    p = plan(m, "h200", Workload(batch=64, context=32768), tp=2)
    budget, part, c = p.value("plan.kv_budget_bytes"), shard(m, 2), p.max_context
    assert kv_bytes(part, 2, context=c, batch=64) <= budget < kv_bytes(part, 2, context=c + 1, batch=64)


def test_tensor_parallel_splits_linear_attention_heads_and_the_shared_expert():
    from rooflint.analysis.plan import shard
    m = load_model(os.path.join(CONFIGS, "qwen3-next-80b-a3b"))
    half = shard(m, 2)  # vLLM splits the value and key heads, and the shared expert's width
    assert (half.linear_num_value_heads, half.linear_num_key_heads, half.shared_expert_intermediate_size) == (16, 8, 256)
    state = lambda x: analyze(x, "h200", Workload(prompt=64)).kv_bytes_per_sequence - 64 * 0  # noqa: E731
    assert state(half) < 0.51 * state(m)


def test_mistral3_projector_follows_the_wrapper(tmp_path):
    base = load_model(os.path.join(CONFIGS, "mistral-small-3.1-24b"))
    biased = load_model(_config(tmp_path, "mistral-small-3.1-24b", multimodal_projector_bias=True))
    # Mistral3MultiModalProjector: linear_1 (1024 -> 5120) and linear_2 (5120 -> 5120) gain biases
    assert biased.vision_parameters - base.vision_parameters == 2 * 5120


@pytest.mark.parametrize("base,qc,words", [
    # one module of a class left out: refused, not the whole class unquantized
    ("qwen3-8b-fp8", {"quant_method": "fp8", "weight_block_size": [128, 128], "modules_to_not_convert": ["o_proj"]},
     "some of the attention modules of layer 0"),
    ("qwen3-8b-fp8", {"quant_method": "compressed-tensors", "config_groups": {"g": {"weights": {
        "num_bits": 8, "type": "float", "strategy": "block", "block_structure": ["a", "b"]}}}}, "two block sizes"),
    ("qwen3-8b-fp8", {"quant_method": ["fp8"]}, "expected a format name"),
    ("qwen3-8b-fp8", {"quant_method": "compressed-tensors", "ignore": ["re:(unclosed"], "config_groups": {"g": {
        "weights": {"num_bits": 8, "type": "float"}}}}, "not a regular expression"),
])
def test_malformed_quantization_is_refused(tmp_path, base, qc, words):
    with pytest.raises(SpecError) as err:
        load_model(_config(tmp_path, base, quantization_config=qc))
    assert words in err.value.message


def test_ignore_lists_name_modules_the_way_each_family_does(tmp_path):
    # Qwen3-Next's attention of the Gated DeltaNet layers is linear_attn.*, its full layers self_attn.*
    ignore = [f"model.layers.{i}.linear_attn" for i in range(48)] + [f"model.layers.{i}.self_attn" for i in range(48)]
    qc = {"quant_method": "compressed-tensors", "ignore": ["lm_head", *ignore], "config_groups": {"g": {
        "weights": {"num_bits": 8, "type": "float", "strategy": "channel"}}}}
    m = load_model(_config(tmp_path, "qwen3-next-80b-a3b", quantization_config=qc))
    assert m.quantization.format("attention") is None and m.quantization.format("experts").dtype == "fp8"
    # a wrapper's modules sit under language_model (compressed-tensors matches names exactly)
    qc = {"quant_method": "compressed-tensors", "ignore": ["language_model.lm_head"], "config_groups": {"g": {
        "weights": {"num_bits": 8, "type": "float", "strategy": "channel"}}}}
    m = load_model(_config(tmp_path, "mistral-small-3.1-24b", quantization_config=qc))
    assert m.quantization.format("lm_head") is None and m.quantization.format("attention").dtype == "fp8"


def test_a_checkpoints_fp8_kv_cache_is_the_default():
    # nvidia's FP4 release was calibrated with kv_cache_quant_algo FP8: 1 B per cached element
    a = analyze(load_model(os.path.join(CONFIGS, "llama-3.1-8b-instruct-fp4")), "b200", Workload(prompt=64))
    assert a.kv_bytes_per_token == 2 * 32 * 8 * 128 * 1
    assert analyze(a.model, "b200", Workload(prompt=64, kv_dtype="fp16")).kv_bytes_per_token == 2 * 32 * 8 * 128 * 2


@pytest.mark.parametrize("base,dropped,check", [
    # the configuration classes' defaults apply to fields a file leaves out
    ("gpt-oss-20b", ("sliding_window", "layer_types"), lambda m: m.sliding_window == 128 and m.layer_types[:2] == (
        "sliding_attention", "full_attention")),
    ("qwen3-30b-a3b", ("num_experts",), lambda m: m.num_experts == 128),
    ("qwen3-next-80b-a3b", ("head_dim",), lambda m: m.head_dim == 256),
    ("glm-4.5-air", ("partial_rotary_factor",), lambda m: m.rotary_dim == 64),
])
def test_family_defaults(tmp_path, base, dropped, check):
    with open(os.path.join(CONFIGS, base, "config.json"), encoding="utf-8") as f:
        raw = json.load(f)
    for key in dropped:
        raw.pop(key, None)
    (tmp_path / "config.json").write_text(json.dumps(raw))
    assert check(load_model(str(tmp_path)))


def test_chunked_layers_are_named_as_such(cli):
    doc = cli.json("kv", os.path.join(CONFIGS, "llama-4-scout"), "--context", "32k")
    assert doc["rows"][0]["cached_tokens"] == {"chunked": 8192, "full": 32768}


def test_kv_and_paged_print_the_state(cli):
    # 36 Gated DeltaNet layers x (8192 x 4 bf16 conv + 32 x 128 x 128 fp32) = 77,856,768 B = 74.25 MiB
    path = os.path.join(CONFIGS, "qwen3-next-80b-a3b")
    kv = cli("kv", path, "--context", "4k").stdout
    assert "recurrent state per sequence (any context)  74.25 MiB" in kv and "12 attention, 36 linear" in kv
    paged = cli("paged", path, "--lengths", "100,5000").stdout
    assert "keep 74.25 MiB of state per sequence outside the blocks" in paged
