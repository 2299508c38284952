"""The solve spec: one flat, validated model shared by the CLI and ``POST /solves``.

Field names mirror the CLI flags (``eps_primal`` is ``--eps-primal``), so an
error message can name whichever the user typed.  The module is pure pydantic
(no numpy), so the intake Lambda can import it cheaply.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from runtime.specs import (
    LocalGradientTolerance,
    LocalMaxIterations,
    LocalMinIterations,
    LocalRelativeTolerance,
    LocalSolverSpec,
    ModelSpec,
    PaperData,
    ShardData,
    check_iteration_range,
)

#: Paper instance defaults (Aytekin & Johansson): N=600,000, d=10,000, p=0.001, λ1=1.
PAPER_SAMPLES = 600_000
PAPER_FEATURES = 10_000
PAPER_DENSITY = 0.001

#: SolveSpec's flat local-solver fields (the CLI flags) and the LocalSolverSpec field of each.
LOCAL_SOLVER_FIELDS = {
    "min_local_iter": "min_iterations",
    "max_local_iter": "max_iterations",
    "eps_grad": "grad_tol",
    "eps_rel": "rel_tol",
}
_LOCAL_DEFAULTS = LocalSolverSpec()


class SolveSpec(BaseModel):
    """A whole solve: data, model, ADMM system and stopping rule, local solver."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # The data: the paper generator, or prepared shards (directory or s3:// prefix).
    problem: Literal["paper", "shards"] = "paper"
    samples: int = Field(default=PAPER_SAMPLES, ge=1, le=10**9)
    features: int = Field(default=PAPER_FEATURES, ge=1, le=10**7)
    density: float = Field(default=PAPER_DENSITY, gt=0.0, le=1.0, allow_inf_nan=False)
    seed: int = Field(default=0, ge=0, le=2**63 - 1)
    shards: str | None = Field(default=None, min_length=1, max_length=1024)
    # The model.
    loss: Literal["logistic", "squared"] = "logistic"
    l1: float = Field(default=1.0, ge=0.0, allow_inf_nan=False)
    l2: float = Field(default=0.0, ge=0.0, allow_inf_nan=False)
    box_lower: float | None = Field(default=None, allow_inf_nan=False)
    box_upper: float | None = Field(default=None, allow_inf_nan=False)
    sample_weights: Literal["none", "uniform"] = "none"
    # The system and the stopping rule.
    workers: int = Field(default=4, ge=1, le=10_000)
    workers_per_master: int = Field(default=16, ge=1, le=10_000)
    rho0: float = Field(default=1.0, gt=0.0, allow_inf_nan=False)
    max_iter: int = Field(default=100, ge=1, le=100_000)
    eps_primal: float = Field(default=2e-2, gt=0.0, allow_inf_nan=False)
    eps_dual: float = Field(default=2e-2, gt=0.0, allow_inf_nan=False)
    dual_residual: Literal["paper", "consensus"] = "consensus"
    mode: Literal["sync", "async"] = "sync"
    async_fraction: float = Field(default=0.5, gt=0.0, le=1.0, allow_inf_nan=False)
    max_delay: int = Field(default=4, ge=1, le=1000)
    # The local solver: bounds, meaning and defaults are LocalSolverSpec's (runtime.specs).
    min_local_iter: LocalMinIterations = _LOCAL_DEFAULTS.min_iterations
    max_local_iter: LocalMaxIterations = _LOCAL_DEFAULTS.max_iterations
    eps_grad: LocalGradientTolerance = _LOCAL_DEFAULTS.grad_tol
    eps_rel: LocalRelativeTolerance = _LOCAL_DEFAULTS.rel_tol

    @model_validator(mode="after")
    def _consistent(self) -> SolveSpec:
        if self.problem == "shards" and self.shards is None:
            raise ValueError("shards: required when problem is 'shards'")
        if self.problem == "paper" and self.shards is not None:
            raise ValueError("shards: only allowed when problem is 'shards'")
        if self.workers > self.samples:
            raise ValueError(
                f"workers: must be between 1 and the number of samples ({self.samples}), "
                f"got {self.workers}"
            )
        check_iteration_range(
            self.min_local_iter,
            self.max_local_iter,
            minimum_name="min_local_iter",
            maximum_name="max_local_iter",
        )
        ModelSpec(**self._model_fields())  # box ordering, with the same message
        return self

    def _model_fields(self) -> dict[str, Any]:
        return {
            "loss": self.loss,
            "l1": self.l1,
            "l2": self.l2,
            "box_lower": self.box_lower,
            "box_upper": self.box_upper,
            "sample_weights": self.sample_weights,
        }

    @property
    def model(self) -> ModelSpec:
        return ModelSpec(**self._model_fields())

    @property
    def local_solver(self) -> LocalSolverSpec:
        return LocalSolverSpec(
            **{inner: getattr(self, flat) for flat, inner in LOCAL_SOLVER_FIELDS.items()}
        )

    @property
    def data(self) -> PaperData | ShardData:
        if self.problem == "paper":
            return PaperData(
                samples=self.samples, features=self.features, density=self.density, seed=self.seed
            )
        assert self.shards is not None
        return ShardData(uri=self.shards, samples=self.samples, features=self.features)

    @property
    def staleness_bound(self) -> int:
        """τ: how many iterations old a contribution may be (1: the paper's sync scheme)."""
        return self.max_delay if self.mode == "async" else 1

    @property
    def quorum(self) -> int:
        """How many fresh updates a global step waits for."""
        if self.mode == "sync":
            return self.workers
        return max(1, math.ceil(self.async_fraction * self.workers))


def describe_validation_error(
    error: ValidationError, *, field_label: Callable[[str], str] = str
) -> str:
    """One clause per problem, each naming the field (or, via ``field_label``, its CLI flag).

    Model-level checks phrase their messages as ``"<field>: <problem>"``, so they
    name a field just like the per-field checks.
    """
    clauses = []
    for problem in error.errors():
        message = problem["msg"].removeprefix("Value error, ")
        if problem["loc"]:
            field, detail = ".".join(str(part) for part in problem["loc"]), message
        else:
            field, _, detail = message.partition(": ")
        if problem["type"] == "extra_forbidden":
            detail = "unknown field"
        elif problem["type"] not in ("value_error", "missing") and "input" in problem:
            detail = f"{detail} (got {problem['input']!r})"
        clauses.append(f"{field_label(field)}: {detail}")
    return "; ".join(clauses)
