"""docs/cli.md, generated from the app itself: every command's usage, help and options (metavar,
default, help), so the reference cannot drift from --help (tests/test_cli_docs.py compares them).

    python -m rooflint.cli.docs > docs/cli.md
"""

from __future__ import annotations

from typing import Any

from typer.main import get_command

from rooflint.cli import app


def _default(p: Any) -> str:
    shown = getattr(p, "show_default", None)
    if isinstance(shown, str):
        return shown
    if getattr(p, "is_flag", False):
        return "off" if not p.default else "on"
    if p.default not in (None, (), []) and shown:
        return str(p.default)
    return ""


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def cli_markdown() -> str:
    group = get_command(app)
    ctx = group.make_context("rooflint", [], resilient_parsing=True)
    out = ["# rooflint command reference", "",
           "Generated from the app (`python -m rooflint.cli.docs > docs/cli.md`); `rooflint COMMAND --help` "
           "prints the same.", ""]
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        sub = cmd.context_class(cmd, info_name=name, parent=ctx)
        pieces = cmd.collect_usage_pieces(sub)
        out += [f"## rooflint {name}", "", f"`rooflint {name} {' '.join(pieces)}`", "", _cell(cmd.help or ""), ""]
        args = [p for p in cmd.params if p.param_type_name == "argument"]
        opts = [p for p in cmd.params if p.param_type_name == "option" and not p.hidden]
        out += [f"- `{p.name.upper()}` (`{p.metavar or p.name.upper()}`): {_cell(getattr(p, 'help', '') or '')}"
                for p in args]
        if args:
            out.append("")
        out += ["| option | takes | default | what |", "|---|---|---|---|"]
        for p in opts:
            names = ", ".join(f"`{o}`" for o in (*p.opts, *p.secondary_opts))
            takes = "" if p.is_flag else f"`{p.metavar}`"
            out.append(f"| {names} | {_cell(takes)} | {_cell(_default(p))} | {_cell(p.help or '')} |")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(cli_markdown(), end="")
