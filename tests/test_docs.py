"""The README's commands exist and its console example is what rooflint prints."""

import re
import shlex
from pathlib import Path

from typer.main import get_command

from rooflint.cli import app

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_every_command_documented():
    for name, command in get_command(app).commands.items():
        assert f"rooflint {name}" in README, name
        assert command.help, name


def test_console_examples_match(cli):
    for block in re.findall(r"```console\n\$ (.*?)\n(.*?)```", README, re.S):
        args = shlex.split(block[0])[1:]
        assert cli(*args).stdout == block[1]


def test_library_examples_run():
    """Every ```pycon block of the README, run through doctest in one namespace, in order; the
    expected values are first-principles counts or what the CLI prints for the same call."""
    import doctest

    blocks = re.findall(r"```pycon\n(.*?)```", README, re.S)
    assert blocks
    parser, runner = doctest.DocTestParser(), doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(parser.get_doctest("\n".join(blocks), {}, "README pycon blocks", "README.md", 0))
    assert runner.failures == 0 and runner.tries > 5, runner.summarize()
