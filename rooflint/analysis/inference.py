"""Whole-model analysis of prefill and one decode step: ops on the roofline, totals, memory.

`analyze(model, hardware, workload)` resolves the workload, then evaluates the model's op forms
(built once per model and choice of kernels and dtypes) through one compiled function per GPU,
and the figures (KV cache, weights, the memory rule, times) from their expressions. Ops and
terms are materialized only when a report asks for them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

from rooflint.analysis import checkpoint, kv_cache, memory, params
from rooflint.analysis.evaluate import FORECAST_AT, PER_OP, TIME_AT, CompiledPhase, compile_phase, time_symbol
from rooflint.analysis.expr import add, mul, sym
from rooflint.analysis.layers import DECODE, PREFILL, PhaseForm, phase_form
from rooflint.analysis.memo import per_object
from rooflint.analysis.ops import Op, bindings
from rooflint.analysis.roofline import Timed, bound_of_op, hardware_terms
from rooflint.analysis.terms import Figure, Term, evaluate_figures, figure, figure_values
from rooflint.specs import Hardware, Model
from rooflint.specs.engine import Engine
from rooflint.workload import Resolved, Workload, resolve, target_gpu

B, S_q, ttft_s, tpot_s, step_overhead_s = sym("B S_q ttft_s tpot_s step_overhead_s")


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class ModelForm:
    """What a model computes under one choice of kernels and dtypes: both passes' op forms and
    the figures' definitions."""

    prefill: PhaseForm
    decode: PhaseForm
    figures: tuple[Figure, ...]  # memory: weights, KV cache, S+P, in order
    constants: dict  # the figures' model and dtype symbols
    ttft: Figure  # the sum of the prefill ops' times
    tpot: Figure  # the sum of the decode ops' times
    ttft_forecast: Figure  # the sum of the prefill ops' forecasts and the engine's step overhead
    tpot_forecast: Figure
    rates: tuple[Figure, ...]  # tokens per second
    time_names: tuple[tuple[str, ...], tuple[str, ...]]  # the op times' symbols in ttft and tpot


# Caches keyed by identity (specs are immutable; the entry keeps its own so an id is never reused).
_FORMS: dict[tuple, tuple[Model, ModelForm]] = {}
_COMPILED: dict[tuple, tuple[ModelForm, Hardware, Engine | None, CompiledPhase, CompiledPhase]] = {}


def model_form(m: Model, r: Resolved) -> ModelForm:
    key = (id(m), r.structure)
    hit = _FORMS.get(key)
    if hit is not None and hit[0] is m:
        return hit[1]
    if len(_FORMS) > 512:
        _FORMS.clear()
    pre, dec = phase_form(m, r, PREFILL), phase_form(m, r, DECODE)
    figures = (*params.weight_figures(m), *checkpoint.checkpoint_figures(m), *kv_cache.kv_figures(m, r.mla_mode),
               *memory.scores_figures(r.attention))
    consts = {**kv_cache.constants(m, r.b_kv, r.b_a), **params.weight_constants(m, dict(r.class_bytes), r.b_h),
              **checkpoint.checkpoint_constants(m, r.b_a),
              "H_q": m.num_attention_heads, "b_a": r.b_a}
    ttft = figure("totals.ttft_s", _phase_time(pre), "seconds", "prefill: the sum of count x time over its ops")
    tpot = figure("totals.tpot_s", _phase_time(dec), "seconds", "one decode step: the sum over its ops")
    ttft_fc = figure("totals.ttft_forecast_s", _phase_time(pre, "c_") + step_overhead_s, "seconds",
                     "prefill: the sum of count x forecast over its ops, and the engine's overhead per step")
    tpot_fc = figure("totals.tpot_forecast_s", _phase_time(dec, "c_") + step_overhead_s, "seconds",
                     "one decode step: the sum of the ops' forecasts and the engine's overhead per step")
    names = tuple(tuple(time_symbol(o.name) for o in p.ops) for p in (pre, dec))
    form = ModelForm(pre, dec, figures, consts, ttft, tpot, ttft_fc, tpot_fc, RATES, names)
    _FORMS[key] = (m, form)
    return form


