"""docs/cli.md is the app's own reference: regenerated from the commands it must be unchanged
(`python -m rooflint.cli.docs > docs/cli.md` after changing an option), and every command and
option is in it."""

from pathlib import Path

from typer.main import get_command

from rooflint.cli import app
from rooflint.cli.docs import cli_markdown

DOC = Path(__file__).resolve().parents[1] / "docs" / "cli.md"


def test_the_reference_is_what_the_app_says():
    assert DOC.read_text() == cli_markdown(), "docs/cli.md is stale: python -m rooflint.cli.docs > docs/cli.md"


def test_every_command_and_option_is_in_it():
    text = DOC.read_text()
    group = get_command(app)
    for name in group.list_commands(None):
        assert f"## rooflint {name}\n" in text
        for p in group.get_command(None, name).params:
            if p.param_type_name == "option" and not p.hidden:
                assert f"`{p.opts[0]}`" in text, (name, p.opts)
