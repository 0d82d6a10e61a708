"""`rooflint serve`: a frontier point computed by hand from the single-request figures (one dense
and one MoE model), concurrency 1 against `analyze`, the KV capacity against a first-principles
count, and the frontier as the Pareto set it claims to be."""

import math

import pytest

ISL, OSL = 1024, 1024


def serve(cli, *args):
    return cli.json("serve", *args, "--isl", str(ISL), "--osl", str(OSL))


def point(doc, concurrency, tp):
    return next(p for p in doc["points"] if p["concurrency"] == concurrency and p["layout"]["tp"] == tp)


def one_token(cli, model, gpu, tp, key="tpot_forecast_s", *more):
    """A pass of one token at context 1 (plan's decode step): what a mixed-in prefill shares."""
    return cli.json("plan", model, "--gpu", gpu, "--tp", str(tp), "--batch", "1", "--context", "1", "--prompt", "1",
                    *more)["plan"][key]


def by_hand(cli, model, gpu, tp, per_replica, concurrency, gpus):
    """The steady state in the test's own words: a step is the batch's decode at the mean context
    (isl + osl/2) plus c/osl of one prompt's prefill, less what a one-token pass costs (the
    weights, launches and overhead the decode pays already); tokens/s per user is 1 / that step,
    per GPU concurrency / step / GPUs. The decode and the prefill are `plan`'s own (per replica)."""
    decode = cli.json("plan", model, "--gpu", gpu, "--tp", str(tp), "--batch", str(per_replica),
                      "--context", str(ISL + OSL // 2), "--prompt", "1")
    prefill = cli.json("plan", model, "--gpu", gpu, "--tp", str(tp), "--batch", "1", "--prompt", str(ISL))
    t_dec, t_pre = decode["plan"]["tpot_forecast_s"], prefill["plan"]["ttft_forecast_s"]
    step = t_dec + per_replica / OSL * (t_pre - one_token(cli, model, gpu, tp))
    return {"tpot_forecast_s": step, "ttft_forecast_s": t_pre + t_dec, "interactivity": 1 / step,
            "throughput_per_gpu": concurrency / step / gpus}


@pytest.mark.parametrize("model,gpu,gpus,tp,concurrency", [
    ("llama3-8b", "h100", 2, 1, 64),  # dense: two replicas of 32
    ("mixtral-8x7b", "h100", 2, 2, 32),  # MoE over tensor parallelism
])
def test_a_point_against_a_hand_computed_one(cli, model, gpu, gpus, tp, concurrency):
    doc = serve(cli, model, "--gpu", gpu, "--gpus", str(gpus), "--concurrency", str(concurrency))
    p = point(doc, concurrency, tp)
    per = math.ceil(concurrency / (gpus // tp))
    assert p["per_replica"] == per and p["layout"] == {"tp": tp, "dp": gpus // tp, "pp": 1, "ep": 1}
    want = by_hand(cli, model, gpu, tp, per, concurrency, gpus)
    for key, value in want.items():
        assert p[key] == pytest.approx(value, rel=1e-9), key


def test_concurrency_one_is_the_single_gpu_analysis(cli):
    """One request on one GPU: its TPOT is analyze's decode step at the mean context (plus its
    prefill spread over its osl steps), its TTFT analyze's prefill and one such step."""
    p = point(serve(cli, "llama3-8b", "--gpu", "h100", "--concurrency", "1"), 1, 1)
    dec = cli.json("analyze", "llama3-8b", "--gpu", "h100", "--prefix", str(ISL + OSL // 2 - 1), "--prompt", "1")
    pre = cli.json("analyze", "llama3-8b", "--gpu", "h100", "--prompt", str(ISL))
    t_dec, t_pre = dec["totals"]["tpot_forecast_s"], pre["totals"]["ttft_forecast_s"]
    t_one = cli.json("analyze", "llama3-8b", "--gpu", "h100", "--context", "1", "--prompt", "1")["totals"]
    assert p["tpot_forecast_s"] == pytest.approx(t_dec + (t_pre - t_one["tpot_forecast_s"]) / OSL, rel=1e-9)
    assert p["ttft_forecast_s"] == pytest.approx(t_pre + t_dec, rel=1e-9)
    assert p["tpot_s"] < p["tpot_forecast_s"]  # the bound beside it


def test_kv_capacity_limits_the_concurrency(cli):
    """llama3-8b: 32 layers x 8 KV heads x 128 x 2 (K, V) x 2 B = 128 KiB per token; a request of
    1024 + 1024 tokens holds 256 MiB. The budget is plan's (0.9 x 80 GiB less the weights and the
    workspace); concurrency beyond budget / 256 MiB does not fit and is off the frontier."""
    doc = serve(cli, "llama3-8b", "--gpu", "h100", "--concurrency", "64,512")
    budget = cli.json("plan", "llama3-8b", "--gpu", "h100", "--context", "2048")["plan"]["kv_budget_bytes"]
    cap = math.floor(budget / (32 * 8 * 128 * 2 * 2 * 2048))
    for p in doc["points"]:
        assert p["kv_capacity"] == cap
        assert p["fits"] == (p["per_replica"] <= cap)
    assert not point(doc, 512, 1)["fits"] and point(doc, 512, 1)["frontier"] is False


def test_the_frontier_is_the_pareto_set(cli):
    doc = serve(cli, "llama3-70b", "--gpu", "h100", "--gpus", "8", "--concurrency", "1,4,16,64,256")
    fitting = [p for p in doc["points"] if p["fits"]]
    front = doc["frontier"]
    assert front and all(p["frontier"] for p in front)

    def beats(a, b):
        return (a["interactivity"] >= b["interactivity"] and a["throughput_per_gpu"] >= b["throughput_per_gpu"]
                and (a["interactivity"], a["throughput_per_gpu"]) != (b["interactivity"], b["throughput_per_gpu"]))

    for p in fitting:
        dominated = any(beats(q, p) for q in fitting)
        assert dominated != p["frontier"], p
    assert {p["layout"]["tp"] for p in doc["points"]} == {1, 2, 4, 8}
    assert not any(p["fits"] for p in doc["points"] if p["layout"]["tp"] == 1)  # 140 GB of weights on one GPU
    assert len(doc["points"]) == 5 * 4  # tp 1, 2, 4, 8 x 5 levels


def test_a_prefix_cache_hit_prefills_only_the_rest(cli):
    cold = point(serve(cli, "llama3-8b", "--gpu", "h100", "--concurrency", "16"), 16, 1)
    warm = point(serve(cli, "llama3-8b", "--gpu", "h100", "--concurrency", "16", "--prefix-hit", "0.75"), 16, 1)
    assert warm["ttft_forecast_s"] < 0.7 * cold["ttft_forecast_s"]
    assert warm["tpot_forecast_s"] < cold["tpot_forecast_s"]


def test_the_frontier_plot_is_written(cli, tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "frontier.png"
    cli("serve", "llama3-8b", "--gpu", "h100", "--gpus", "2", "--concurrency", "1,16,64", "--plot", str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


@pytest.mark.parametrize("args,needle", [
    (["--gpus", "3", "--tp", "2"], "--tp"),
    (["--isl", "0"], "--isl"),
    (["--prefix-hit", "1.5"], "--prefix-hit"),
    (["--prefix-hit", "most"], "--prefix-hit"),
    (["--concurrency", "0"], "--concurrency"),
    (["--plot", "x.gif"], "--plot"),
    (["--disagg", "2"], "--disagg"),
    (["--gpus", "4", "--disagg", "1:0"], "--disagg"),
    (["--gpus", "3", "--disagg", "1:1"], "--disagg"),
    (["--spec-tokens", "2"], "--spec-tokens"),  # llama3-8b has no MTP module to draft with
    (["--spec-tokens", "1", "--draft", "llama3-8b", "--acceptance", "1.5"], "--acceptance"),
    (["--isl", "1", "--osl", "1", "--spec-tokens", "4", "--draft", "llama3-8b"], "--spec-tokens"),
    (["--gpus", "16", "--tp", "16"], "--tp"),
    (["--spec-tokens", "1", "--draft", "no-such-model"], "no-such-model"),
    (["--acceptance", "0.8"], "--spec-tokens"),
    (["--dist", "zipf"], "--dist"),
    (["--num-seqs", "100"], "--num-seqs"),
])
def test_bad_input_is_one_line(cli, args, needle):
    r = cli("serve", "llama3-8b", *args, code=2)
    assert r.stderr.count("\n") == 1 and needle in r.stderr, r.stderr


def test_dp_attention_with_experts_over_all_gpus(cli):
    """DeepSeek-V3 fp8 on 8 H200s with data-parallel attention and the 256 experts over the 8 GPUs
    (32 each), at concurrency 256: each GPU runs 32 requests; its step is the model with 32
    experts (routed over all 256) at batch 32 (`analyze --set num_experts=32 --set
    router_experts=256`), its expert ops at the busiest GPU's tokens (uniform routing: 32 x 8 picks
    a GPU, the largest of 8 binomials about sqrt(2 ln 8) spreads above: 1 + sqrt(2 ln 8 x 7/8 /
    256) = 1.12 times), plus per MoE layer (58 of 61) a dispatch and a combine all-to-all of each
    rank's 32 tokens x 8 picks x 7168 fp8 bytes (`comm`)."""
    import math

    doc = serve(cli, "deepseek-v3", "--gpu", "h200", "--gpus", "8", "--dtype", "fp8", "--concurrency", "256",
                "--dp-attention")
    (p,) = doc["points"]
    assert p["layout"] == {"tp": 1, "dp": 8, "pp": 1, "ep": 8} and p["per_replica"] == 32
    shard = ["deepseek-v3", "--gpu", "h200", "--dtype", "fp8", "--set", "num_experts=32", "--set", "router_experts=256"]

    def pass_time(phase, *args):
        doc = cli.json("analyze", *shard, *args)
        ops = doc["phases"][phase]["ops"]
        experts = sum(o["total_time_s"] for o in ops if o["name"].startswith("experts_"))
        return doc["totals"]["tpot_s" if phase == "decode" else "ttft_s"], experts

    def imbalance(tokens):
        return 1 + math.sqrt(2 * math.log(8) * (1 - 1 / 8) / (tokens * 8))

    def busy(phase, n, flag, *rest):  # the busiest GPU's n x imbalance tokens, between whole counts
        want = n * imbalance(n)
        lo = math.floor(want)
        e_lo = pass_time(phase, flag, str(lo), *rest)[1]
        return e_lo + (want - lo) * (pass_time(phase, flag, str(lo + 1), *rest)[1] - e_lo)

    context = ["--prefix", str(ISL + OSL // 2 - 1), "--prompt", "1"]
    t_dec, e_dec = pass_time("decode", "--batch", "32", *context)
    e_busy = busy("decode", 32, "--batch", *context)
    t_pre, e_pre = pass_time("prefill", "--prompt", str(ISL))
    e_pre_busy = busy("prefill", ISL, "--prompt")
    a2a = cli.json("comm", "all_to_all", str(32 * 8 * 7168), "--gpu", "h200", "--gpus", "8")["time_s"]
    a2a_prompt = cli.json("comm", "all_to_all", str(ISL * 8 * 7168), "--gpu", "h200", "--gpus", "8")["time_s"]
    step = t_dec - e_dec + e_busy + 2 * 58 * a2a
    prefill = t_pre - e_pre + e_pre_busy + 2 * 58 * a2a_prompt
    one = ["--context", "1", "--prompt", "1"]  # a one-token pass, what a mixed-in prefill shares
    t_one, e_one = pass_time("decode", "--batch", "1", *one)
    a2a_one = cli.json("comm", "all_to_all", str(8 * 7168), "--gpu", "h200", "--gpus", "8")["time_s"]
    one_token = t_one - e_one + busy("decode", 1, "--batch", *one) + 2 * 58 * a2a_one
    assert p["tpot_s"] == pytest.approx(step + 32 / OSL * (prefill - one_token), rel=1e-9)
    assert round(imbalance(32), 2) == 1.12


def test_expert_placement_divides_the_expert_weights(cli):
    """Per GPU: everything but the routed experts whole (the router too: each GPU routes its own
    tokens over all 256), and 1/8 of those: 58 MoE layers x 256 experts x 3 matrices of
    7168 x 2048, one fp8 byte each."""
    full = cli.json("analyze", "deepseek-v3", "--gpu", "h200", "--dtype", "fp8")["memory"]["weights_bytes"]
    per_gpu = cli.json("analyze", "deepseek-v3", "--gpu", "h200", "--dtype", "fp8",
                       "--set", "num_experts=32", "--set", "router_experts=256")["memory"]["weights_bytes"]
    experts = 58 * 256 * 3 * 7168 * 2048
    assert per_gpu == pytest.approx(full - 7 / 8 * experts, rel=1e-3)


def test_experts_that_do_not_split_are_refused(cli):
    r = cli("serve", "mixtral-8x7b", "--gpus", "8", "--dp-attention", code=2)  # 8 experts, 2 picks: 1 each
    assert r.stderr.count("\n") == 1 and "--dp-attention" in r.stderr
    doc = serve(cli, "mixtral-8x7b", "--gpu", "h100", "--gpus", "4", "--concurrency", "16")
    assert {p["layout"]["ep"] for p in doc["points"]} == {1, 4}  # tried beside the tensor-parallel ones


def test_speculative_decoding_yields_tau_tokens_a_step(cli):
    """llama3-70b on 4 H100s (tp4) drafting 3 tokens a step with llama3-8b, each accepted with
    probability 0.7: a step yields tau = (1 - 0.7^4) / (1 - 0.7) = 2.533 tokens per sequence for
    one verify pass of the target over 4 tokens (logits at all of them) and 3 draft steps; the
    time per token is that step / tau plus the usual c/osl of a prefill."""
    from rooflint.analysis.plan import decode_step, plan, shard
    from rooflint.specs.catalog import load_model
    from rooflint.workload import Workload

    doc = serve(cli, "llama3-70b", "--gpu", "h100", "--gpus", "4", "--tp", "4", "--concurrency", "16",
                "--spec-tokens", "3", "--acceptance", "0.7", "--draft", "llama3-8b")
    (p,) = doc["points"]
    tau = (1 - 0.7**4) / (1 - 0.7)
    mean = ISL + OSL // 2
    target, draft = load_model("llama3-70b"), load_model("llama3-8b")
    verify = plan(target, "h100", Workload(batch=16, prompt=4, prefix=mean - 4, context=mean, all_logits=True), 4)
    step = decode_step(draft, shard(draft, 4), __import__("rooflint").load_hardware("h100"),
                       Workload(batch=16, prompt=1, prefix=mean - 1, context=mean), 4)[0].value
    prefill = plan(target, "h100", Workload(batch=1, prompt=ISL), 4).ttft_s - one_token(cli, "llama3-70b", "h100", 4,
                                                                                      "tpot_s")
    assert p["tpot_s"] == pytest.approx((verify.ttft_s + 3 * step) / tau + 16 / OSL * prefill, rel=1e-9)
    plain = point(serve(cli, "llama3-70b", "--gpu", "h100", "--gpus", "4", "--tp", "4", "--concurrency", "16"), 16, 4)
    assert p["tpot_forecast_s"] < plain["tpot_forecast_s"]


def test_disaggregated_decode_steps_carry_no_prefill(cli):
    """llama3-70b on 8 H100s split 1:1: four prefill, four decode (tp4). A decode step is the
    batch's alone; a prompt's TTFT adds its KV cache's move (80 layers x 8 KV heads / 4 GPUs x 128
    x 2 x 2 B x 1024 tokens per GPU, send/recv); and where requests finish faster than one tp4
    group prefills them (c / (osl tpot) > 1 / t_prefill: short answers) the point does not fit."""
    doc = serve(cli, "llama3-70b", "--gpu", "h100", "--gpus", "8", "--tp", "4", "--concurrency", "64",
                "--disagg", "1:1")
    p = point(doc, 64, 4)
    dec = cli.json("plan", "llama3-70b", "--gpu", "h100", "--tp", "4", "--batch", "64", "--context",
                   str(ISL + OSL // 2), "--prompt", "1")["plan"]
    pre = cli.json("plan", "llama3-70b", "--gpu", "h100", "--tp", "4", "--prompt", str(ISL))["plan"]
    kv = cli.json("comm", "send_recv", str(80 * 2 * 128 * 2 * 2 * ISL), "--gpu", "h100", "--gpus", "2")
    assert p["tpot_s"] == pytest.approx(dec["tpot_s"], rel=1e-9)
    assert p["ttft_s"] == pytest.approx(pre["ttft_s"] + kv["time_s"] + dec["tpot_s"], rel=1e-9)
    prefills = 1 / cli.json("plan", "llama3-70b", "--gpu", "h100", "--tp", "4", "--prompt",
                            str(ISL))["plan"]["ttft_forecast_s"]
    assert p["fits"] and 64 / (OSL * p["tpot_forecast_s"]) <= prefills
    short = cli.json("serve", "llama3-70b", "--gpu", "h100", "--gpus", "8", "--tp", "4", "--concurrency", "256",
                     "--isl", str(ISL), "--osl", "16", "--disagg", "1:1")["points"][0]  # 16-token answers
    assert 256 / (16 * short["tpot_forecast_s"]) > prefills
    assert short["per_replica"] <= short["kv_capacity"] and not short["fits"]  # the prefill pool, not the KV


def test_a_mix_of_lengths_weights_the_context_by_each_requests_steps(cli):
    """--dist lognormal: 256 prompts of mean 1024 and outputs of mean 1024 (the next seed), drawn
    as `paged` draws them. The decode batch's mean context is sum osl_i (isl_i + osl_i / 2) /
    sum osl_i (a long answer spends more steps in the batch), requests finish at c / mean(osl)
    per step, and a request's KV blocks at its end are ceil((isl_i + osl_i) / 16)."""
    import numpy as np

    from rooflint.analysis.paged import LengthDraw, draw_lengths

    doc = serve(cli, "llama3-8b", "--gpu", "h100", "--concurrency", "32", "--dist", "lognormal")
    isl = draw_lengths(LengthDraw("lognormal", 256, ISL, None, 0, 8192)).astype(float)
    osl = draw_lengths(LengthDraw("lognormal", 256, OSL, None, 1, 8192)).astype(float)
    context = round(float(np.sum(osl * (isl + osl / 2)) / np.sum(osl)))
    kv_tokens = round(float(np.ceil((isl + osl) / 16).mean()) * 16)
    lengths = doc["settings"]["lengths"]
    assert lengths["mean_context"] == context and lengths["mean_kv_tokens"] == kv_tokens
    assert doc["settings"]["osl"] == pytest.approx(osl.mean())
    (p,) = doc["points"]
    dec = cli.json("plan", "llama3-8b", "--gpu", "h100", "--batch", "32", "--context", str(context),
                   "--prompt", "1")["plan"]
    pre = cli.json("plan", "llama3-8b", "--gpu", "h100", "--prompt", str(round(isl.mean())))["plan"]
    t_one = one_token(cli, "llama3-8b", "h100", 1, "tpot_s")
    assert p["tpot_s"] == pytest.approx(dec["tpot_s"] + 32 / osl.mean() * (pre["ttft_s"] - t_one), rel=1e-9)


@pytest.mark.parametrize("model,gpus", [("llama3-70b", 16), ("mixtral-8x7b", 8)])
def test_levels_over_arrays_are_each_levels_own_pass(model, gpus):
    """serve weighs a layout's levels as one evaluation over an array of batch sizes; each must be
    the scalar path's own figure for that batch: plan.decode_step (tensor parallel), the EP
    pass (its all-to-alls and busiest GPU), and a pipeline cycle built from analyze at that
    micro-batch. Levels are odd on purpose (per-replica batches that round up)."""
    from dataclasses import replace

    from rooflint.analysis import pipeline
    from rooflint.analysis.expert_parallel import ep_pass, ep_shard
    from rooflint.analysis.inference import analyze
    from rooflint.analysis.plan import RING_FORECAST, allreduce, decode_step, shard
    from rooflint.analysis.serve import serve as run
    from rooflint.specs.catalog import load_hardware, load_model
    from rooflint.workload import Workload, resolve

    m, hw = load_model(model), load_hardware("h100")
    s = run(m, hw, gpus, 1000, 300, concurrency=(1, 3, 7, 100, 333))
    mean = 1000 + 150
    seen = set()
    for p in s.points:
        lay, per = p.layout, p.per_replica
        assert per == math.ceil(p.concurrency / lay.dp)
        whole = ep_shard(m, lay.ep) if lay.ep > 1 else m
        part = shard(whole, lay.tp)
        work = Workload(batch=per, prompt=1, prefix=mean - 1, context=mean)
        if lay.ep > 1:
            want = ep_pass(m, part, hw, work, lay.ep, "decode")
        elif lay.pp > 1:
            mb = math.ceil(per / lay.pp)
            r = resolve(part, hw, replace(work, batch=mb))
            ar = (allreduce(m, r, lay.tp, mb, "a").value, allreduce(m, r, lay.tp, mb, "b", RING_FORECAST).value)
            want = pipeline.cycle(analyze(part, hw, r), lay.pp, lay.tp, hw, ar)
        else:
            want = decode_step(whole, part, hw, work, lay.tp)
        assert p.value("t_decode") == pytest.approx(want[0].value, rel=1e-12)
        assert p.value("t_decode_forecast") == pytest.approx(want[1].value, rel=1e-12)
        seen.add((lay.tp, lay.pp, lay.ep))
    assert len(seen) >= 3  # several layouts were checked, not one


@pytest.mark.parametrize("tp", [4, 8])  # 8: the README's figures (710 requests alone, 490 beside the draft)
def test_a_draft_shares_the_kv_budget(cli, tp):
    """A draft model lives on the target's GPUs: llama3-8b (16.1 GB of bf16 weights, 128 KiB of KV
    per token) split over tp beside llama3-70b. Each GPU's KV budget loses the draft's weight
    shard and each request holds both caches: 80 x 8 x 128 x 2 x 2 B / tp of the target's plus
    32 x 8 x 128 x 2 x 2 B / tp of the draft's per token, 2048 tokens a request."""
    base = ("llama3-70b", "--gpu", "h100", "--gpus", str(tp), "--tp", str(tp), "--concurrency", "16")
    doc = serve(cli, *base, "--spec-tokens", "3", "--acceptance", "0.7", "--draft", "llama3-8b")
    budget = cli.json("plan", "llama3-70b", "--gpu", "h100", "--tp", str(tp), "--context", "2048")["plan"][
        "kv_budget_bytes"]
    draft_weights = cli.json("plan", "llama3-8b", "--gpu", "h100", "--tp", str(tp))["memory"]["weights_bytes"]
    per_token = (80 * 8 * 128 * 2 * 2 + 32 * 8 * 128 * 2 * 2) / tp
    assert doc["points"][0]["kv_capacity"] == math.floor((budget - draft_weights) / (per_token * 2048))
    plain = serve(cli, *base)["points"][0]["kv_capacity"]
    assert plain == math.floor(budget / (80 * 8 * 128 * 2 * 2 / tp * 2048))
    assert doc["points"][0]["kv_capacity"] < plain


def test_huge_concurrency_does_not_overflow():
    """2^34 + 1 requests on one GPU: 2 B D V lm_head FLOPs pass 2^63, which int64 arrays would
    wrap; the array path must still be the scalar path's figure."""
    from rooflint.analysis.plan import decode_step
    from rooflint.analysis.serve import serve as run
    from rooflint.specs.catalog import load_hardware, load_model
    from rooflint.workload import Workload

    m, hw, c = load_model("llama3-8b"), load_hardware("h100"), 2**34 + 1
    (p,) = run(m, hw, 1, 1024, 1024, concurrency=[c]).points
    want = decode_step(m, m, hw, Workload(batch=c, prompt=1, prefix=1535, context=1536), 1)
    assert p.value("t_decode_forecast") == pytest.approx(want[1].value, rel=1e-12)


@pytest.mark.parametrize("levels", [[0], [-4], [1.5, 3], [10**20], [True]])
def test_the_library_refuses_levels_that_are_not_request_counts(levels):
    from rooflint.analysis.serve import serve as run
    from rooflint.errors import SpecError
    from rooflint.specs.catalog import load_model

    with pytest.raises(SpecError, match="--concurrency"):
        run(load_model("llama3-8b"), None, 2, 1024, 1024, concurrency=levels)