def _phase_time(phase: PhaseForm, prefix: str = "t_") -> object:
    return add(*(mul(o.count, sym(time_symbol(o.name, prefix))) for o in phase.ops))


RATES = (figure("totals.decode_tokens_per_s", B / tpot_s, "per_second", "B sequences each get a token per step"),
         figure("totals.prefill_tokens_per_s", B * S_q / ttft_s, "per_second", "prompt tokens per second"))


def compiled(form: ModelForm, hw: Hardware, engine: Engine | None = None) -> tuple[CompiledPhase, CompiledPhase]:
    key = (id(form), id(hw), id(engine))
    hit = _COMPILED.get(key)
    if hit is None or hit[0] is not form or hit[1] is not hw or hit[2] is not engine:
        if len(_COMPILED) > 512:
            _COMPILED.clear()
        hit = _COMPILED[key] = (form, hw, engine, compile_phase(form.prefill, hw, engine=engine),
                                compile_phase(form.decode, hw, engine=engine))
    return hit[3], hit[4]


class PhaseResult:
    """One pass's totals, and its ops on the roofline (built when asked for)."""

    __slots__ = ("name", "form", "values", "inputs", "hardware", "_ops")

    def __init__(self, name: str, form: PhaseForm, values: tuple, inputs: dict, hardware: Hardware):
        self.name, self.form, self.values, self.inputs, self.hardware = name, form, values, inputs, hardware
        self._ops = None

    @property
    def flops(self) -> float:
        return self.values[-5]

    @property
    def bytes_read(self) -> float:
        return self.values[-4]

    @property
    def bytes_written(self) -> float:
        return self.values[-3]

    @property
    def bytes(self) -> float:
        return self.values[-4] + self.values[-3]

    @property
    def time_s(self) -> float:
        """Sum of the ops' roofline times (each op bound on its own, kernels run one by one)."""
        return self.values[-2]

    @property
    def kernels_forecast_s(self) -> float:
        """Sum of the ops' forecasts (the engine's per-step overhead not included)."""
        return self.values[-1]

    @property
    def tokens(self) -> int:
        return self.inputs["B"]

    @property
    def ops(self) -> tuple[Timed, ...]:
        """The kernels that run, on the roofline."""
        if self._ops is None:
            env = {**self.form.constants, **self.inputs}
            for name, e in self.form.defs:
                env[name] = e.evaluate(env)
            out = []
            for i, o in enumerate(self.form.ops):
                f, r, w, p, _, fc = self.values[PER_OP * i: PER_OP * (i + 1)]
                if not p:  # a kernel that does not run for these inputs (flash-decoding's reduce, unsplit)
                    continue
                peak, bw, t0, half = hardware_terms(self.hardware, o.peak_key, o.kind)
                out.append(Timed(Op(o, f, r, w, p, bindings(o, env)), peak, bw, t0, half, fc))
            self._ops = tuple(out)
        return self._ops

    def time_by_scope(self, scope: str, forecast: bool = False) -> float:
        """The ops' times (or forecasts) summed over the ops of one scope: "layer" or "model"
        (the embedding, the final norm and lm_head)."""
        return sum(o.count * self.values[PER_OP * i + (5 if forecast else 4)]
                   for i, o in enumerate(self.form.ops) if o.scope == scope)

    def time_of(self, prefix: str, forecast: bool = False) -> float:
        """The ops' times (or forecasts) summed over the ops whose names start with `prefix`."""
        return sum(o.count * self.values[PER_OP * i + (5 if forecast else 4)]
                   for i, o in enumerate(self.form.ops) if o.name.startswith(prefix))

    def time_by_bound(self, bound: str, forecast: bool = False) -> float:
        """The ops' times (or forecasts) summed over the ops under one roof."""
        total = 0.0
        for i, o in enumerate(self.form.ops):
            f, r, w, _, t, c = self.values[PER_OP * i: PER_OP * (i + 1)]
            peak, bw, _, half = hardware_terms(self.hardware, o.peak_key, o.kind)
            if bound_of_op(f, r + w, half, peak, bw) == bound:
                total += o.count * (c if forecast else t)
        return total


