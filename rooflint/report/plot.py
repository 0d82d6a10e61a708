"""Charts (matplotlib, imported only here): the roofline of a profile with the ops of prefill and
decode placed on it (and measured kernels, from a saved `rooflint measure` run), and memory
against context (weights, KV cache per attention variant and KV dtype, eager S+P, capacity).

What is drawn is computed first as plain data (roofline_points, memory_curves), so that a test
can check the numbers and the image separately.
"""

from __future__ import annotations

import io
import math
import textwrap
from dataclasses import dataclass, replace

from rooflint.analysis.attention import SP_BYTES
from rooflint.analysis.inference import Analysis, analyze
from rooflint.analysis.kv_cache import kv_bytes
from rooflint.errors import SpecError
from rooflint.report.output import check_target
from rooflint.report.svg_charts import near_groups
from rooflint.specs import Hardware, Model
from rooflint.workload import Workload, resolve

FIGSIZE = (14.0, 7.5)  # inches: two panels side by side, their legends and the op key below them
DPI = 100
AXES_BOTTOM = 0.4  # of the figure's height: below it, outside the data, the legends and the key
LABEL_GAP_PX = 14  # points nearer than this on the page share one number


@dataclass(frozen=True, slots=True)
class Point:
    label: str
    intensity: float  # FLOP / byte
    flop_per_s: float
    group: str  # prefill | decode | measured


def roofline_points(a: Analysis, measured=()) -> list[Point]:
    """Each op with FLOPs at (intensity, attainable FLOP/s) under its own dtype's roof; a measured
    kernel at (its intensity, its achieved FLOP/s). Pure data movement has no place on a log x."""
    out = []
    for phase in (a.prefill, a.decode):
        seen = set()
        for t in phase.ops:
            name = t.op.name.split("@")[0]
            if t.op.flops <= 0 or t.op.bytes <= 0 or name in seen:
                continue
            seen.add(name)
            out.append(Point(name, t.op.intensity, t.attainable_flop_per_s, phase.name))
    for row in measured:
        if row.flops > 0 and row.bytes > 0:
            c = row.m.case
            out.append(Point(f"{c.kernel}{'/' + c.variant if c.variant else ''} {c.size_label}",
                             row.flops / row.bytes, row.achieved_flop_per_s, "measured"))
    return out


def memory_curves(a: Analysis, contexts: list[int]) -> dict[str, list[float]]:
    """Bytes at each context: weights and the activation workspace (flat); the KV cache of the
    batch for the model as it is and for MHA / GQA-8 / MQA variants of it, and for fp8 and int4
    KV (bytes per element from resolve); eager S+P of one layer's prefill; the usable memory of
    the one memory rule (u * capacity) is the line they are held against."""
    m, r = a.model, a.resolved
    B = r.batch
    curves: dict[str, list[float]] = {"weights": [a.weights_bytes] * len(contexts),
                                      "activation workspace": [a.workspace_bytes] * len(contexts)}
    variants = {kv_label(a): (m, r.b_kv)}
    if not m.is_mla:
        for label, heads in (("MHA", m.num_attention_heads), ("GQA-8", 8), ("MQA", 1)):
            if heads != m.num_key_value_heads and m.num_attention_heads % heads == 0:
                variants[f"KV {r.kv.name} {label} (H_kv={heads})"] = (replace(m, num_key_value_heads=heads), r.b_kv)
    for name in ("fp8", "int4"):
        if name != r.kv.name:
            q = resolve(m, None, replace(r.workload, kv_dtype=name))
            variants[f"KV {name}" + (" (latent cache)" if m.is_mla else f" (H_kv={m.num_key_value_heads})")] = (m, q.b_kv)
    for label, (model, per_element) in variants.items():
        curves[label] = [kv_bytes(model, per_element, c, B, r.mla_mode) for c in contexts]
    curves["eager S+P, one layer's prefill"] = [
        SP_BYTES.evaluate({"B": B, "H_q": m.num_attention_heads, "S_q": c, "S_kv": c, "b_a": r.b_a}) for c in contexts]
    return curves


