"""A design-space sweep: models x GPUs x KV dtypes x attention kernels x batches x contexts, each
point the scalar analyzer's figures, evaluated over whole numpy arrays.

Nothing here is physics. For each (model, GPU) every (KV dtype, kernel) variant's workload is
resolved (`workload.resolve`: the prompt rule, bytes per element, SM/SRAM fallbacks), its op
forms taken (`inference.model_form`) and its passes lowered with the GPU's roofs folded in
(`evaluate.lower`, the expressions `compile_phase` compiles). The lowered expressions of all
variants are compiled into one function that computes each distinct expression once (eager and
flash share their projections and MLPs, fp16 and fp8 KV everything but the cache traffic) and
returns each variant's time, the figure Σ count x t_op (`ModelForm.tpot`, `.ttft`). B runs as
a column and C as a row, so what depends on the batch alone stays one column. Memory (weights,
KV cache, workspace), the fits rule (`memory.RULE`) and the rates are the analyzer's figures,
compiled over arrays. A test holds every point to `analyze()` (rel 1e-12; sums are taken in
another order, so the last bits may differ).

Lean: the grid is evaluated in blocks sized to a few MiB of temporaries, into columns allocated
once; the labels are small integer codes into name lists (`Sweep.names`).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from rooflint.analysis import memory
from rooflint.analysis.codegen import compile_function
from rooflint.analysis.evaluate import FORECAST_AT, PER_OP, TIME_AT, lower
from rooflint.analysis.expr import Const, Expr, Sym, add, mul
from rooflint.analysis.inference import RATES, ModelForm, analyze, model_form
from rooflint.analysis.layers import PhaseForm
from rooflint.analysis.terms import Term, evaluate_figures, figure
from rooflint.dtypes import DType
from rooflint.errors import SpecError
from rooflint.specs import Hardware, Model
from rooflint.specs.catalog import builtin_names, load_hardware, load_model
from rooflint.specs.engine import Engine
from rooflint.workload import ATTENTIONS, Resolved, Workload, resolve

DEFAULT_BATCHES = (1, 8, 32, 128)
DEFAULT_CONTEXTS = (1024, 4096, 16384, 65536)
DEFAULT_KV_DTYPES = ("fp16", "fp8")
LABELS = ("model", "gpu", "kv_dtype", "attention")  # codes into Sweep.names
VALUES = ("weights_bytes", "kv_bytes", "workspace_bytes", "memory_bytes", "free_bytes", "fits", "tpot_s",
          "tpot_forecast_s", "decode_tokens_per_s", "ttft_s", "ttft_forecast_s", "prefill_tokens_per_s")
COLUMNS = ("model", "gpu", "batch", "context", "kv_dtype", "attention", *VALUES)
FORECAST_VALUES = ("tpot_forecast_s", "ttft_forecast_s")  # left out by Grid(forecast=False)
REGION_VALUES = ("weights_bytes", "workspace_bytes")  # one number per model, GPU, KV dtype and kernel
POINT_VALUES = tuple(k for k in VALUES if k not in REGION_VALUES)
# sweep column -> the analyzer's figure
FIGURES = {"weights_bytes": "memory.weights_bytes", "kv_bytes": "memory.kv_cache_bytes",
           "workspace_bytes": "memory.workspace_bytes", "memory_bytes": "memory.total_bytes",
           "free_bytes": "memory.free_bytes", "tpot_s": "totals.tpot_s", "tpot_forecast_s": "totals.tpot_forecast_s",
           "decode_tokens_per_s": "totals.decode_tokens_per_s", "ttft_s": "totals.ttft_s",
           "ttft_forecast_s": "totals.ttft_forecast_s", "prefill_tokens_per_s": "totals.prefill_tokens_per_s"}
BLOCK_BYTES = 6 << 20  # temporaries of one block


@dataclass(frozen=True, slots=True)
class Grid:
    """Every combination of these, rows ordered model, GPU, KV dtype, kernel, batch, context
    (the last varying fastest). None settings are resolve()'s defaults."""

    models: Sequence[Model]
    gpus: Sequence[Hardware]
    batches: Sequence[int] = DEFAULT_BATCHES
    contexts: Sequence[int] = DEFAULT_CONTEXTS
    kv_dtypes: Sequence[DType | str] = DEFAULT_KV_DTYPES
    attentions: Sequence[str] = ATTENTIONS
    dtype: DType | str | None = None  # activations and weights
    memory_utilization: float | None = None
    chunk: int | None = None
    engine: str | None = None  # the forecast's engine preset (resolve's default when None)
    forecast: bool = True  # the forecast columns beside the bound (about 5x the bound's time)

    def __post_init__(self) -> None:
        for option, values in (("--models", self.models), ("--gpus", self.gpus), ("--kv-dtype", self.kv_dtypes),
                               ("--attention", self.attentions)):
            if not values:
                raise SpecError(option, None, "expected at least one value")
        for option, values in (("--batch", self.batches), ("--context", self.contexts)):
            bad = [v for v in values if isinstance(v, bool) or not isinstance(v, int) or v < 1]
            if bad or not values:
                raise SpecError(option, None, f"expected positive whole numbers, got {bad[0] if bad else 'none'}")

    @classmethod
    def of(cls, models: Sequence[Model] | None = None, gpus: Sequence[Hardware] | None = None,
           **settings: Any) -> Grid:
        """A grid with the sweep's defaults for what is None: every built-in model and GPU, the
        batches, contexts, KV dtypes and kernels above (and resolve()'s for dtype, mem-util, chunk)."""
        models = [load_model(n) for n in builtin_names("models")] if models is None else models
        gpus = [load_hardware(n) for n in builtin_names("hardware")] if gpus is None else gpus
        return cls(models, gpus, **{k: v for k, v in settings.items() if v is not None})

    @property
    def variants(self) -> list[tuple[DType | str, str]]:
        return [(kv, a) for kv in self.kv_dtypes for a in self.attentions]

    @property
    def size(self) -> int:
        return (len(self.models) * len(self.gpus) * len(self.variants) * len(self.batches) * len(self.contexts))

    def workload(self, kv: DType | str, attention: str, batch: int | None = None,
                 context: int | None = None) -> Workload:
        """A point's workload: a context only, so resolve's prompt rule makes the prompt the context."""
        return Workload(batch=batch, context=self.contexts[0] if context is None else context, dtype=self.dtype,
                        kv_dtype=kv, attention=attention, memory_utilization=self.memory_utilization,
                        chunk=self.chunk, engine=self.engine)


