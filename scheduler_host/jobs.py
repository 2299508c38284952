"""The job contracts between the intake Lambda, the job queue, the host and the CLI.

- :class:`JobMessage`: the SQS message the intake sends and :class:`JobRunner` receives;
- :class:`SolveStatus`: the object at :func:`status_key` (``results/<id>/status.json``),
  written queued by the intake, running / done / failed / cancelled by the host, served by
  ``GET /solves/{id}`` and read by ``lambda-admm status``;
- :class:`CancelRequest`: the marker at :func:`cancel_key` (``results/<id>/cancel``) that
  ``DELETE /solves/{id}`` leaves for the host, which stops the solve when it sees it.

Both carry a ``version``; a reader refuses a version it does not know. Pure pydantic (no
numpy): the intake Lambda imports this module.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from scheduler_host.solve_spec import SolveSpec, describe_validation_error

JOB_VERSION: Literal[1] = 1
STATUS_VERSION: Literal[1] = 1
CANCEL_VERSION: Literal[1] = 1
RESULTS_PREFIX = "results"

#: What ``POST /solves`` hands out: 32 lowercase hex digits (a uuid4), safe in an S3 key.
SOLVE_ID_PATTERN = r"^[0-9a-f]{32}$"
SolveId = Annotated[str, Field(pattern=SOLVE_ID_PATTERN)]


def results_key(solve_id: str, name: str) -> str:
    """The S3 key of a solve's object ``name`` (``status.json``, ``result.json``, ``x.npy``)."""
    return f"{RESULTS_PREFIX}/{solve_id}/{name}"


def status_key(solve_id: str) -> str:
    """``results/<id>/status.json``, where a solve's :class:`SolveStatus` is kept."""
    return results_key(solve_id, "status.json")


def cancel_key(solve_id: str) -> str:
    """``results/<id>/cancel``, where ``DELETE /solves/{id}`` leaves a :class:`CancelRequest`."""
    return results_key(solve_id, "cancel")


def now() -> datetime:
    """The current UTC time to the second, as status timestamps are kept."""
    return datetime.now(UTC).replace(microsecond=0)


class JobMessage(BaseModel):
    """One queued solve: the body of an SQS message on the job queue."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: Literal[1] = JOB_VERSION
    solve_id: SolveId
    spec: SolveSpec


class JobMessageError(ValueError):
    """A job message that cannot be run.

    ``solve_id`` is set when only the spec is invalid: the job then fails with ``reason``
    (``"invalid solve spec: <field>: ..."``). Otherwise the message itself is malformed and
    has no solve to report to; ``reason`` says why, naming the fields (``"solve_id: ..."``).
    """

    def __init__(self, reason: str, *, solve_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.solve_id = solve_id


def read_job_message(body: str | bytes) -> JobMessage:
    """Validate an SQS message body as a :class:`JobMessage`.

    Raises
    ------
    JobMessageError
        With ``solve_id`` if the envelope is valid but the spec is not, without it if the
        body is not a job message at all.
    """
    try:
        return JobMessage.model_validate_json(body)
    except ValidationError as error:
        problems = error.errors()
        if all(problem["loc"][:1] == ("spec",) for problem in problems):
            envelope: dict[str, Any] = json.loads(body)  # valid JSON: only the spec failed
            try:
                SolveSpec.model_validate(envelope["spec"])
            except ValidationError as spec_error:
                reason = "invalid solve spec: " + describe_validation_error(spec_error)
                raise JobMessageError(reason, solve_id=envelope["solve_id"]) from None
        raise JobMessageError(describe_validation_error(error)) from None


class SolveState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED_STATES = frozenset({SolveState.DONE, SolveState.FAILED, SolveState.CANCELLED})


class SolveStatus(BaseModel):
    """A solve's state as kept at ``results/<id>/status.json``.

    Fields are filled in as the solve advances: ``spec`` and ``submitted_at`` by the intake;
    ``started_at`` and, every few seconds while it runs, the last ``iteration`` with its
    residuals and ρ; at the end ``finished_at`` and either the outcome (``objective``,
    ``iterations``, ``converged``, the check at the stop, and the ``x`` / ``result`` S3 URIs)
    or a ``reason``. A ``done`` solve that is not converged has a ``reason`` too.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: Literal[1] = STATUS_VERSION
    solve_id: SolveId
    status: SolveState
    spec: SolveSpec | None = None
    submitted_at: AwareDatetime | None = None
    started_at: AwareDatetime | None = None
    finished_at: AwareDatetime | None = None
    updated_at: AwareDatetime | None = None
    # Progress while running (and the last values once finished).
    iteration: int | None = Field(default=None, ge=0)
    primal_residual: float | None = Field(default=None, description="r of the last iteration")
    dual_residual: float | None = Field(default=None, description="s of the last iteration")
    rho: float | None = None
    # The outcome.
    objective: float | None = None
    iterations: int | None = Field(default=None, ge=0)
    converged: bool | None = None
    optimality: float | None = Field(
        default=None, description="max_i |r_i| / max(1, |∂_i f(0)|) at the returned x"
    )
    optimality_tolerance: float | None = Field(default=None, description="eps_kkt")
    objective_at_zero: float | None = Field(default=None, description="the objective at x = 0")
    reason: str | None = Field(
        default=None,
        description="why the solve failed or was cancelled, or why a done solve is not "
        "converged; when queued again, why the last delivery crashed",
    )
    x: str | None = Field(default=None, description="s3:// URI of x.npy")
    result: str | None = Field(default=None, description="s3:// URI of result.json")

    @model_validator(mode="after")
    def _complete_for_its_state(self) -> SolveStatus:
        if self.status is SolveState.DONE:
            outcome = ("objective", "iterations", "converged", "x", "result")
            missing = [name for name in outcome if getattr(self, name) is None]
            if missing:
                raise ValueError(f"{missing[0]}: required when status is 'done'")
        if self.status is SolveState.FAILED and not self.reason:
            raise ValueError("reason: required when status is 'failed'")
        return self

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_STATES

    def advance(self, **changes: Any) -> SolveStatus:
        """This status with ``changes`` applied (None clears a field), validated again."""
        return SolveStatus.model_validate({**self.model_dump(exclude_none=True), **changes})

    def to_json(self) -> str:
        """The stored and served form (unset fields left out)."""
        return self.model_dump_json(exclude_none=True)


class CancelRequest(BaseModel):
    """A user's request to stop a solve, kept at :func:`cancel_key`; its presence is the request."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: Literal[1] = CANCEL_VERSION
    solve_id: SolveId
    requested_at: AwareDatetime
