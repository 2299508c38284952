"""``lambda-admm demo``: the paper's experiment, full size, with local workers."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated

import typer

from scheduler_host.cli.app import command_line, command_started
from scheduler_host.cli.provenance import Provenance, data_source
from scheduler_host.cli.solving import run_solve_command
from scheduler_host.cli.spec_flags import build_spec
from scheduler_host.cli.verdict import AllowUnconverged
from scheduler_host.solve_spec import (
    PAPER_DENSITY,
    PAPER_FEATURES,
    PAPER_PENALTY_RULE,
    PAPER_SAMPLES,
    SolveSpec,
)

app = typer.Typer(rich_markup_mode=None, add_completion=False)


def demo_spec(*, workers: int, local_solver: str) -> SolveSpec:
    """The paper's instance; with the paper's FISTA also the paper's ρ rule (residual
    balancing, no over-relaxation), so that run reproduces the paper's figures bit for bit."""
    return build_spec(
        {
            "samples": PAPER_SAMPLES,
            "features": PAPER_FEATURES,
            "density": PAPER_DENSITY,
            "l1": 1.0,
            "workers": workers,
            "local_solver": local_solver,
            **(PAPER_PENALTY_RULE if local_solver == "fista" else {}),
        }
    )


@app.command()
def demo(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option(help="result directory")] = Path("results/demo"),
    workers: Annotated[int, typer.Option(help="W")] = 4,
    allow_unconverged: AllowUnconverged = False,
    local_solver: Annotated[
        str, typer.Option(help="newton | fista (the paper's, to reproduce its figures)")
    ] = SolveSpec.model_fields["local_solver"].default,
) -> None:
    """The paper's experiment, full size (N=600,000, d=10,000), with local workers."""
    from scheduler_host.spawners.local import LocalProcessSpawner

    spec = demo_spec(workers=workers, local_solver=local_solver)
    typer.echo(
        f"Paper experiment (Aytekin & Johansson): L1-logistic regression, N={spec.samples:,}, "
        f"d={spec.features:,}, p={spec.density}, λ1={spec.l1}, W={spec.workers} local workers, "
        f"{spec.local_solver} x-update"
    )
    run_solve_command(
        spec,
        spawner=LocalProcessSpawner(log_directory=out / "logs"),
        out=out,
        solve_id=uuid.uuid4().hex,
        provenance=Provenance(
            command=command_line(ctx), data=data_source(spec), started=command_started(ctx)
        ),
        allow_unconverged=allow_unconverged,
    )
    typer.echo(
        "Vary it: lambda-admm solve --problem paper --samples 600000 --features 10000 "
        "--density 0.001 --l1 1 --workers 16 --out results/paper16  (see --help)"
    )