@dataclass(slots=True)
class Sweep:
    """Every point of a grid. Stored per point: the columns that vary with the batch or the
    context (`points`). The others are a function of the row's place and come from `column`:
    labels as codes into `names`, batch and context, and the figures that are one number per
    region (a model, GPU, KV dtype and kernel: its nb x nc rows), kept in `regions`."""

    grid: Grid
    names: dict[str, tuple[str, ...]]  # label column -> the names its codes index
    points: dict[str, Any]  # column -> numpy array over every row
    regions: dict[str, Any]  # column -> numpy array over the regions
    seconds: float
    dtype: str  # the activations' (resolved)

    def __len__(self) -> int:
        return self.grid.size

    @property
    def columns(self) -> tuple[str, ...]:
        """COLUMNS, less the forecasts of a sweep without them."""
        return COLUMNS if self.grid.forecast else tuple(k for k in COLUMNS if k not in FORECAST_VALUES)

    def column(self, key: str, start: int = 0, stop: int | None = None):
        """Rows start..stop of a column as a numpy array (label columns as codes)."""
        import numpy as np

        stop = len(self) if stop is None else stop
        if key in self.points:
            return self.points[key][start:stop]
        g = self.grid
        nb, nc = len(g.batches), len(g.contexts)
        size = nb * nc
        r0, r1 = start // size, -(-stop // size)
        cut = slice(start - r0 * size, stop - r0 * size)
        if key == "batch":
            return np.tile(np.repeat(np.asarray(g.batches, self._int()), nc), r1 - r0)[cut]
        if key == "context":
            return np.tile(np.asarray(g.contexts, self._int()), (r1 - r0) * nb)[cut]
        if key in self.names:
            shape = (len(g.models), len(g.gpus), len(g.kv_dtypes), len(g.attentions))
            per_region = np.indices(shape, np.uint8 if max(shape) < 256 else np.uint16)[LABELS.index(key)].reshape(-1)
        else:
            per_region = self.regions[key]
        return np.repeat(per_region[r0:r1], size)[cut]

    def _int(self):
        import numpy as np

        return np.int32 if max(*self.grid.batches, *self.grid.contexts) < 2**31 else np.int64

    @property
    def fitting(self) -> int:
        """Configurations that fit (free_bytes >= 0)."""
        import numpy as np

        return int(np.count_nonzero(self.points["fits"]))

    def value(self, key: str, i: int) -> Any:
        v = self.column(key, i, i + 1)[0].item()
        return self.names[key][v] if key in self.names else v

    def row(self, i: int) -> dict[str, Any]:
        """Point i as Python values."""
        return {k: self.value(k, i) for k in self.columns}

    def point(self, i: int) -> tuple[Model, Hardware, Workload]:
        """What point i analyzes, for analyze()."""
        g = self.grid
        code = {k: self.column(k, i, i + 1)[0].item() for k in (*LABELS, "batch", "context")}
        kv, attention = g.variants[code["kv_dtype"] * len(g.attentions) + code["attention"]]
        return (g.models[code["model"]], g.gpus[code["gpu"]], g.workload(kv, attention, code["batch"], code["context"]))


