"""Quantized checkpoints sized from their quantization_config, held to the sizes users know: the
safetensors totals of the releases (tests/data/configs/<slug>/SOURCE.md) or, where none is
published, the tensors each format stores, counted here layer by layer from its storage layout
(AutoAWQ's WQLinear_GEMM, transformers' fine-grained FP8)."""

import json
import math
import os

import pytest

from rooflint.analysis.inference import analyze
from rooflint.errors import SpecError
from rooflint.specs.catalog import load_model
from rooflint.workload import Workload

CONFIGS = os.path.join(os.path.dirname(__file__), "data", "configs")


def cfg(slug):
    return load_model(os.path.join(CONFIGS, slug))


def sized(slug, gpu="h100", **work):
    return analyze(cfg(slug), gpu, Workload(prompt=1024, **work))


def test_deepseek_v3_fp8_release():
    a = sized("deepseek-v3", "h200")
    # the release's tensors: 688,574,839,360 B (its 163 files: 688,586,727,753 B, ~11.9 MB of which
    # safetensors headers); rooflint sizes each 128x128 block's fp32 scale as 4/16384 B per element
    assert a.checkpoint_bytes == pytest.approx(688_574_839_360, rel=1e-6)
    assert a.checkpoint_bytes == pytest.approx(688_586_727_753, rel=2e-5)
    # not the 1.22 TiB of fp16 it was sized as when quantization_config was ignored
    assert a.weights_bytes < 0.51 * 2 * 671_026_419_200
    # served without its MTP module: the 61 layers' weights only
    assert a.weights_bytes < a.checkpoint_bytes - 11e9


def test_gpt_oss_120b_mxfp4_fits_one_80gb_gpu():
    a = sized("gpt-oss-120b", "h100")
    # model.safetensors.index.json total_size: experts in MXFP4 (e2m1 + e8m0 per 32), the rest bf16
    assert a.weights_bytes == 65_248_815_744
    assert a.fits  # what the release promises: one 80 GB GPU
    assert not sized("gpt-oss-120b", "h100", weight_dtype="bf16").fits  # 233.7 GB in bf16


def test_gpt_oss_20b_mxfp4():
    assert sized("gpt-oss-20b").weights_bytes == 13_761_264_768  # total_size of the release


def test_nvfp4_release():
    # nvidia/Llama-3.1-8B-Instruct-FP4: its files sum to 6,027,861,376 B, of which ~112 KB headers
    # and 2,048 B of per-tensor fp32 scales (weight_scale_2, input_scale) rooflint leaves out
    assert sized("llama-3.1-8b-instruct-fp4").weights_bytes == pytest.approx(6_027_861_376, rel=5e-5)


def _llama_like_linears(D, H, H_kv, d, F, L):
    """(in, out) of every decoder linear layer."""
    return [(D, H * d), (D, H_kv * d), (D, H_kv * d), (H * d, D), (D, F), (D, F), (F, D)] * L


