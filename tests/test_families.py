"""Every model family rooflint maps, held to figures from outside rooflint: the published
parameter count of each config in tests/data/configs (the safetensors index or Hub count where
one is public, else the count transformers itself gives when it builds the model from the file:
`AutoModelForCausalLM.from_config` on the meta device, transformers 4.57.1 / 5.24), and the KV
cache (or recurrent state) per token counted from first principles here.

Sources for each count are in the fixture's SOURCE.md (tests/data/configs/<slug>/).
"""

import os

import pytest

from rooflint.analysis.kv_cache import kv_bytes, kv_bytes_per_token
from rooflint.analysis.params import active_parameter_count, mtp_parameter_count, parameter_count
from rooflint.specs.catalog import load_model

CONFIGS = os.path.join(os.path.dirname(__file__), "data", "configs")


def cfg(slug):
    return load_model(os.path.join(CONFIGS, slug))


def kv(layers, kv_heads, head_dim, bytes_=2):
    """K and V of one token: 2 x layers x KV heads x head_dim elements."""
    return 2 * layers * kv_heads * head_dim * bytes_


# slug: (published parameters, where from, KV bytes per token in bf16 by first principles)
PUBLISHED = {
    # safetensors index total_size / 2 (bf16) or the Hub's parameter count: exact
    "llama3-8b": (8_030_261_248, "Hub safetensors count", kv(32, 8, 128)),
    "mistral-7b-v0.1": (7_241_732_096, "Hub safetensors count", kv(32, 8, 128)),
    "qwen2.5-7b": (7_615_616_512, "Hub safetensors count", kv(28, 4, 128)),
    "qwen3-4b": (4_022_468_096, "Hub safetensors count", kv(36, 8, 128)),
    "gemma-2b": (2_506_172_416, "Hub safetensors count", kv(18, 1, 256)),  # MQA
    "gemma2-2b": (2_614_341_888, "Hub safetensors count", kv(26, 4, 256)),
    "gpt2": (124_439_808, "Hub safetensors count", kv(12, 12, 64)),
    "falcon-7b": (6_921_720_704, "Hub safetensors count", kv(32, 1, 64)),  # multi-query
    "deepseek-v2-lite": (15_706_484_224, "Hub safetensors count", 27 * (512 + 64) * 2),  # MLA latent + RoPE key
    "phi-3-mini-4k": (3_821_079_552, "total_size 7,642,159,104 B / 2", kv(32, 32, 96)),
    "phi-4": (14_659_507_200, "total_size 29,319,014,400 B / 2", kv(40, 10, 128)),
    "phi-4-mini": (3_836_021_760, "Hub parameter count", kv(32, 8, 128)),
    "olmo-2-7b": (7_298_617_344, "Hub safetensors count (an F32 checkpoint)", kv(32, 32, 128)),
    "mistral-small-3.1-24b": (24_011_361_280, "keras-hub preset; Mistral-Small-3.2 Hub total", kv(40, 8, 128)),
    "gemma-3-12b": (12_187_325_040, "Hub safetensors count", kv(48, 8, 256)),
    "gemma-3-27b": (27_432_406_640, "Hub count; medgemma-27b total_size / 2", kv(62, 16, 128)),
    "gpt-oss-20b": (20_914_757_184, "transformers build; model card 20.91B", kv(24, 8, 64)),
    "gpt-oss-120b": (116_829_156_672, "transformers build; model card 116.83B", kv(36, 8, 64)),
    "deepseek-v3": (671_026_419_200, "a public exact count of the 671B; the checkpoint dump", 61 * (512 + 64) * 2),
    "kimi-k2": (1_026_408_232_448, "the checkpoint dump's weight elements (scales apart)", 61 * (512 + 64) * 2),
    "qwen3-next-80b-a3b": (79_674_391_296, "the checkpoint dump's 81,324,862,720 less its 1,650,471,424 mtp.*",
                           kv(12, 2, 256)),  # only the 12 full-attention layers cache K and V
    # MoE cards round (30.5B, 235B, 109B, 106B, 355B): the count transformers builds from the file
    "qwen3-30b-a3b": (30_532_122_624, "transformers build; card 30.5B", kv(48, 4, 128)),
    "qwen3-235b-a22b": (235_093_634_560, "transformers build; card 235B", kv(94, 4, 128)),
    "llama-4-scout": (108_641_793_536, "transformers build (text 107.77B + vision); card 109B", kv(48, 8, 128)),
    # transformers keeps e_score_correction_bias as a buffer; the checkpoint stores it: one per
    # routed expert of each MoE layer (45 x 128 for Air, 89 x 160 for GLM-4.5)
    "glm-4.5-air": (106_852_245_504 + 45 * 128, "transformers build + stored bias buffers; card 106B",
                    kv(46, 8, 128)),
    "glm-4.5": (352_797_814_784 + 89 * 160, "transformers build + stored bias buffers; card 355B", kv(92, 8, 128)),
    # quantized releases of the base models above count the same parameters
    "qwen2.5-7b-instruct-awq": (7_615_616_512, "Qwen2.5-7B's count", kv(28, 4, 128)),
    "llama-3.1-8b-instruct-awq-int4": (8_030_261_248, "Llama-3.1-8B's count", kv(32, 8, 128)),
    "llama-3.1-8b-instruct-fp4": (8_030_261_248, "Llama-3.1-8B's count", kv(32, 8, 128)),
    "qwen3-8b-fp8": (8_190_735_360, "Qwen3-8B's Hub count", kv(36, 8, 128)),
}


