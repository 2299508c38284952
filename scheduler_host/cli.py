"""The ``lambda-admm`` command line."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console

from scheduler_host.assignments import resolve_spec
from scheduler_host.solve_spec import (
    PAPER_DENSITY,
    PAPER_FEATURES,
    PAPER_SAMPLES,
    SolveSpec,
    describe_validation_error,
)

app = typer.Typer(
    help="Consensus ADMM on serverless workers: solve locally, or on AWS Lambda.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Prepare datasets into per-worker shards.", no_args_is_help=True)
app.add_typer(data_app, name="data")

console = Console(stderr=True)
_FLAG_OF_FIELD = {"box_lower": "--box", "box_upper": "--box"}


def flag_of(field: str) -> str:
    return _FLAG_OF_FIELD.get(field, "--" + field.replace("_", "-"))


def _parse_box(box: str | None) -> tuple[float | None, float | None]:
    if box is None:
        return None, None
    parts = box.split(",")
    try:
        lower, upper = (float(part) for part in parts)
    except ValueError:
        raise typer.BadParameter(
            f"must be 'lo,hi' with two numbers, got {box!r}", param_hint="--box"
        ) from None
    return lower, upper


def build_spec(fields: dict[str, Any]) -> SolveSpec:
    """A validated spec, or a usage error naming the offending flags (nothing is started)."""
    try:
        return SolveSpec(**fields)
    except ValidationError as error:
        raise typer.BadParameter(describe_validation_error(error, field_label=flag_of)) from None


def _spec_from_data_file(data: Path, out: Path | None, fields: dict[str, Any]) -> dict[str, Any]:
    """Prepare an svmlight file into shards (under ``out`` or a temporary directory)."""
    import tempfile

    from scheduler_host.datasets import prepare_dataset

    if not data.is_file():
        raise typer.BadParameter(f"data file not found: {data}", param_hint="--data")
    build_spec({**fields, "samples": max(fields["workers"], 1)})  # validate the other flags first
    shard_dir = out / "shards" if out else Path(tempfile.mkdtemp(prefix="lambda-admm-shards-"))
    try:
        manifest = prepare_dataset(data, str(shard_dir), num_workers=fields["workers"])
    except (ValueError, OSError) as error:
        label = "--workers" if str(error).startswith("workers:") else "--data"
        raise typer.BadParameter(str(error).removeprefix("workers: "), param_hint=label) from None
    return {
        **fields,
        "problem": "shards",
        "shards": str(shard_dir),
        "samples": manifest.num_samples,
        "features": manifest.num_features,
    }


def run_local_solve(spec: SolveSpec, *, out: Path | None) -> None:
    """Solve with local worker processes, show progress, write the result directory."""
    from scheduler_host.assignments import spec_as_json
    from scheduler_host.plots import plot_convergence
    from scheduler_host.progress import iteration_progress
    from scheduler_host.results import write_result
    from scheduler_host.scheduler import SolveFailed, run_solve
    from scheduler_host.spawners.local import LocalProcessSpawner

    spawner = LocalProcessSpawner(log_directory=out / "logs" if out else None)
    try:
        with iteration_progress(max_iter=spec.max_iter, console=console) as on_iteration:
            result = run_solve(spec, spawner=spawner, on_iteration=on_iteration)
    except SolveFailed as error:
        console.print(f"[red]solve failed:[/red] {error}")
        raise typer.Exit(code=1) from None
    typer.echo(result.summary())
    if out is not None:
        write_result(out, result, spec=spec_as_json(spec))
        plot_convergence(
            result, out / "convergence.png", eps_primal=spec.eps_primal, eps_dual=spec.eps_dual
        )
        typer.echo(f"results in {out}/ (result.json, x.npy, convergence.png)")


@app.command()
def solve(
    problem: Annotated[str | None, typer.Option(help="'paper': the paper's generator")] = None,
    samples: Annotated[int, typer.Option(help="N, paper generator")] = PAPER_SAMPLES,
    features: Annotated[int, typer.Option(help="d, paper generator")] = PAPER_FEATURES,
    density: Annotated[float, typer.Option(help="p in (0, 1], paper generator")] = PAPER_DENSITY,
    seed: Annotated[int, typer.Option(help="generator seed")] = 0,
    data: Annotated[Path | None, typer.Option(help="an svmlight/LIBSVM file")] = None,
    shards: Annotated[str | None, typer.Option(help="prepared shards: DIR or s3://")] = None,
    loss: Annotated[str, typer.Option(help="logistic | squared")] = "logistic",
    l1: Annotated[float, typer.Option(help="λ1 >= 0")] = 1.0,
    l2: Annotated[float, typer.Option(help="λ2 >= 0")] = 0.0,
    box: Annotated[str | None, typer.Option(help="box constraint 'lo,hi'")] = None,
    sample_weights: Annotated[str, typer.Option(help="none | uniform (1/N)")] = "none",
    workers: Annotated[int, typer.Option(help="W, number of workers")] = 4,
    workers_per_master: Annotated[int, typer.Option(help="W̄, workers per master thread")] = 16,
    rho0: Annotated[float, typer.Option(help="initial penalty ρ0 > 0")] = 1.0,
    max_iter: Annotated[int, typer.Option(help="K, maximum ADMM iterations")] = 100,
    eps_primal: Annotated[float, typer.Option(help="ε_r, primal tolerance")] = 2e-2,
    eps_dual: Annotated[float, typer.Option(help="ε_s, dual tolerance")] = 2e-2,
    dual_residual: Annotated[str, typer.Option(help="paper | consensus")] = "paper",
    min_local_iter: Annotated[int, typer.Option(help="K_w, minimum FISTA iterations")] = 1,
    max_local_iter: Annotated[int, typer.Option(help="maximum FISTA iterations")] = 10_000,
    eps_grad: Annotated[float, typer.Option(help="ε_g, local gradient tolerance")] = 1e-2,
    eps_rel: Annotated[float, typer.Option(help="ε_f, local relative decrease")] = 1e-12,
    out: Annotated[Path | None, typer.Option(help="result directory")] = None,
    verbose: Annotated[bool, typer.Option(help="log scheduler events")] = False,
) -> None:
    """Solve min Σ f_n(x) + h(x) with consensus ADMM and local worker processes."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING)
    box_lower, box_upper = _parse_box(box)
    if problem not in (None, "paper"):
        raise typer.BadParameter(f"must be 'paper', got {problem!r}", param_hint="--problem")
    if sum(option is not None for option in (problem, data, shards)) > 1:
        raise typer.BadParameter("--problem, --data and --shards are mutually exclusive")
    fields: dict[str, Any] = {
        "samples": samples,
        "features": features,
        "density": density,
        "seed": seed,
        "loss": loss,
        "l1": l1,
        "l2": l2,
        "box_lower": box_lower,
        "box_upper": box_upper,
        "sample_weights": sample_weights,
        "workers": workers,
        "workers_per_master": workers_per_master,
        "rho0": rho0,
        "max_iter": max_iter,
        "eps_primal": eps_primal,
        "eps_dual": eps_dual,
        "dual_residual": dual_residual,
        "min_local_iter": min_local_iter,
        "max_local_iter": max_local_iter,
        "eps_grad": eps_grad,
        "eps_rel": eps_rel,
    }
    if data is not None:
        fields = _spec_from_data_file(data, out, fields)
    elif shards is not None:
        fields = _spec_from_shards(shards, fields)
    spec = build_spec(fields)
    try:
        spec = resolve_spec(spec)
    except ValueError as error:  # e.g. "workers: the dataset ... is prepared for 3 workers"
        field, _, detail = str(error).partition(": ")
        raise typer.BadParameter(detail, param_hint=flag_of(field)) from None
    run_local_solve(spec, out=out)


