"""A regularization path on warm workers: one set of workers solves every λ1 in turn.

The penalty lives only in the scheduler's z-step, so the workers never need to know λ1: for
each value the coordinator swaps the z-step's penalty and goes on iterating from where the
last value ended (z, every x_w and u_w, ρ: a warm start), until the stopping rule holds.
Then it broadcasts ``report`` (:class:`runtime.protocol.Report`): each worker sends its
``f_w`` and ``∇f_w`` at z and stays, and the scheduler checks that z (the same check at the
stop as a single solve). Worker start-up and data loading are paid once for the whole path.

λ_max, the least λ1 whose answer is β = 0, is ``‖∇_β f(0, β₀*)‖∞`` (glmnet's): without an
intercept the workers report ∇f at z = 0 before any iteration; with one, β is first held at
0 (a box [0, 0] on β, the intercept free) and solved for β₀*, and ∇f is reported there.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field

import numpy as np

from runtime.intercept import split_intercept
from runtime.protocol import LossReport, Report
from runtime.specs import Holdout, WorkerAssignment
from scheduler_host.solve.coordinator import Coordinator, Phase
from scheduler_host.solve.masters import Event
from scheduler_host.solve.optimality import (
    check_at_stop,
    reports_in_original_coordinates,
    stop_reason,
)
from scheduler_host.solve.options import ProgressCallback, SchedulerOptions
from scheduler_host.solve.run import run_coordinated
from scheduler_host.solve_spec import SolveSpec
from scheduler_host.spawners.base import Spawner

#: The largest number of λ values a path takes.
MAX_LAMBDAS = 1000


@dataclass(frozen=True)
class PathPoint:
    """The answer at one λ1: coefficients (d,), intercept, and the check at its stop."""

    l1: float
    x: np.ndarray = field(repr=False)
    intercept: float | None
    objective: float
    iterations: int
    converged: bool
    reason: str | None
    optimality: float
    seconds: float
    holdout_loss: float | None = None  # Σ ℓ over the held-out rows (cross-validation)

    @property
    def nonzeros(self) -> int:
        return int(np.count_nonzero(self.x))


@dataclass(frozen=True)
class PathResult:
    """A whole path, in the order solved (decreasing λ1)."""

    solve_id: str
    lambda_max: float | None
    points: tuple[PathPoint, ...]
    setup_seconds: float
    path_seconds: float
    workers_spawned: int


def geometric_lambdas(lambda_max: float, *, count: int, min_ratio: float) -> list[float]:
    """``count`` values from ``lambda_max`` down to ``lambda_max · min_ratio``, evenly spaced
    on a log scale (glmnet's sequence)."""
    if count == 1:
        return [lambda_max]
    return [lambda_max * min_ratio ** (k / (count - 1)) for k in range(count)]


class PathCoordinator(Coordinator):
    """Algorithm 1 repeated for each λ1 on the same workers (see the module docstring)."""

    report_iteration = -1
    holdout: Holdout | None = None  # cross-validation: the fold every worker holds out

    def _assignment(self, index: int, epoch: int) -> WorkerAssignment:
        assignment = super()._assignment(index, epoch)
        return assignment.model_copy(update={"holdout": self.holdout})

    def _handle(self, event: Event) -> None:
        if isinstance(event, LossReport) and self.phase is Phase.FINISHING:
            if event.header.iteration == self.report_iteration:  # not an earlier report's
                self.reports.setdefault(event.header.worker_index, event)
            return
        super()._handle(event)

    def _report(self) -> dict[int, LossReport]:
        """Every worker's ``f_w``, ``∇f_w`` at the current z (original coordinates)."""
        self.phase, self.reports = Phase.FINISHING, {}
        self.report_iteration = self.iteration
        self.transport.broadcaster.send(Report(iteration=self.iteration, z=self.z))
        deadline = time.monotonic() + self.options.final_timeout_seconds
        while len(self.reports) < self.spec.workers:
            self._poll(deadline, "the workers' reports")
        self.phase = Phase.ITERATING
        return reports_in_original_coordinates(self.reports, self.scaling)

    def _solve_at(self, spec: SolveSpec, *, max_iter: int) -> tuple[dict[int, LossReport], bool]:
        """Iterate under ``spec``'s penalty until its stopping rule or ``max_iter`` more."""
        self.change_problem(spec.model_copy(update={"max_iter": self.iteration + max_iter}))
        _, rule_met = self._iterate()
        return self._report(), rule_met

    def lambda_max(self, base: SolveSpec, *, max_iter: int) -> float:
        """``‖∇_β f(0, β₀*)‖∞`` over the penalized coordinates (module docstring)."""
        if base.fit_intercept:
            held_at_zero = base.model_copy(update={"box_lower": 0.0, "box_upper": 0.0})
            reports, _ = self._solve_at(held_at_zero, max_iter=max_iter)
        else:
            reports = self._report()  # z = 0: no iteration yet
        gradient = np.sum([reports[index].gradient for index in sorted(reports)], axis=0)
        penalized = gradient[:-1] if base.fit_intercept else gradient
        return float(np.max(np.abs(penalized), initial=0.0))

    def run_path(
        self, base: SolveSpec, *, l1_values: list[float] | None, count: int, min_ratio: float
    ) -> PathResult:
        """Solve every λ1 (given, or ``count`` from λ_max) on the workers, then let them go."""
        started = time.monotonic()
        self._join_all()
        setup_seconds = time.monotonic() - started
        self.phase = Phase.ITERATING
        path_started = time.monotonic()
        per_lambda = base.max_iter
        top = None
        if l1_values is None:
            top = self.lambda_max(base, max_iter=per_lambda)
            l1_values = geometric_lambdas(top, count=count, min_ratio=min_ratio)
        points = []
        for l1 in l1_values:
            began, first = time.monotonic(), self.iteration
            spec = base.model_copy(update={"l1": l1})
            reports, rule_met = self._solve_at(spec, max_iter=per_lambda)
            points.append(self._point(spec, reports, rule_met, first=first, began=began))
        self.reports = {}  # the final reports come at the last report's iteration again
        self._finish("path done")
        return PathResult(
            solve_id=self.solve_id,
            lambda_max=top,
            points=tuple(points),
            setup_seconds=setup_seconds,
            path_seconds=time.monotonic() - path_started,
            workers_spawned=base.workers + self.membership.replacements,
        )

    def _point(
        self,
        spec: SolveSpec,
        reports: dict[int, LossReport],
        rule_met: bool,
        *,
        first: int,
        began: float,
    ) -> PathPoint:
        x = self.z if self.scaling is None else self.scaling.to_original(self.z)
        check = check_at_stop(z=x, reports=reports, penalty=self.penalty, eps_kkt=spec.eps_kkt)
        reason = stop_reason(rule_met=rule_met, max_iter=spec.max_iter, check=check)
        coefficients, intercept = split_intercept(x, fit_intercept=spec.fit_intercept)
        return PathPoint(
            l1=spec.l1,
            x=np.array(coefficients),
            intercept=intercept,
            objective=check.objective,
            iterations=self.iteration - first,
            converged=reason is None,
            reason=reason,
            optimality=check.optimality,
            seconds=time.monotonic() - began,
            holdout_loss=None
            if self.holdout is None
            else math.fsum(report.holdout_loss or 0.0 for report in reports.values()),
        )


def run_path(
    spec: SolveSpec,
    *,
    spawner: Spawner,
    l1_values: list[float] | None = None,
    count: int = 20,
    min_ratio: float = 1e-3,
    options: SchedulerOptions | None = None,
    on_iteration: ProgressCallback | None = None,
    holdout: Holdout | None = None,
) -> PathResult:
    """The path of ``spec``'s model over λ1 (``spec.l1`` is not used; ``spec.max_iter`` is
    per λ), on one set of W workers; the spawner is closed when it returns. With ``holdout``
    every worker trains without that fold of its rows and reports its loss on them.

    Raises
    ------
    ValueError
        ``"l1_values: ..."``, ``"count: ..."`` or ``"min_ratio: ..."`` out of range.
    SolveFailed
        As :func:`scheduler_host.solve.run_solve`.
    """
    check_path_request(l1_values=l1_values, count=count, min_ratio=min_ratio)
    if spec.penalty is not None:
        raise ValueError(f"penalty: a path is over λ1 of the elastic net, not {spec.penalty.kind}")
    phases = (len(l1_values) if l1_values else count) + 1  # + the intercept's phase

    def drive(coordinator: PathCoordinator) -> PathResult:
        coordinator.holdout = holdout  # before the workers are spawned
        return coordinator.run_path(
            coordinator.spec, l1_values=l1_values, count=count, min_ratio=min_ratio
        )

    return run_coordinated(
        spec,
        spawner=spawner,
        drive=drive,
        coordinator_class=PathCoordinator,
        options=options,
        on_iteration=on_iteration,
        max_iteration=spec.max_iter * phases,
    )


def check_path_request(*, l1_values: list[float] | None, count: int, min_ratio: float) -> None:
    """Refuse a path no solve can take, naming the parameter and its range."""
    if l1_values is not None:
        if not 1 <= len(l1_values) <= MAX_LAMBDAS:
            raise ValueError(f"l1_values: 1 to {MAX_LAMBDAS} values, got {len(l1_values)}")
        if not all(math.isfinite(v) and v >= 0 for v in l1_values):
            raise ValueError(f"l1_values: each must be a finite number >= 0, got {l1_values}")
        if any(b > a for a, b in itertools.pairwise(l1_values)):
            raise ValueError(f"l1_values: must be in decreasing order, got {l1_values}")
        return
    if not 1 <= count <= MAX_LAMBDAS:
        raise ValueError(f"count: must be between 1 and {MAX_LAMBDAS}, got {count}")
    if not (0 < min_ratio < 1):
        raise ValueError(f"min_ratio: must be in (0, 1), got {min_ratio}")
