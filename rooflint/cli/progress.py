"""Progress on long work (measure, large sweeps, serve): a rich bar with the count, the elapsed
time and the ETA on stderr when stderr is a terminal; one line per step otherwise (logs, CI);
nothing with --quiet. Stdout carries only the report."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rooflint.cli.app import note

Step = Callable[[str, int, int], None]  # (what was done, steps done, steps in all)


@contextmanager
def progress(what: str, quiet: bool = False, lines: bool = True) -> Iterator[Step]:
    """A step callback for the library's loops. `lines`: whether each step's text is worth a line
    of its own when there is no bar (a kernel measured: yes; a block of a sweep: no)."""
    if quiet:
        yield lambda line, done, total: None
        return
    if not sys.stderr.isatty():
        yield (lambda line, done, total: note(f"[{done}/{total}] {line}")) if lines else (lambda *_: None)
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(TextColumn(what), BarColumn(), MofNCompleteColumn(), TextColumn("elapsed"), TimeElapsedColumn(),
                   TextColumn("ETA"), TimeRemainingColumn(), console=Console(stderr=True), transient=True)
    with bar:
        task = bar.add_task(what, total=None)

        def step(line: str, done: int, total: int) -> None:
            if lines and line:
                bar.console.print(line, markup=False, highlight=False)
            bar.update(task, completed=done, total=total)

        yield step
