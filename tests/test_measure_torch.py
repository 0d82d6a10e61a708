"""The torch backend on this CPU (and, marked gpu, on CUDA): every kernel's result checks out
against the float64 reference, fused backends that do not exist here become skips, and the
global flags a case sets are put back."""

import pytest

torch = pytest.importorskip("torch")

from rooflint.measure.backends.torch_backend import TorchBackend  # noqa: E402
from rooflint.measure.cases import case  # noqa: E402
from rooflint.measure.result import Measurement, Skip  # noqa: E402
from rooflint.measure.runner import measure_case  # noqa: E402
from rooflint.measure.timing import StopRule  # noqa: E402

RULE = StopRule(min_samples=5, max_samples=50, min_time_s=0.0, max_time_s=0.05, warmup_s=0.0)
CUDA = torch.cuda.is_available()

SMALL_CASES = [
    case("copy", "fp32", n=1 << 16),
    case("gemm", "fp32", M=48, N=40, K=32),
    case("gemm", "bf16", M=64, N=64, K=256),
    case("qk", "fp32", G=4, N=96, d=32),
    case("softmax", "fp32", R=128, N=96),
    case("attention", "fp32", "eager", B=1, H=2, N=80, d=32),
    case("attention", "fp32", "sdpa-flash", B=1, H=2, N=80, d=32),
    case("attention", "fp32", "sdpa-math", B=1, H=2, N=80, d=32),
    case("decode_attention", "fp32", "eager", B=2, H_q=8, H_kv=2, C=100, d=32),
    case("decode_attention", "fp32", "sdpa", B=2, H_q=8, H_kv=2, C=100, d=32),
    case("generate", "fp32", "cached", n=24),
    case("generate", "fp32", "uncached", n=24),
]


@pytest.mark.parametrize("c", SMALL_CASES, ids=lambda c: c.key)
def test_cpu_kernels_match_the_float64_reference(c):
    m = measure_case(TorchBackend("cpu"), c, RULE, rotation_bytes=1 << 20)
    assert isinstance(m, Measurement), m
    assert m.check_error < (2e-2 if c.dtype == "bf16" else 1e-5)
    assert m.method == "host-clock" and m.stats.n >= 3 and m.stats.median > 0


def test_cached_and_uncached_steps_give_the_same_logits():
    from rooflint.measure.cases import TINY_DECODER
    from rooflint.measure.tiny_decoder import TinyDecoder

    model = TinyDecoder(torch, TINY_DECODER, torch.float64, "cpu", max_len=33)
    tokens = torch.randint(0, TINY_DECODER.vocab_size, (1, 32))
    full = model.forward(tokens, 0, use_cache=False)
    model.forward(tokens[:, :31], 0, use_cache=True)
    step = model.forward(tokens[:, 31:], 31, use_cache=True)
    assert torch.allclose(full, step, rtol=1e-10, atol=1e-10)


def test_missing_fused_backend_is_a_skip_and_flags_are_restored():
    from torch.nn.attention import SDPBackend  # noqa: F401

    before = torch.backends.cuda.math_sdp_enabled(), torch.backends.cuda.flash_sdp_enabled()
    out = measure_case(TorchBackend("cpu"), case("attention", "fp32", "sdpa-efficient", B=1, H=2, N=64, d=32),
                       RULE, 0)
    if isinstance(out, Skip):  # no memory-efficient kernel for CPU in this torch
        assert out.reason.startswith("cannot run here")
    assert (torch.backends.cuda.math_sdp_enabled(), torch.backends.cuda.flash_sdp_enabled()) == before


def test_cuda_backend_without_a_gpu_says_so():
    if CUDA:
        pytest.skip("a CUDA device is present")
    from rooflint.errors import BackendUnavailable

    with pytest.raises(BackendUnavailable, match="no CUDA device"):
        TorchBackend("cuda")


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")
def test_cuda_timing_methods_and_eager_peak_memory():
    b = TorchBackend("cuda")
    small = measure_case(b, case("copy", "fp32", n=1 << 16), RULE, 0)
    assert small.method == "cuda-graph"  # a few microseconds: graph replay less the flush-only replay
    big = measure_case(b, case("gemm", "fp16", M=4096, N=4096, K=4096), RULE, 0)
    assert big.method == "cuda-events" and big.check_error < 5e-3
    eager = measure_case(b, case("attention", "fp16", "eager", B=1, H=8, N=2048, d=64), RULE, 0)
    sp = 2 * 8 * 2048 * 2048 * 2
    assert eager.extra["peak_bytes"] >= sp  # S and P were materialized
    flash = measure_case(b, case("attention", "fp16", "sdpa-flash", B=1, H=8, N=2048, d=64), RULE, 0)
    assert flash.extra["peak_bytes"] < sp / 10
