"""Text for terms: each line is the figure's own expression, then its numbers, then its value.

    kv_cache_bytes_per_token = 2*L*H_kv*d*b_kv = 2*32*32*128*2 = 512 KiB   [L=32, H_kv=32, d=128, b_kv=2]
"""

from __future__ import annotations

from rooflint.analysis.expr import format_number
from rooflint.analysis.terms import Term
from rooflint.report.model import Section
from rooflint.report.render_values import human

UNIT_KINDS = {"bytes": "bytes", "flops": "flops", "seconds": "seconds", "per_second": "ratio", "count": "count",
              "ratio": "ratio", "fraction": "percent", "flop_per_s": "flop_per_s", "bytes_per_s": "bytes_per_s"}


def shown_name(key: str) -> str:
    """A term's name in text: its key below the last list index ('rows[0].bytes' -> 'bytes')."""
    return key.rsplit("].", 1)[-1]


def term_line(t: Term, indent: str = "  ") -> str:
    name = shown_name(t.key)
    text = str(t.expr)
    shown = human(t.value, UNIT_KINDS[t.unit])
    if not t.bindings:
        line = f"{indent}{name} = {text}" + ("" if text == format_number(t.value) else f" = {shown}")
        return line if text != shown else f"{indent}{name} = {shown}"
    values = ", ".join(f"{k}={format_number(v)}" for k, v in t.bindings.items())
    rendered = t.expr.render(t.bindings)
    if rendered == format_number(t.value) or text == rendered:
        return f"{indent}{name} = {text} = {shown}   [{values}]"
    return f"{indent}{name} = {text} = {rendered} = {shown}   [{values}]"


def section_lines(sections: tuple[Section, ...]) -> list[str]:
    out: list[str] = []
    for s in sections:
        out.append(s.title)
        out += [term_line(t) for t in s.terms]
        out += [f"  {line}" for line in s.lines]
        out.append("")
    return out


def as_json(sections: tuple[Section, ...]) -> list[dict]:
    return [{"section": s.title, **t.as_dict()} for s in sections for t in s.terms]
