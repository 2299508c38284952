"""Run a solve for a command: progress, summary, the result directory, the exit code."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from scheduler_host.cli.errors import CommandFailed
from scheduler_host.cli.signals import exit_code_of, sigterm_as_interrupt
from scheduler_host.cli.verdict import exit_unless_converged

if TYPE_CHECKING:
    from scheduler_host.solve_spec import SolveSpec
    from scheduler_host.spawners.base import Spawner


def run_solve_command(
    spec: SolveSpec,
    *,
    spawner: Spawner,
    out: Path,
    solve_id: str,
    bind_host: str = "127.0.0.1",
    advertise_host: str | None = None,
    secure: bool = True,
    extra: dict[str, Any] | None = None,
    allow_unconverged: bool = False,
) -> None:
    """Solve, show progress, write the result directory (or a fallback: never lose it); exit 3
    if not converged (unless ``allow_unconverged``)."""
    from rich.console import Console

    from scheduler_host.assignments import spec_as_json
    from scheduler_host.cli.out_dir import save_result
    from scheduler_host.cli.progress import iteration_progress
    from scheduler_host.solve import SchedulerOptions, SolveFailed, run_solve

    console = Console(stderr=True)
    if not secure:
        typer.echo(
            "warning: --insecure: ZMQ traffic is neither authenticated nor encrypted; anyone "
            "who reaches the ports can read z and send updates",
            err=True,
        )
    options = SchedulerOptions(
        bind_host=bind_host, advertise_host=advertise_host, secure=secure, **(extra or {})
    )
    try:
        with (
            sigterm_as_interrupt(),
            iteration_progress(max_iter=spec.max_iter, console=console) as on_iteration,
        ):
            result = run_solve(
                spec,
                spawner=spawner,
                options=options,
                solve_id=solve_id,
                on_iteration=on_iteration,
            )
    except SolveFailed as error:
        raise CommandFailed(f"the solve failed: {error}") from None
    except KeyboardInterrupt as interrupt:  # Ctrl-C or SIGTERM: run_solve stopped the workers
        typer.echo("interrupted: the solve was stopped, and its workers with it", err=True)
        raise typer.Exit(code=exit_code_of(interrupt)) from None
    typer.echo(result.summary())
    try:
        saved = save_result(out, result, spec=spec_as_json(spec))
    except OSError as error:
        raise CommandFailed(str(error), flag="--out") from None
    if saved.failure is not None:
        raise CommandFailed(
            f"{saved.failure}; the result was saved to {saved.directory}/ instead", flag="--out"
        )
    typer.echo(f"results in {saved.directory}/ (result.json, x.npy, convergence.png)")
    exit_unless_converged(result.converged, allow_unconverged=allow_unconverged)
