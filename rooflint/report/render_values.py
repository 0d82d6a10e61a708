"""A raw base-unit number as a person reads it (the one place display units are chosen)."""

from __future__ import annotations

from typing import Any

from rooflint.errors import one_line
from rooflint.units import format_bytes, format_seconds, format_si


def human(value: Any, kind: str) -> str:
    """A raw base-unit number as a person reads it."""
    if value is None:
        return "—"
    if kind == "text" or isinstance(value, str):
        return one_line(value, 10_000)  # text from a file never moves the cursor or colours the terminal
    if kind == "bytes":
        return format_bytes(value)
    if kind == "flops":
        return format_si(value, "FLOP")
    if kind == "flop_per_s":
        return format_si(value, "FLOP/s")
    if kind == "bytes_per_s":
        return format_si(value, "B/s")
    if kind == "seconds":
        return format_seconds(value)
    if kind == "percent":
        return f"{100 * value:.1f}%"
    if kind in ("intensity", "ratio"):
        return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.3g}"
    if kind == "count":
        return format_si(value, "").strip() if value >= 1e6 else f"{value:,}"
    return f"{value:,}" if isinstance(value, int) else f"{value:.4g}"


def md_cell(text: str) -> str:
    """A Markdown table cell: a '|' from a name does not split it, nor a newline end the row."""
    return one_line(text, 10_000).replace("\\", "\\\\").replace("|", "\\|")
