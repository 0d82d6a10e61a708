"""What `rooflint measure` times: one Case per kernel, variant, dtype and shape, and the suites.

A case knows its shape and its own memory footprint (so that the runner can skip a size that
does not fit before allocating it); what the analyzer predicts for it is compare/kernels.py's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from rooflint.dtypes import dtype
from rooflint.measure.validate import At, fields, integer, text
from rooflint.specs import Model

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
CALIBRATION_KERNELS = ("copy", "gemm")  # the ceilings and small-shape losses are fitted on these
SDPA_VARIANTS = ("sdpa-flash", "sdpa-efficient", "sdpa-math")
# Each kernel's variants and parameters (compare/kernels.py's op forms read exactly these names).
KERNELS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "copy": (("",), ("n",)),
    "gemm": (("",), ("M", "N", "K")),
    "qk": (("",), ("G", "N", "d")),
    "softmax": (("",), ("R", "N")),
    "attention": (("eager",) + SDPA_VARIANTS, ("B", "H", "N", "d")),
    "decode_attention": (("eager", "sdpa"), ("B", "H_q", "H_kv", "C", "d")),
    "generate": (("cached", "uncached"), ("n",)),
}
CASE_DTYPES = ("fp64", "fp32", "tf32", "fp16", "bf16")  # the dtypes the backends time (and check)

# The decoder that `generate` runs with random weights: small enough for a CPU step in
# milliseconds, shaped like a llama (GQA 4:1, gated MLP, RMSNorm, RoPE).
TINY_DECODER = Model(
    name="tiny-decoder", model_type="llama", num_hidden_layers=4, hidden_size=256,
    num_attention_heads=8, num_key_value_heads=2, head_dim=32, intermediate_size=688,
    vocab_size=2048, max_position_embeddings=4096, tie_word_embeddings=False,
    source="rooflint measure: random weights",
)


@dataclass(frozen=True, slots=True)
class Case:
    kernel: str  # copy | gemm | qk | softmax | attention | decode_attention | generate
    variant: str  # "" or eager | sdpa-flash | sdpa-efficient | sdpa-math | sdpa | cached | uncached
    dtype: str
    shape: tuple[tuple[str, int], ...]  # the kernel's parameters (see compare/kernels.py)

    @property
    def params(self) -> dict[str, int]:
        return dict(self.shape)

    @property
    def size_label(self) -> str:
        p = self.params
        if self.kernel == "copy":
            n = p["n"]
            return f"{n // GiB} GiB" if n >= GiB else f"{n // MiB} MiB" if n >= MiB else f"{n // KiB} KiB"
        return " ".join(f"{k}={v}" for k, v in self.shape)

    @property
    def key(self) -> str:
        """Unique within a run: kernel/variant/dtype/shape."""
        v = f"[{self.variant}]" if self.variant else ""
        return f"{self.kernel}{v} {self.dtype} {self.size_label}"

    def footprint_bytes(self) -> float:
        """Bytes one input set and its outputs occupy (eager attention: S and P included)."""
        p, b = self.params, dtype(self.dtype).bytes
        if self.kernel == "copy":
            return 2 * p["n"]
        if self.kernel == "gemm":
            return (p["M"] * p["K"] + p["K"] * p["N"] + p["M"] * p["N"]) * b
        if self.kernel == "qk":
            return p["G"] * (2 * p["N"] * p["d"] + p["N"] ** 2) * b
        if self.kernel == "softmax":
            return 2 * p["R"] * p["N"] * b
        if self.kernel == "attention":
            qkvo = 4 * p["B"] * p["H"] * p["N"] * p["d"] * b
            return qkvo + (2 * p["B"] * p["H"] * p["N"] ** 2 * b if self.variant in ("eager", "sdpa-math") else 0)
        if self.kernel == "decode_attention":
            return (2 * p["B"] * p["H_kv"] * p["C"] * p["d"] + 2 * p["B"] * p["H_q"] * (p["d"] + p["C"])) * b
        if self.kernel == "generate":
            m = TINY_DECODER
            weights = (m.vocab_size * m.hidden_size * 2 + m.num_hidden_layers * (
                m.hidden_size * m.head_dim * (2 * m.num_attention_heads + 2 * m.num_key_value_heads)
                + 3 * m.hidden_size * m.intermediate_size)) * b
            tokens = p["n"] + 1
            cache = 2 * m.num_hidden_layers * tokens * m.num_key_value_heads * m.head_dim * b
            acts = tokens * (m.intermediate_size * 3 + m.vocab_size) * b + m.num_attention_heads * tokens ** 2 * b
            return weights + cache + acts
        raise ValueError(self.kernel)

    def to_dict(self) -> dict:
        return {"kernel": self.kernel, "variant": self.variant, "dtype": self.dtype, "params": self.params}

    @classmethod
    def from_dict(cls, d: Mapping, at: At | None = None) -> Case:
        """A case as to_dict wrote it, checked: a known kernel, one of its variants, a timed dtype,
        and exactly the kernel's parameters, each a positive integer (kept in the order given)."""
        at = at or At("case")
        d = fields(d, at, ("kernel", "dtype", "params"), ("variant",))
        kernel = text(d["kernel"], at.key("kernel"), KERNELS)
        variants, names = KERNELS[kernel]
        if "variant" not in d and "" not in variants:
            raise at.key("variant").error(f"missing; expected one of {', '.join(variants)}")
        variant = text(d.get("variant", ""), at.key("variant"), variants)
        dt = text(d["dtype"], at.key("dtype"), CASE_DTYPES)
        params = fields(d["params"], at.key("params"), names)
        return cls(kernel, variant, dt, tuple((k, integer(v, at.key("params").key(k))) for k, v in params.items()))