def kv_label(a: Analysis) -> str:
    """memory_curves' key of the KV cache as the model and workload specify it."""
    m = a.model
    spec = (f"latent cache: {m.kv_lora_rank} + {m.qk_rope_head_dim} per token per layer" if m.is_mla
            else f"H_kv={m.num_key_value_heads}")
    return f"KV {a.resolved.kv.name} (as specified, {spec})"


def render_png_or_svg(path: str, m: Model, hw: Hardware, workload: Workload, measured=(), contexts=None) -> bytes:
    import matplotlib.pyplot as plt

    fig = roofline_figure(m, hw, workload, measured, contexts)
    buf = io.BytesIO()
    fig.savefig(buf, format="svg" if path.lower().endswith(".svg") else "png", dpi=DPI)
    plt.close(fig)
    return buf.getvalue()


def roofline_figure(m: Model, hw: Hardware, workload: Workload, measured=(), contexts=None):
    """The two panels, their legends and the op key below them (outside the data)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    a = analyze(m, hw, workload)
    r = a.resolved
    fig, (roof, mem) = plt.subplots(1, 2, figsize=FIGSIZE, dpi=DPI)
    fig.subplots_adjust(left=0.06, right=0.98, top=0.93, bottom=AXES_BOTTOM, wspace=0.18)
    _draw_roofline(roof, a, roofline_points(a, measured))
    contexts = contexts or [2**k for k in range(8, 18)]
    _draw_memory(mem, a, memory_curves(a, contexts), contexts)
    fig.suptitle(f"{m.name} on {hw.name}: batch {r.batch}, prompt {r.prompt}, decode at {r.context}, "
                 f"{r.act.name}, {r.attention} attention")
    return fig


def roofline_axes(a: Analysis, points: list[Point]) -> tuple[tuple[float, float], tuple[float, float]]:
    """The roofline panel's x (FLOP/B) and y (FLOP/s) limits: the roofs' grid and every point."""
    hw = a.hardware
    xs = [2.0**-4, 2.0**14, *(p.intensity for p in points)]
    ys = [min(hw.peak_flop_per_s.values()) * 2.0**-4 / 64, max(hw.peak_flop_per_s.values()),
          *(p.flop_per_s for p in points)]
    return (min(xs) / 1.5, max(xs) * 1.5), (min(ys) / 2, max(ys) * 2)


def label_groups(points: list[Point], limits, size_px: tuple[float, float]) -> list[list[Point]]:
    """Points whose places on the page (log axes of `limits` over `size_px`) lie within
    LABEL_GAP_PX of a group's first point join that group: each group gets one number, so no two
    numbers print over each other, and the key lists every point of it."""
    (x0, x1), (y0, y1) = limits

    def place(p: Point) -> tuple[float, float]:
        return (math.log(p.intensity / x0) / math.log(x1 / x0) * size_px[0],
                math.log(p.flop_per_s / y0) / math.log(y1 / y0) * size_px[1])

    return near_groups(sorted(points, key=lambda q: (q.group, -q.flop_per_s, q.intensity)), place, LABEL_GAP_PX)


def _draw_roofline(ax, a: Analysis, points: list[Point]) -> None:
    hw = a.hardware
    bw = hw.bandwidth_bytes_per_s
    (x0, x1), (y0, y1) = limits = roofline_axes(a, points)
    xs = [x0 * 2.0 ** (k / 4) for k in range(int(4 * math.log2(x1 / x0)) + 2)]
    for key, peak in sorted(hw.peak_flop_per_s.items(), key=lambda kv: kv[1]):
        ax.plot(xs, [min(peak, x * bw) for x in xs], lw=1.5 if key == a.dtype.peak_key else 0.8,
                label=f"{key} roof {peak / 1e12:.3g} TFLOP/s")
    ridge = hw.ridge_point(a.dtype.peak_key)
    ax.axvline(ridge, ls=":", color="grey")
    ax.plot([ridge], [hw.peak(a.dtype.peak_key)], "o", color="black")
    ax.annotate(f"ridge {ridge:.0f} FLOP/B", (ridge, hw.peak(a.dtype.peak_key)), textcoords="offset points",
                xytext=(5, -12), fontsize=8)
    styles = {"prefill": ("s", "tab:blue"), "decode": ("^", "tab:red"), "measured": ("x", "black")}
    for group, (marker, color) in styles.items():
        pts = [p for p in points if p.group == group]
        if pts:
            ax.scatter([p.intensity for p in pts], [p.flop_per_s for p in pts], marker=marker, color=color,
                       label=group, zorder=3)
    from matplotlib import patheffects

    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    box = ax.get_position()
    size = (box.width * FIGSIZE[0] * DPI, box.height * FIGSIZE[1] * DPI)
    key = []
    for n, members in enumerate(label_groups(_worth_labelling(points), limits, size), 1):
        first = members[0]
        ax.annotate(str(n), (first.intensity, first.flop_per_s), fontsize=7, xytext=(5, 4),
                    textcoords="offset points", color="black", zorder=4,
                    path_effects=[patheffects.withStroke(linewidth=2.2, foreground="white")])
        phases = dict.fromkeys(p.group for p in members)
        key.append(f"{n} " + "; ".join(f"{g}: " + ", ".join(dict.fromkeys(p.label for p in members if p.group == g))
                                       for g in phases))
    ax.set_xlabel("arithmetic intensity (FLOP / byte)")
    ax.set_ylabel("attainable FLOP/s")
    ax.set_title(f"roofline: {hw.bandwidth_bytes_per_s / 1e9:.0f} GB/s")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0.0, -0.1), ncol=3, frameon=False)
    ax.text(0.0, -0.3, _columns(key, 2), transform=ax.transAxes, va="top", ha="left", fontsize=6.5,
            family="monospace")
    ax.grid(True, which="both", lw=0.3)


def _worth_labelling(points: list[Point]) -> list[Point]:
    """Every op; of measured kernels only the fastest of each kind (sizes would overprint)."""
    best: dict[str, Point] = {}
    for p in points:
        kind = p.label.split(" ")[0] if p.group == "measured" else f"{p.group}:{p.label}"
        if kind not in best or p.flop_per_s > best[kind].flop_per_s:
            best[kind] = p
    return list(best.values())


def _columns(lines: list[str], n: int, width: int = 66) -> str:
    """The key's entries in n columns, each wrapped to `width` characters (nothing cut), read down
    each column."""
    wrapped = [textwrap.wrap(x, width, subsequent_indent="    ") for x in lines]
    per = math.ceil(sum(map(len, wrapped)) / n) if wrapped else 0
    cols: list[list[str]] = [[]]
    for entry in wrapped:
        if cols[-1] and len(cols[-1]) + len(entry) > per and len(cols) < n:
            cols.append([])
        cols[-1].extend(entry)
    rows = max(map(len, cols))
    return "\n".join("  ".join((c[r] if r < len(c) else "").ljust(width) for c in cols).rstrip() for r in range(rows))


def _draw_memory(ax, a: Analysis, curves: dict[str, list[float]], contexts: list[int]) -> None:
    gib = 2**30
    hw, usable = a.hardware, a.terms["memory.usable_bytes"].value
    for label, ys in curves.items():
        style = "--" if label.startswith("eager") else ":" if label == "activation workspace" else "-"
        ax.plot(contexts, [y / gib for y in ys], style, label=label, lw=2 if label == "weights" else 1.2)
    ax.axhline(hw.capacity_bytes / gib, color="black", lw=1)
    ax.axhline(usable / gib, color="black", lw=1, ls="--")
    ax.annotate(f"{hw.name} capacity", (contexts[0], hw.capacity_bytes / gib), fontsize=8, xytext=(0, 3),
                textcoords="offset points")
    ax.annotate(f"usable: {a.resolved.memory_utilization:g} x capacity (fits: weights + KV + workspace below)",
                (contexts[0], usable / gib), fontsize=7, xytext=(0, -10), textcoords="offset points")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("context (tokens)")
    ax.set_ylabel("GiB")
    ax.set_title("memory vs context")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0.0, -0.1), ncol=2, frameon=False)
    ax.grid(True, which="both", lw=0.3)


def require_matplotlib(what: str) -> None:
    """One line naming the extra, before any work, when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401  (the optional plot extra)
    except ImportError:
        raise SpecError(what, None, "needs matplotlib: pip install 'rooflint[plot]'") from None


