"""What the fuzz tests share: strategies for odd values and text, the one rule every run of the
CLI must keep, and the tally of outcomes printed at the end of the session.

The rule (the project's promise for bad input): a run either succeeds, and then every number it
reports is finite, or it fails with exactly one line `error: ...` on its output, exit code 2,
no traceback. `rooflint check` may also exit 1 (a limit broken) and `measure` 130 (interrupted).
"""

from __future__ import annotations

import json
import math
import os
import traceback
from collections import Counter

from hypothesis import strategies as st

OUTCOMES: Counter = Counter()  # (suite, outcome) -> runs; printed by conftest at the end

# The longer profile, by hand: ROOFLINT_FUZZ=long pytest tests/test_fuzz.py
LONG = os.environ.get("ROOFLINT_FUZZ") == "long"


def examples(n: int) -> int:
    return n * 50 if LONG else n


# ---------------------------------------------------------------- values

huge_ints = st.sampled_from([0, -1, 1, 2, 3, 7, 2**31, 2**53 + 1, 10**12, 10**30, -(10**12)])
odd_floats = st.sampled_from([0.0, -0.0, -1.5, 0.5, 1.5, 1e-300, 1e300, math.inf, -math.inf, math.nan])
odd_text = st.sampled_from(["", " ", "abc", "4k", "1e400", "nan", "inf", "-1", "0", "1.5", "32", "true", "null",
                            "llama", "a\nb", "\x1b[31mred", "[bold]x[/bold]", "µ", "9" * 400, "1,2", "*", "~",
                            "x" * 5000, "\u202e", "'", '"', "{}", "[]"])
json_values = st.recursive(
    st.none() | st.booleans() | huge_ints | st.integers(-5, 100_000) | odd_floats | odd_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(odd_text, children, max_size=3),
    max_leaves=8)

# Text given to a count, size or list option: plausible values as often as junk, so the checks
# behind the parsers (ranges, combinations) are reached too.
plausible = st.one_of(
    st.integers(-3, 2**20).map(str), st.integers(1, 64).map(lambda k: f"{k}k"),
    st.lists(st.integers(0, 70_000), min_size=1, max_size=4).map(lambda v: ",".join(map(str, v))),
    st.sampled_from(["fp16", "bf16", "fp8", "int8", "int4", "fp32", "eager", "flash", "absorbed", "naive", "linear",
                     "all", "a100", "h100", "l4", "gpt2", "llama3-8b", "mixtral-8x7b", "0.5", "0.9", "1", "1.01",
                     "40GiB", "1 TB", "64,64", "16,128", "1,1", "65536,65536", "uniform", "normal", "lognormal"]))
option_text = st.one_of(
    plausible,
    odd_text,
    st.sampled_from(["4096", "32k", "1,2,3", ",", ",,1", "1,", "0,1", "-4", "4 k", "1_000", "0x10", "1e3", "2g",
                     "3.0", "1" * 40, "9" * 30000 + "x", "1" * 310, "fp16", "fp8,int4", "eager,flash", "all"]),
    st.text(max_size=12))


# ---------------------------------------------------------------- the rule

def check_outcome(suite: str, result, ok_codes: tuple[int, ...] = (0,)) -> str:
    """Assert the rule for one CLI run (a click Result) and tally it; returns the outcome."""
    out = result.output
    assert "Traceback" not in out, out[-2000:]
    exc = result.exception
    if exc is not None and not isinstance(exc, SystemExit):
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        raise AssertionError(f"{suite}: uncaught {type(exc).__name__} at {frame.filename}:{frame.lineno}: "
                             f"{str(exc)[:300]}") from None
    if result.exit_code == 2:
        lines = [line for line in out.splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("error: ")]
        assert len(errors) == 1 and errors[0] == lines[-1], f"{suite}: not one error line:\n{out[-3000:]}"
        outcome = "refused"
    else:
        assert result.exit_code in ok_codes, (suite, result.exit_code, out[-3000:])
        assert "error:" not in out.split("\n", 1)[0], out[:500]
        outcome = "accepted"
    OUTCOMES[suite, outcome] += 1
    return outcome


def finite_json(text: str) -> object:
    """The JSON of an accepted run, with every number finite (no NaN or Infinity tokens)."""
    def refuse(token: str):
        raise AssertionError(f"non-finite number {token} in the output")
    return json.loads(text, parse_constant=refuse)


def numbers(doc: object, path: str = ""):
    """Every number of a JSON document with where it sits (`.memory.free_bytes`, `.rows[0].x`)."""
    if isinstance(doc, bool) or doc is None or isinstance(doc, str):
        return
    if isinstance(doc, (int, float)):
        yield path, doc
    elif isinstance(doc, dict):
        for k, v in doc.items():
            yield from numbers(v, f"{path}.{k}")
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from numbers(v, f"{path}[{i}]")
