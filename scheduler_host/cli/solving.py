"""Run a solve for a command: progress, summary, the result directory, the exit code."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from scheduler_host.cli.errors import CommandFailed, error_line
from scheduler_host.cli.model_text import describe_model, model_json
from scheduler_host.cli.signals import exit_code_of, interrupts_ignored, sigterm_as_interrupt
from scheduler_host.cli.verdict import exit_unless_converged

if TYPE_CHECKING:
    from scheduler_host.cli.out_dir import SavedResult
    from scheduler_host.cli.provenance import Provenance
    from scheduler_host.model_file import ModelFile
    from scheduler_host.results import SolveResult
    from scheduler_host.solve import SchedulerOptions
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
    provenance: Provenance,
    extra: dict[str, Any] | None = None,
    allow_unconverged: bool = False,
) -> None:
    """Say the model, solve, show progress, write the result directory (or a fallback: never
    lose it) with the model and ``provenance``; exit 3 if not converged (unless
    ``allow_unconverged``)."""
    from scheduler_host.solve import SchedulerOptions

    typer.echo(f"model: {describe_model(spec.model)}")
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
        result = _solve(spec, spawner=spawner, options=options, solve_id=solve_id)
    except KeyboardInterrupt as interrupt:  # Ctrl-C or SIGTERM: the workers were stopped
        _save_interrupted(interrupt, out=out, spec=spec, provenance=provenance)
    typer.echo(result.summary())
    saved = _save(out, result, spec, provenance, model=_model_of(result, spec))
    if saved.failure is not None:
        raise _saved_elsewhere(saved)
    typer.echo(f"results in {saved.directory}/ (result.json, x.npy, model.json, convergence.png)")
    exit_unless_converged(result.converged, allow_unconverged=allow_unconverged)


def _solve(
    spec: SolveSpec, *, spawner: Spawner, options: SchedulerOptions, solve_id: str
) -> SolveResult:
    """:func:`run_solve` with progress on a terminal, SIGTERM as Ctrl-C, failures in one
    voice."""
    from scheduler_host.cli.progress import iteration_progress, terminal_console
    from scheduler_host.solve import SolveFailed, run_solve

    progress = iteration_progress(
        eps_primal=spec.eps_primal, eps_dual=spec.eps_dual, console=terminal_console()
    )
    try:
        with sigterm_as_interrupt(), progress as on_iteration:
            return run_solve(
                spec, spawner=spawner, options=options, solve_id=solve_id, on_iteration=on_iteration
            )
    except SolveFailed as error:
        raise CommandFailed(f"the solve failed: {error}") from None


#: The first words of what an interrupted solve says (then where its iterate went).
INTERRUPTED = "interrupted: the solve was stopped, and its workers with it"


def _model_of(result: SolveResult, spec: SolveSpec) -> ModelFile | None:
    """``model.json``'s content (for ``predict``), or None with a warning: it reads the
    dataset's manifest again, and losing that must not cost the result."""
    from scheduler_host.model_file import model_file_of

    try:
        return model_file_of(result, spec)
    except (OSError, ValueError) as error:
        typer.echo(f"warning: no model.json: cannot read the dataset's manifest: {error}", err=True)
        return None


def _save(
    out: Path,
    result: SolveResult,
    spec: SolveSpec,
    provenance: Provenance,
    *,
    model: ModelFile | None = None,
) -> SavedResult:
    """``result`` with the model and the provenance in ``out`` (and ``model.json``, given
    ``model``), or in a fallback (then its ``failure`` says why); an error naming ``--out``
    if no place took it."""
    from scheduler_host.assignments import spec_as_json
    from scheduler_host.cli.out_dir import save_result

    extra = {"model": model_json(spec.model), "provenance": provenance.to_json()}
    try:
        return save_result(out, result, spec=spec_as_json(spec), extra=extra, model=model)
    except OSError as error:
        raise CommandFailed(str(error), flag="--out") from None


def _saved_elsewhere(saved: SavedResult) -> CommandFailed:
    """The error of a result that ``--out`` refused, saying where it went instead."""
    return CommandFailed(
        f"{saved.failure}; the result was saved to {saved.directory}/ instead", flag="--out"
    )


def _save_interrupted(
    interrupt: KeyboardInterrupt, *, out: Path, spec: SolveSpec, provenance: Provenance
) -> NoReturn:
    """Save the interrupted solve's latest iterate (status ``interrupted``), say where, and
    exit 128 + the signal's number; further interrupts are ignored while it is written."""
    code = exit_code_of(interrupt)
    result = getattr(interrupt, "result", None)
    if result is None:
        typer.echo(f"{INTERRUPTED}, before its first iteration: nothing to save", err=True)
        raise typer.Exit(code=code)
    with interrupts_ignored():
        typer.echo(result.summary())
        saved = _save(out, result, spec, provenance)
    if saved.failure is not None:  # said, and the exit code still says the signal
        typer.echo(error_line(_saved_elsewhere(saved)), err=True)
    typer.echo(
        f"{INTERRUPTED}; its iterate after iteration {result.iterations} is saved in "
        f"{saved.directory}/ (status interrupted)",
        err=True,
    )
    raise typer.Exit(code=code)
