"""Paged KV cache (vLLM's PagedAttention) against contiguous preallocation, for a set of lengths.

A paged cache hands out fixed blocks of B token slots: a sequence caching c tokens holds
ceil(c/B) blocks, so it wastes only the unused slots of its last block (internal
fragmentation, always < B per sequence). A contiguous cache reserves the maximum length for
every sequence up front and wastes max_len - c slots of each. With a sliding window W a layer
caches c = min(len, W) tokens and a contiguous cache reserves min(max_len, W).

Layers that cache the same number of tokens form a group (all layers for most models; the
sliding and the full layers of a model that mixes them), each with its own blocks, as vLLM's
KV cache groups do. Byte figures sum over groups.

Pure functions: numpy is imported only to draw random lengths.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from rooflint.analysis.kv_cache import cached_tokens, kv_bytes_per_token
from rooflint.errors import SpecError
from rooflint.specs import Model

DEFAULT_BLOCK_SIZE = 16  # vLLM's default --block-size
DEFAULT_NUM_SEQS = 256  # vLLM's default --max-num-seqs
DISTRIBUTIONS = ("uniform", "normal", "lognormal", "exponential")
SCHEMES = ("needed", "paged", "contiguous")


@dataclass(frozen=True, slots=True)
class LengthDraw:
    """How a set of lengths was drawn: rounded to whole tokens, then clipped to [1, max_len]."""

    dist: str
    num_seqs: int
    mean: float
    std: float | None  # normal and lognormal only (uniform and exponential fix their own spread)
    seed: int
    max_len: int


def default_std(dist: str, mean: float) -> float | None:
    """normal: mean/4 (few lengths clipped at 1); lognormal: mean (coefficient of variation 1,
    the long tail of chat prompts and outputs); None for uniform and exponential."""
    return {"normal": mean / 4, "lognormal": float(mean)}.get(dist)


def check_draw(draw: LengthDraw) -> None:
    if draw.dist not in DISTRIBUTIONS:
        raise SpecError("--dist", None, f"unknown distribution '{draw.dist}'; expected one of {', '.join(DISTRIBUTIONS)}")
    if draw.num_seqs <= 0:
        raise SpecError("--num-seqs", None, f"expected a positive number of sequences, got {draw.num_seqs}")
    if draw.max_len <= 0:
        raise SpecError("--max-len", None, f"expected a positive length, got {draw.max_len}")
    if draw.mean is None:
        raise SpecError("--mean", None, f"needed with --dist {draw.dist}: the mean length in tokens")
    if not draw.mean > 0:
        raise SpecError("--mean", None, f"expected a positive mean length, got {draw.mean}")
    if draw.std is not None:
        if draw.dist not in ("normal", "lognormal"):
            raise SpecError("--std", None, f"only normal and lognormal take a spread ({draw.dist} fixes its own)")
        if not draw.std > 0:
            raise SpecError("--std", None, f"expected a positive standard deviation, got {draw.std}")
    if draw.seed < 0:
        raise SpecError("--seed", None, f"expected a whole number >= 0, got {draw.seed}")


def draw_lengths(draw: LengthDraw) -> tuple[int, ...]:
    """`num_seqs` lengths from the distribution, the same for the same seed.

    uniform: integers on [1, 2*mean - 1]; normal(mean, std); lognormal with the given mean and
    std (sigma^2 = ln(1 + (std/mean)^2), mu = ln(mean) - sigma^2/2); exponential(mean).
    Continuous draws are rounded to whole tokens; all are clipped to [1, max_len] (which moves
    the mean when much of the distribution lies outside).
    """
    check_draw(draw)
    import numpy as np

    rng = np.random.default_rng(draw.seed)
    n, mean = draw.num_seqs, float(draw.mean)
    std = draw.std if draw.std is not None else default_std(draw.dist, mean)
    if draw.dist == "uniform":
        values = rng.integers(1, max(2, round(2 * mean)), size=n)
    elif draw.dist == "normal":
        values = rng.normal(mean, std, size=n)
    elif draw.dist == "lognormal":
        sigma2 = math.log1p((std / mean) ** 2)
        values = rng.lognormal(math.log(mean) - sigma2 / 2, math.sqrt(sigma2), size=n)
    else:
        values = rng.exponential(mean, size=n)
    return tuple(int(v) for v in np.clip(np.rint(values), 1, draw.max_len))


@dataclass(frozen=True, slots=True)
class LayerGroup:
    """Layers caching the same tokens (same window): their token slots summed over sequences."""

    window: int | None
    layers: int
    bytes_per_token: float  # this group's share of the KV bytes of one token
    needed_tokens: int  # sum of min(len, W)
    paged_tokens: int  # sum of ceil(min(len, W) / B) * B = blocks * B
    contiguous_tokens: int  # N * min(max_len, W)
    blocks: int  # sum of ceil(min(len, W) / B)


@dataclass(frozen=True, slots=True)
class PagedPlan:
    lengths: tuple[int, ...]
    block_size: int
    max_len: int
    kv_bytes_per_token: float  # all layers: 2 * L * H_kv * d * b_kv
    num_layers: int
    groups: tuple[LayerGroup, ...]
    memory_bytes: float | None = None  # a KV cache budget, for the fit figures

    @property
    def num_seqs(self) -> int:
        return len(self.lengths)

    @property
    def needed_bytes(self) -> float:
        return sum(g.needed_tokens * g.bytes_per_token for g in self.groups)

    @property
    def paged_bytes(self) -> float:
        return sum(g.paged_tokens * g.bytes_per_token for g in self.groups)

    @property
    def contiguous_bytes(self) -> float:
        return sum(g.contiguous_tokens * g.bytes_per_token for g in self.groups)

    @property
    def blocks(self) -> int:
        """Blocks of all groups (one group, all layers, for most models)."""
        return sum(g.blocks for g in self.groups)

    @property
    def block_bytes(self) -> float:
        """One block across all layers: B * KV bytes per token."""
        return self.block_size * self.kv_bytes_per_token

    def bytes_of(self, scheme: str) -> float:
        return {"needed": self.needed_bytes, "paged": self.paged_bytes, "contiguous": self.contiguous_bytes}[scheme]

    def waste_bytes(self, scheme: str) -> float:
        """Allocated but holding no token: the last blocks' empty slots (paged), the reserve
        beyond each sequence's length (contiguous)."""
        return self.bytes_of(scheme) - self.needed_bytes

    def waste_share(self, scheme: str) -> float:
        """Waste as a share of what the scheme allocates."""
        total = self.bytes_of(scheme)
        return self.waste_bytes(scheme) / total if total else 0.0

    def tokens_of(self, scheme: str) -> float:
        """Token slots allocated, averaged over layers (exact slots when no layer has a window)."""
        return self.bytes_of(scheme) / self.kv_bytes_per_token

    def fits(self, scheme: str) -> int | None:
        """Sequences of this length mix that fit in the budget: floor(M * N / bytes)."""
        if self.memory_bytes is None:
            return None
        total = self.bytes_of(scheme)
        return math.floor(Fraction(self.memory_bytes) * self.num_seqs / Fraction(total))


