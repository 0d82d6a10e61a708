"""The ten contradictions of the "one figure, one definition" issue, each pinned to a figure worked
out here from first principles (model configs, the papers' definitions), not to rooflint's output."""

import json
import os
import re
from pathlib import Path

import pytest
from conftest import DATA

from rooflint import Workload, analyze, load_hardware, load_model
from rooflint.analysis.params import parameter_breakdown

GIB, MIB = 2**30, 2**20
README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def _terms(doc):
    return {e["key"]: e for e in doc["explanation"]}


def test_1_mla_kv_explained_with_the_latent(cli):
    # DeepSeek-V2-Lite caches the latent: 27 layers x (kv_lora_rank 512 + rope 64) x 2 B = 31,104 B = 30.38 KiB
    doc = cli.json("kv", "deepseek-v2-lite", "--explain")
    per_token = _terms(doc)["kv_cache_bytes_per_token"]
    assert doc["kv_cache_bytes_per_token"] == per_token["value"] == 27 * 576 * 2 == 31_104
    assert per_token["expr"] == "L*(r_kv + d_r)*b_kv"  # not the MHA 2*L*H_kv*d*b_kv (324 KiB)
    text = cli("kv", "deepseek-v2-lite", "--explain").stdout
    assert "kv_cache_bytes_per_token = L*(r_kv + d_r)*b_kv = 27*(512 + 64)*2 = 30.38 KiB" in text


def test_2_scores_with_a_prefix_are_prompt_by_prompt_plus_prefix(cli):
    # S and P of one layer: 2 x B x H x S_q x S_kv x 2 B = 2*1*32*1024*(1024 + 1024)*2 = 256 MiB
    doc = cli.json("analyze", "llama2-7b", "--attention", "eager", "--prompt", "1024", "--prefix", "1024", "--explain")
    sp = _terms(doc)["memory.attention_scores_bytes_per_layer"]
    assert doc["memory"]["attention_scores_bytes_per_layer"] == sp["value"] == 2 * 32 * 1024 * 2048 * 2 == 256 * MIB
    assert sp["bindings"]["S_q"] == 1024 and sp["bindings"]["S_kv"] == 2048


def test_3_int4_kv_scales_counted_by_every_command(cli):
    # int4: 0.5 B per element + one fp16 scale per 64 elements = 0.53125 B; llama3-8b has 2 x 32 x 8 x 128
    # = 65,536 elements per token: 34,816 B (32,768 without the scales)
    per_token = 2 * 32 * 8 * 128 * (0.5 + 2 / 64)
    assert per_token == 34_816
    assert cli.json("kv", "llama3-8b", "--kv-dtype", "int4")["kv_cache_bytes_per_token"] == per_token
    assert cli.json("paged", "llama3-8b", "--kv-dtype", "int4", "--lengths", "100")["kv_cache_bytes_per_token"] == per_token
    analyze_doc = cli.json("analyze", "llama3-8b", "--kv-dtype", "int4", "--context", "4096")
    assert analyze_doc["memory"]["kv_cache_bytes_per_token"] == per_token
    sweep = cli.json("sweep", "-m", "llama3-8b", "-g", "h100", "-b", "1", "-c", "4096", "--kv-dtype", "int4",
                     "--attention", "flash")
    assert sweep["points"][0]["kv_bytes"] == per_token * 4096


def test_4_gemma2_kv_per_layer_group(cli):
    # Gemma 2 2B: 13 sliding layers (window 4096) and 13 global ones, 4 KV heads of 256, fp16:
    # 13*2*4*256*2*4096 + 13*2*4*256*2*8192 = 624 MiB at a context of 8192
    path = os.path.join(DATA, "configs", "gemma2-2b")
    doc = cli.json("kv", path, "--context", "8192", "--explain")
    row = doc["rows"][0]
    assert row["cached_tokens"] == {"sliding": 4096, "full": 8192}
    assert row["kv_cache_bytes_per_sequence"] == 13 * 2 * 4 * 256 * 2 * (4096 + 8192) == 624 * MIB
    terms = _terms(doc)
    assert terms["rows[0].kv_cache_bytes_per_sequence"]["value"] == 624 * MIB
    assert terms["rows[0].cached_tokens.sliding"]["value"] == 4096
    assert "cached tokens (sliding)" in cli("kv", path, "--context", "8192").stdout