def test_awq_int4_from_its_storage_layout():
    # AutoAWQ WQLinear_GEMM per linear K -> N: qweight int32 [K, N/8] (K N / 2 B), qzeros int32
    # [K/g, N/8] (int4 zeros), scales fp16 [K/g, N]; group g = 128. Qwen2.5-7B: q/k/v biases,
    # norms, embedding and lm_head stay fp16.
    D, H, H_kv, d, F, L, V, g = 3584, 28, 4, 128, 18944, 28, 152064, 128
    quantized = sum(k * n // 2 + (k // g) * n // 2 + (k // g) * n * 2 for k, n in _llama_like_linears(D, H, H_kv, d, F, L))
    rest = 2 * (2 * V * D + L * (2 * D + (H + 2 * H_kv) * d) + D)
    assert sized("qwen2.5-7b-instruct-awq").weights_bytes == quantized + rest


def test_fine_grained_fp8_from_its_storage_layout():
    # transformers FP8Linear: weight e4m3 [N, K] and weight_scale_inv fp32 [ceil(N/128), ceil(K/128)]
    D, H, H_kv, d, F, L, V = 4096, 32, 8, 128, 12288, 36, 151936
    quantized = sum(k * n + math.ceil(n / 128) * math.ceil(k / 128) * 4
                    for k, n in _llama_like_linears(D, H, H_kv, d, F, L))
    rest = 2 * (2 * V * D + L * (2 * D + 2 * d) + D)  # embedding, lm_head, norms, q/k norms in bf16
    assert sized("qwen3-8b-fp8").weights_bytes == quantized + rest


def test_each_weight_shows_its_format(cli):
    doc = cli.json("analyze", os.path.join(CONFIGS, "gpt-oss-120b"), "--gpu", "h100")
    ops = {o["name"]: o for o in doc["phases"]["decode"]["ops"]}
    assert ops["experts_gate_up@sliding"]["weight"] == "mxfp4+0.031"  # 4 bits and 1 B of scale per 32
    assert ops["q_proj@sliding"]["weight"] == "fp16"  # self_attn is in modules_to_not_convert
    assert ops["router@sliding"]["weight"] == "fp16"
    formats = doc["checkpoint"]["weight_formats"]
    assert formats["experts"]["scale_bytes_per_element"] == 1 / 32
    assert formats["attention"]["dtype"] == "fp16" and doc["checkpoint"]["quantization"] == "mxfp4"
    table = cli("analyze", os.path.join(CONFIGS, "gpt-oss-120b"), "--gpu", "h100").stdout
    assert "mxfp4+0.031" in table


def test_fp8_gemms_run_at_the_fp8_peak_where_the_chip_has_one():
    h100 = sized("deepseek-v3", "h200")
    assert {t.op.peak_key for t in h100.prefill.ops if t.op.name.startswith("experts_gate_up")} == {"fp8"}
    a100 = sized("qwen3-8b-fp8", "a100-80gb")  # no fp8 units: dequantized to fp16 GEMMs, and said so
    assert {t.op.peak_key for t in a100.prefill.ops if t.op.name.startswith("q_proj")} == {"fp16"}
    assert any("no fp8 peak" in n for n in a100.resolved.notes)


def test_a_command_line_dtype_overrides_the_checkpoint():
    base = sized("deepseek-v3", "h200")
    fp16 = sized("deepseek-v3", "h200", weight_dtype="fp16")
    # every parameter at 2 B: the model's 671,026,419,200
    assert fp16.weights_bytes == 2 * 671_026_419_200
    assert base.weights_bytes < 0.51 * fp16.weights_bytes


def test_weight_group_size_regroups_an_integer_checkpoint():
    g128 = sized("qwen2.5-7b-instruct-awq").weights_bytes
    g64 = sized("qwen2.5-7b-instruct-awq", weight_group_size=64).weights_bytes
    # halving the group doubles the scale (2 B) and zero (0.5 B) bytes of each quantized element
    linears = sum(k * n for k, n in _llama_like_linears(3584, 28, 4, 128, 18944, 28))
    assert g64 - g128 == pytest.approx(linears * 2.5 * (1 / 64 - 1 / 128))
    with pytest.raises(SpecError, match="groups of 32 elements by definition"):
        Workload_resolve("mxfp4", 64)


def Workload_resolve(dtype, group):
    from rooflint.workload import resolve
    return resolve(cfg("llama3-8b"), None, Workload(weight_dtype=dtype, weight_group_size=group))


def _write(tmp_path, qc, base="llama3-8b"):
    with open(os.path.join(CONFIGS, base, "config.json"), encoding="utf-8") as f:
        raw = json.load(f)
    raw["quantization_config"] = qc
    (tmp_path / "config.json").write_text(json.dumps(raw))
    return str(tmp_path)


LLAMA8B_LINEARS = sum(k * n for k, n in _llama_like_linears(4096, 32, 8, 128, 14336, 32))


@pytest.mark.parametrize("qc,per_element,lm_head_quantized", [
    # compressed-tensors FP8-dynamic (RedHatAI ...-FP8-dynamic): channel scales, lm_head ignored
    ({"quant_method": "compressed-tensors", "format": "float-quantized", "ignore": ["lm_head"],
      "config_groups": {"group_0": {"targets": ["Linear"], "weights": {"num_bits": 8, "type": "float",
                                                                      "strategy": "channel"},
                                    "input_activations": {"num_bits": 8, "type": "float", "dynamic": True}}}},
     1.0, False),
    # compressed-tensors W4A16 (pack-quantized): int4 with a 16-bit scale per 128, symmetric
    ({"quant_method": "compressed-tensors", "format": "pack-quantized", "ignore": ["re:.*lm_head"],
      "config_groups": {"group_0": {"targets": ["Linear"], "weights": {"num_bits": 4, "type": "int",
                                                                      "strategy": "group", "group_size": 128,
                                                                      "symmetric": True}}}},
     0.5 + 2 / 128, False),
    # compressed-tensors NVFP4 with no ignore list: its lm_head is a Linear too
    ({"quant_method": "compressed-tensors", "format": "nvfp4-pack-quantized",
      "config_groups": {"group_0": {"targets": ["Linear"], "weights": {"num_bits": 4, "type": "float",
                                                                      "strategy": "tensor_group", "group_size": 16},
                                    "input_activations": {"num_bits": 4, "type": "float"}}}},
     0.5 + 1 / 16, True),
    # GPTQ stores qzeros even when symmetric: scale 2 B + int4 zero 0.5 B per group of 128
    ({"quant_method": "gptq", "bits": 4, "group_size": 128, "sym": True, "desc_act": False}, 0.5 + 2.5 / 128, False),
])
def test_formats_by_config(tmp_path, qc, per_element, lm_head_quantized):
    a = analyze(load_model(_write(tmp_path, qc)), "h100", Workload(prompt=1024))
    V, D = 128_256, 4096
    unquantized = 2 * (V * D * (1 if lm_head_quantized else 2) + 32 * 2 * D + D)
    lm_head = V * D * per_element if lm_head_quantized else 0
    assert a.weights_bytes == pytest.approx(LLAMA8B_LINEARS * per_element + lm_head + unquantized, rel=1e-12)


@pytest.mark.parametrize("qc,field,words", [
    ({"quant_method": "bitsandbytes", "load_in_4bit": True}, "quantization_config.quant_method",
     "--weight-dtype int4 --weight-group-size 64"),
    ({"quant_method": "awesome"}, "quantization_config.quant_method", "not a format rooflint reads"),
    ({"quant_method": "fp8", "weight_block_size": [128]}, "quantization_config.weight_block_size", "two block sizes"),
    ({"quant_method": "awq", "bits": 3}, "quantization_config.bits", "3-bit awq is not modelled"),
    # an ignore list naming some layers' MLPs only: rooflint sizes a class in one format
    ({"quant_method": "awq", "bits": 4, "group_size": 128, "modules_to_not_convert": ["model.layers.3.mlp"]},
     "quantization_config.modules_to_not_convert", "leaves mlp of layers 3"),
    ({"quant_method": "compressed-tensors", "config_groups": {}}, "quantization_config.config_groups", "missing"),
])
def test_refused_formats_name_the_field(tmp_path, qc, field, words):
    with pytest.raises(SpecError) as err:
        load_model(_write(tmp_path, qc))
    assert err.value.field == field and words in err.value.message


def test_checkpoint_bytes_follow_the_files_not_the_serving_dtype():
    # OLMo-2-1124-7B is published in float32 (the Hub lists F32 tensors): 4 B per parameter
    olmo = sized("olmo-2-7b")
    assert olmo.checkpoint_bytes == 4 * 7_298_617_344
    assert olmo.weights_bytes == 2 * 7_298_617_344  # served in the activations' fp16
    # sizing DeepSeek-V3 in fp16 changes what is loaded, not what the release holds
    assert sized("deepseek-v3", "h200", weight_dtype="fp16").checkpoint_bytes == sized("deepseek-v3", "h200").checkpoint_bytes
