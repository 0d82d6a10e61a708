"""Charts as inline SVG for the HTML report: log-log axes, a GPU's roofline with points that
carry their numbers (the page's script shows them on hover), and lines such as memory against
context with a capacity line. Strings only: no browser, no library, so a test can read what is
drawn and the report works offline.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import TypeVar

from rooflint.units import format_si

T = TypeVar("T")
WIDTH, HEIGHT = 560, 380
MARGIN = (86, 16, 22, 44)  # left, right, top, bottom (px)
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f", "#17becf")
PHASE_COLORS = {"prefill": PALETTE[0], "decode": PALETTE[1]}


@dataclass(frozen=True, slots=True)
class LogAxes:
    """Log10 axes mapping data (x, y) to pixels inside the margins."""

    x0: float
    x1: float
    y0: float
    y1: float

    def px(self, x: float) -> float:
        left, right = MARGIN[0], WIDTH - MARGIN[1]
        return left + (math.log10(x) - math.log10(self.x0)) / (math.log10(self.x1) - math.log10(self.x0)) * (right - left)

    def py(self, y: float) -> float:
        top, bottom = MARGIN[2], HEIGHT - MARGIN[3]
        return bottom - (math.log10(y) - math.log10(self.y0)) / (math.log10(self.y1) - math.log10(self.y0)) * (bottom - top)


def span(values: Sequence[float], pad: float = 2.0) -> tuple[float, float]:
    """A decade-aligned range holding every positive value, padded by `pad` x either side (at
    least a decade wide; 1 .. 10 when there is no positive value)."""
    pos = [v for v in values if v > 0 and math.isfinite(v)] or [1.0]
    low, high = min(pos) / pad, max(pos) * pad
    a, b = math.floor(math.log10(low)), math.ceil(math.log10(high))
    return 10.0**a, 10.0 ** max(b, a + 1)


def _ticks(a: float, b: float) -> list[float]:
    lo, hi = round(math.log10(a)), round(math.log10(b))
    step = max(1, (hi - lo) // 7)
    return [10.0**k for k in range(lo, hi + 1, step)]


def _tick_label(v: float, unit: str) -> str:
    """10^k with an SI prefix (units.format_si): 10 TFLOP/s, 100 GB; unitless ticks as 1e-2 .. 1e4."""
    k = round(math.log10(v))
    if unit:
        return format_si(10.0**k, unit)
    return f"{10.0**k:g}" if -2 < k < 4 else f"1e{k}"


def frame(ax: LogAxes, x_label: str, y_label: str, x_unit: str = "", y_unit: str = "") -> list[str]:
    """The grid, ticks and axis labels."""
    left, right, top, bottom = MARGIN[0], WIDTH - MARGIN[1], MARGIN[2], HEIGHT - MARGIN[3]
    out = [f'<rect x="{left}" y="{top}" width="{right - left}" height="{bottom - top}" class="plot-area"/>']
    for v in _ticks(ax.x0, ax.x1):
        x = ax.px(v)
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}" class="grid"/>'
                   f'<text x="{x:.1f}" y="{bottom + 14}" class="tick" text-anchor="middle">'
                   f'{escape(_tick_label(v, x_unit))}</text>')
    for v in _ticks(ax.y0, ax.y1):
        y = ax.py(v)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" class="grid"/>'
                   f'<text x="{left - 4}" y="{y + 4:.1f}" class="tick" text-anchor="end">'
                   f'{escape(_tick_label(v, y_unit))}</text>')
    out.append(f'<text x="{(left + right) / 2}" y="{HEIGHT - 6}" class="axis-label" text-anchor="middle">'
               f'{escape(x_label)}</text>')
    out.append(f'<text transform="translate(12 {(top + bottom) / 2}) rotate(-90)" class="axis-label" '
               f'text-anchor="middle">{escape(y_label)}</text>')
    return out


def polyline(ax: LogAxes, xs: Sequence[float], ys: Sequence[float], css: str, color: str, label: str,
             dash: str = "") -> str:
    points = " ".join(f"{ax.px(x):.1f},{ax.py(y):.1f}" for x, y in zip(xs, ys) if x > 0 and y > 0)
    style = f' stroke-dasharray="{dash}"' if dash else ""
    return (f'<polyline points="{points}" class="{css}" stroke="{color}"{style} data-label="{escape(label)}">'
            f'<title>{escape(label)}</title></polyline>')


def svg(body: Sequence[str], title: str, css: str, legend: Sequence[tuple[str, str, str]] = ()) -> str:
    """The chart in a figure, its legend (label, colour, line style) below it, outside the data."""
    keys = "".join(f'<span><i class="key {style}" style="border-color:{color}"></i>{escape(label)}</span>'
                   for label, color, style in legend)
    return (f'<figure class="{css}"><svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
            f'height="{HEIGHT}" role="img" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
            f'{"".join(body)}</svg><figcaption class="legend">{keys}</figcaption></figure>')


@dataclass(frozen=True, slots=True)
class Dot:
    """A point of the roofline: where it sits, how it is drawn, and the lines its hover shows."""

    x: float  # FLOP / byte
    y: float  # attainable FLOP/s
    group: str  # prefill | decode
    name: str
    tip: tuple[str, ...]


def roofline_svg(title: str, roofs: Mapping[str, float], bandwidth: float, active: str, dots: Sequence[Dot]) -> str:
    """Each dtype's roof min(peak, I x bandwidth), the active one heavier, its ridge marked; the
    dots (circles for prefill, diamonds for decode), each carrying its tooltip lines."""
    xs = [d.x for d in dots] + [roofs[active] / bandwidth]
    x0, x1 = span(xs, 4)
    ys = [d.y for d in dots] + list(roofs.values()) + [x0 * bandwidth]
    ax = LogAxes(x0, x1, *span(ys, 2))
    body = frame(ax, "arithmetic intensity (FLOP / byte)", "attainable FLOP/s", "", "FLOP/s")
    grid = [ax.x0 * 2 ** (k / 4) for k in range(int(4 * math.log2(ax.x1 / ax.x0)) + 1)]
    for key, peak in sorted(roofs.items(), key=lambda kv: kv[1]):
        body.append(polyline(ax, grid, [min(peak, x * bandwidth) for x in grid],
                             "roof active" if key == active else "roof", "#333" if key == active else "#aaa",
                             f"{key} roof {peak / 1e12:.4g} TFLOP/s"))
    ridge = roofs[active] / bandwidth
    body.append(f'<circle cx="{ax.px(ridge):.1f}" cy="{ax.py(roofs[active]):.1f}" r="3" class="ridge">'
                f'<title>ridge {ridge:.1f} FLOP/B</title></circle>')
    legend = [(f"{key} roof", "#333" if key == active else "#aaa", "solid") for key in sorted(roofs, key=roofs.get)]
    # ops on the same pixel are one point: every one of them hoverable
    for here in near_groups(dots, lambda d: (ax.px(d.x), ax.py(d.y)), 1.5):
        d = here[0]
        x, y = ax.px(d.x), ax.py(d.y)
        lines = ([f"{len(here)} ops at this point (the same intensity and FLOP/s):", ""] if len(here) > 1 else [])
        lines += [line for op in here for line in (*op.tip, "")][:-1]
        tip = escape("\n".join(lines), quote=True)
        ops = " ".join(f"{op.group}:{op.name}" for op in here)
        groups = " ".join(dict.fromkeys(op.group for op in here))
        attrs = f'class="op {groups}" data-ops="{escape(ops)}" data-count="{len(here)}" data-tip="{tip}"'
        if d.group == "decode":
            body.append(f'<path d="M{x:.1f} {y - 5:.1f}L{x + 5:.1f} {y:.1f}L{x:.1f} {y + 5:.1f}L{x - 5:.1f} {y:.1f}Z" '
                        f'fill="{PHASE_COLORS[d.group]}" {attrs}/>')
        else:
            body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4.5" fill="{PHASE_COLORS[d.group]}" {attrs}/>')
    return svg(body, title, "roofline", legend)


def near_groups(items: Sequence[T], place: Callable[[T], tuple[float, float]], within_px: float) -> list[list[T]]:
    """The items grouped by where they land on the page: each joins the first group whose first
    item is within `within_px` of it (in order), else starts one. What shares a place shares a
    label (the plot's numbers) or a hover (the report's points)."""
    groups: list[tuple[tuple[float, float], list[T]]] = []
    for item in items:
        at = place(item)
        for anchor, members in groups:
            if math.dist(at, anchor) <= within_px:
                members.append(item)
                break
        else:
            groups.append((at, [item]))
    return [members for _, members in groups]


def lines_svg(title: str, xs: Sequence[float], series: Mapping[str, Sequence[float]],
              levels: Mapping[str, float], x_label: str, y_label: str, x_unit: str = "", y_unit: str = "") -> str:
    """Series against x (log-log), and horizontal reference levels (e.g. capacity) drawn dashed."""
    ys = [y for v in series.values() for y in v] + list(levels.values())
    ax = LogAxes(*span(xs, 1), *span(ys, 2))
    body = frame(ax, x_label, y_label, x_unit, y_unit)
    legend = []
    for i, (label, values) in enumerate(series.items()):
        body.append(polyline(ax, xs, values, "series", PALETTE[i % len(PALETTE)], label))
        legend.append((label, PALETTE[i % len(PALETTE)], "solid"))
    for i, (label, level) in enumerate(levels.items()):
        dash = ("6 3", "2 3")[i % 2]
        body.append(polyline(ax, [ax.x0, ax.x1], [level, level], "level", "#000", label, dash))
        legend.append((label, "#000", ("dashed", "dotted")[i % 2]))
    return svg(body, title, "lines", legend)