def test_5_one_meaning_of_fits(cli, tmp_path):
    """plan, check and sweep agree batch by batch with the rule written out here: weights + KV +
    workspace <= 0.9 x 80 GiB, the workspace being flash prefill's largest op of a 2048-token chunk,
    act_mul: reads gate and up and writes their product, 3 x 2048 x 14336 x 2 B."""
    weights = sum(parameter_breakdown(load_model("llama3-8b")).values()) * 2
    kv = 2 * 32 * 8 * 128 * 2 * 4096  # per sequence at 4k: 512 MiB
    workspace = 3 * 2048 * 14336 * 2
    usable = 0.9 * 80 * GIB
    expected = {b: weights + b * kv + workspace <= usable for b in range(105, 131)}
    assert set(expected.values()) == {True, False}  # the boundary lies inside the range
    sweep = cli.json("sweep", "-m", "llama3-8b", "-g", "h100", "-b", ",".join(map(str, expected)), "-c", "4096",
                     "--kv-dtype", "fp16", "--attention", "flash")
    for point in sweep["points"]:
        assert point["fits"] == expected[point["batch"]], point
    for b, fits in expected.items():
        doc = cli.json("plan", "llama3-8b", "--gpu", "h100", "--context", "4096", "--batch", str(b))
        assert doc["memory"]["fits"] == fits, b
        assert doc["memory"]["workspace_bytes"] == workspace
    budget = tmp_path / "b.yaml"
    budget.write_text("cases:\n" + "".join(
        f"  - {{name: b{b}, model: llama3-8b, gpu: h100, settings: {{batch: {b}, context: 4096}}, limits: {{fits: true}}}}\n"
        for b in expected))
    checks = cli.json("check", str(budget), code=1)["checks"]
    assert [c["result"] == "pass" for c in checks] == list(expected.values())


def test_6_library_and_cli_share_the_defaults(cli):
    # gpt2 has 1024 positions: the default prompt is min(4096, 1024) = 1024 in both
    a = analyze(load_model("gpt2"), load_hardware("h100"))
    doc = cli.json("analyze", "gpt2")
    assert a.resolved.prompt == doc["settings"]["prompt"] == 1024
    assert a.tpot_s == doc["totals"]["tpot_s"] and a.ttft_s == doc["totals"]["ttft_s"]
    assert doc["hardware"]["name"] == a.hardware.name == "h100-sxm"  # one default GPU
    assert doc["settings"]["attention"] == a.resolved.attention == "flash"  # one default kernel


def test_7_plan_ttft_is_the_whole_prompt(cli):
    """32k tokens prefilled in 16 chunks of 2048, chunk j after a cached prefix of 2048*j, summed
    by hand here, plus one all-reduce pair per layer and chunk; one 32k chunk is one prefill."""
    h100, shard_doc = load_hardware("h100"), cli.json("plan", "llama3-70b", "--gpu", "h100", "--tp", "2", "--context", "32k")
    from rooflint.analysis.plan import shard

    part = shard(load_model("llama3-70b"), 2)
    ring = 2 * 80 * 2 * (2 - 1) / 2 * 2048 * 8192 * 2 / 900e9  # 2 per layer x 2(N-1)/N x T*D*b_a / link
    chunks = sum(analyze(part, h100, Workload(prompt=2048, prefix=2048 * j, context=32768)).ttft_s for j in range(16))
    assert shard_doc["plan"]["ttft_s"] == pytest.approx(chunks + 16 * ring, rel=1e-12)
    assert shard_doc["plan"]["chunks"] == 16
    full = shard_doc["plan"]["prefill_chunks"]  # 32768 = 16 x 2048: all 16 are full chunks, j = 0..15
    assert (full["count"], full["first"], full["last"]) == (16, 0, 15)
    # 4096 = 4 x 1000 + 96: four full chunks j = 0..3 and a last one of 96; a chunk past the prompt
    # leaves no full chunk at all (the prompt is the shorter last one), said as null bounds, not 0..-1
    four = cli.json("plan", "llama2-7b", "--chunk", "1000")["plan"]
    assert four["chunks"] == 5 and (four["prefill_chunks"]["count"], four["prefill_chunks"]["last"]) == (4, 3)
    none = cli.json("plan", "llama2-7b", "--chunk", "32k")["plan"]
    assert none["chunks"] == 1 and none["prefill_chunks"] == {"count": 0, "first": None, "last": None, "time_s": 0,
                                                               "time_forecast_s": 0, "ops": {}}
    one = cli.json("plan", "llama3-70b", "--gpu", "h100", "--tp", "2", "--context", "32k", "--chunk", "32k")
    whole = analyze(part, h100, Workload(prompt=32768)).ttft_s + 16 * ring
    assert one["plan"]["ttft_s"] == pytest.approx(whole, rel=1e-12)
    # the 3.53 s charged every flash tile re-load to HBM; the bound counts compulsory traffic
    assert 3.2 < one["plan"]["ttft_s"] < 3.4
    assert "32,768-token prompt in 16 chunks of 2048" in cli("plan", "llama3-70b", "--gpu", "h100", "--tp", "2",
                                                               "--context", "32k").stdout


