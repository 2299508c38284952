"""``lambda-admm solve``: one solve, with local workers, Lambda workers or emulated ones."""

from __future__ import annotations

import contextlib
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError

from runtime.specs import FaultPlan, FaultRule
from scheduler_host.cli.app import VERBOSE_HELP, be_verbose, command_line, command_started
from scheduler_host.cli.out_dir import check_out, default_out, make_out
from scheduler_host.cli.provenance import Provenance, data_source
from scheduler_host.cli.solving import run_solve_command
from scheduler_host.cli.spec_flags import spec_from_flags, with_spec_flags
from scheduler_host.cli.verdict import AllowUnconverged
from scheduler_host.solve_spec import describe_validation_error

if TYPE_CHECKING:
    from scheduler_host.solve_spec import SolveSpec
    from scheduler_host.spawners.base import Spawner

app = typer.Typer(rich_markup_mode=None, add_completion=False)

#: The backends, and what each runs the workers on.
BACKENDS = ("local", "lambda", "emulated")

OUT_HELP = (
    "result directory, new or empty (with --overwrite: used); without --out the results go "
    "to results/<solve id>/ under the current directory, and the path is printed"
)
INJECT_FAULTS_HELP = (
    "a fault to inject, repeatable: kill, delay, retire or raise, with optional "
    ":worker=W :iteration=K :probability=P :seconds=S, e.g. kill:worker=1:iteration=3"
)


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


def _lambda_spawner(api: str, region: str | None, *, function: str | None, workers: int) -> Spawner:
    import boto3

    from scheduler_host.spawners.api_gateway import ApiGatewaySpawner
    from scheduler_host.spawners.lambda_concurrency import ConcurrencyExceeded, check_concurrency

    session = boto3.Session(region_name=region)
    if function is not None:  # refuse before spawning, not half-spawned at the join deadline
        try:
            check_concurrency(session.client("lambda"), function_name=function, workers=workers)
        except ConcurrencyExceeded as error:  # "workers: ...": the flag names the field
            detail = str(error).removeprefix("workers: ")
            raise typer.BadParameter(detail, param_hint="--workers") from None
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


def _check_backend(backend: str, *, api: str | None, advertise_host: str | None) -> None:
    if backend not in BACKENDS:
        raise typer.BadParameter(
            f"got {backend!r} (allowed: local, lambda, emulated)", param_hint="--backend"
        )
    if backend == "lambda" and api is None:
        raise typer.BadParameter("required with --backend lambda", param_hint="--api")
    if backend == "lambda" and advertise_host is None:
        raise typer.BadParameter("required with --backend lambda", param_hint="--advertise-host")


@app.command()
@with_spec_flags
def solve(
    ctx: typer.Context,
    flags: dict[str, Any],
    out: Annotated[Path | None, typer.Option(help=OUT_HELP)] = None,
    overwrite: Annotated[
        bool, typer.Option(help="use a non-empty --out, removing an earlier result there")
    ] = False,
    backend: Annotated[
        str, typer.Option(help="local | lambda | emulated (free x-updates, for measuring)")
    ] = "local",
    api: Annotated[str | None, typer.Option(help="lambda: stage URL of the trigger API")] = None,
    region: Annotated[str | None, typer.Option(help="lambda: AWS region")] = None,
    function: Annotated[
        str | None,
        typer.Option(help="lambda: the worker function; W is checked against its concurrency"),
    ] = None,
    advertise_host: Annotated[
        str | None, typer.Option(help="lambda: this machine's address as Lambda sees it")
    ] = None,
    verbose: Annotated[bool, typer.Option(help=VERBOSE_HELP)] = False,
    insecure: Annotated[bool, typer.Option(help="no CURVE on the ZMQ sockets (debugging)")] = False,
    inject_faults: Annotated[list[str] | None, typer.Option(help=INJECT_FAULTS_HELP)] = None,
    fault_seed: Annotated[int, typer.Option(help="seed of the fault injector")] = 0,
    worker_time_limit: Annotated[
        float | None, typer.Option(help="local workers retire and hand off after this many s")
    ] = None,
    allow_unconverged: AllowUnconverged = False,
) -> None:
    """Solve min Σ f_n(x) + h(x) with consensus ADMM (local worker processes by default)."""
    if verbose:
        be_verbose(ctx)
    _check_backend(backend, api=api, advertise_host=advertise_host)
    if worker_time_limit is not None and worker_time_limit <= 0:
        raise typer.BadParameter(
            f"got {worker_time_limit} (allowed: > 0)", param_hint="--worker-time-limit"
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
        provenance = Provenance(
            command=command_line(ctx),
            data=data_source(spec, data_file=flags["data"]),
            started=command_started(ctx),
        )
        make_out(out, overwrite=overwrite)
        _solve_into(
            spec,
            provenance=provenance,
            out=out,
            solve_id=solve_id,
            faults=faults,
            backend=backend,
            api=api,
            region=region,
            function=function,
            advertise_host=advertise_host,
            insecure=insecure,
            worker_time_limit=worker_time_limit,
            allow_unconverged=allow_unconverged,
        )


def _solve_into(
    spec: SolveSpec,
    *,
    provenance: Provenance,
    out: Path,
    solve_id: str,
    faults: FaultPlan,
    backend: str,
    api: str | None,
    region: str | None,
    function: str | None,
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
        assert api is not None  # _check_backend
        spawner = _lambda_spawner(api, region, function=function, workers=spec.workers)
        addresses = {"bind_host": "0.0.0.0", "advertise_host": advertise_host}
    run_solve_command(
        spec,
        spawner=spawner,
        out=out,
        solve_id=solve_id,
        provenance=provenance,
        secure=not insecure,
        extra=extra,
        allow_unconverged=allow_unconverged,
        **addresses,
    )