def plan_paged(m: Model, kv_bytes_per_element: float, lengths: tuple[int, ...] | list[int],
               block_size: int = DEFAULT_BLOCK_SIZE, max_len: int | None = None,
               memory_bytes: float | None = None) -> PagedPlan:
    """The KV memory of sequences of these lengths: needed, paged in blocks, contiguous at max_len."""
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size <= 0:
        raise SpecError("--block-size", None, f"expected a positive number of tokens, got {block_size!r}")
    if max_len is None:
        max_len = m.max_position_embeddings or 4096
    if max_len <= 0:
        raise SpecError("--max-len", None, f"expected a positive length, got {max_len}")
    lengths = tuple(lengths)
    if not lengths:
        raise SpecError("--lengths", None, "expected at least one sequence length")
    for n in lengths:
        if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
            raise SpecError("--lengths", None, f"expected positive whole lengths, got {n!r}")
        if n > max_len:
            raise SpecError("--lengths", None, f"length {n} exceeds --max-len {max_len}")
    if memory_bytes is not None and not memory_bytes > 0:
        raise SpecError("--memory", None, f"expected a positive size, got {memory_bytes}")
    per_token = kv_bytes_per_token(m, kv_bytes_per_element)
    layers_by_window: dict[int | None, list[int]] = {}
    for i in range(m.num_hidden_layers):
        layers_by_window.setdefault(m.layer_window(i), []).append(i)
    groups = []
    for window, layers in layers_by_window.items():
        cached = [cached_tokens(m, n, layers[0]) for n in lengths]
        blocks = sum(-(-c // block_size) for c in cached)
        groups.append(LayerGroup(window=window, layers=len(layers),
                                 bytes_per_token=per_token * len(layers) / m.num_hidden_layers,
                                 needed_tokens=sum(cached), paged_tokens=blocks * block_size,
                                 contiguous_tokens=len(lengths) * cached_tokens(m, max_len, layers[0]),
                                 blocks=blocks))
    return PagedPlan(lengths, block_size, max_len, per_token, m.num_hidden_layers, tuple(groups), memory_bytes)
