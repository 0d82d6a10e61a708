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
