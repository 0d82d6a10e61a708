"""`plan --gpus N`: every layout of the GPUs, each row the plan of its own replica, ranked by
the forecast TPOT among those that fit; and the tensor-parallel traffic counted from first
principles (Megatron's two all-reduces per layer)."""

import pytest


def layouts(cli, *args):
    return cli.json("plan", *args)["layouts"]


def test_each_row_is_its_replicas_plan_and_the_ranking_is_by_tpot(cli):
    rows = layouts(cli, "llama3-70b", "--gpu", "h100", "--gpus", "8", "--batch", "64", "--context", "4k")
    by = {(r["layout"]["tp"], r["layout"]["dp"]): r for r in rows if r["layout"]["pp"] == 1}
    assert {(r["layout"]["tp"], r["layout"]["pp"]) for r in rows if r["layout"]["pp"] > 1} == {
        (1, 2), (1, 4), (1, 8), (2, 2), (2, 4), (4, 2)}  # every pipeline depth of 8 GPUs
    assert set(by) == {(1, 8), (2, 4), (4, 2), (8, 1)}
    for (tp, dp), r in by.items():
        one = cli.json("plan", "llama3-70b", "--gpu", "h100", "--tp", str(tp), "--batch", str(64 // dp),
                       "--context", "4k")
        assert r["per_replica"] == 64 // dp
        assert r["tpot_forecast_s"] == pytest.approx(one["plan"]["tpot_forecast_s"], rel=1e-12)
        assert r["ttft_forecast_s"] == pytest.approx(one["plan"]["ttft_forecast_s"], rel=1e-12)
        assert r["fits"] == one["memory"]["fits"]
    fitting = [r for r in rows if r["fits"]]
    assert [r["rank"] for r in fitting] == list(range(1, len(fitting) + 1))
    assert [r["tpot_forecast_s"] for r in fitting] == sorted(r["tpot_forecast_s"] for r in fitting)
    for r in rows:
        if not r["fits"]:
            assert r["rank"] is None and r["memory_bytes"] > r["usable_bytes"] and "does not fit" in r["reason"]
    assert not by[(1, 8)]["fits"]  # 141 GB of bf16 weights on one 80 GB GPU


def test_a_moe_model_also_gets_dp_attention_with_expert_parallelism(cli):
    rows = layouts(cli, "deepseek-v3", "--gpu", "h200", "--gpus", "8", "--dtype", "fp8", "--batch", "64",
                   "--context", "4k")
    ep = [r for r in rows if r["layout"]["ep"] == 8]
    assert len(ep) == 1 and ep[0]["per_replica"] == 8 and ep[0]["fits"]


def test_megatron_tp_all_reduces_two_per_layer_of_the_batch_activations(cli):
    """Decode, tp 4, batch 8: 80 layers x 2 all-reduces, each a ring moving 2(n-1)/n of the
    8 x 8192 fp16 activations per GPU over the 900 GB/s NVLink figure."""
    doc = cli.json("plan", "llama3-70b", "--gpu", "h100", "--tp", "4", "--batch", "8", "--context", "4k")
    assert doc["plan"]["allreduce_decode_s"] == pytest.approx(80 * 2 * (2 * 3 / 4) * 8 * 8192 * 2 / 900e9)


def test_gpus_and_tp_together_are_refused(cli):
    r = cli("plan", "llama3-8b", "--gpus", "8", "--tp", "2", code=2)
    assert r.stderr.count("\n") == 1 and "--gpus" in r.stderr


def test_a_pipeline_stage_holds_its_layers_and_the_heavier_end(cli):
    """llama3-70b over 4 stages of one GPU: 20 of the 80 layers' weights, and lm_head with the final
    norm (the embedding's twin, 128256 x 8192 fp16) on the last stage."""
    rows = layouts(cli, "llama3-70b", "--gpu", "h100", "--gpus", "4", "--batch", "8", "--context", "4k")
    whole = next(r for r in rows if r["layout"] == {"tp": 1, "dp": 4, "pp": 1, "ep": 1})["weights_bytes"]
    stage = next(r for r in rows if r["layout"] == {"tp": 1, "dp": 1, "pp": 4, "ep": 1})
    end = 128256 * 8192 * 2
    assert stage["weights_bytes"] == pytest.approx((whole - 2 * end - 8192 * 2) / 4 + end + 8192 * 2)


def test_a_request_through_the_pipeline_waits_for_each_send(cli):
    """tp4 x pp2 at batch 32: the whole model's step on a tp4 group (plan's, with its all-reduces)
    and one send of the 32 x 8192 fp16 activations from the first stage to the second (comm)."""
    rows = layouts(cli, "llama3-70b", "--gpu", "h100", "--gpus", "8", "--batch", "32", "--context", "4k")
    row = next(r for r in rows if r["layout"] == {"tp": 4, "dp": 1, "pp": 2, "ep": 1})
    one = cli.json("plan", "llama3-70b", "--gpu", "h100", "--tp", "4", "--batch", "32", "--context", "4k")["plan"]
    send = cli.json("comm", "send_recv", str(32 * 8192 * 2), "--gpu", "h100", "--gpus", "2")
    assert row["tpot_s"] == pytest.approx(one["tpot_s"] + send["time_s"])
    assert row["tpot_forecast_s"] == pytest.approx(one["tpot_forecast_s"] + send["time_forecast_s"])


def test_serving_through_a_pipeline_cycles_its_micro_batches(cli):
    """llama3-8b on 2 GPUs as 2 stages, 16 requests: 2 micro-batches of 8, each through the heavier
    stage in turn: a cycle is 2 x (16/32 of the layer ops of a batch-8 step + the model's end ops
    (lm_head) + one send of 8 x 4096 fp16), and a request's TPOT that cycle plus 16/1024 of its
    prompt's prefill through both stages (less a one-token pass's, which the step pays already),
    of which the heavier stage does 16/32."""
    doc = cli.json("serve", "llama3-8b", "--gpu", "h100", "--gpus", "2", "--tp", "1", "--pp", "2",
                   "--concurrency", "16", "--isl", "1024", "--osl", "1024")
    (p,) = doc["points"]
    ops = cli.json("analyze", "llama3-8b", "--gpu", "h100", "--batch", "8", "--prefix", "1535",
                   "--prompt", "1")["phases"]["decode"]["ops"]
    layers = sum(o["total_time_s"] for o in ops if o["scope"] == "layer")
    ends = sum(o["total_time_s"] for o in ops if o["scope"] == "model")
    send = cli.json("comm", "send_recv", str(8 * 4096 * 2), "--gpu", "h100", "--gpus", "2")["time_s"]
    prompt = cli.json("plan", "llama3-8b", "--gpu", "h100", "--prompt", "1024")["plan"]["ttft_s"]
    prompt_send = cli.json("comm", "send_recv", str(1024 * 4096 * 2), "--gpu", "h100", "--gpus", "2")["time_s"]
    one = cli.json("plan", "llama3-8b", "--gpu", "h100", "--batch", "1", "--context", "1", "--prompt", "1")["plan"]
    one_send = cli.json("comm", "send_recv", str(4096 * 2), "--gpu", "h100", "--gpus", "2")["time_s"]
    cycle = 2 * (16 / 32 * layers + ends + send)
    mixed = 16 / 32 * ((prompt + prompt_send) - (one["tpot_s"] + one_send))  # the heavier stage's share
    assert p["tpot_s"] == pytest.approx(cycle + 16 / 1024 * mixed, rel=1e-9)
    assert p["layout"] == {"tp": 1, "dp": 1, "pp": 2, "ep": 1}