def test_8_weight_quantization_leaves_embedding_and_lm_head_16_bit(cli):
    # llama3-8b int4: linear weights 0.5 B + fp16 scale per 128 = 0.515625 B; the 128256 x 4096 embedding
    # and lm_head stay 2 B, as do the norms
    m = load_model("llama3-8b")
    parts = parameter_breakdown(m)
    linear = parts["attention"] + parts["mlp"]
    others = parts["embedding"] + parts["lm_head"] + parts["layer_norms"] + parts["final_norm"]
    doc = cli.json("analyze", "llama3-8b", "--weight-dtype", "int4", "--context", "1")
    assert doc["memory"]["weights_bytes"] == linear * (0.5 + 2 / 128) + others * 2
    lm = next(o for o in doc["phases"]["decode"]["ops"] if o["name"] == "lm_head")
    assert lm["bytes_read"] == 4096 * 128256 * 2 + 1 * 4096 * 2
    # a decode step reads at least every linear weight once and the lm_head: TPOT >= those bytes / BW
    floor = (linear * (0.5 + 2 / 128) + 4096 * 128256 * 2) / 3.35e12
    assert doc["totals"]["tpot_s"] >= floor
    everything = cli.json("analyze", "llama3-8b", "--weight-dtype", "int4", "--quantize", "all", "--context", "1")
    assert everything["memory"]["weights_bytes"] == (linear + others) * (0.5 + 2 / 128)
    # quantizing everything saves per step (2 - 0.515625) B on each element of the lm_head (4096 x 128256),
    # of the one embedding row gathered and of the 2 x 32 + 1 RMSNorm weight vectors (4096 each)
    saved = (4096 * 128256 + 4096 + 65 * 4096) * (2 - 0.515625) / 3.35e12
    assert doc["totals"]["tpot_s"] - everything["totals"]["tpot_s"] == pytest.approx(saved, rel=1e-6)


def test_9_qwen3_sliding_window_switched_off(cli, tmp_path):
    # use_sliding_window: false with sliding_window: 4096 -> every layer full (HF sets sliding_window None):
    # Qwen3-4B at 32k: 2 x 36 x 8 x 128 x 2 B x 32768 = 4.5 GiB (576 MiB if the window were applied)
    raw = json.loads(Path(DATA, "configs", "qwen3-4b", "config.json").read_text())
    folder = tmp_path / "qwen3"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({**raw, "sliding_window": 4096, "use_sliding_window": False}))
    doc = cli.json("kv", str(folder), "--context", "32k")
    assert doc["rows"][0]["kv_cache_bytes"] == 2 * 36 * 8 * 128 * 2 * 32768 == 4.5 * GIB
    # switched on, with HF's max_window_layers: layers from 20 on slide
    (folder / "config.json").write_text(json.dumps({**raw, "sliding_window": 4096, "use_sliding_window": True,
                                                    "max_window_layers": 20}))
    doc = cli.json("kv", str(folder), "--context", "32k")
    assert doc["rows"][0]["kv_cache_bytes"] == 2 * 8 * 128 * 2 * (20 * 32768 + 16 * 4096)


def test_10_readme_claims(cli):
    # "MQA only beyond ~Nk": llama3-8b, batch 8, fp16; MQA caches 2 x 32 x 1 x 128 x 2 B = 16 KiB per token
    # and sequence; it passes the weights (2 B per parameter) where 8 x 16 KiB x C = weights
    weights = sum(parameter_breakdown(load_model("llama3-8b")).values()) * 2
    crossing = weights / (8 * 16 * 1024)
    claim = re.search(r"MQA only beyond ~?(\d+)k", README)
    assert claim and abs(int(claim.group(1)) * 1000 - crossing) < 1000, (claim and claim.group(0), crossing)
    # "every report command takes --explain"
    from typer.main import get_command

    from rooflint.cli import app

    assert "every report command takes" in README
    for name, command in get_command(app).commands.items():
        if name != "plot":  # it writes an image, not a report
            assert "explain" in {p.name for p in command.params}, name
