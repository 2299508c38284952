"""The solve spec: one flat, validated model shared by the CLI and ``POST /solves``.

Field names mirror the CLI flags (``eps_primal`` is ``--eps-primal``), so an
error message can name whichever the user typed.  The module is pure pydantic
(no numpy), so the intake Lambda can import it cheaply.

The penalty ``h`` is given one of two ways, never both:

* the flat shorthand ``l1``, ``l2``, ``box_lower``, ``box_upper`` (CLI ``--l1 --l2 --box``)
  for the elastic net with a box, the default (``l1 = 1``, the paper's problem);
* a tagged ``penalty`` of any registered kind, e.g. ``{"kind": "group_lasso", "weight":
  0.1, "group_size": 5}`` (CLI ``--group-lasso 0.1 --group-size 5``).

A tagged ``elastic_net`` is stored as its shorthand, so each penalty has one form: after
validation ``penalty`` is None (the shorthand holds ``h``) or another kind (and the
shorthand is zero: ``l1 = l2 = 0``, no box). Those neutral values may also be given
alongside a tagged penalty, so that a dumped spec validates again.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_serializer,
    model_validator,
)

from runtime.penalty_specs import ElasticNetSpec, check_box
from runtime.registry import LossName, PenaltySpec
from runtime.specs import (
    MAX_ANDERSON_MEMORY,
    LocalGradientTolerance,
    LocalMaxIterations,
    LocalMinIterations,
    LocalRelativeTolerance,
    LocalSolverMethod,
    LocalSolverSpec,
    ModelSpec,
    NewtonTolerance,
    PaperData,
    ShardData,
    check_iteration_range,
)

#: Paper instance defaults (Aytekin & Johansson): N=600,000, d=10,000, p=0.001, λ1=1.
PAPER_SAMPLES = 600_000
PAPER_FEATURES = 10_000
PAPER_DENSITY = 0.001
#: The largest d a solve takes (x, z and every message are d long).
MAX_FEATURES = 10**7

#: The optimality check's default tolerance, relative to max(1, |∂_i f(0)|) per coordinate
#: (scheduler_host/solve/optimality.py). The paper demo ends at 4.7e-5, the unscaled
#: breast_cancer answer of FISTA at 1.8.
DEFAULT_EPS_KKT = 1e-2

#: Over-relaxation α (Boyd et al. 2011, §3.4.3; OSQP's default).
DEFAULT_RELAXATION = 1.6
#: ρ's rules (scheduler_host/solve/penalty_rule.py); the module is pure pydantic, so the
#: names are restated here.
RhoRuleName = Literal["spectral", "balance"]
#: The stopping rules (scheduler_host/solve/stopping.py).
StopRuleName = Literal["absolute", "relative", "objective"]
#: The paper's ρ rule, with neither over-relaxation nor acceleration, which the demo's FISTA
#: run (the paper's figures) keeps.
PAPER_PENALTY_RULE: dict[str, object] = {
    "rho_rule": "balance",
    "relaxation": 1.0,
    "acceleration": "none",
}

#: The flat elastic-net shorthand, and its values when another penalty is chosen.
_SHORTHAND_NEUTRAL: dict[str, float | None] = {
    "l1": 0.0,
    "l2": 0.0,
    "box_lower": None,
    "box_upper": None,
}

#: SolveSpec's flat local-solver fields (the CLI flags) and the LocalSolverSpec field of each.
LOCAL_SOLVER_FIELDS = {
    "local_solver": "method",
    "newton_tol": "newton_tol",
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
    features: int = Field(default=PAPER_FEATURES, ge=1, le=MAX_FEATURES)
    density: float = Field(default=PAPER_DENSITY, gt=0.0, le=1.0, allow_inf_nan=False)
    seed: int = Field(default=0, ge=0, le=2**63 - 1)
    shards: str | None = Field(default=None, min_length=1, max_length=1024)
    # The model.
    loss: LossName = "logistic"
    penalty: PenaltySpec | None = None
    l1: float = Field(default=1.0, ge=0.0, allow_inf_nan=False)
    l2: float = Field(default=0.0, ge=0.0, allow_inf_nan=False)
    box_lower: float | None = Field(default=None, allow_inf_nan=False)
    box_upper: float | None = Field(default=None, allow_inf_nan=False)
    sample_weights: Literal["none", "uniform"] = "none"
    fit_intercept: bool = Field(
        default=False,
        description="fit an unpenalized intercept (never scaled, left alone by the penalty)",
    )
    scale_columns: Literal["auto", "on", "off"] = Field(
        default="auto",
        description="column scaling y = D x (D: column RMS): 'auto' on when the dataset "
        "carries column statistics and the penalty is separable, 'on' required, 'off' never",
    )
    # The system and the stopping rule.
    workers: int = Field(default=4, ge=1, le=10_000)
    workers_per_master: int = Field(default=16, ge=1, le=10_000)
    rho0: float = Field(default=1.0, gt=0.0, allow_inf_nan=False)
    max_iter: int = Field(default=100, ge=1, le=100_000)
    eps_primal: float = Field(default=2e-2, gt=0.0, allow_inf_nan=False)
    eps_dual: float = Field(default=2e-2, gt=0.0, allow_inf_nan=False)
    eps_kkt: float = Field(
        default=DEFAULT_EPS_KKT,
        gt=0.0,
        allow_inf_nan=False,
        description="ε_kkt: converged only if the least subgradient r of the objective at the "
        "returned z has |r_i| <= ε_kkt·max(1, |∂_i f(0)|) for every coordinate i",
    )
    dual_residual: Literal["paper", "consensus"] = "consensus"
    rho_rule: RhoRuleName = Field(
        default="spectral",
        description="how ρ adapts: 'spectral' (Barzilai-Borwein estimates, Xu et al. 2017) "
        "or 'balance' (the paper's residual balancing)",
    )
    relaxation: float = Field(
        default=DEFAULT_RELAXATION,
        gt=0.0,
        lt=2.0,
        allow_inf_nan=False,
        description="over-relaxation α in (0, 2): the z-step and the dual use "
        "αx + (1-α)z (1: none, the paper's)",
    )
    stop_rule: StopRuleName = Field(
        default="absolute",
        description="what stops the iterations: 'absolute' (the paper's: r <= eps_primal and "
        "s <= eps_dual), 'relative' (Boyd's: residuals within tol_abs·√(Wd) + tol_rel times "
        "the iterates' size) or 'objective' (its relative change over objective_window "
        "iterations <= tol_objective)",
    )
    tol_abs: float = Field(
        default=1e-6,
        gt=0.0,
        allow_inf_nan=False,
        description="stop_rule relative: absolute tolerance per coordinate",
    )
    tol_rel: float = Field(
        default=1e-4,
        gt=0.0,
        lt=1.0,
        allow_inf_nan=False,
        description="stop_rule relative: tolerance relative to ‖x‖, √W‖z‖ and ‖ρu‖",
    )
    tol_objective: float = Field(
        default=1e-8,
        gt=0.0,
        lt=1.0,
        allow_inf_nan=False,
        description="stop_rule objective: largest relative change of the objective",
    )
    objective_window: int = Field(
        default=5, ge=1, le=1000, description="stop_rule objective: iterations compared"
    )
    acceleration: Literal["auto", "anderson", "none"] = Field(
        default="auto",
        description="'anderson': Anderson acceleration of the ADMM iterates (type II, "
        "safeguarded; restarted whenever ρ changes), 'none', or 'auto' (anderson in sync "
        "mode, none in async mode)",
    )
    anderson_memory: int = Field(
        default=10,
        ge=1,
        le=MAX_ANDERSON_MEMORY,
        description="acceleration anderson: how many past iterations a combination uses",
    )
    mode: Literal["sync", "async"] = "sync"
    async_fraction: float = Field(default=0.5, gt=0.0, le=1.0, allow_inf_nan=False)
    max_delay: int = Field(default=4, ge=1, le=1000)
    # The local solver: bounds, meaning and defaults are LocalSolverSpec's (runtime.specs).
    local_solver: LocalSolverMethod = _LOCAL_DEFAULTS.method
    newton_tol: NewtonTolerance = _LOCAL_DEFAULTS.newton_tol
    min_local_iter: LocalMinIterations = _LOCAL_DEFAULTS.min_iterations
    max_local_iter: LocalMaxIterations = _LOCAL_DEFAULTS.max_iterations
    eps_grad: LocalGradientTolerance = _LOCAL_DEFAULTS.grad_tol
    eps_rel: LocalRelativeTolerance = _LOCAL_DEFAULTS.rel_tol

    @field_serializer("penalty")
    def _penalty_with_its_kind(self, penalty: BaseModel | None) -> dict[str, Any] | None:
        # Whole, so that a dump without defaults (``submit``) still carries the tag.
        return None if penalty is None else penalty.model_dump(mode="json")

    @model_validator(mode="before")
    @classmethod
    def _one_penalty_form(cls, data: Any) -> Any:
        """A tagged penalty excludes the shorthand; a tagged elastic net becomes it."""
        if not isinstance(data, dict) or data.get("penalty") is None:
            return data
        tagged = data["penalty"]
        if isinstance(tagged, BaseModel):
            tagged = tagged.model_dump()
        if not isinstance(tagged, dict):
            return data  # not a penalty at all: the field's own validation says so
        kind = tagged.get("kind")
        clashing = [
            name
            for name, neutral in _SHORTHAND_NEUTRAL.items()
            if data.get(name, neutral) != neutral
        ]
        if clashing:
            raise ValueError(
                f"{clashing[0]}: give either the flat {', '.join(_SHORTHAND_NEUTRAL)} "
                f"(an elastic_net penalty) or a tagged penalty (here {kind!r}), not both"
            )
        if kind == "elastic_net":
            parameters = {name: value for name, value in tagged.items() if name != "kind"}
            unknown = sorted(set(parameters) - set(_SHORTHAND_NEUTRAL))
            if unknown:
                raise ValueError(
                    f"penalty: unknown field {unknown[0]!r} of an elastic_net penalty "
                    f"(allowed: {', '.join(_SHORTHAND_NEUTRAL)})"
                )
            return {**data, **_SHORTHAND_NEUTRAL, **parameters, "penalty": None}
        return {**data, **_SHORTHAND_NEUTRAL}

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
        check_box(self.box_lower, self.box_upper)
        if self.mode == "async" and self.acceleration == "anderson":
            raise ValueError(
                "acceleration: Anderson acceleration needs every worker's update of each "
                "iteration; with mode 'async' use 'none'"
            )
        if self.mode == "async" and self.stop_rule == "objective":
            raise ValueError(
                "stop_rule: 'objective' needs every worker's loss at one z; with mode 'async' "
                "use 'absolute' or 'relative'"
            )
        if self.scale_columns == "on" and self.problem == "paper":
            raise ValueError(
                "scale_columns: 'on' needs a dataset with column statistics; the paper's "
                "generated columns are homogeneous and are never scaled (use 'auto' or 'off')"
            )
        if self.scale_columns == "on" and self.penalty is not None:
            raise ValueError(
                f"scale_columns: 'on' needs a coordinate-separable penalty; "
                f"{self.penalty.kind} couples coordinates (its prox in scaled coordinates "
                "has no closed form)"
            )
        return self

    @property
    def model(self) -> ModelSpec:
        """The objective for the workers and the z-step, with ``h`` as a tagged penalty."""
        penalty = self.penalty or ElasticNetSpec(
            l1=self.l1, l2=self.l2, box_lower=self.box_lower, box_upper=self.box_upper
        )
        return ModelSpec(
            loss=self.loss,
            penalty=penalty,
            sample_weights=self.sample_weights,
            fit_intercept=self.fit_intercept,
        )

    @property
    def dimension(self) -> int:
        """The length of x and z: d, plus 1 for the intercept."""
        return self.features + int(self.fit_intercept)

    @property
    def local_solver_spec(self) -> LocalSolverSpec:
        """The workers' x-update: the method and its stopping rule."""
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
        return ShardData(
            uri=self.shards,
            samples=self.samples,
            features=self.features,
            scale_columns=self.scale_columns == "on",
        )

    @property
    def worker_anderson_memory(self) -> int:
        """The window each worker keeps: ``anderson_memory``, or 0 without acceleration."""
        return self.anderson_memory if self.accelerated else 0

    @property
    def accelerated(self) -> bool:
        """Whether Anderson acceleration runs ('auto': in sync mode)."""
        return self.acceleration == "anderson" or (
            self.acceleration == "auto" and self.mode == "sync"
        )

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
