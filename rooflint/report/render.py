"""Render a Report as a rich table, Markdown, CSV or JSON text. Writers never open files."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import sys
import textwrap
from dataclasses import replace
from typing import Any

from rooflint.errors import one_line
from rooflint.report.explain import as_json, section_lines
from rooflint.report.model import Column, Report, Table
from rooflint.report.render_values import human, md_cell

FORMATS = ("table", "csv", "json", "markdown")


FILE_WIDTH = 140  # a report to a file or a pipe is laid out this wide


def terminal_width() -> int:
    """The width to lay tables out in: $COLUMNS, else the terminal's when stdout is one, else FILE_WIDTH."""
    given = os.environ.get("COLUMNS", "")
    if given.isdigit():
        return max(40, int(given))
    if sys.stdout.isatty():
        return max(40, shutil.get_terminal_size((FILE_WIDTH, 24)).columns)
    return FILE_WIDTH


def table_cells(t: Table) -> tuple[list[list[str]], list[int]]:
    """Each cell as a person reads it, and each column's width (its header's or widest cell's)."""
    from rich.cells import cell_len

    cells = [[human(row.get(c.key), c.kind) for c in t.columns] for row in t.rows]
    return cells, [max([cell_len(c.header)] + [cell_len(r[j]) for r in cells]) for j, c in enumerate(t.columns)]


def narrowed(report: Report, width: int) -> Report:
    """The report with each table's columns cut to the width: the highest `drop` first (ties from
    the right), never a column of drop 0; a note names what was left out. A table still too wide
    is shown as one record per row (field, value), so no name or number is squeezed or cut."""
    from rich.cells import cell_len

    tables, notes = [], []
    for t in report.tables:
        cells, natural = table_cells(t)
        # text wraps at its words (to 16 columns or its longest word); numbers never wrap
        widths = [w if c.kind != "text" else min(w, max([16] + [cell_len(x) for r in cells for x in r[j].split()]))
                  for j, (c, w) in enumerate(zip(t.columns, natural))]
        keep = list(range(len(t.columns)))
        order = sorted((j for j, c in enumerate(t.columns) if c.drop), key=lambda j: (-t.columns[j].drop, -j))
        while sum(widths[j] + 3 for j in keep) + 1 > width and order:
            keep.remove(order.pop(0))
        gone = [c.header or c.key for j, c in enumerate(t.columns) if j not in keep]
        if sum(widths[j] + 3 for j in keep) + 1 > width:
            tables.append(_records(t, cells))
            notes.append(f"{t.title}: one record per row at {width} columns (a wider terminal or -f csv/json "
                         "shows the table)")
        elif gone:
            tables.append(replace(t, columns=tuple(t.columns[j] for j in keep)))
            notes.append(f"{t.title}: {', '.join(gone)} left out at {width} columns (a wider terminal or "
                         "-f csv/json shows them)")
        else:
            tables.append(t)
    return replace(report, tables=tuple(tables), notes=(*report.notes, *notes)) if notes else report


def _records(t: Table, cells: list[list[str]]) -> Table:
    """A table as (field, value) rows, each row of it a record led by its first column, with
    every column (its values already as a person reads them)."""
    rows: list[dict[str, Any]] = []
    for i, r in enumerate(cells):
        if i:
            rows.append({"field": "", "value": ""})
        rows += [{"field": c.header or c.key, "value": v} for c, v in zip(t.columns, r)]
    return Table(t.title, (Column("field", "field"), Column("value", "value")), tuple(rows))


def note_lines(notes, width: int) -> list[str]:
    """Each note as "note: ...", wrapped at spaces to the width (a word longer than it, such as a
    path, stays whole), later lines indented under the first's text."""
    return [line for n in notes for line in textwrap.wrap(f"note: {n}", width, subsequent_indent="      ",
                                                         break_long_words=False, break_on_hyphens=False)
            or ["note:"]]


def render(report: Report, fmt: str, *, explain: bool = False, width: int = FILE_WIDTH) -> str:
    if fmt == "json":
        data = dict(report.document())
        if explain:
            data["explanation"] = as_json(report.explanation())
        return json.dumps(data, indent=2, default=_json_default) + "\n"
    if fmt == "csv":
        return _csv(report.tables)
    if fmt == "markdown":
        return _markdown(report, explain)
    report = narrowed(report, width)
    fast = laid_out(report, explain, width)
    return fast if fast is not None else _rich(report, explain, width)


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
    lines = [f"## {one_line(report.title, 10_000)}", ""]
    if report.summary:
        lines += ["| | |", "|---|---|"]
        lines += [f"| {md_cell(label)} | {md_cell(human(value, kind))} |" for label, value, kind in report.summary]
        lines.append("")
    for t in report.tables:
        lines += [f"### {one_line(t.title, 10_000)}", "", "| " + " | ".join(md_cell(c.header) for c in t.columns) + " |",
                  "|" + "|".join("---" if c.kind == "text" else "---:" for c in t.columns) + "|"]
        for row in t.rows:
            lines.append("| " + " | ".join(md_cell(human(row.get(c.key), c.kind)) for c in t.columns) + " |")
        lines.append("")
    lines += [f"> {n}" for n in report.notes]
    if explain:
        lines += ["", "```", *section_lines(report.explanation()), "```"]
    return "\n".join(lines).rstrip() + "\n"