class Analysis:
    """Prefill of the prompt and one decode step at the context, for a batch: figures and ops."""

    __slots__ = ("resolved", "form", "prefill", "decode", "__dict__")

    def __init__(self, resolved: Resolved, form: ModelForm, prefill: PhaseResult, decode: PhaseResult):
        self.resolved, self.form, self.prefill, self.decode = resolved, form, prefill, decode

    # --- what was analysed
    model = property(lambda self: self.resolved.model)
    hardware = property(lambda self: self.resolved.hardware)
    dtype = property(lambda self: self.resolved.act)
    kv_dtype = property(lambda self: self.resolved.kv)
    weight_dtype = property(lambda self: self.resolved.weight)
    weight_bytes_per_element = property(lambda self: self.resolved.b_w)
    kv_bytes_per_element = property(lambda self: self.resolved.b_kv)
    notes = property(lambda self: self.resolved.notes)

    @cached_property
    def _inputs(self) -> dict[str, float]:
        r, form = self.resolved, self.form
        return {**form.constants, "B": r.batch, "C": r.context, "S_q": r.prompt, "S_kv": r.prefill_kv_len}

    @cached_property
    def _figures(self) -> dict[str, Term]:
        """The model form's figures as terms: KV cache, weights, S+P."""
        return {t.key: t for t in evaluate_figures(self.form.figures, self._inputs)}

    @cached_property
    def _totals(self) -> dict[str, Term]:
        """TTFT and TPOT as the sums of their ops' times, and the rates."""
        r, form, out = self.resolved, self.form, {}
        for phase, fig, fc, names in ((self.prefill, form.ttft, form.ttft_forecast, form.time_names[0]),
                                      (self.decode, form.tpot, form.tpot_forecast, form.time_names[1])):
            (t,) = evaluate_figures([fig], dict(zip(names, phase.values[TIME_AT::PER_OP])))
            out[t.key] = t
            if r.engine is not None:
                binds = {"c" + n[1:]: v for n, v in zip(names, phase.values[FORECAST_AT::PER_OP])}  # t_x -> c_x
                (c,) = evaluate_figures([fc], {**binds, "step_overhead_s": r.engine.step_overhead_s})
                out[c.key] = c
        rates = {"B": r.batch, "S_q": r.prompt, "ttft_s": out["totals.ttft_s"].value,
                 "tpot_s": out["totals.tpot_s"].value}
        out.update({t.key: t for t in evaluate_figures(form.rates, rates)})
        return out

    def _fit_inputs(self, figure: dict) -> tuple[float, float, Term]:
        r = self.resolved
        return (figure["memory.weights_bytes"], figure["memory.kv_cache_bytes"],
                memory.workspace_term(self.form.prefill, r.chunk))

    @cached_property
    def _fit(self) -> dict[str, Term]:
        """The memory rule's terms (the workspace needs a prefill chunk evaluated: only when asked)."""
        r = self.resolved
        weights, kv, workspace = self._fit_inputs({k: t.value for k, t in self._figures.items()})
        fits = memory.fit_terms(weights, kv, workspace, r.hardware.capacity_bytes, r.memory_utilization)
        return {t.key: t for t in fits}

    @cached_property
    def _values(self) -> dict[str, float]:
        """The figures' and the rule's values alone: what reading a figure needs (no terms built)."""
        r = self.resolved
        values = figure_values(self.form.figures, self._inputs)
        weights, kv, workspace = self._fit_inputs(values)
        values.update(memory.fit_values(weights, kv, workspace, r.hardware.capacity_bytes, r.memory_utilization))
        return values

    @cached_property
    def terms(self) -> dict[str, Term]:
        """Every figure of the analysis as a term, by JSON key."""
        return {**self._figures, **self._totals, **self._fit}

    def value(self, key: str) -> float:
        return self._totals[key].value if key.startswith("totals.") else self._values[key]

    @property
    def params(self) -> dict[str, int]:
        return params.parameter_breakdown(self.model)

    @property
    def param_count(self) -> int:
        return params.parameter_count(self.model)

    @property
    def active_param_count(self) -> int:
        return params.active_parameter_count(self.model)

    weights_bytes = property(lambda self: self.value("memory.weights_bytes"))
    checkpoint_bytes = property(lambda self: self.value("checkpoint.bytes"))
    kv_bytes_per_token = property(lambda self: self.value("memory.kv_cache_bytes_per_token"))
    kv_bytes_per_sequence = property(lambda self: self.value("memory.kv_cache_bytes_per_sequence"))
    kv_bytes = property(lambda self: self.value("memory.kv_cache_bytes"))
    scores_bytes_per_layer = property(lambda self: self.value("memory.attention_scores_bytes_per_layer"))
    workspace_bytes = property(lambda self: self.value("memory.workspace_bytes"))
    total_bytes = property(lambda self: self.value("memory.total_bytes"))
    free_bytes = property(lambda self: self.value("memory.free_bytes"))
    ttft_s = property(lambda self: self.prefill.time_s)
    tpot_s = property(lambda self: self.decode.time_s)
    ttft_forecast_s = property(lambda self: self.value("totals.ttft_forecast_s"))
    tpot_forecast_s = property(lambda self: self.value("totals.tpot_forecast_s"))

    @property
    def fits(self) -> bool:
        return self.free_bytes >= 0

    @property
    def decode_tokens_per_s(self) -> float:
        return self.resolved.batch / self.decode.time_s

    @property
    def prefill_tokens_per_s(self) -> float:
        return self.resolved.batch * self.resolved.prompt / self.prefill.time_s


