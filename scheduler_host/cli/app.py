"""The ``lambda-admm`` command line."""

from __future__ import annotations

import contextlib
import logging
import tempfile
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console

from runtime.specs import FaultPlan, FaultRule
from scheduler_host.cli import path_command
from scheduler_host.cli import remote as cli_remote
from scheduler_host.cli.out_dir import check_out, default_out, make_out
from scheduler_host.cli.signals import exit_code_of, sigterm_as_interrupt
from scheduler_host.cli.spec_flags import (
    ZERO_BASED_HELP,
    build_spec,
    spec_from_flags,
    with_spec_flags,
)
from scheduler_host.cli.verdict import AllowUnconverged, exit_unless_converged
from scheduler_host.solve_spec import (
    MAX_FEATURES,
    PAPER_DENSITY,
    PAPER_FEATURES,
    PAPER_PENALTY_RULE,
    PAPER_SAMPLES,
    SolveSpec,
    describe_validation_error,
)
from scheduler_host.spawners.base import Spawner

app = typer.Typer(
    help="Consensus ADMM on serverless workers: solve locally, or on AWS Lambda.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Prepare datasets into per-worker shards.", no_args_is_help=True)
app.add_typer(data_app, name="data")
cli_remote.register(app)
path_command.register(app)

console = Console(stderr=True)
#: The shell's code for a process ended by SIGINT (128 + 2).


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
    from scheduler_host.assignments import spec_as_json
    from scheduler_host.cli.out_dir import save_result
    from scheduler_host.cli.progress import iteration_progress
    from scheduler_host.model_file import model_file_of
    from scheduler_host.solve import SchedulerOptions, SolveFailed, run_solve

    if not secure:
        console.print(
            "[yellow]warning:[/yellow] --insecure: ZMQ traffic is neither authenticated nor "
            "encrypted; anyone who reaches the ports can read z and send updates"
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
        console.print(f"[red]solve failed:[/red] {error}")
        raise typer.Exit(code=1) from None
    except KeyboardInterrupt as interrupt:  # Ctrl-C or SIGTERM: run_solve stopped the workers
        console.print("interrupted: the solve was stopped, and its workers with it")
        raise typer.Exit(code=exit_code_of(interrupt)) from None
    typer.echo(result.summary())
    model = None
    try:  # the dataset's manifest is read again; its loss must not cost the result
        model = model_file_of(result, spec)
    except (OSError, ValueError) as error:
        typer.echo(f"warning: no model.json: cannot read the dataset's manifest: {error}", err=True)
    try:
        saved = save_result(out, result, spec=spec_as_json(spec), model=model)
    except OSError as error:
        typer.echo(f"error: --out: {error}", err=True)
        raise typer.Exit(code=1) from None
    if saved.failure is not None:
        typer.echo(
            f"error: --out: {saved.failure}; the result was saved to {saved.directory}/ instead",
            err=True,
        )
        raise typer.Exit(code=1)
    typer.echo(f"results in {saved.directory}/ (result.json, x.npy, model.json, convergence.png)")
    exit_unless_converged(result.converged, allow_unconverged=allow_unconverged)


def parse_faults(rules: list[str], seed: int) -> FaultPlan:
    """``kind[:key=value...]`` per rule, e.g. ``kill:worker=1:iteration=3`` or
    ``delay:seconds=0.5:probability=0.2`` (keys: worker, iteration, probability, seconds)."""
    parsed = []
    for text in rules:
        kind, *pairs = text.split(":")
        fields: dict[str, str] = {"kind": kind}
        for pair in pairs:
            key, separator, value = pair.partition("=")
            if not separator:
                raise typer.BadParameter(
                    f"expected key=value, got {pair!r}", param_hint="--inject-faults"
                )
            fields[key] = value
        try:
            parsed.append(FaultRule.model_validate(fields))
        except ValidationError as error:
            detail = describe_validation_error(error)
            raise typer.BadParameter(f"{text!r}: {detail}", param_hint="--inject-faults") from None
    return FaultPlan(rules=tuple(parsed), seed=seed)


def _lambda_spawner(api: str | None, region: str | None) -> Spawner:
    import boto3

    from scheduler_host.spawners.api_gateway import ApiGatewaySpawner

    if api is None:
        raise typer.BadParameter("required with --backend lambda", param_hint="--api")
    session = boto3.Session(region_name=region)
    credentials = session.get_credentials()
    if credentials is None:
        raise typer.BadParameter(
            "no AWS credentials found (see `aws configure`)", param_hint="--api"
        )
    return ApiGatewaySpawner(
        workers_url=api.rstrip("/") + "/workers",
        region=session.region_name or "us-east-1",
        credentials=credentials.get_frozen_credentials(),
    )


@app.command()
@with_spec_flags
def solve(
    flags: dict[str, Any],
    out: Annotated[
        Path | None,
        typer.Option(help="result directory, new or empty (default: results/<solve id>)"),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option(help="use a non-empty --out, removing an earlier result there")
    ] = False,
    backend: Annotated[
        str, typer.Option(help="local | lambda | emulated (free x-updates, for measuring)")
    ] = "local",
    api: Annotated[str | None, typer.Option(help="lambda: stage URL of the trigger API")] = None,
    region: Annotated[str | None, typer.Option(help="lambda: AWS region")] = None,
    advertise_host: Annotated[
        str | None, typer.Option(help="lambda: this machine's address as Lambda sees it")
    ] = None,
    verbose: Annotated[bool, typer.Option(help="log scheduler events")] = False,
    insecure: Annotated[bool, typer.Option(help="no CURVE on the ZMQ sockets (debugging)")] = False,
    inject_faults: Annotated[
        list[str] | None,
        typer.Option(help="kill|delay|retire[:worker=W][:iteration=K][:probability=P][:seconds=S]"),
    ] = None,
    fault_seed: Annotated[int, typer.Option(help="seed of the fault injector")] = 0,
    worker_time_limit: Annotated[
        float | None, typer.Option(help="local workers retire and hand off after this many s")
    ] = None,
    allow_unconverged: AllowUnconverged = False,
) -> None:
    """Solve min Σ f_n(x) + h(x) with consensus ADMM (local worker processes by default)."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING)
    if backend not in ("local", "lambda", "emulated"):
        raise typer.BadParameter(
            f"must be 'local', 'lambda' or 'emulated', got {backend!r}", param_hint="--backend"
        )
    if backend == "lambda" and advertise_host is None:
        raise typer.BadParameter("required with --backend lambda", param_hint="--advertise-host")
    if worker_time_limit is not None and worker_time_limit <= 0:
        raise typer.BadParameter(
            f"must be > 0, got {worker_time_limit}", param_hint="--worker-time-limit"
        )
    solve_id = uuid.uuid4().hex
    out = out or default_out(solve_id)
    check_out(out, overwrite=overwrite)
    faults = parse_faults(inject_faults or [], fault_seed)
    with contextlib.ExitStack() as cleanup:
        shard_directory = None
        if flags["data"] is not None:  # --data's shards live as long as the solve
            temporary = tempfile.TemporaryDirectory(prefix="lambda-admm-shards-")
            shard_directory = Path(cleanup.enter_context(temporary))
        spec = spec_from_flags(flags, shard_directory=shard_directory)
        make_out(out, overwrite=overwrite)
        _solve_into(
            spec,
            out=out,
            solve_id=solve_id,
            faults=faults,
            backend=backend,
            api=api,
            region=region,
            advertise_host=advertise_host,
            insecure=insecure,
            worker_time_limit=worker_time_limit,
            allow_unconverged=allow_unconverged,
        )


def _solve_into(
    spec: SolveSpec,
    *,
    out: Path,
    solve_id: str,
    faults: FaultPlan,
    backend: str,
    api: str | None,
    region: str | None,
    advertise_host: str | None,
    insecure: bool,
    worker_time_limit: float | None,
    allow_unconverged: bool,
) -> None:
    extra = {"faults": faults, "worker_time_limit_seconds": worker_time_limit}
    if worker_time_limit is not None:
        extra.update(
            retire_margin_seconds=min(10.0, worker_time_limit / 10),
            handoff_lead_seconds=min(30.0, worker_time_limit / 5),
        )
    spawner: Spawner
    addresses: dict[str, Any] = {}
    if backend == "local":
        from scheduler_host.spawners.local import LocalProcessSpawner

        spawner = LocalProcessSpawner(log_directory=out / "logs")
    elif backend == "emulated":
        from scheduler_host.spawners.emulated import EmulatedSpawner

        spawner = EmulatedSpawner(log_directory=out / "logs")
    else:
        spawner = _lambda_spawner(api, region)
        addresses = {"bind_host": "0.0.0.0", "advertise_host": advertise_host}
    run_solve_command(
        spec,
        spawner=spawner,
        out=out,
        solve_id=solve_id,
        secure=not insecure,
        extra=extra,
        allow_unconverged=allow_unconverged,
        **addresses,
    )


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
        allow_unconverged=allow_unconverged,
    )
    typer.echo(
        "Vary it: lambda-admm solve --problem paper --samples 600000 --features 10000 "
        "--density 0.001 --l1 1 --workers 16 --out results/paper16  (see --help)"
    )


@data_app.command("prepare")
def data_prepare(
    source: Annotated[
        Path, typer.Argument(help="svmlight/LIBSVM file (.gz, .bz2), .npz CSR or long Parquet")
    ],
    destination: Annotated[str, typer.Argument(help="DIR or s3://bucket/datasets/NAME")],
    workers: Annotated[int, typer.Option(help="W, one shard per worker")] = 4,
    features: Annotated[
        int | None,
        typer.Option(help="d (default: the largest index; this keeps trailing all-zero columns)"),
    ] = None,
    zero_based: Annotated[str, typer.Option(help=ZERO_BASED_HELP)] = "auto",
) -> None:
    """Split an svmlight file into W contiguous CSR shards plus a manifest (with the labels'
    classes and, for two classes, their mapping to ±1: the smaller -1, the larger +1)."""
    from scheduler_host.cli.datasets import prepare_data_file, zero_based_choice

    if workers < 1:
        raise typer.BadParameter(f"must be >= 1, got {workers}", param_hint="--workers")
    if features is not None and not 1 <= features <= MAX_FEATURES:
        raise typer.BadParameter(
            f"got {features} (allowed: 1 to {MAX_FEATURES:,})", param_hint="--features"
        )
    try:
        prepared = prepare_data_file(
            source,
            destination,
            num_workers=workers,
            num_features=features,
            zero_based=zero_based_choice(zero_based),
            loss=None,
            source_flag="SOURCE",
        )
    except (ValueError, OSError) as error:
        raise typer.BadParameter(str(error), param_hint="DESTINATION") from None
    manifest = prepared.manifest
    typer.echo(
        f"wrote {manifest.num_workers} shards of {manifest.num_samples} x "
        f"{manifest.num_features} to {destination}"
    )
    if manifest.labels is not None:
        binary = manifest.labels.binary
        mapping = f" ({binary.describe()} for a classification loss)" if binary else ""
        typer.echo(f"labels: {manifest.labels.describe()}{mapping}")


@app.command()
def predict(
    model: Annotated[Path, typer.Option(help="a result directory (with model.json and x.npy)")],
    data: Annotated[Path, typer.Option(help="an svmlight/LIBSVM file to predict")],
    out: Annotated[Path, typer.Option(help="the predictions, as CSV")] = Path("predictions.csv"),
    overwrite: Annotated[bool, typer.Option(help="replace an existing --out")] = False,
    zero_based: Annotated[
        str | None,
        typer.Option(help=f"{ZERO_BASED_HELP} (default: as the training file was read)"),
    ] = None,
) -> None:
    """Predict with a solved model; prints the accuracy (classifiers) or the RMSE."""
    from scheduler_host.cli.datasets import zero_based_choice
    from scheduler_host.cli.predict import predict_file

    base = None if zero_based is None else zero_based_choice(zero_based)
    line = predict_file(model_dir=model, data=data, out=out, overwrite=overwrite, zero_based=base)
    typer.echo(line)