def _rich(report: Report, explain: bool, width: int) -> str:
    from rich.cells import cell_len
    from rich.console import Console
    from rich.table import Table as RichTable
    from rich.text import Text

    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, force_terminal=False,
                      highlight=False, emoji=False)
    console.print(Text(one_line(report.title, 10_000)), style="bold")
    if report.summary:
        grid = RichTable.grid(padding=(0, 2))
        grid.add_column(style="dim")
        grid.add_column()
        for label, value, kind in report.summary:
            grid.add_row(Text(label), Text(human(value, kind)))
        console.print(grid)
    for t in report.tables:
        cells, widths = table_cells(t)
        # Widths measured here let rich skip its own measuring pass (half its time), the output
        # unchanged; a table wider than the console is left to rich to shrink and wrap.
        left = [c.kind == "text" for c in t.columns]
        if sum(widths) + 3 * len(widths) + 1 <= width:
            # Cells laid out here (padded and aligned to widths measured here) spare rich its
            # measuring and padding passes, two thirds of its time; the output is the same.
            def cell(text: str, j: int) -> Text:
                gap = " " * (widths[j] - cell_len(text))
                return Text(f" {text}{gap} " if left[j] else f" {gap}{text} ")

            table = RichTable(title=Text(t.title), title_justify="left", header_style="bold", padding=0)
            for j, (c, w) in enumerate(zip(t.columns, widths)):
                table.add_column(cell(c.header, j), width=w + 2, no_wrap=True)
            for r in cells:
                table.add_row(*(cell(x, j) for j, x in enumerate(r)))
        else:  # wider than the console: rich shrinks and wraps
            table = RichTable(title=Text(t.title), title_justify="left", header_style="bold")
            for c, is_left in zip(t.columns, left):  # text wraps (folded, never cut to an ellipsis); numbers do not
                table.add_column(Text(c.header), justify="left" if is_left else "right", overflow="fold",
                                 no_wrap=not is_left)
            for r in cells:
                table.add_row(*map(Text, r))
        console.print(table)
    for line in note_lines(report.notes, width):
        console.print(line, markup=False, soft_wrap=True)
    if explain:
        for line in section_lines(report.explanation()):
            console.print(line, markup=False, soft_wrap=True)
    return buffer.getvalue()


def laid_out(report: Report, explain: bool, width: int) -> str | None:
    """What _rich prints, laid out directly with rich's box characters and cell widths when
    nothing needs wrapping or shrinking (rich's tables cost most of a command's start-up); None
    when something does, for rich to do it. A test holds the two to the same bytes."""
    from rich import box
    from rich.cells import cell_len

    texts = [report.title, *report.notes, *(label for label, _, _ in report.summary)]
    if any(ch < " " for t in texts for ch in t) or cell_len(report.title) > width:
        return None
    out = [report.title]
    if report.summary:
        pairs = [(label, human(value, kind)) for label, value, kind in report.summary]
        w1 = max(cell_len(a) for a, _ in pairs)
        w2 = max(cell_len(b) for _, b in pairs)
        if w1 + 2 + w2 > width or any(ch < " " for _, b in pairs for ch in b):
            return None
        out += [f"{a}{' ' * (w1 - cell_len(a))}  {b}{' ' * (w2 - cell_len(b))}" for a, b in pairs]
    heavy = box.HEAVY_HEAD
    for t in report.tables:
        cells, widths = table_cells(t)
        total = sum(widths) + 3 * len(widths) + 1
        if total > width or cell_len(t.title) > total or any(ch < " " for r in cells for x in r for ch in x):
            return None
        left = [c.kind == "text" for c in t.columns]

        def line(values: list[str], edge: str, middle: str) -> str:
            parts = [f" {v}{' ' * (w - cell_len(v))} " if is_left else f" {' ' * (w - cell_len(v))}{v} "
                     for v, w, is_left in zip(values, widths, left)]
            return edge + middle.join(parts) + edge

        padded = [w + 2 for w in widths]
        out += [t.title + " " * (total - cell_len(t.title)), heavy.get_top(padded),
                line([c.header for c in t.columns], heavy.head_left, heavy.head_vertical),
                heavy.get_row(padded, "head")]
        out += [line(r, heavy.mid_left, heavy.mid_vertical) for r in cells]
        out.append(heavy.get_bottom(padded))
    out += note_lines(report.notes, width)
    if explain:
        out += section_lines(report.explanation())
    return "\n".join(out) + "\n"
