"""The typer application and what its commands share: one-line errors with exit code 2, writing
a report to stdout or a file whole, and a quick start: a command's module is imported only when
that command runs (COMMANDS), and typer 0.29's pydantic coercion is never built."""

from __future__ import annotations

import functools
import importlib
import sys
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

try:  # typer >= 0.26 carries its own copy of click
    from typer._click.exceptions import ClickException, UsageError
    from typer.exceptions import Abort
except ImportError:  # pragma: no cover - older typer on click
    from click.exceptions import Abort, ClickException, UsageError

from rooflint.errors import RooflintError, one_line
from rooflint.report.model import Report
from rooflint.report.output import STDOUT, check_target, write_all
from rooflint.report.render import FILE_WIDTH, render, terminal_width


def _as_given(param: Any) -> Any:
    """Give a typer 0.29 parameter a coercion that keeps its value as typed (see Command)."""
    if param is not None and getattr(param, "_runtime_param", 0) is None:
        param._runtime_param = _AsGiven(param.multiple or param.nargs == -1)
    if hasattr(param, "display_type_rich") and (getattr(param, "is_flag", False) or param.param_type_name == "argument"):
        # typer 0.29 labels a flag "<bool>" and an argument "<str>" beside its name; the name
        # (--explain, MODEL) says it all
        param.display_type_rich = lambda ctx: None
    return param


# Each command's module, imported when that command runs: `rooflint analyze` pays for the analyzer,
# not for measure, sweep or check. The modules register their commands with `command()` below.
COMMANDS = {"analyze": "analyze_cmd", "gemm": "kernels_cmd", "attention": "kernels_cmd", "kv": "kernels_cmd",
            "paged": "paged_cmd", "generate": "request_cmd", "plan": "request_cmd", "hardware": "specs_cmd",
            "models": "specs_cmd", "measure": "measure_cmd", "sweep": "sweep_cmd", "check": "check_cmd",
            "plot": "plot_cmd", "validate": "validate_cmd", "comm": "comm_cmd",
            "serve": "serve_cmd", "report": "report_cmd"}
_REGISTERED: dict[str, typer.Typer] = {}


class Group(TyperGroup):
    """The app's group: commands loaded on demand; its own options (--debug, --help) kept as given."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        for p in self.params:
            _as_given(p)

    def get_help_option(self, ctx: Any) -> Any:
        return _as_given(super().get_help_option(ctx))

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, name: str) -> Any:
        if name not in COMMANDS:
            return None
        importlib.import_module(f"rooflint.cli.{COMMANDS[name]}")
        return typer.main.get_command(_REGISTERED[name])

    def main(self, args: Any = None, prog_name: Any = None, complete_var: Any = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        """Usage errors (a missing argument, an unknown option) in the one-line form of every other
        error, exit 2, instead of click's usage box."""
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except ClickException as exc:
            ctx = getattr(exc, "ctx", None)
            if type(exc).__name__ != "NoArgsIsHelpError":  # that one has printed the help already
                where = f"{ctx.command_path}: " if ctx is not None else ""
                hint = f" (see {ctx.command_path} --help)" if isinstance(exc, UsageError) and ctx is not None else ""
                typer.echo(f"error: {where}{one_line(exc.format_message())}{hint}", err=True)
            code = 2 if isinstance(exc, UsageError) else exc.exit_code
        except Abort:
            code = 130
        if not standalone_mode:
            return code
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(cls=Group, add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Where the time and the memory of LLM inference go: roofline analysis of "
                       "prefill and decode, attention and KV cache, checked against real kernels.")
_state = {"debug": False}


@app.callback()
def main(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False) -> None:
    _state["debug"] = debug


class _AsGiven:
    """Coercion that keeps a value as typed: every rooflint option is text or a flag, parsed by
    cli/params.py with errors that name the option."""

    def __init__(self, multiple: bool):
        self.multiple = multiple

    def coerce(self, value: Any, param: Any = None, ctx: Any = None) -> Any:
        if self.multiple:
            return list(value or ())
        return value


class Command(TyperCommand):
    """typer 0.29 coerces each value through a pydantic TypeAdapter built on first use, which
    imports pydantic (~40 ms of every start-up). rooflint's parameters are text and flags only,
    so each gets a coercion that keeps the value as given. Other typer versions lack the hook and
    are left as they are."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        for p in self.params:
            _as_given(p)

    def get_help_option(self, ctx: Any) -> Any:  # click makes --help lazily, after __init__
        return _as_given(super().get_help_option(ctx))


OUTPUT_OPTIONS = ("output", "markdown", "junit", "save_profile")  # checked before a command works


def command(**kwargs: Any):
    """Register a command (named after its function): the Command class above, errors turned into
    one line and exit 2."""
    def register(fn):
        @functools.wraps(fn)
        def guarded(*args: Any, **kw: Any):
            try:
                for key in OUTPUT_OPTIONS:  # a path that cannot be written is refused before any work
                    if kw.get(key) is not None and kw[key] != STDOUT:
                        check_target(kw[key])
                return fn(*args, **kw)
            except RooflintError as exc:
                if _state["debug"]:
                    raise
                typer.echo(f"error: {exc}", err=True)
                raise typer.Exit(2) from None
        own = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
        _REGISTERED[fn.__name__] = own
        return own.command(cls=Command, **kwargs)(guarded)
    return register


def emit(report: Report, fmt: str, output: str | None, explain: bool = False,
         also: tuple[tuple[str, str | bytes], ...] = ()) -> None:
    """The report to -o FILE (or stdout), with the command's other outputs: all written or none."""
    text = render(report, fmt, explain=explain, width=terminal_width() if output in (None, STDOUT) else FILE_WIDTH)
    write_all([*also, (STDOUT if output is None else output, text)])


def note(line: str) -> None:
    typer.echo(line, err=True)
