"""Errors raised by the library. The CLI turns each into one line on stderr and exit code 2."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7f, 0xa0))} | {0x0a: "\\n", 0x0d: "\\r", 0x09: "\\t"}
MAX_MESSAGE = 400  # characters: a value quoted from a file never floods the terminal


def one_line(text: str, limit: int = MAX_MESSAGE) -> str:
    """Text made safe to print on one line: control characters (newlines, escape sequences)
    shown escaped, and at most `limit` characters."""
    text = str(text).translate(_CONTROLS)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class RooflintError(Exception):
    """Bad input a user can fix: a spec, an option, a path."""

    def __str__(self) -> str:
        return one_line(super().__str__())


class SpecError(RooflintError):
    """A field of a spec file (or an option) is missing, mistyped or out of range."""

    def __init__(self, source: str, field: str | None, message: str):
        self.source, self.field, self.message = source, field, message
        where = f"{source}: {field}" if field else source
        super().__init__(f"{where}: {message}")


class UnknownNameError(RooflintError):
    """A model or hardware name that no built-in spec or file matches."""

    def __init__(self, kind: str, name: str, known: Iterable[str]):
        known = sorted(set(known))
        close = difflib.get_close_matches(name.lower(), known, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(known)}"
        super().__init__(f"unknown {kind} '{name}'{hint}")


class OutputError(RooflintError):
    """An output file that cannot be written."""


class BackendUnavailable(RooflintError):
    """A measurement backend (torch, CuPy) or device that is not present here."""