def check_dtype(grid: Grid) -> Resolved:
    """The resolved settings of the first variant; every GPU must have the activations' peak."""
    r, *_ = [resolve(grid.models[0], None, grid.workload(kv, a)) for kv, a in grid.variants]  # each KV dtype checked
    lacking = [h.name for h in grid.gpus if r.act.peak_key not in h.peak_flop_per_s]
    if lacking:
        raise SpecError("--gpus", None, f"{', '.join(lacking)} {'has' if len(lacking) == 1 else 'have'} no "
                        f"{r.act.peak_key} peak; drop {'it' if len(lacking) == 1 else 'them'} or pick another --dtype")
    return r


MAX_POINTS = 2 * 10**8  # ~75 bytes each: 15 GB of columns


def sweep(grid: Grid, block_bytes: int = BLOCK_BYTES,
          progress: Callable[[str, int, int], None] | None = None) -> Sweep:
    """Every point of the grid; progress(model on GPU, regions done, regions) after each (model, GPU)."""
    import numpy as np

    if grid.size > MAX_POINTS:
        raise SpecError("sweep", None, f"{grid.size:,} configurations need ~{grid.size * 75 / 2**30:,.0f} GiB; "
                        f"at most {MAX_POINTS:,} in one sweep (split it by model or GPU)")
    start = time.perf_counter()
    act = check_dtype(grid).act.name
    nb, nc, nv = len(grid.batches), len(grid.contexts), len(grid.variants)
    names = {"model": tuple(m.name for m in grid.models), "gpu": tuple(h.name for h in grid.gpus),
             "kv_dtype": tuple(getattr(k, "name", k) for k in grid.kv_dtypes), "attention": tuple(grid.attentions)}
    points = {k: np.empty(grid.size, bool if k == "fits" else np.float64) for k in POINT_VALUES
              if grid.forecast or k not in FORECAST_VALUES}
    regions = {k: np.empty(len(grid.models) * len(grid.gpus) * nv) for k in REGION_VALUES}
    batches = np.asarray(grid.batches, np.float64)[:, None]
    contexts = np.asarray(grid.contexts, np.float64)[None, :]
    size = nb * nc
    regions_all = len(grid.models) * len(grid.gpus)
    for mi, m in enumerate(grid.models):
        for gi, hw in enumerate(grid.gpus):
            if progress is not None:
                progress(f"{m.name} on {hw.name}", mi * len(grid.gpus) + gi, regions_all)
            plan = _plan(m, hw, [resolve(m, hw, grid.workload(kv, a)) for kv, a in grid.variants], grid.forecast)
            first = (mi * len(grid.gpus) + gi) * nv  # region of the first variant
            for b0, b1, c0, c1 in _blocks(nb, nc, max(1024, block_bytes // (8 * plan.width))):
                B, C = batches[b0:b1], contexts[:, c0:c1]
                S_q = C - plan.prefix if plan.prefix else C  # resolve's prompt rule: the context less the prefix
                tpot, ttft = plan.decode(B, C), plan.prefill(B, S_q, C)  # times, then forecasts
                shape = (b1 - b0, c1 - c0)
                for vi, figures in enumerate(plan.figures):
                    off = (first + vi) * size + b0 * nc + c0
                    at = slice(off, off + shape[0] * shape[1])
                    weights, kv, workspace, total, free, dps, pps = figures(B, C, S_q, tpot[vi], ttft[vi])
                    fc = (("tpot_forecast_s", tpot[nv + vi] + plan.step_overhead_s),
                          ("ttft_forecast_s", ttft[nv + vi] + plan.step_overhead_s)) if grid.forecast else ()
                    assert np.ndim(weights) == np.ndim(workspace) == 0, "one number per region"
                    regions["weights_bytes"][first + vi], regions["workspace_bytes"][first + vi] = weights, workspace
                    for key, value in (("kv_bytes", kv), ("memory_bytes", total), ("free_bytes", free),
                                       ("tpot_s", tpot[vi]), ("decode_tokens_per_s", dps), ("ttft_s", ttft[vi]),
                                       ("prefill_tokens_per_s", pps), *fc):
                        points[key][at].reshape(shape)[...] = value
                    np.greater_equal(points["free_bytes"][at], 0, out=points["fits"][at])
    if progress is not None:
        progress("", regions_all, regions_all)
    return Sweep(grid, names, points, regions, time.perf_counter() - start, act)


def _blocks(nb: int, nc: int, points: int):
    """(b0, b1, c0, c1) covering the nb x nc grid, each block contiguous in row order: whole rows
    of contexts, or part of one row."""
    if nc >= points:
        for b in range(nb):
            for c in range(0, nc, points):
                yield b, b + 1, c, min(c + points, nc)
        return
    rows = max(1, points // nc)
    for b in range(0, nb, rows):
        yield b, min(b + rows, nb), 0, nc


# ------------------------------------------------------------------ compiling a (model, GPU)

@dataclass(frozen=True, slots=True)
class _Plan:
    decode: Any  # (B, C) -> each variant's tpot, then each variant's ops' forecast
    prefill: Any  # (B, S_q, C) -> each variant's ttft, then each variant's ops' forecast
    figures: tuple  # per variant: (B, C, S_q, tpot, ttft) -> weights, kv, workspace, total, free, rates
    width: int  # arrays of a block's full shape alive at once, at most (sizes the blocks)
    prefix: int
    step_overhead_s: float  # the engine's per pass, added to a pass's forecast


_PLANS: dict[tuple, tuple[Model, Hardware, _Plan]] = {}


def _plan(m: Model, hw: Hardware, resolved: list[Resolved], forecast: bool = True) -> _Plan:
    key = (id(m), id(hw), id(resolved[0].engine) if forecast else None,
           tuple((r.structure, r.chunk, r.memory_utilization, r.prefix) for r in resolved))
    hit = _PLANS.get(key)
    if hit is not None and hit[0] is m and hit[1] is hw:
        return hit[2]
    forms = [model_form(m, r) for r in resolved]
    engine = resolved[0].engine if forecast else None
    decode, dw = fused_times([f.decode for f in forms], hw, engine)
    prefill, pw = fused_times([f.prefill for f in forms], hw, engine)
    figures = tuple(_figures(f, r, hw) for f, r in zip(forms, resolved))
    prefixes = {r.prefix for r in resolved}
    plan = _Plan(decode, prefill, figures, max(dw, pw) + 8, prefixes.pop(), engine.step_overhead_s if engine else 0.0)
    if len(_PLANS) > 256:
        _PLANS.clear()
    _PLANS[key] = (m, hw, plan)
    return plan


def fused_times(forms: Sequence[PhaseForm], hw: Hardware, engine: Engine | None = None) -> tuple[Any, int]:
    """One function of the passes' inputs returning each form's time, Σ count x t_op over its
    ops, then (with an engine) each form's Σ count x forecast: the lowered expressions of every
    form, each distinct one computed once. Also how many of its arrays take the full (B, C) shape."""
    assigns: list[tuple[str, Expr]] = []
    canonical: dict[int, str] = {}
    table: dict[tuple, int] = {}
    deps: dict[str, frozenset] = {}
    per_form: list[Counter] = []
    forecasts: list[Counter] = []
    for form in forms:
        lowered, outputs = lower(form, hw, engine=engine)
        rename: dict[str, str] = {}  # this form's names -> the shared ones
        memo: dict[int, int] = {}
        for name, e in lowered:
            k = _key(e, rename, memo, table)
            var = canonical.get(k)
            if var is None:
                var = canonical[k] = f"_e{len(canonical)}"
                names = e.symbols()
                assigns.append((var, e.substitute({s: Sym(rename[s]) for s in names if s in rename})))
                deps[var] = frozenset().union(*(deps.get(rename.get(s, s), (s,)) for s in names))
            rename[name] = var
        for at, into in ((TIME_AT, per_form), (FORECAST_AT, forecasts)):
            terms: Counter = Counter()  # an op's time (a name, or a number) -> its instances per pass
            for i, o in enumerate(form.ops):
                t = outputs[PER_OP * i + at]
                if isinstance(t, Sym):
                    terms[rename.get(t.name, t.name)] += o.count
                elif t.value:
                    terms[t.value] += o.count
            into.append(terms)
    sums: list[tuple[str, Expr]] = []
    outputs: list[Expr] = []
    for group, counters in (("t", per_form), ("c", forecasts if engine is not None else [])):
        if not counters:
            continue
        common = counters[0]
        for terms in counters[1:]:
            common = common & terms
        shared = _total(common, deps, sums, f"_{group}common")
        outputs += [_total(terms - common, deps, sums, f"_{group}{v}", shared) for v, terms in enumerate(counters)]
    inputs = forms[0].inputs
    fn = compile_function(outputs, inputs, assigns + sums, numpy=True)
    full = sum(_axes(deps.get(n, frozenset())) == 3 for n, _ in assigns + sums)
    return fn, full


def _axes(symbols) -> int:
    """1: varies with B, 2: with C (or S_q), 3: both."""
    return (1 if "B" in symbols else 0) | (2 if {"C", "S_q"} & set(symbols) else 0)


def _total(terms: Counter, deps: dict, sums: list, name: str, start: Expr | None = None) -> Expr:
    """Σ count x t, grouped by count and by shape, smallest shapes first: each group a definition
    of its own, so that it is added at its own shape."""
    groups: dict[tuple[int, int], list[Expr]] = {}
    for t, count in terms.items():
        shape = _axes(deps.get(t, ())) if isinstance(t, str) else 0
        groups.setdefault((shape, count), []).append(Sym(t) if isinstance(t, str) else Const(t))
    parts: list[tuple[int, Expr]] = []
    for j, ((shape, count), ts) in enumerate(sorted(groups.items(), key=lambda g: g[0])):
        var = f"{name}_{j}"
        sums.append((var, add(*ts)))
        deps[var] = frozenset(s for s, bit in (("B", 1), ("C", 2)) if shape & bit)
        parts.append((shape, mul(count, Sym(var))))
    if start is not None:
        parts.append((3, start))
    parts.sort(key=lambda p: p[0])
    total = add(*(p for _, p in parts)) if parts else Const(0)
    sums.append((name, total))
    deps[name] = frozenset().union(*(deps.get(s, (s,)) for s in total.symbols()))
    return Sym(name)


def _key(e: Expr, rename: dict[str, str], memo: dict[int, int], table: dict[tuple, int]) -> int:
    """A number for a node's structure (equal structures, equal numbers), the names of earlier
    definitions made shared; constants keep their type (an int and a float compute differently)."""
    k = memo.get(id(e))
    if k is None:
        if isinstance(e, Const):
            shape: tuple = ("#", type(e.value).__name__, e.value)
        elif isinstance(e, Sym):
            shape = ("$", rename.get(e.name, e.name))
        else:
            shape = (type(e).__name__, getattr(e, "fn", ""), *(_key(c, rename, memo, table) for c in e.children()))
        k = memo[id(e)] = table.setdefault(shape, len(table))
    return k


def _figures(form: ModelForm, r: Resolved, hw: Hardware):
    """(B, C, S_q, tpot_s, ttft_s) -> weights, KV cache, workspace, total, free bytes, decode and
    prefill tokens/s: the analyzer's figures (memory, the fits rule, the rates) over arrays."""
    defs = [(f.symbol, f.expr.substitute(form.constants)) for f in (*form.figures, *memory.RULE, *RATES)]
    wanted = ("weights_bytes", "kv_cache_bytes", "workspace_bytes", "total_bytes", "free_bytes",
              "decode_tokens_per_s", "prefill_tokens_per_s")
    needed, kept = set(wanted), []
    for name, e in reversed(defs):  # only what the outputs are made of
        if name in needed:
            kept.append((name, e))
            needed.update(e.symbols())
    args = ("workspace_bytes", "u", "capacity", "B", "C", "S_q", "tpot_s", "ttft_s")  # one source for every GPU
    fn = compile_function([Sym(w) for w in wanted], args, kept[::-1], numpy=True)
    return partial(fn, memory.workspace_term(form.prefill, r.chunk).value, r.memory_utilization, hw.capacity_bytes)


# ------------------------------------------------------------------ one point, explained

def point_terms(result: Sweep, i: int = 0) -> list[Term]:
    """The swept figures of point i as terms keyed by their JSON path (points[i].tpot_s, ...):
    the scalar analyzer's terms at that point, the KV cache and free memory with the figures
    they are built from written out."""
    m, hw, w = result.point(i)
    terms = analyze(m, hw, w).terms
    inline = {"kv_cache_bytes_per_sequence": terms["memory.kv_cache_bytes_per_sequence"],
              "usable_bytes": terms["memory.usable_bytes"]}
    out = []
    for column, key in FIGURES.items():
        if column not in result.columns:
            continue
        t = terms[key]
        expr, bindings, notes = t.expr, dict(t.bindings), [t.note]
        for name in [n for n in bindings if n in inline]:
            expr = expr.substitute({name: inline[name].expr})
            del bindings[name]
            bindings.update(inline[name].bindings)
            notes.append(f"{name}: {inline[name].note}")
        (term,) = evaluate_figures([figure(f"points[{i}].{column}", expr, t.unit, "; ".join(notes))], bindings)
        out.append(term)
    return out
