"""Commands that talk to AWS: ``submit``, ``status``, ``cancel`` (clients), ``serve`` (the host)."""

from __future__ import annotations

import time
from typing import Annotated, Any

import httpx
import typer
from pydantic import ValidationError

from scheduler_host.cli.spec_flags import spec_from_flags, with_spec_flags
from scheduler_host.cli.verdict import AllowUnconverged, exit_unless_converged
from scheduler_host.jobs import SolveState, SolveStatus
from scheduler_host.solve_spec import SolveSpec, describe_validation_error

app = typer.Typer(rich_markup_mode=None, add_completion=False)


def _signed_call(method: str, url: str, *, body: bytes = b"", region: str | None) -> httpx.Response:
    """An ``execute-api`` request signed with the caller's AWS credentials."""
    import boto3

    from scheduler_host.spawners.api_gateway import sign_request

    session = boto3.Session()
    credentials = session.get_credentials()
    if credentials is None:
        raise typer.BadParameter(
            "no AWS credentials found (see `aws configure`)", param_hint="--api"
        )
    headers = sign_request(
        method=method,
        url=url,
        body=body,
        credentials=credentials.get_frozen_credentials(),
        region=region or session.region_name or "us-east-1",
    )
    return httpx.request(method, url, content=body or None, headers=headers, timeout=30)


def submit_spec(spec: SolveSpec, *, api: str, region: str | None) -> str:
    body = spec.model_dump_json(exclude_defaults=True).encode()
    response = _signed_call("POST", api.rstrip("/") + "/solves", body=body, region=region)
    if response.status_code != 202:
        raise typer.BadParameter(f"the API answered {response.status_code}: {response.text}")
    solve_id: str = response.json()["solve_id"]
    return solve_id


def fetch_status(*, api: str, solve_id: str, region: str | None) -> SolveStatus:
    """``GET /solves/{id}``, validated as a :class:`SolveStatus`."""
    response = _signed_call("GET", f"{api.rstrip('/')}/solves/{solve_id}", region=region)
    if response.status_code != 200:
        raise typer.BadParameter(f"the API answered {response.status_code}: {response.text}")
    try:
        return SolveStatus.model_validate_json(response.content)
    except ValidationError as error:
        detail = describe_validation_error(error)
        raise typer.BadParameter(f"the API answered an invalid status object: {detail}") from None


def cancel_solve(*, api: str, solve_id: str, region: str | None) -> str:
    """``DELETE /solves/{id}``; returns the state the API reports (``cancelled``, ``cancelling``).

    Raises :class:`typer.BadParameter` with the API's reason if it refuses: the solve ended
    already (409), or is unknown (404).
    """
    response = _signed_call("DELETE", f"{api.rstrip('/')}/solves/{solve_id}", region=region)
    if response.status_code != 202:
        try:
            reason = str(response.json()["error"])
        except (ValueError, KeyError, TypeError):
            reason = response.text
        raise typer.BadParameter(
            f"the API answered {response.status_code}: {reason}", param_hint="SOLVE_ID"
        )
    state: str = response.json()["status"]
    return state


@app.command()
@with_spec_flags
def submit(
    flags: dict[str, Any],
    api: Annotated[str, typer.Option(help="stage URL of the deployed API")],
    region: Annotated[str | None, typer.Option(help="AWS region of the API")] = None,
) -> None:
    """Queue a solve on the deployed platform; prints its solve id."""
    if flags["data"] is not None:
        raise typer.BadParameter(
            "upload it first: lambda-admm data prepare FILE s3://BUCKET/datasets/NAME, "
            "then --shards s3://BUCKET/datasets/NAME",
            param_hint="--data",
        )
    typer.echo(submit_spec(spec_from_flags(flags), api=api, region=region))


@app.command()
def status(
    solve_id: Annotated[str, typer.Argument(metavar="SOLVE_ID", help="the id printed by submit")],
    api: Annotated[str, typer.Option(help="stage URL of the deployed API")],
    region: Annotated[str | None, typer.Option(help="AWS region of the API")] = None,
    wait: Annotated[bool, typer.Option(help="poll until done or failed")] = False,
    interval: Annotated[float, typer.Option(help="seconds between polls")] = 2.0,
    allow_unconverged: AllowUnconverged = False,
) -> None:
    """Show a solve's status (queued / running / done / failed / cancelled).

    Exits 1 if the solve failed or was cancelled, 3 if it is done but not converged.
    """
    current = fetch_status(api=api, solve_id=solve_id, region=region)
    while wait and not current.finished:
        if current.iteration is not None:
            typer.echo(
                f"running: iteration {current.iteration}, "
                f"r={current.primal_residual:.3e}, s={current.dual_residual:.3e}",
                err=True,
            )
        time.sleep(interval)
        current = fetch_status(api=api, solve_id=solve_id, region=region)
    typer.echo(current.model_dump_json(indent=2, exclude_none=True))
    if current.status in (SolveState.FAILED, SolveState.CANCELLED):
        raise typer.Exit(code=1)
    if current.status is SolveState.DONE:
        exit_unless_converged(current.converged is True, allow_unconverged=allow_unconverged)


