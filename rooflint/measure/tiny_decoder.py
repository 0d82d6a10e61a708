"""A llama-shaped decoder with random weights (measure.cases.TINY_DECODER), in torch, for
observing seed 001: one generation step at context n costs about the same whatever n with a KV
cache (one token's projections, plus an attention read of n cached keys), but grows with n
without one (the whole prefix is recomputed: linear in the projections, quadratic in attention).

Step at context n: the uncached step runs the n tokens through the model; the cached step runs
token n alone against a cache holding the n - 1 before it. Both give the logits of position
n - 1, which the check compares with a float64 run of the uncached step.
"""

from __future__ import annotations

from typing import Any

from rooflint.measure.backends.base import Prepared, rel_error
from rooflint.measure.cases import TINY_DECODER, Case
from rooflint.specs import Model


class TinyDecoder:
    def __init__(self, torch, m: Model, dtype, device: str, max_len: int, seed: int = 0):
        self.torch, self.m, self.dtype, self.device = torch, m, dtype, device
        g = torch.Generator().manual_seed(seed)
        D, H, Hk, d, F = m.hidden_size, m.num_attention_heads, m.num_key_value_heads, m.head_dim, m.intermediate_size

        def w(*shape: int) -> Any:  # std 1/sqrt(fan-in): activations keep unit scale through the layers
            return (torch.randn(*shape, generator=g, dtype=torch.float64) / shape[0] ** 0.5)

        self.weights64 = {
            "embed": torch.randn(m.vocab_size, D, generator=g, dtype=torch.float64),
            "lm_head": w(D, m.vocab_size),
            "layers": [{"wq": w(D, H * d), "wk": w(D, Hk * d), "wv": w(D, Hk * d), "wo": w(H * d, D),
                        "gate": w(D, F), "up": w(D, F), "down": w(F, D)} for _ in range(m.num_hidden_layers)],
        }
        inv = 1.0 / (10000 ** (torch.arange(0, d, 2, dtype=torch.float64) / d))
        angles = torch.outer(torch.arange(max_len, dtype=torch.float64), inv)
        self.rope64 = (angles.cos(), angles.sin())
        self.weights = _cast(self.weights64, dtype, device)
        self.rope = tuple(t.to(device, dtype) for t in self.rope64)
        self.cache = [(torch.zeros(1, Hk, max_len, d, dtype=dtype, device=device),
                       torch.zeros(1, Hk, max_len, d, dtype=dtype, device=device)) for _ in range(m.num_hidden_layers)]

    def forward(self, tokens, start: int, use_cache: bool, weights=None, rope=None):
        """Logits of the last of `tokens` ([1, T] ids at positions start..start+T-1). With
        use_cache the new K/V are written into the cache and attention reads positions 0..end."""
        torch, m = self.torch, self.m
        F = torch.nn.functional
        wts, (cos, sin) = weights or self.weights, rope or self.rope
        T = tokens.shape[1]
        H, Hk, d = m.num_attention_heads, m.num_key_value_heads, m.head_dim
        x = wts["embed"][tokens[0]].unsqueeze(0)  # [1, T, D]
        c, s = cos[start:start + T], sin[start:start + T]
        for layer, cache in zip(wts["layers"], self.cache):
            h = _rms(torch, x)
            q = (h @ layer["wq"]).view(1, T, H, d).transpose(1, 2)
            k = (h @ layer["wk"]).view(1, T, Hk, d).transpose(1, 2)
            v = (h @ layer["wv"]).view(1, T, Hk, d).transpose(1, 2)
            q, k = _rope(torch, q, c, s), _rope(torch, k, c, s)
            if use_cache:
                kc, vc = cache
                kc[:, :, start:start + T] = k
                vc[:, :, start:start + T] = v
                k, v = kc[:, :, :start + T], vc[:, :, :start + T]
            a = F.scaled_dot_product_attention(q, k, v, is_causal=T > 1, enable_gqa=True)
            x = x + a.transpose(1, 2).reshape(1, T, H * d) @ layer["wo"]
            h = _rms(torch, x)
            x = x + (F.silu(h @ layer["gate"]) * (h @ layer["up"])) @ layer["down"]
        return _rms(torch, x[:, -1]) @ wts["lm_head"]


def _rms(torch, x):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)


def _rope(torch, x, cos, sin):
    x1, x2 = x[..., 0::2], x[..., 1::2]
    return torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1).flatten(-2)


def _cast(tree, dtype, device):
    if isinstance(tree, dict):
        return {k: _cast(v, dtype, device) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_cast(v, dtype, device) for v in tree]
    return tree.to(device, dtype)


def prepare_generation(backend, case: Case) -> Prepared:
    """The step at context n (case.params['n']), cached or uncached, as a Prepared kernel."""
    torch = backend.torch
    n = case.params["n"]
    dt = backend.dtypes[case.dtype]
    model = TinyDecoder(torch, TINY_DECODER, dt, backend.device, max_len=n + 1)
    tokens = torch.randint(0, TINY_DECODER.vocab_size, (1, n), device=backend.device)
    cached = case.variant == "cached"
    with torch.inference_mode():
        if cached:
            model.forward(tokens[:, :n - 1], 0, use_cache=True)  # fill the cache with the prefix
    holder: dict[str, Any] = {}

    def run() -> None:
        with torch.inference_mode():
            if cached:
                holder["logits"] = model.forward(tokens[:, n - 1:], n - 1, use_cache=True)
            else:
                holder["logits"] = model.forward(tokens, 0, use_cache=False)

    def check() -> float:
        run()
        backend.synchronize()
        with torch.inference_mode():
            want = model.forward(tokens.cpu(), 0, use_cache=False, weights=model.weights64, rope=model.rope64)
        return rel_error(holder["logits"].to("cpu", torch.float64).numpy(), want.numpy())

    return Prepared(run, check, sets=1, graphs=False)