def analyze(model: Model, hardware: Hardware | str | None = None,
            workload: Workload | Resolved | None = None) -> Analysis:
    """Prefill of the prompt and one decode step at the context, for the batch (on the default GPU
    when none is given, as the CLI)."""
    r = workload if isinstance(workload, Resolved) else resolve(model, target_gpu(hardware), workload)
    form = model_form(r.model, r)
    pre_fn, dec_fn = compiled(form, r.hardware, r.engine)
    B_, P, K, Cd = r.batch, r.prompt, r.prefix + r.prompt, r.context
    prefill = PhaseResult(PREFILL, form.prefill, pre_fn(B_, P, K), {"B": B_, "S_q": P, "C": K}, r.hardware)
    decode = PhaseResult(DECODE, form.decode, dec_fn(B_, Cd), {"B": B_, "C": Cd}, r.hardware)
    return Analysis(r, form, prefill, decode)


_DECODE_ARRAYS: dict = {}


class DecodeOver:
    """One decode step at a context for each batch of an array (what serve weighs at every
    concurrency of a layout): the analyzer's decode expressions compiled over numpy arrays, so each
    value is an array over the batches. It answers what an Analysis's decode does."""

    __slots__ = ("resolved", "decode")

    def __init__(self, resolved: Resolved, decode: PhaseResult):
        self.resolved, self.decode = resolved, decode

    model = property(lambda self: self.resolved.model)
    tpot_s = property(lambda self: self.decode.time_s)
    tpot_forecast_s = property(lambda self: self.decode.kernels_forecast_s + self.resolved.engine.step_overhead_s)


def decode_over(r: Resolved, batches) -> DecodeOver:
    """r's decode step for every batch of `batches` (an int array) at r's context; its resolved
    batch is that array (what later figures multiply by)."""
    import numpy as np

    form = model_form(r.model, r)
    fn = per_object(_DECODE_ARRAYS, (form, r.hardware, r.engine),
                    lambda: compile_phase(form.decode, r.hardware, numpy=True, engine=r.engine), limit=512)
    B = np.asarray(batches, dtype=np.float64)  # 2 B D V FLOPs overflow int64 from 2^34 sequences
    decode = PhaseResult(DECODE, form.decode, fn(B, r.context), {"B": B, "C": r.context}, r.hardware)
    return DecodeOver(replace(r, batch=B), decode)