@app.command()
def cancel(
    solve_id: Annotated[str, typer.Argument(metavar="SOLVE_ID", help="the id printed by submit")],
    api: Annotated[str, typer.Option(help="stage URL of the deployed API")],
    region: Annotated[str | None, typer.Option(help="AWS region of the API")] = None,
) -> None:
    """Cancel a queued or running solve; `status` then shows it `cancelled`.

    A queued solve is cancelled at once; a running one when the host next checks (between
    iterations, about every second), after it has told its workers to stop.
    """
    state = cancel_solve(api=api, solve_id=solve_id, region=region)
    typer.echo(f"solve {solve_id}: {state}")


@app.command()
def serve(
    queue_url: Annotated[
        str, typer.Option(envvar="QUEUE_URL", help="URL of the SQS queue of solve jobs")
    ],
    bucket: Annotated[
        str, typer.Option(envvar="BUCKET", help="S3 bucket of the datasets and the results")
    ],
    api_url: Annotated[
        str, typer.Option(envvar="API_URL", help="stage URL of the trigger API (spawns workers)")
    ],
    region: Annotated[str, typer.Option(envvar="AWS_REGION", help="AWS region of the stack")],
    advertise_host: Annotated[
        str, typer.Option(envvar="ADVERTISE_HOST", help="this host's address as Lambda sees it")
    ],
    max_receives: Annotated[
        int,
        typer.Option(
            envvar="MAX_RECEIVES",
            help="the job queue's maxReceiveCount: a crash on that delivery fails the job",
        ),
    ],
    bind_host: Annotated[
        str, typer.Option(envvar="BIND_HOST", help="address the ZMQ sockets listen on")
    ] = "0.0.0.0",
    front_port: Annotated[
        int, typer.Option(envvar="FRONT_PORT", help="ZMQ port of the workers' updates")
    ] = 5555,
    broadcast_port: Annotated[
        int, typer.Option(envvar="BROADCAST_PORT", help="ZMQ port of the broadcast of z")
    ] = 5556,
    health_port: Annotated[
        int, typer.Option(envvar="HEALTH_PORT", help="HTTP port of the health check")
    ] = 8080,
    poll_wait_seconds: Annotated[
        int, typer.Option(envvar="POLL_WAIT_SECONDS", help="SQS long poll, 0 to 20 s")
    ] = 10,
    visibility_seconds: Annotated[
        int, typer.Option(envvar="VISIBILITY_SECONDS", help="job lease, extended while solving")
    ] = 300,
    retry_delay_seconds: Annotated[
        int | None,
        typer.Option(
            envvar="RETRY_DELAY_SECONDS",
            help="seconds until a crashed job is delivered again (default 30)",
        ),
    ] = None,
    insecure: Annotated[
        bool, typer.Option(help="no CURVE on the ZMQ sockets (debugging only)")
    ] = False,
) -> None:
    """The host's scheduler service: run queued solves with Lambda workers."""
    from pydantic import ValidationError

    from scheduler_host.service.daemon import serve as run_daemon
    from scheduler_host.service.runner import ServiceConfig

    try:
        config = ServiceConfig(
            queue_url=queue_url,
            bucket=bucket,
            api_url=api_url,
            region=region,
            advertise_host=advertise_host,
            bind_host=bind_host,
            front_port=front_port,
            broadcast_port=broadcast_port,
            poll_wait_seconds=poll_wait_seconds,
            visibility_seconds=visibility_seconds,
            max_receives=max_receives,
            secure=not insecure,
            **({} if retry_delay_seconds is None else {"retry_delay_seconds": retry_delay_seconds}),
        )
    except ValidationError as error:
        raise typer.BadParameter(describe_validation_error(error)) from None
    run_daemon(config, health_port=health_port)
