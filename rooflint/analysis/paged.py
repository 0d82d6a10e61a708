"""Paged KV cache (vLLM's PagedAttention) against contiguous preallocation, for a set of lengths.

A paged cache hands out fixed blocks of B token slots: a sequence caching c tokens holds
ceil(c/B) blocks, so it wastes only the unused slots of its last block (internal
fragmentation, always < B per sequence). A contiguous cache reserves the maximum length for
every sequence up front and wastes max_len - c slots of each. With a sliding window W a layer
caches c = min(len, W) tokens and a contiguous cache reserves T_max = min(max_len, W).

Layers that cache the same number of tokens form a group (all layers for most models; the
sliding and the full layers of a model that mixes them), each with its own blocks, as vLLM's
KV cache groups do. Per group (symbols suffixed _full / _sliding when there are two):

    P        = L_g * e * b_kv          bytes of one token in the group's layers (kv_cache.py's e, b_kv)
    T        = sum_i min(len_i, W)     tokens cached          } sums over the N sequences,
    K        = sum_i ceil(min(len_i, W) / B)   blocks held    } bound values computed with numpy
    needed     = T * P
    paged      = blocks * B * P,                waste (blocks*B - T) * P < N * B * P
    contiguous = N * T_max * P,                 waste (N*T_max - T) * P
    fits       = floor(M * N / bytes)           sequences of this mix in a budget of M bytes

Every figure is a Term whose key is its path in the report's JSON (`rows[1].bytes`,
`groups[0].blocks`). Lengths are a numpy int64 array; numpy is imported inside the functions
that need it, so importing this module stays light.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from rooflint.analysis.codegen import compile_function
from rooflint.analysis.expr import Const, Expr, add, emin, floor, sym
from rooflint.analysis.kv_cache import (
    WindowGroup,
    constants,
    elements_per_token_per_layer,
    kv_figures,
    window_groups,
)
from rooflint.analysis.terms import Term
from rooflint.errors import SpecError
from rooflint.specs import Model
from rooflint.workload import Resolved, Workload, resolve

DEFAULT_BLOCK_SIZE = 16  # vLLM's default --block-size
DEFAULT_NUM_SEQS = 256  # vLLM's default --max-num-seqs
MAX_NUM_SEQS = 10**8  # ~1.6 GB of lengths and blocks; 10^7 take under a second
DEFAULT_SEED = 0
DISTRIBUTIONS = ("uniform", "normal", "lognormal", "exponential")
SCHEMES = ("needed", "paged", "contiguous")
CHUNK = 1 << 18  # lengths drawn and summed this many at a time: small temporaries, the same values

N, B, M, max_len_, b_kv = sym("N B M max_len b_kv")


# ------------------------------------------------------------------ lengths

@dataclass(frozen=True, slots=True)
class LengthDraw:
    """How a set of lengths is drawn: rounded to whole tokens, then clipped to [1, max_len].
    None: the default (DEFAULT_NUM_SEQS sequences, seed 0, the distribution's own spread,
    max_len as resolved for the model)."""

    dist: str
    num_seqs: int | None = None
    mean: float | None = None
    std: float | None = None  # normal and lognormal only (uniform and exponential fix their own spread)
    seed: int | None = None
    max_len: int | None = None


def default_std(dist: str, mean: float) -> float | None:
    """normal: mean/4 (few lengths clipped at 1); lognormal: mean (coefficient of variation 1,
    the long tail of chat prompts and outputs); None for uniform and exponential."""
    return {"normal": mean / 4, "lognormal": float(mean)}.get(dist)


def _positive_whole(value: Any, option: str, low: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise SpecError(option, None, f"expected a whole number >= {low}, got {value!r}")


def check_draw(draw: LengthDraw) -> LengthDraw:
    """The draw with its defaults applied; bad parameters raise SpecError naming the option."""
    if draw.dist not in DISTRIBUTIONS:
        raise SpecError("--dist", None, f"unknown distribution '{draw.dist}'; expected one of {', '.join(DISTRIBUTIONS)}")
    draw = replace(draw, num_seqs=DEFAULT_NUM_SEQS if draw.num_seqs is None else draw.num_seqs,
                   seed=DEFAULT_SEED if draw.seed is None else draw.seed)
    if isinstance(draw.num_seqs, bool) or not isinstance(draw.num_seqs, int) or not 0 < draw.num_seqs <= MAX_NUM_SEQS:
        raise SpecError("--num-seqs", None, f"expected a number of sequences from 1 to {MAX_NUM_SEQS:,}, "
                        f"got {draw.num_seqs}")
    if draw.max_len is not None:
        _positive_whole(draw.max_len, "--max-len")
    if draw.mean is None:
        raise SpecError("--mean", None, f"needed with --dist {draw.dist}: the mean length in tokens")
    if not draw.mean > 0:
        raise SpecError("--mean", None, f"expected a positive mean length, got {draw.mean}")
    if draw.std is not None:
        if draw.dist not in ("normal", "lognormal"):
            raise SpecError("--std", None, f"only normal and lognormal take a spread ({draw.dist} fixes its own)")
        if not draw.std > 0:
            raise SpecError("--std", None, f"expected a positive standard deviation, got {draw.std}")
    _positive_whole(draw.seed, "--seed", 0)
    return draw


def draw_lengths(draw: LengthDraw):
    """`num_seqs` lengths (numpy int64) from the distribution, the same for the same seed.

    uniform: integers on [1, 2*mean - 1]; normal(mean, std); lognormal with the given mean and
    std (sigma^2 = ln(1 + (std/mean)^2), mu = ln(mean) - sigma^2/2); exponential(mean).
    Continuous draws are rounded to whole tokens; all are clipped to [1, max_len] (which moves
    the mean when much of the distribution lies outside; max_len None: not clipped above).
    Continuous draws are taken CHUNK at a time: numpy's generators draw the same stream in
    pieces as at once, so the values are those of one call, with one array of int64 in memory.
    """
    import numpy as np

    draw = check_draw(draw)
    rng = np.random.default_rng(draw.seed)
    n, mean = draw.num_seqs, float(draw.mean)
    high = draw.max_len if draw.max_len is not None else np.iinfo(np.int64).max
    if draw.dist == "uniform":  # one call: bounded integers are drawn from buffered 32-bit words
        out = rng.integers(1, max(2, round(2 * mean)), size=n, dtype=np.int64)
        return np.clip(out, 1, high, out=out)
    std = draw.std if draw.std is not None else default_std(draw.dist, mean)
    if draw.dist == "normal":
        sample = lambda k: rng.normal(mean, std, size=k)  # noqa: E731
    elif draw.dist == "lognormal":
        sigma2 = math.log1p((std / mean) ** 2)
        mu, sigma = math.log(mean) - sigma2 / 2, math.sqrt(sigma2)
        sample = lambda k: rng.lognormal(mu, sigma, size=k)  # noqa: E731
    else:
        sample = lambda k: rng.exponential(mean, size=k)  # noqa: E731
    out = np.empty(n, dtype=np.int64)
    for start in range(0, n, CHUNK):
        piece = sample(min(CHUNK, n - start))
        np.rint(piece, out=piece)
        np.clip(piece, 1, min(high, 2.0**62), out=piece)
        out[start:start + len(piece)] = piece
    return out


def _as_lengths(lengths: Any, max_len: int):
    """A 1-d int64 array of positive lengths <= max_len, or SpecError naming --lengths."""
    import numpy as np

    arr = lengths if isinstance(lengths, np.ndarray) else np.asarray(list(lengths))
    if arr.ndim != 1 or arr.size == 0:
        raise SpecError("--lengths", None, "expected at least one sequence length")
    if arr.dtype.kind not in "iu":
        bad = next((x for x in arr.tolist() if isinstance(x, bool) or not isinstance(x, int)), arr[0])
        raise SpecError("--lengths", None, f"expected positive whole lengths, got {bad!r}")
    arr = arr.astype(np.int64, copy=False)
    if int(arr.min()) <= 0:
        raise SpecError("--lengths", None, f"expected positive whole lengths, got {int(arr[np.argmax(arr <= 0)])}")
    if int(arr.max()) > max_len:
        raise SpecError("--lengths", None, f"length {int(arr[np.argmax(arr > max_len)])} exceeds --max-len {max_len}")
    return arr


def length_stats(lengths) -> dict[str, float]:
    """min, mean, median, max and sum of the lengths (exact integer sum; numpy)."""
    import numpy as np

    total = int(lengths.sum())
    return {"min": int(lengths.min()), "mean": total / len(lengths), "median": float(np.median(lengths)),
            "max": int(lengths.max()), "sum": total}


def _group_sums(lengths, window: int | None, block: int) -> tuple[int, int]:
    """(sum of min(len, W), sum of ceil(min(len, W) / B)) over the sequences, CHUNK at a time."""
    import numpy as np

    tokens = blocks = 0
    for start in range(0, len(lengths), CHUNK):
        c = lengths[start:start + CHUNK]
        c = np.minimum(c, window) if window else c.copy()
        tokens += int(c.sum())
        c += block - 1
        c //= block
        blocks += int(c.sum())
    return tokens, blocks


# ------------------------------------------------------------------ figures

@dataclass(frozen=True, slots=True)
class PagedGroup:
    """Layers caching the same tokens (same window), with their own blocks."""

    label: str  # "" when every layer caches alike, else "full" / "sliding"
    window: int | None
    layers: int
    terms: Mapping[str, Term]  # bytes_per_token, needed_tokens, blocks, reserved_tokens, paged_tokens, ...

    def value(self, name: str) -> float:
        return self.terms[name].value


@dataclass(frozen=True, eq=False)
class PagedPlan:
    resolved: Resolved
    lengths: Any  # numpy int64 array
    given: bool  # lengths given (True) or drawn (False)
    draw: LengthDraw | None
    block_size: int
    memory_bytes: float | None
    stats: dict[str, float]
    groups: tuple[PagedGroup, ...]
    terms: dict[str, Term] = field(repr=False)  # every figure, by its JSON key, in explanation order

    @property
    def model(self) -> Model:
        return self.resolved.model

    @property
    def num_seqs(self) -> int:
        return len(self.lengths)

    @property
    def max_len(self) -> int:
        return self.resolved.max_len

    def value(self, key: str) -> float:
        return self.terms[key].value

    def row(self, scheme: str, name: str) -> Any:
        t = self.terms.get(f"rows[{SCHEMES.index(scheme)}].{name}")
        return None if t is None else t.value

    @property
    def kv_bytes_per_token(self) -> float:
        return self.value("kv_cache_bytes_per_token")

    @property
    def block_bytes(self) -> float:
        return self.value("block_bytes")

    @property
    def blocks(self) -> int:
        return self.value("blocks")

    def bytes_of(self, scheme: str) -> float:
        return self.row(scheme, "bytes")

    @property
    def needed_bytes(self) -> float:
        return self.bytes_of("needed")

    @property
    def paged_bytes(self) -> float:
        return self.bytes_of("paged")

    @property
    def contiguous_bytes(self) -> float:
        return self.bytes_of("contiguous")

    def waste_bytes(self, scheme: str) -> float:
        return self.row(scheme, "waste_bytes")

    def waste_share(self, scheme: str) -> float:
        return self.row(scheme, "waste_share")

    def tokens_of(self, scheme: str) -> float:
        return self.row(scheme, "tokens")

    def fits(self, scheme: str) -> int | None:
        return self.row(scheme, "fits")

    @property
    def fit_ratio(self) -> float | None:
        t = self.terms.get("fit_ratio")
        return None if t is None else t.value


class _Env:
    """Symbol values, and terms evaluated in order from them (a term's value becomes a symbol)."""

    def __init__(self, values: Mapping[str, Any]):
        self.values = dict(values)
        self.terms: dict[str, Term] = {}

    def term(self, key: str, expr: Expr, unit: str, note: str = "", symbol: str | None = None) -> Term:
        names = expr.symbols()
        value = compile_function([expr], names)(*(self.values[n] for n in names))[0]
        if unit == "count" and isinstance(value, float) and value.is_integer():
            value = int(value)
        t = Term(key, expr, {n: self.values[n] for n in names}, value, unit, note)
        self.values[symbol or key.rsplit(".", 1)[-1]] = value
        self.terms[key] = t
        return t


def _suffix(g: WindowGroup) -> str:
    return f"_{g.label}" if g.label else ""


def _group_terms(env: _Env, i: int, g: WindowGroup, e: Expr, sums: tuple[int, int]) -> PagedGroup:
    s = _suffix(g)
    cap = f"min(len, {g.window})" if g.window else "len"
    env.values[f"T{s}"], env.values[f"K{s}"] = sums
    key = f"groups[{i}]."
    terms = [
        env.term(key + "bytes_per_token", sym(f"L{s}") * e * b_kv, "bytes",
                 f"one token in the group's {g.layers} layers", symbol=f"P{s}"),
        env.term(key + "block_bytes", B * sym(f"P{s}"), "bytes", "one block of the group's layers"),
        env.term(key + "needed_tokens", sym(f"T{s}"), "count",
                 f"T{s} = sum over the N sequences of {cap} (numpy)", symbol=f"T{s}"),
        env.term(key + "blocks", sym(f"K{s}"), "count",
                 f"K{s} = sum over the N sequences of ceil({cap}/B) (numpy)", symbol=f"blocks{s}"),
        env.term(key + "reserved_tokens", emin(max_len_, sym(f"W{s}")) if g.window else max_len_, "count",
                 "what a contiguous cache reserves per sequence", symbol=f"T_max{s}"),
        env.term(key + "paged_tokens", sym(f"blocks{s}") * B, "count", "whole blocks"),
        env.term(key + "contiguous_tokens", N * sym(f"T_max{s}"), "count", "T_max reserved for each sequence"),
    ]
    return PagedGroup(g.label, g.window, g.layers, {t.key[len(key):]: t for t in terms})


def _per_group(groups: Sequence[WindowGroup], build) -> Expr:
    return add(*(build(*(sym(n + _suffix(g)) for n in ("P", "T", "blocks", "T_max"))) for g in groups))


def _row_terms(env: _Env, j: int, scheme: str, groups: Sequence[WindowGroup], memory: bool) -> None:
    key = f"rows[{j}]."
    if scheme == "needed":
        held, waste, tokens = (lambda P, T, K, X: T * P), None, sym("T")
    elif scheme == "paged":
        held, waste, tokens = (lambda P, T, K, X: K * B * P), (lambda P, T, K, X: (K * B - T) * P), sym("blocks") * B
    else:
        held, waste, tokens = (lambda P, T, K, X: N * X * P), (lambda P, T, K, X: (N * X - T) * P), N * sym("T_max")
    single = len(groups) == 1
    if single:
        env.term(key + "tokens", tokens, "count", "token slots")
    env.term(key + "bytes", _per_group(groups, held), "bytes", f"KV memory, {scheme}"
             + ("" if single else "; each group with its own blocks"))
    if not single:
        env.term(key + "tokens", sym("bytes") / sym("kv_cache_bytes_per_token"), "count",
                 "token slots, averaged over layers")
    if waste is None:
        env.term(key + "waste_bytes", Const(0), "bytes", "what is needed holds a token in every slot")
    else:
        env.term(key + "waste_bytes", _per_group(groups, waste), "bytes",
                 "the empty slots of each sequence's last block" if scheme == "paged"
                 else "the reserve beyond each sequence's cached tokens")
    if scheme == "paged":
        env.term(key + "waste_bound_bytes", _per_group(groups, lambda P, T, K, X: N * (B - 1) * P), "bytes",
                 "at most B-1 empty slots per sequence")
    env.term(key + "waste_share", sym("waste_bytes") / sym("bytes"), "fraction", "of what the scheme allocates")
    if memory:
        env.term(key + "fits", floor(M * N / sym("bytes")), "count", "sequences of this mix in the budget M",
                 symbol=f"fits_{scheme}")


def _exact(x: float) -> float:
    """A whole number as an int, so byte counts and floor(M*N/bytes) stay exact integers."""
    return int(x) if float(x).is_integer() else x


def plan_paged(model: Model, lengths: Any = None, workload: Workload | Resolved | None = None,
               block_size: int | None = None, memory_bytes: float | None = None,
               draw: LengthDraw | None = None) -> PagedPlan:
    """The KV memory of sequences of these lengths (or drawn by `draw`): needed, paged in blocks,
    contiguous at max_len. Bytes per element and max_len come from resolve(model, None, workload)."""
    r = workload if isinstance(workload, Resolved) else resolve(model, None, workload)
    block = DEFAULT_BLOCK_SIZE if block_size is None else block_size
    if isinstance(block, bool) or not isinstance(block, int) or block <= 0:
        raise SpecError("--block-size", None, f"expected a positive number of tokens, got {block!r}")
    if memory_bytes is not None and (isinstance(memory_bytes, bool) or not memory_bytes > 0):
        raise SpecError("--memory", None, f"expected a positive size, got {memory_bytes}")
    if (lengths is None) == (draw is None):
        raise SpecError("--lengths", None, "give either --lengths or --dist (with --mean)")
    if draw is not None:
        draw = check_draw(replace(draw, max_len=r.max_len if draw.max_len is None else draw.max_len))
        lengths = draw_lengths(draw)
    arr = _as_lengths(lengths, r.max_len)
    groups = window_groups(model)
    e = elements_per_token_per_layer(model, r.mla_mode)
    env = _Env({**constants(model, _exact(r.b_kv)), "N": len(arr), "B": block, "max_len": r.max_len})
    if memory_bytes is not None:
        memory_bytes = env.values["M"] = _exact(memory_bytes)
    per_token = kv_figures(model, r.mla_mode, prefix="")[0]
    env.term(per_token.key, per_token.expr, "bytes", per_token.note)
    env.term("block_bytes", B * sym("kv_cache_bytes_per_token"), "bytes", "one block across all layers")
    paged_groups = tuple(_group_terms(env, i, g, e, _group_sums(arr, g.window, block)) for i, g in enumerate(groups))
    env.term("blocks", sym("K") if len(groups) == 1 else add(*(sym("blocks" + _suffix(g)) for g in groups)),
             "count", "blocks of all groups")
    for j, scheme in enumerate(SCHEMES):
        _row_terms(env, j, scheme, groups, memory_bytes is not None)
    if memory_bytes is not None and env.values["fits_contiguous"] > 0:
        env.term("fit_ratio", sym("fits_paged") / sym("fits_contiguous"), "ratio",
                 "sequences that fit paged per sequence that fits contiguous")
    return PagedPlan(r, arr, draw is None, draw, block, memory_bytes, length_stats(arr), paged_groups, env.terms)
