"""Evaluating a pass's op forms fast: every expression of a phase, with the model's constants and
the hardware's roofs folded in, compiled into one Python function of the pass's inputs.

The same function runs over Python numbers (analyze) or numpy arrays that broadcast (sweep):
the formulas are the op forms' own, so the two cannot disagree. Each op gives six numbers per
instance, in order: FLOPs, bytes read, bytes written, present (0 or 1), time (roofline.TIME) and
forecast (forecast.FORECAST); then the pass's totals over count x instance: FLOPs, bytes read,
bytes written, time, forecast.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from rooflint.analysis.codegen import compile_function
from rooflint.analysis.expr import Const, Expr, Sym, add, mul, replace_symbols
from rooflint.analysis.forecast import forecast_expr
from rooflint.analysis.layers import PhaseForm
from rooflint.analysis.roofline import hardware_terms, time_expr
from rooflint.specs import Hardware
from rooflint.specs.engine import Engine

PER_OP = 6  # flops, bytes_read, bytes_written, present, time, forecast
TOTALS = 5  # flops, bytes_read, bytes_written, time, forecast
TIME_AT, FORECAST_AT = 4, 5  # where an op's time and forecast sit among its PER_OP values


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class CompiledPhase:
    form: PhaseForm
    fn: Callable[..., tuple]
    hardware: Hardware | None
    engine: Engine | None = None

    def __call__(self, *inputs):
        return self.fn(*inputs)


_BOUND: dict[tuple, tuple[PhaseForm, list, list]] = {}


def _bound(form: PhaseForm, overrides: Mapping[str, float] | None) -> tuple[list, list]:
    """The phase's assignments and each op's four values (FLOPs, read, written, present) with
    the constants bound, and its tiling bound likewise (None when it has none): the part of
    lowering that no GPU changes, done once per form."""
    key = (id(form), tuple(sorted((overrides or {}).items())))
    hit = _BOUND.get(key)  # the entry keeps its form, so the id stays its own
    if hit is not None:
        return hit[1], hit[2]
    env: dict[str, Expr] = {k: Const(v) for k, v in {**form.constants, **(overrides or {})}.items()}
    assigns: list[tuple[str, Expr]] = []
    memo: dict = {}  # substitutions under the current env; a new definition starts a new one

    def define(name: str, e: Expr, var: str) -> None:
        nonlocal memo
        e = replace_symbols(e, env, memo)
        if isinstance(e, (Const, Sym)):
            env[name] = e
        else:
            assigns.append((var, e))
            env[name] = Sym(var)
        memo = {}

    for name, e in form.defs:
        define(name, e, name)
    shared = memo  # the phase's env, which every op without definitions of its own sees
    per_op = []
    for i, o in enumerate(form.ops):
        saved = dict(env)
        memo = shared if not o.defs else {}
        for name, e in o.defs:
            define(name, e, f"_{i}_{name}")
        values = []
        for j, e in enumerate((o.flops, o.bytes_read, o.bytes_written, o.present)):
            bound = replace_symbols(e, env, memo)
            if not isinstance(bound, (Const, Sym)):
                assigns.append((f"_{'frwp'[j]}{i}", bound))
                bound = Sym(f"_{'frwp'[j]}{i}")
            values.append(bound)
        tiling = o.tiling and replace(o.tiling, tiles=replace_symbols(o.tiling.tiles, env, memo),
                                      depth=None if o.tiling.depth is None else replace_symbols(o.tiling.depth, env, memo))
        per_op.append((values, tiling))
        env = saved
    if len(_BOUND) > 1024:
        _BOUND.clear()
    _BOUND[key] = (form, assigns, per_op)
    return assigns, per_op


def lower(form: PhaseForm, hw: Hardware | None, overrides: Mapping[str, float] | None = None,
          with_time: bool = True, engine: Engine | None = None) -> tuple[list[tuple[str, Expr]], list[Expr]]:
    """The assignments and outputs of a phase with its constants (and the hardware's roofs) bound;
    each op's forecast beside its bound when an engine is given (else 0)."""
    bound, per_op = _bound(form, overrides)
    assigns = list(bound)
    outputs: list[Expr] = []
    totals: list[list[Expr]] = [[], [], [], [], []]
    for i, (o, (four, tiling)) in enumerate(zip(form.ops, per_op)):
        values = list(four)
        if with_time and hw is not None:
            peak, bw, t0, half = hardware_terms(hw, o.peak_key, o.kind)
            assigns.append((f"_t{i}", time_expr(*values, peak, bw, t0, half)))
            values.append(Sym(f"_t{i}"))
        else:
            values.append(Const(0))
        if with_time and hw is not None and engine is not None:
            assigns.append((f"_c{i}", forecast_expr(replace(o, tiling=tiling), *four, hw, engine)))
            values.append(Sym(f"_c{i}"))
        else:
            values.append(Const(0))
        outputs += values
        for k, v in enumerate((values[0], values[1], values[2], values[4], values[5])):
            totals[k].append(mul(o.count, v))
    outputs += [add(*t) for t in totals]
    return assigns, outputs


def compile_phase(form: PhaseForm, hw: Hardware | None, *, numpy: bool = False,
                  overrides: Mapping[str, float] | None = None, engine: Engine | None = None) -> CompiledPhase:
    assigns, outputs = lower(form, hw, overrides, engine=engine)
    return CompiledPhase(form, compile_function(outputs, form.inputs, assigns, numpy=numpy), hw, engine)


def time_symbol(op_name: str, prefix: str = "t_") -> str:
    """The symbol a phase total uses for an op's time (t_<name>) or forecast (c_<name>), '@' and
    '-' as '_'."""
    return prefix + op_name.replace("@", "_").replace("-", "_")