def _spec_from_shards(shards: str, fields: dict[str, Any]) -> dict[str, Any]:
    from scheduler_host.assignments import load_manifest

    try:
        manifest = load_manifest(shards)
    except (ValueError, OSError) as error:
        raise typer.BadParameter(
            str(error).removeprefix("shards: "), param_hint="--shards"
        ) from None
    return {
        **fields,
        "problem": "shards",
        "shards": shards,
        "samples": manifest.num_samples,
        "features": manifest.num_features,
    }


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="result directory")] = Path("results/demo"),
    workers: Annotated[int, typer.Option(help="W")] = 4,
) -> None:
    """The paper's experiment, full size (N=600,000, d=10,000), with local workers."""
    spec = build_spec(
        {
            "samples": PAPER_SAMPLES,
            "features": PAPER_FEATURES,
            "density": PAPER_DENSITY,
            "l1": 1.0,
            "workers": workers,
        }
    )
    typer.echo(
        f"Paper experiment (Aytekin & Johansson): L1-logistic regression, N={spec.samples:,}, "
        f"d={spec.features:,}, p={spec.density}, λ1={spec.l1}, W={spec.workers} local workers"
    )
    run_local_solve(spec, out=out)
    typer.echo(
        "Vary it: lambda-admm solve --problem paper --samples 600000 --features 10000 "
        "--density 0.001 --l1 1 --workers 16 --out results/paper16  (see --help)"
    )


@data_app.command("prepare")
def data_prepare(
    source: Annotated[Path, typer.Argument(help="svmlight/LIBSVM file")],
    destination: Annotated[str, typer.Argument(help="DIR or s3://bucket/datasets/NAME")],
    workers: Annotated[int, typer.Option(help="W, one shard per worker")] = 4,
) -> None:
    """Split an svmlight file into W contiguous CSR shards plus a manifest."""
    from scheduler_host.datasets import prepare_dataset

    if not source.is_file():
        raise typer.BadParameter(f"data file not found: {source}", param_hint="SOURCE")
    if workers < 1:
        raise typer.BadParameter(f"must be >= 1, got {workers}", param_hint="--workers")
    try:
        manifest = prepare_dataset(source, destination, num_workers=workers)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    typer.echo(
        f"wrote {manifest.num_workers} shards of {manifest.num_samples} x "
        f"{manifest.num_features} to {destination}"
    )
