"""Render a Report as a rich table, Markdown, CSV or JSON text. Writers never open files."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from rooflint.report.explain import as_json, section_lines
from rooflint.report.model import Report, Table
from rooflint.report.render_values import human

FORMATS = ("table", "csv", "json", "markdown")


def render(report: Report, fmt: str, *, explain: bool = False, width: int = 140) -> str:
    if fmt == "json":
        data = dict(report.data)
        if explain:
            data["explanation"] = as_json(report.explanation())
        return json.dumps(data, indent=2, default=_json_default) + "\n"
    if fmt == "csv":
        return _csv(report.tables)
    if fmt == "markdown":
        return _markdown(report, explain)
    return _rich(report, explain, width)


def _json_default(value: Any) -> Any:
    if isinstance(value, (set, tuple)):
        return list(value)
    if hasattr(value, "items"):
        return dict(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _csv(tables: tuple[Table, ...]) -> str:
    """All rows of all tables; a leading 'table' column when there are several. Raw numbers."""
    out = io.StringIO()
    keys: list[str] = []
    for t in tables:
        keys += [c.key for c in t.columns if c.key not in keys]
    several = len(tables) > 1 and any(a.rows != b.rows for a, b in zip(tables, tables[1:]))
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow((["table"] if several else []) + keys)
    for t in tables if several else tables[:1]:
        for row in t.rows:
            writer.writerow(([t.title] if several else []) + [_raw(row.get(k)) for k in keys])
    return out.getvalue()


def _raw(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def _markdown(report: Report, explain: bool) -> str:
    lines = [f"## {report.title}", ""]
    if report.summary:
        lines += ["| | |", "|---|---|"]
        lines += [f"| {label} | {human(value, kind)} |" for label, value, kind in report.summary]
        lines.append("")
    for t in report.tables:
        lines += [f"### {t.title}", "", "| " + " | ".join(c.header for c in t.columns) + " |",
                  "|" + "|".join("---" if c.kind == "text" else "---:" for c in t.columns) + "|"]
        for row in t.rows:
            lines.append("| " + " | ".join(human(row.get(c.key), c.kind) for c in t.columns) + " |")
        lines.append("")
    lines += [f"> {n}" for n in report.notes]
    if explain:
        lines += ["", "```", *section_lines(report.explanation()), "```"]
    return "\n".join(lines).rstrip() + "\n"


def _rich(report: Report, explain: bool, width: int) -> str:
    from rich.console import Console
    from rich.table import Table as RichTable

    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, force_terminal=False,
                      highlight=False, emoji=False)
    console.print(report.title, style="bold")
    if report.summary:
        grid = RichTable.grid(padding=(0, 2))
        grid.add_column(style="dim")
        grid.add_column()
        for label, value, kind in report.summary:
            grid.add_row(label, human(value, kind))
        console.print(grid)
    for t in report.tables:
        table = RichTable(title=t.title, title_justify="left", header_style="bold")
        for c in t.columns:
            table.add_column(c.header, justify="left" if c.kind == "text" else "right")
        for row in t.rows:
            table.add_row(*(human(row.get(c.key), c.kind) for c in t.columns))
        console.print(table)
    for note in report.notes:
        console.print(f"note: {note}")
    if explain:
        for line in section_lines(report.explanation()):
            console.print(line, markup=False, soft_wrap=True)
    return buffer.getvalue()