def case(kernel: str, dt: str, variant: str = "", **shape: int) -> Case:
    return Case(kernel, variant, dt, tuple(shape.items()))


def _squares(dt: str, sizes: list[int]) -> list[Case]:
    return [case("gemm", dt, M=s, N=s, K=s) for s in sizes]


def _skinny(dt: str, rows: list[int], k: int) -> list[Case]:
    """Decode-shaped matmuls: few token rows against a k x k weight (what F_half is fitted on)."""
    return [case("gemm", dt, M=m, N=k, K=k) for m in rows]


def suite(name: str, device: str) -> list[Case]:
    """The cases of a suite for a device kind ('cpu' or 'cuda'); each backend picks those it can run."""
    if name not in ("quick", "full"):
        raise ValueError(name)
    quick = name == "quick"
    cuda = device == "cuda"
    out: list[Case] = []
    # Memory copy: a tiny one (the fixed per-kernel cost) up to sizes far beyond any cache.
    copies = ([4 * KiB, 1 * MiB, 16 * MiB, 256 * MiB, 1 * GiB] if quick and not cuda else
              [4 * KiB, 1 * MiB, 16 * MiB, 64 * MiB, 256 * MiB, 1 * GiB] if not cuda else
              [4 * KiB, 1 * MiB, 16 * MiB, 256 * MiB, 1 * GiB, 4 * GiB])
    out += [case("copy", "fp32", n=n) for n in copies]
    # GEMM sweeps per dtype: squares for the peak, skinny ones for the small-shape loss.
    if cuda:
        squares = [256, 1024, 4096, 8192] if quick else [256, 512, 1024, 2048, 4096, 8192, 16384]
        for dt in ("fp16", "bf16", "tf32", "fp32"):
            out += _squares(dt, squares) + _skinny(dt, [1, 16, 128], 8192)
    else:
        squares = [128, 512, 2048] if quick else [64, 128, 256, 512, 1024, 2048, 3072]
        rows = [1, 16] if quick else [1, 4, 16, 64]
        for dt in ("fp32", "bf16"):
            out += _squares(dt, squares) + _skinny(dt, rows, 2048)
        out += _squares("fp64", [128, 512, 1024] if quick else [128, 256, 512, 1024, 2048])
        if not quick:
            out += _squares("fp16", [512, 2048])
    # Seed 000's attention-shaped products: QK^T as b*h products [N,d] x [d,N], and the row softmax.
    act = "fp16" if cuda else "fp32"
    lens = ([1024, 4096] if quick else [512, 1024, 2048, 4096, 8192]) if cuda else \
        ([512, 2048] if quick else [256, 512, 1024, 2048])
    heads = 32 if cuda else 8
    out += [case("qk", act, G=heads, N=n, d=128 if cuda else 64) for n in lens]
    out += [case("softmax", act, R=heads * n, N=n) for n in lens]
    # Eager (S and P through memory) vs fused attention, one layer, non-causal.
    for n in lens:
        for v in ("eager",) + SDPA_VARIANTS:
            out.append(case("attention", act, v, B=1, H=heads, N=n, d=128 if cuda else 64))
    # One decode step over a KV cache (GQA 4:1).
    ctxs = ([1024, 8192] if quick else [1024, 4096, 16384, 32768]) if cuda else \
        ([1024, 4096] if quick else [512, 1024, 4096, 8192])
    for c in ctxs:
        for v in ("eager", "sdpa"):
            out.append(case("decode_attention", act, v, B=8 if cuda else 4, H_q=32, H_kv=8, C=c, d=128))
    # Generation on the tiny decoder: per-step cost with and without a KV cache.
    steps = [128, 512] if quick else [64, 128, 256, 512, 1024]
    for n in steps:
        for v in ("cached", "uncached"):
            out.append(case("generate", act, v, n=n))
    return out
