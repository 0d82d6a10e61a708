"""Ops: one kernel's FLOPs and bytes as expressions (an OpForm), and their values (an Op).

An `OpForm` is what the builders of a model produce once: the kernel's FLOPs, bytes read and
bytes written as expressions over the glossary's symbols, the symbols it derives on the way
(`defs`: T = B*S_q, a window's S_kv = min(C, W), a MoE pass's E_hit, ...) and whether it runs
at all (`present`: flash-decoding's reduction runs only when the keys are split). An `Op` is an
OpForm evaluated for one workload: numbers, and the bindings that reproduce them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from rooflint.analysis.codegen import compile_function
from rooflint.analysis.expr import Const, Expr, Sym, wrap
from rooflint.analysis.terms import Term

MATMUL, ELEMENTWISE, MEMORY = "matmul", "elementwise", "memory"
ONE = Const(1)
_FLOPS, _READ, _WRITTEN = Sym("flops"), Sym("bytes_read"), Sym("bytes_written")


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class OpForm:
    """One kernel of a pass; FLOPs and bytes are per instance, `count` instances per pass."""

    name: str
    scope: str  # "layer" or "model"
    count: int
    kind: str  # matmul | elementwise | memory
    peak_key: str  # which Hardware peak bounds its arithmetic
    flops: Expr
    bytes_read: Expr
    bytes_written: Expr
    defs: tuple[tuple[str, Expr], ...] = ()  # derived symbols, in order (each may use the ones before)
    present: Expr = ONE  # 1 when the kernel runs, 0 when it does not
    note: str = ""
    footprint: Expr | None = None  # bytes live at once, if not bytes_read + bytes_written (re-read tiles)
    weight: str = ""  # a matmul's weight format, e.g. "fp8+0.00024" (scales' bytes per element); "" without weights
    tiling: object = None  # forecast.Tiling: how the kernel is cut into thread blocks (wave quantization)

    @property
    def live_bytes(self) -> Expr:
        """What the op holds in memory at once: its inputs and outputs, each once."""
        return self.footprint if self.footprint is not None else self.bytes_read + self.bytes_written

    def renamed(self, suffix: str) -> OpForm:
        return replace(self, name=self.name + suffix)

    @property
    def expressions(self) -> dict[str, Expr]:
        return {"flops": self.flops, "bytes_read": self.bytes_read, "bytes_written": self.bytes_written}


def op(name: str, scope: str, count: int, kind: str, peak_key: str, *, flops=0, read, write,
       defs: tuple[tuple[str, Expr], ...] = (), present=1, note: str = "", footprint=None, tiling=None) -> OpForm:
    return OpForm(name, scope, count, kind, peak_key, wrap(flops), wrap(read), wrap(write),
                  tuple((n, wrap(e)) for n, e in defs), wrap(present), note,
                  None if footprint is None else wrap(footprint), tiling=tiling)


def bindings(form: OpForm, values: Mapping[str, float]) -> dict[str, float]:
    """Every symbol the op's formulas use, with its value: the given ones (inputs and constants)
    and the op's derived symbols evaluated in order."""
    env = dict(values)
    for name, e in form.defs:
        env[name] = _value(e, env)
    used: dict[str, None] = {}
    for e in (form.flops, form.bytes_read, form.bytes_written, form.present, *_tiling_exprs(form)):
        for s in e.symbols():
            used[s] = None
    for name, e in reversed(form.defs):  # what the used derived symbols are made of, too
        if name in used:
            for s in e.symbols():
                used.setdefault(s, None)
    return {s: env[s] for s in _ordered(used, form)}


def _tiling_exprs(form: OpForm) -> tuple[Expr, ...]:
    t = form.tiling
    return () if t is None else (t.tiles,) if t.depth is None else (t.tiles, t.depth)


def _ordered(used: Mapping[str, None], form: OpForm) -> list[str]:
    derived = [n for n, _ in form.defs if n in used]
    return [s for s in used if s not in derived] + derived


def _value(e: Expr, env: Mapping[str, float]) -> float:
    names = e.symbols()
    return compile_function([e], names)(*(env[n] for n in names))[0]


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Op:
    """An OpForm's values for one workload (per instance) and the bindings that give them."""

    form: OpForm
    flops: float
    bytes_read: float
    bytes_written: float
    present: float
    symbols: Mapping[str, float] = field(default_factory=dict)

    name = property(lambda self: self.form.name)
    scope = property(lambda self: self.form.scope)
    count = property(lambda self: self.form.count)
    kind = property(lambda self: self.form.kind)
    peak_key = property(lambda self: self.form.peak_key)
    note = property(lambda self: self.form.note)
    weight = property(lambda self: self.form.weight)

    @property
    def bytes(self) -> float:
        return self.bytes_read + self.bytes_written

    @property
    def intensity(self) -> float:
        """FLOP per byte moved (read + written); 0 for pure data movement."""
        return self.flops / self.bytes if self.bytes else 0.0

    @property
    def formulas(self) -> dict[str, str]:
        return {k: str(e) for k, e in self.form.expressions.items()}


def evaluate_op(form: OpForm, values: Mapping[str, float]) -> Op:
    """An op's numbers from its expressions (the slow path: explanations, tests, one-off ops)."""
    env = bindings(form, values)
    full = dict(values)
    full.update(env)
    return Op(form, _value(form.flops, full), _value(form.bytes_read, full), _value(form.bytes_written, full),
              _value(form.present, full), env)


def intensity_term(o: Op, key: str, note: str = ""):
    """FLOP per byte moved: flops / (bytes_read + bytes_written)."""
    e = _FLOPS / (_READ + _WRITTEN)
    return Term(key, e, {"flops": o.flops, "bytes_read": o.bytes_read, "bytes_written": o.bytes_written},
                o.intensity, "ratio", note)


def op_terms(o: Op, prefix: str) -> list:
    """The op's derived symbols, FLOPs and bytes as terms keyed under `prefix` (its JSON place)."""
    env = dict(o.symbols)
    out = []
    for name, e in o.form.defs:
        if name in env:
            out.append(Term(f"{prefix}.symbols.{name}", e, {s: env[s] for s in e.symbols()}, env[name], "count"))
    for key, unit in (("flops", "flops"), ("bytes_read", "bytes"), ("bytes_written", "bytes")):
        e = getattr(o.form, key)
        out.append(Term(f"{prefix}.{key}", e, {s: env[s] for s in e.symbols()}, getattr(o, key), unit))
    return out
