"""Options, usage and rendering under bad input: one line naming the option, exit 2, nothing
computed from nonsense; text from a file is shown as written, never as markup or terminal codes."""

from __future__ import annotations

import pytest

from rooflint.errors import SpecError, one_line
from rooflint.units import UnitParseError, parse_count, parse_quantity


def one_error_line(result, *words: str) -> str:
    lines = result.output.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert "Traceback" not in result.output
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


# ---------------------------------------------------------------- counts, sizes, times

@pytest.mark.parametrize("value", ["1e400", "nan", "inf", "-1", "0", "1.5", "9" * 309, "9" * 30000 + "x", "", " ",
                                   "4 kk", "0x10", "1,2"])
def test_a_count_option_refuses_nonsense_naming_the_option(cli, value):
    one_error_line(cli("analyze", "gpt2", "--batch", value, code=2), "--batch")


def test_long_digit_runs_are_refused_by_length_before_any_pattern_runs():
    # 30,000 digits then a letter made the old patterns backtrack quadratically (seconds per call)
    with pytest.raises(UnitParseError, match="30001 characters"):
        parse_quantity("9" * 30000 + "x", "bytes")
    with pytest.raises(UnitParseError, match="30001 characters"):
        parse_count("9" * 30000 + "x")


@pytest.mark.parametrize("text", ["1e400 GB", "1e999 TFLOP/s", ".inf GB", "nan GB"])
def test_quantities_are_finite(text):
    dim = "flop_per_s" if "FLOP" in text else "bytes"
    with pytest.raises(UnitParseError):
        parse_quantity(text, dim)


def test_counts_are_exact_and_bounded():
    assert parse_count("1.5k") == 1536 and parse_count("2g") == 2**31  # exact, not through a float
    with pytest.raises(UnitParseError, match="at most 2\\*\\*53"):
        parse_count(str(2**53 + 1))
    with pytest.raises(UnitParseError):
        parse_count(True)  # a bool is not a count


@pytest.mark.parametrize("value", ["1e400", "inf", "nan", "-5", "0", "9" * 400])
def test_a_time_budget_is_finite_and_positive_and_refused_before_measuring(cli, value):
    one_error_line(cli("measure", "--time-budget", value, code=2), "--time-budget")


@pytest.mark.parametrize("args, option", [
    (["kv", "gpt2", "--context", ""], "--context"),
    (["kv", "gpt2", "--context", ",,"], "--context"),
    (["sweep", "-m", "gpt2", "-g", "a100", "--kv-dtype", ""], "--kv-dtype"),
    (["sweep", "-m", "gpt2", "-g", "a100", "--attention", ","], "--attention"),
    (["sweep", "-m", "", "-g", "a100"], "--models"),
    (["paged", "gpt2", "--lengths", ""], "--lengths"),
    (["attention", "--seq", ""], "--seq"),
])
def test_empty_lists_are_refused(cli, args, option):
    one_error_line(cli(*args, code=2), option)


def test_absurd_sizes_are_refused_rather_than_computed(cli):
    one_error_line(cli("paged", "gpt2", "--dist", "uniform", "--mean", "100", "--num-seqs", str(10**9), code=2),
                   "--num-seqs")
    batches = ",".join(str(b) for b in range(1, 6001))  # 2 x 2 x 2 x 6000 x 6000 = 2.9e8 > 2e8
    contexts = ",".join(str(c) for c in range(1, 6001))
    one_error_line(cli("sweep", "-m", "gpt2,llama2-7b", "-g", "a100", "-b", batches, "-c", contexts, code=2),
                   "configurations")
    one_error_line(cli("analyze", "gpt2", "--flash-tile", f"{2**17},64", code=2), "--flash-tile")


def test_set_twice_is_refused(cli):
    one_error_line(cli("analyze", "gpt2", "--set", "vocab_size=100", "--set", "vocab_size=200", code=2),
                   "--set", "vocab_size", "twice")


# ---------------------------------------------------------------- usage errors

@pytest.mark.parametrize("args, words", [
    (["analyze"], ["Missing argument", "analyze --help"]),
    (["analyze", "gpt2", "--bogus"], ["No such option: --bogus"]),
    (["nope"], ["No such command 'nope'"]),
    (["analyze", "gpt2", "--batch"], ["--batch", "requires an argument"]),
])
def test_usage_errors_are_one_line_exit_2(cli, args, words):
    one_error_line(cli(*args, code=2), *words)


# ---------------------------------------------------------------- outputs

def test_an_empty_output_path_is_refused_not_stdout(cli, tmp_path):
    one_error_line(cli("analyze", "gpt2", "-o", "", code=2), "empty path")


def test_dash_is_stdout(cli):
    assert cli("analyze", "gpt2", "-f", "json", "-o", "-").stdout.startswith("{")


def test_an_output_path_is_checked_before_the_work(cli, tmp_path):
    # a folder that does not exist: refused at once (a sweep would otherwise run first)
    one_error_line(cli("sweep", "-m", "gpt2", "-g", "a100", "-f", "csv", "-o", str(tmp_path / "no" / "x.csv"), code=2),
                   "no folder")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- text from files

def test_markup_in_a_name_is_shown_as_written(cli, tmp_path):
    spec = tmp_path / "m.yaml"
    spec.write_text("name: '[bold red]x[/] [link=http://e.vil]y'\nmodel_type: llama\nnum_hidden_layers: 2\n"
                    "hidden_size: 64\nnum_attention_heads: 4\nintermediate_size: 128\nvocab_size: 100\n"
                    "max_position_embeddings: 256\n")
    out = cli("kv", str(spec)).stdout
    assert "[bold red]x[/] [link=http://e.vil]y" in out


def test_error_messages_escape_control_characters_and_stay_short():
    e = SpecError("f.yaml", "na\nme", "bad \x1b[31m" + "x" * 1000)
    text = str(e)
    assert "\n" not in text and "\x1b" not in text and "\\x1b[31m" in text and "na\\nme" in text
    assert len(text) <= 400
    assert one_line("a\tb\rc\u0085") == "a\\tb\\rc\\x85"


def test_a_markdown_cell_holding_a_pipe_does_not_split_the_row(cli, tmp_path):
    spec = tmp_path / "m.yaml"
    spec.write_text("name: 'a|b'\nmodel_type: llama\nnum_hidden_layers: 2\nhidden_size: 64\nnum_attention_heads: 4\n"
                    "intermediate_size: 128\nvocab_size: 100\nmax_position_embeddings: 256\n")
    md = cli("analyze", str(spec), "-f", "markdown").stdout
    row = next(line for line in md.splitlines() if line.startswith("| model |"))
    assert "a\\|b" in row and row.count(" | ") == 1, row
