"""The shape every command's output takes before it is rendered: tables of raw numbers, a
summary, notes, and (only when asked for) the explanation: sections of terms."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rooflint.analysis.terms import Term

# How a column's raw number is shown to a person (machine formats keep the raw number).
KINDS = ("text", "int", "bytes", "flops", "flop_per_s", "bytes_per_s", "seconds", "ratio",
         "percent", "intensity", "count")


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Column:
    key: str  # also the CSV header: carries its unit (e.g. time_s, bytes_read)
    header: str  # what a person reads
    kind: str = "text"
    drop: int = 0  # in a terminal too narrow for the table, columns go highest first (0: always kept)


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Table:
    title: str
    columns: tuple[Column, ...]
    rows: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Section:
    """A heading and the terms under it (their keys locate each value in the report's JSON)."""

    title: str
    terms: tuple[Term, ...] = ()
    lines: tuple[str, ...] = ()  # words that go with the terms (assumptions, where a value came from)


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Report:
    schema: str  # JSON schema tag, e.g. rooflint.analyze/1
    title: str
    data: dict[str, Any] | Callable[[], dict[str, Any]]  # the JSON document (raw base units), or what builds it
    tables: tuple[Table, ...] = ()
    summary: tuple[tuple[str, Any, str], ...] = ()  # (label, raw value, kind)
    notes: tuple[str, ...] = ()
    explain: Callable[[], tuple[Section, ...]] | None = field(default=None, compare=False)

    def explanation(self) -> tuple[Section, ...]:
        return self.explain() if self.explain else ()

    def document(self) -> dict[str, Any]:
        """The JSON document; a report may build it only when it is asked for (its bindings)."""
        return self.data() if callable(self.data) else self.data
