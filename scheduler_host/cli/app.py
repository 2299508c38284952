"""The ``lambda-admm`` command line: a root whose commands are imported when they run.

``lambda-admm --help`` imports typer and this module only: each command lives in a module
of its own (:data:`COMMANDS`), loaded when that command runs or shows its help, so the
help of the root does not pay for pydantic, numpy or zmq (``bench/cli_startup.py``).
Every error comes out in one voice (:mod:`scheduler_host.cli.errors`); a traceback only
with ``--verbose``.
"""

from __future__ import annotations

import importlib
import logging
import sys
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from scheduler_host.cli.errors import error_line

#: Each command: the module whose typer ``app`` holds it, the command's name in that app
#: (None: the app is the command, or its group), and the one-line summary the root's help
#: lists (tests/cli/test_app.py checks it against the command's own).
COMMANDS: dict[str, tuple[str, str | None, str]] = {
    "solve": (
        "scheduler_host.cli.solve_command",
        None,
        "Solve min Σ f_n(x) + h(x) with consensus ADMM (local worker processes by default).",
    ),
    "demo": (
        "scheduler_host.cli.demo_command",
        None,
        "The paper's experiment, full size (N=600,000, d=10,000), with local workers.",
    ),
    "path": (
        "scheduler_host.cli.path_command",
        None,
        "A regularization path over λ1 on one set of warm workers (and k-fold CV).",
    ),
    "predict": (
        "scheduler_host.cli.predict_command",
        None,
        "Predict with a solved model; prints the accuracy (classifiers) or the RMSE.",
    ),
    "data": ("scheduler_host.cli.data_command", None, "Prepare datasets into per-worker shards."),
    "submit": (
        "scheduler_host.cli.remote",
        "submit",
        "Queue a solve on the deployed platform; prints its solve id.",
    ),
    "status": (
        "scheduler_host.cli.remote",
        "status",
        "Show a solve's status (queued / running / done / failed / cancelled).",
    ),
    "cancel": (
        "scheduler_host.cli.remote",
        "cancel",
        "Cancel a queued or running solve; `status` then shows it `cancelled`.",
    ),
    "serve": (
        "scheduler_host.cli.remote",
        "serve",
        "The host's scheduler service: run queued solves with Lambda workers.",
    ),
}


#: The program's name, and where the root's context keeps the command line and the time it
#: started (``ctx.meta``, which every command's context shares).
PROGRAM = "lambda-admm"
COMMAND_LINE = "lambda_admm.command_line"
STARTED = "lambda_admm.started"


def command_line(ctx: Any) -> tuple[str, ...]:
    """The command line as typed, ``("lambda-admm", "solve", ...)``, from any context."""
    return tuple(ctx.meta.get(COMMAND_LINE, (PROGRAM,)))


def command_started(ctx: Any) -> datetime:
    """When the command started (UTC), from any context."""
    started: datetime = ctx.meta.get(STARTED) or datetime.now(UTC)
    return started


def load_command(name: str) -> Any:
    """The click command ``name`` (importing its module)."""
    module_name, inner, _ = COMMANDS[name]
    command = typer.main.get_command(importlib.import_module(module_name).app)
    if inner is not None:
        assert isinstance(command, TyperGroup), module_name
        return command.commands[inner]
    return command


class LazyCommands(TyperGroup):
    """The root group: commands from :data:`COMMANDS`, errors in one voice.

    ``verbose`` (the root's ``--verbose``, or a command's) shows a traceback with an error.
    """

    verbose = False

    def list_commands(self, ctx: Any) -> list[str]:
        return [*super().list_commands(ctx), *COMMANDS]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in COMMANDS:
            return load_command(cmd_name)
        return super().get_command(ctx, cmd_name)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name = args[0] if args else ""
        if name and not name.startswith("-") and name not in self.list_commands(ctx):
            raise typer.BadParameter(
                f"no such command {name!r} (allowed: {', '.join(self.list_commands(ctx))})"
            )
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """The commands and their summaries, without importing them."""
        rows = [(name, summary) for name, (_, _, summary) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def make_context(
        self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any
    ) -> Any:
        """The root's context, holding the command line as typed and when it started (for a
        result's provenance)."""
        typed, started = list(args), datetime.now(UTC)
        ctx = super().make_context(info_name, args, parent=parent, **extra)
        ctx.meta[COMMAND_LINE] = (PROGRAM, *typed)
        ctx.meta[STARTED] = started
        return ctx

    def invoke(self, ctx: Any) -> Any:
        self.verbose = bool(ctx.params.get("verbose"))
        return super().invoke(ctx)

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        """typer's main, its errors rephrased into one line each; exits with their code."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        except typer.TyperException as error:
            if type(error).__name__ == "NoArgsIsHelpError":  # no arguments: the help
                typer.echo(error.format_message(), err=True)
                sys.exit(error.exit_code)
            if self.verbose:
                traceback.print_exc()
            typer.echo(error_line(error), err=True)
            sys.exit(error.exit_code)
        except typer.Abort:
            typer.echo("error: aborted", err=True)
            sys.exit(1)
        except Exception as error:  # a bug: said in one line, the traceback with --verbose
            if self.verbose:
                traceback.print_exc()
            hint = "" if self.verbose else " (run with --verbose for the traceback)"
            typer.echo(f"error: {type(error).__name__}: {error}{hint}", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=LazyCommands,
    help="Consensus ADMM on serverless workers: solve locally, or on AWS Lambda.",
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)

#: What --verbose means, on the root and on the commands that take it too.
VERBOSE_HELP = "log the scheduler's events, and show a traceback with an error"


@app.callback()
def root(
    verbose: Annotated[bool, typer.Option("--verbose", help=VERBOSE_HELP)] = False,
) -> None:
    """Consensus ADMM on serverless workers: solve locally, or on AWS Lambda."""
    if verbose:
        logging.basicConfig(level=logging.INFO)


def be_verbose(ctx: typer.Context) -> None:
    """A command's own ``--verbose``: as the root's (the scheduler's log, tracebacks)."""
    logging.basicConfig(level=logging.INFO)
    root_command = ctx.find_root().command
    if isinstance(root_command, LazyCommands):
        root_command.verbose = True
