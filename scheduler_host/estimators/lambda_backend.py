"""``backend="lambda"``: an estimator's fit as a solve of the deployed platform.

The rows go to S3 as W shards under ``data_uri`` (one prefix per fit, the format
``lambda-admm data prepare`` writes), the solve is submitted to ``POST /solves`` of the
stack's API (``api``, signed with the caller's AWS credentials, as ``lambda-admm submit``
does), ``GET /solves/{id}`` is polled until it has finished, and the answer is read back
from the ``x.npy`` and ``result.json`` the service wrote to S3. Workers are Lambda
functions and the scheduler is the stack's host: nothing of the solve runs here.
"""

from __future__ import annotations

import io
import json
import time
import uuid

import numpy as np
import typer

from runtime.shards import write_shards
from runtime.storage import storage_for
from scheduler_host.estimators.backends import FitOutcome, FitRequest
from scheduler_host.jobs import SolveState, SolveStatus
from scheduler_host.solve_spec import SolveSpec

#: Seconds between two ``GET /solves/{id}``.
POLL_SECONDS = 2.0
#: A fit gives up waiting after this long (the solve itself may still be running).
WAIT_SECONDS = 3600.0


def _read(uri: str) -> bytes:
    parent, _, name = uri.rpartition("/")
    return storage_for(parent, field="result").read_bytes(name)


def solve_on_lambda(
    request: FitRequest, *, workers: int, api: str, data_uri: str, region: str | None
) -> FitOutcome:
    """Upload, submit, wait, read back; see the module docstring.

    Raises
    ------
    RuntimeError
        ``"the API refused the solve: ..."``, ``"the solve <id> failed: <reason>"``, or a
        wait longer than :data:`WAIT_SECONDS`.
    """
    from scheduler_host.cli.remote import submit_spec

    prefix = f"{data_uri.rstrip('/')}/fit-{uuid.uuid4().hex}"
    write_shards(request.data, storage_for(prefix, field="data_uri"), workers, source_name="fit")
    spec = SolveSpec(
        problem="shards",
        shards=prefix,
        samples=request.data.num_samples,
        features=request.data.num_features,
        workers=workers,
        **request.fields,  # type: ignore[arg-type]
    )
    try:
        solve_id = submit_spec(spec, api=api, region=region)
        status = _wait(solve_id, api=api, region=region)
    except typer.BadParameter as error:
        raise RuntimeError(f"the API refused the solve: {error.message}") from None
    if status.status is not SolveState.DONE or status.x is None or status.result is None:
        raise RuntimeError(f"the solve {solve_id} {status.status}: {status.reason}")
    body = json.loads(_read(status.result))
    return FitOutcome(
        x=np.load(io.BytesIO(_read(status.x)), allow_pickle=False),
        intercept=body["intercept"],
        objective=float(body["objective"]),
        iterations=int(body["iterations"]),
        converged=bool(body["converged"]),
        reason=body["reason"],
    )


def _wait(solve_id: str, *, api: str, region: str | None) -> SolveStatus:
    from scheduler_host.cli.remote import fetch_status

    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        status = fetch_status(api=api, solve_id=solve_id, region=region)
        if status.finished:
            return status
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"the solve {solve_id} is still {status.status} after {WAIT_SECONDS:g} s "
                "(lambda-admm status shows it)"
            )
        time.sleep(POLL_SECONDS)
