"""Human text for a formula: symbols, substituted values, result."""

from __future__ import annotations

from collections.abc import Mapping

from rooflint.analysis.formula import evaluate, names, substitute
from rooflint.analysis.ops import Op
from rooflint.analysis.roofline import Timed
from rooflint.report.render import human


def formula_line(label: str, formula: str, symbols: Mapping[str, float], kind: str, indent: str = "  ") -> str:
    value = evaluate(formula, symbols)
    terms = ", ".join(f"{n}={_num(symbols[n])}" for n in names(formula) if n in symbols)
    return f"{indent}{label} = {formula} = {substitute(formula, symbols)} = {human(value, kind)}   [{terms}]"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def explain_op(t: Timed, phase: str) -> list[str]:
    op: Op = t.op
    lines = [f"{phase}.{op.name}  ({op.kind}, x{op.count} per pass{', ' + op.note if op.note else ''})"]
    for key, kind in (("flops", "flops"), ("bytes_read", "bytes"), ("bytes_written", "bytes")):
        lines.append(formula_line(key, op.formulas[key], op.symbols, kind))
    lines.append(f"  intensity = flops / (bytes_read + bytes_written) = {human(op.intensity, 'intensity')} FLOP/B"
                 f" vs ridge {t.ridge_point:.1f} ({op.peak_key}) -> {t.bound}-bound")
    t0 = f"{human(t.overhead_s, 'seconds')} + " if t.overhead_s else ""
    work = f"(flops + {human(t.half_flop, 'flops')})" if t.half_flop else "flops"
    lines.append(f"  time = {t0}max({work} / {human(t.peak_flop_per_s, 'flop_per_s')}, bytes / "
                 f"{human(t.bandwidth_bytes_per_s, 'bytes_per_s')}) = {t0}max({human(t.compute_time_s, 'seconds')}, "
                 f"{human(t.memory_time_s, 'seconds')}) = {human(t.time_s, 'seconds')}"
                 + ("   [t0 and F_half: the profile's calibration]" if t0 or t.half_flop else ""))
    return lines