def image_target(path: str, option: str) -> None:
    """An image a command will write: .png or .svg, matplotlib present, the place writable; all
    checked before any work."""
    if not path.lower().endswith((".png", ".svg")):
        raise SpecError(option, None, f"expected a .png or .svg file, got {path}")
    require_matplotlib(option)
    check_target(path)


def validation_png_or_svg(path: str, results) -> bytes:
    """Forecast against measured time, log-log, a colour per category; the diagonal and a +/-10%
    band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fmt = "svg" if path.lower().endswith(".svg") else "png"
    fig, ax = plt.subplots(figsize=(7.5, 6.5), constrained_layout=True)
    cats = sorted({r.case.category for r in results})
    cmap = plt.get_cmap("tab10" if len(cats) <= 10 else "tab20")
    lo = min(min(r.case.measured_s, r.forecast_s) for r in results) / 1.5
    hi = max(max(r.case.measured_s, r.forecast_s) for r in results) * 1.5
    ax.fill_between([lo, hi], [lo * 0.9, hi * 0.9], [lo * 1.1, hi * 1.1], color="0.85", label="±10%")
    ax.plot([lo, hi], [lo, hi], color="0.3", lw=0.8)
    for i, c in enumerate(cats):
        rs = [r for r in results if r.case.category == c]
        ax.scatter([r.case.measured_s for r in rs], [r.forecast_s for r in rs], s=14, alpha=0.75,
                   color=cmap(i), label=f"{c} ({len(rs)})")
    ax.set(xscale="log", yscale="log", xlim=(lo, hi), ylim=(lo, hi), xlabel="measured time (s)",
           ylabel="rooflint forecast (s)", title="forecast vs measured")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(True, which="major", alpha=0.3)
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def frontier_png_or_svg(path: str, s) -> bytes:
    """Throughput per GPU against tokens/s per user (analysis/serve.py's Serving): a line per
    layout through its concurrency levels, the frontier over them, points that do not fit hollow."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fmt = "svg" if path.lower().endswith(".svg") else "png"
    fig, ax = plt.subplots(figsize=(7.5, 5.5), constrained_layout=True)
    cmap = plt.get_cmap("tab10")
    for i, layout in enumerate(dict.fromkeys(p.layout for p in s.points)):
        mine = [p for p in s.points if p.layout == layout]
        x = [p.value("interactivity") for p in mine]
        y = [p.value("throughput_per_gpu") for p in mine]
        ax.plot(x, y, color=cmap(i % 10), lw=0.8, alpha=0.6)
        ax.scatter(x, y, s=18, color=[cmap(i % 10) if p.fits else "none" for p in mine], edgecolors=cmap(i % 10),
                   label=layout.label)
    front = [s.points[i] for i in s.frontier]
    ax.plot([p.value("interactivity") for p in front], [p.value("throughput_per_gpu") for p in front], color="k",
            lw=1.6, label="frontier")
    ax.set(xscale="log", yscale="log", xlabel="tokens/s per user (forecast)", ylabel="output tokens/s per GPU (forecast)",
           title=f"{s.model.name} on {s.gpus} x {s.hardware.name}, isl {s.isl} / osl {s.osl}")
    ax.legend(fontsize=8)
    ax.grid(True, which="major", alpha=0.3)
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()