def test_every_fixture_is_pinned():
    on_disk = {d for d in os.listdir(CONFIGS) if os.path.isdir(os.path.join(CONFIGS, d))}
    assert on_disk == set(PUBLISHED), on_disk ^ set(PUBLISHED)
    assert len(on_disk) >= 20
    for slug in on_disk:  # each says where it came from
        assert os.path.exists(os.path.join(CONFIGS, slug, "SOURCE.md")) or slug in README_FIXTURES


README_FIXTURES = {"llama3-8b", "mistral-7b-v0.1", "qwen2.5-7b", "qwen3-4b", "gemma-2b", "gemma2-2b", "gpt2",
                   "falcon-7b", "deepseek-v2-lite"}  # described in tests/data/configs/README.md


@pytest.mark.parametrize("slug", sorted(PUBLISHED))
def test_parameter_count_is_the_published_one(slug):
    published, _, _ = PUBLISHED[slug]
    assert parameter_count(cfg(slug)) == published


@pytest.mark.parametrize("slug", sorted(PUBLISHED))
def test_kv_cache_per_token_from_first_principles(slug):
    assert kv_bytes_per_token(cfg(slug), 2) == PUBLISHED[slug][2]


# ---- per-sequence caches where layers differ (windows, chunks, recurrent state)

def test_gpt_oss_alternates_a_128_window_with_full_layers():
    m = cfg("gpt-oss-120b")  # 18 sliding (128) + 18 full layers; one layer-token is 2 x 8 x 64 x 2 B
    per = 2 * 8 * 64 * 2
    assert kv_bytes(m, 2, context=8192) == 18 * 8192 * per + 18 * 128 * per
    assert m.layer_types[:2] == ("sliding_attention", "full_attention") and m.sliding_window == 128


def test_llama4_chunked_layers_hold_one_chunk_and_the_nope_layers_everything():
    m = cfg("llama-4-scout")  # Llama4TextConfig: no_rope_layers[i] = (i + 1) % 4 != 0; chunk 8192
    per = 2 * 8 * 128 * 2
    assert m.no_rope_layers == tuple(range(3, 48, 4))
    assert [m.layer_kind(i) for i in range(4)] == ["chunked", "chunked", "chunked", "full"]
    assert kv_bytes(m, 2, context=32768) == 12 * 32768 * per + 36 * 8192 * per


def test_gemma3_five_local_layers_to_one_global():
    m = cfg("gemma-3-27b")  # 62 layers: every sixth global (10), the rest a 1024 window; head_dim 128
    per = 2 * 16 * 128 * 2
    assert m.sliding_window == 1024 and m.layer_types.count("full_attention") == 10
    assert kv_bytes(m, 2, context=32768) == 10 * 32768 * per + 52 * 1024 * per


def test_gemma3_text_config_defaults_apply():
    # the published 12B file leaves head_dim and the activation to Gemma3TextConfig's defaults
    m = cfg("gemma-3-12b")
    assert (m.head_dim, m.hidden_act, m.vocab_size) == (256, "gelu_pytorch_tanh", 262_208)
    assert m.head_dim != m.hidden_size // m.num_attention_heads  # 3840 / 16 = 240 would be wrong


def test_qwen3_next_state_is_constant_in_the_context():
    m = cfg("qwen3-next-80b-a3b")
    # per Gated DeltaNet layer (36 of 48): conv state conv_dim x K = (2*16*128 + 32*128) x 4 in bf16,
    # recurrent state 32 heads x 128 x 128 in fp32 (transformers' cache; cache_utils LinearAttentionLayer)
    state = 36 * ((2 * 16 * 128 + 32 * 128) * 4 * 2 + 32 * 128 * 128 * 4)
    assert state == 77_856_768
    for context in (1, 4096, 262_144):
        assert kv_bytes(m, 2, context=context) == state + context * kv(12, 2, 256)


def test_deepseek_v3_mtp_counted_apart():
    m = cfg("deepseek-v3")
    # DeepSeek's README_WEIGHTS: 671B main, 11.5B unique MTP (14B with the embedding and head copies)
    assert mtp_parameter_count(m) == 11_610_068_224
    # the checkpoint dump: 684,489,845,504 weight elements = main + MTP + its stored embed/head copies
    assert parameter_count(m) + mtp_parameter_count(m) + 2 * 129_280 * 7168 == 684_489_845_504


@pytest.mark.parametrize("slug,active", [
    ("qwen3-30b-a3b", 3_353_032_704),  # card 3.3B, embedding and head included
    ("gpt-oss-120b", 5_132_849_472 + 201_088 * 2880),  # card 5.13B leaves out the input embedding
    ("gpt-oss-20b", 3_608_307_264 + 201_088 * 2880),  # card 3.61B likewise
    ("deepseek-v3", 37_552_297_472),  # README: 36.6B without the 0.93B embedding
    ("llama-4-scout", 17_172_894_720),  # card 17B active
])
def test_active_parameters(slug, active):
    assert active_parameter_count(cfg(slug)) == active
