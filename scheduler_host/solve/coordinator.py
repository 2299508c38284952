"""Algorithm 1's control loop: broadcast (ρ, z), gather the updates, take the global step.

Runs on the caller's thread and owns the iteration state (phase, iteration, z, ρ,
history).  Every wait goes through :meth:`Coordinator._poll`, which hands what
arrived to its owner (joins, updates and retirements to the
:class:`~scheduler_host.solve.membership.Membership`, vectors are already in the
update slots), repeats the broadcast when due, and has membership check liveness.

Two schedules share the loop.  Sync is the paper's Algorithm 1: a global step
once all W updates of the iteration are in.  Async is bounded-delay asynchronous
consensus ADMM (R. Zhang and J. Kwok, "Asynchronous Distributed ADMM for
Consensus Optimization", ICML 2014): a global step once a quorum of
⌈fraction·W⌉ fresh updates is in and no worker's latest contribution is more
than τ iterations old, so a straggler no longer holds every iteration back.
"""

from __future__ import annotations

import logging
import math
import time
from enum import StrEnum

import numpy as np

from runtime.intercept import split_intercept
from runtime.protocol import (
    Iterate,
    LossReport,
    Refuse,
    Retire,
    Terminate,
    Welcome,
    encode_direct,
)
from runtime.scaled_penalty import penalty_in_scaled_coordinates
from runtime.specs import WorkerAssignment
from scheduler_host.assignments import build_assignment
from scheduler_host.results import IterationRecord, SolveResult, WorkerIteration
from scheduler_host.solve.acceleration import AndersonMixer, Mix
from scheduler_host.solve.conditioning import Conditioning
from scheduler_host.solve.global_step import global_step, penalty_of
from scheduler_host.solve.masters import Event, FailedArrived, JoinArrived, UpdateArrived
from scheduler_host.solve.membership import Membership, OpenIteration
from scheduler_host.solve.optimality import (
    check_at_stop,
    reports_in_original_coordinates,
    stop_reason,
)
from scheduler_host.solve.options import ProgressCallback, SchedulerOptions, SolveFailed
from scheduler_host.solve.penalty_rule import PenaltyRule
from scheduler_host.solve.slots import Reduction
from scheduler_host.solve.stopping import Residuals, StopRule
from scheduler_host.solve.transport import SolveTransport
from scheduler_host.solve_spec import SolveSpec
from scheduler_host.spawners.base import Spawner

log = logging.getLogger("lambda_admm.scheduler")

EVENT_POLL_SECONDS = 0.05


class Phase(StrEnum):
    JOINING = "joining"  # workers are being spawned and welcomed
    ITERATING = "iterating"  # global steps
    FINISHING = "finishing"  # terminate sent; collecting the workers' final reports


class Coordinator:
    def __init__(
        self,
        *,
        spec: SolveSpec,
        rows: list[tuple[int, int]],
        solve_id: str,
        transport: SolveTransport,
        spawner: Spawner,
        options: SchedulerOptions,
        on_iteration: ProgressCallback | None,
        conditioning: Conditioning,
        initial_x: np.ndarray | None = None,
    ) -> None:
        self.spec, self.solve_id = spec, solve_id
        self.transport, self.options = transport, options
        self.on_iteration = on_iteration
        self.rows = rows
        self.penalty = penalty_of(spec.model)
        # z, the workers' x and u and the z-step live in the workers' coordinates: y = D x
        # when the columns are scaled; only the result is mapped back to x.
        self.scaling, self.rho_bounds = conditioning.scaling, conditioning.rho_bounds
        self.z_penalty = (
            self.penalty
            if self.scaling is None
            else penalty_in_scaled_coordinates(self.penalty, self.scaling)
        )
        self.membership = Membership(
            registry=transport.registry,
            spawner=spawner,
            assign=self._assignment,
            send=self._send,
            welcome_for=self._welcome_for,
            on_welcomed=self._on_welcomed,
            options=options,
        )
        self.worker_iterations: list[WorkerIteration] = []
        self.phase = Phase.JOINING
        self.iteration = 0
        # A warm start (initial_x, in the original coordinates) is where z and every x_w begin.
        self.warm_start = initial_x is not None
        self.z = np.zeros(spec.dimension) if initial_x is None else self._warm_z(initial_x)
        self.rho = self.rho_prev = conditioning.initial_rho(spec.rho0)
        self.rho_rule = PenaltyRule(spec.rho_rule, bounds=self.rho_bounds)
        self.stop_rule = StopRule(spec)
        self.mixer = AndersonMixer(memory=spec.worker_anderson_memory)
        self.mix = Mix(coefficients=np.zeros(0), base_sum=np.zeros(0), restart=False)
        self.skip_estimate = False  # the next ρ estimate's secants span two problems
        if self.rho != spec.rho0:
            log.warning(
                "rho0=%g is outside the rho bounds %s: starting at %g",
                spec.rho0,
                self.rho_bounds,
                self.rho,
            )
        log.info(
            "column scaling %s, rho bounds %s",
            "off" if self.scaling is None else "on",
            self.rho_bounds,
        )
        self.arrived: set[int] = set()
        self.opened_at = 0.0
        self.reports: dict[int, LossReport] = {}
        self.history: list[IterationRecord] = []  # kept for a solve interrupted midway

    # -- what membership needs -----------------------------------------------------------
    def _assignment(self, index: int, epoch: int) -> WorkerAssignment:
        return build_assignment(
            self.spec,
            solve_id=self.solve_id,
            worker_index=index,
            slot_epoch=epoch,
            rows=self.rows[index],
            endpoints=self.transport.endpoints_for(index, new_keys=epoch > 0),
            worker_options=self.options.worker_options(),
        )

    def _send(self, peer: bytes, message: Welcome | Refuse) -> None:
        self.transport.send_direct(peer, encode_direct(message, solve_id=self.solve_id))

    def _on_welcomed(self) -> None:
        """A worker welcomed after the start needs the current iterate (or terminate) now;
        while W workers join, the timed keep-alives serve, where a repeat per welcome would
        send W² copies."""
        if self.phase is not Phase.JOINING:
            # the newcomer's window is empty: every worker restarts the acceleration
            self.mixer.request_restart()
            self.transport.broadcaster.request_repeat()

    def _warm_z(self, initial_x: np.ndarray) -> np.ndarray:
        if initial_x.shape != (self.spec.dimension,):
            raise ValueError(
                f"initial_x: must have shape ({self.spec.dimension},), got {initial_x.shape}"
            )
        start = np.array(initial_x, dtype=np.float64)
        return start if self.scaling is None else self.scaling.from_original(start)

    def _welcome_for(self, index: int) -> Welcome:
        if self.phase is Phase.JOINING:
            if self.warm_start:  # x_w = z, u_w = 0: ADMM's start at a given point
                return Welcome(last_iteration=0, x=self.z.copy(), u=np.zeros_like(self.z))
            return Welcome(last_iteration=0)
        last, x, u = self.transport.slots.state_of(index)
        return Welcome(last_iteration=last, x=x, u=u)

    # -- events ----------------------------------------------------------------------------
    def _poll(self, deadline: float, waiting_for: str) -> None:
        """Handle the events that arrived, repeat the broadcast when due, check liveness."""
        if time.monotonic() > deadline:
            raise SolveFailed(f"timed out waiting for {waiting_for}")
        self.transport.broadcaster.repeat_if_due()  # a worker may have missed it (slow joiner)
        self.membership.check(
            OpenIteration(iteration=self.iteration, opened_at=self.opened_at, arrived=self.arrived)
            if self.phase is Phase.ITERATING
            else None
        )
        for event in self.transport.events.take(timeout=EVENT_POLL_SECONDS):
            self._handle(event)

    def _handle(self, event: Event) -> None:
        if isinstance(event, JoinArrived):
            self.membership.on_join(event.join, event.peer)
        elif isinstance(event, UpdateArrived):
            # An update the ledger accepted (sync: this iteration's; async: at most τ old).
            self.arrived.add(event.worker_index)
            self.worker_iterations.append(
                WorkerIteration(
                    worker_index=event.worker_index,
                    iteration=event.iteration,
                    compute_seconds=event.compute_seconds,
                    idle_seconds=event.idle_seconds,
                    local_iterations=event.local_iterations,
                    local_stop=event.local_stop,
                )
            )
            self.membership.on_update(event)
        elif isinstance(event, FailedArrived):
            self.membership.on_failed(event.failed, event.peer)
        elif isinstance(event, Retire):
            self.membership.on_retire(event.header.worker_index)
        elif isinstance(event, LossReport) and self.phase is Phase.FINISHING:
            self.reports.setdefault(event.header.worker_index, event)

    # -- the three phases -----------------------------------------------------------------
    def _join_all(self) -> None:
        started = time.monotonic()
        # A keep-alive while workers join: iteration 0, which workers skip, repeated so an
        # early joiner waiting for slow ones does not take the scheduler for gone.
        self.transport.broadcaster.send(
            Iterate(iteration=0, rho=self.rho, rho_prev=self.rho, z=self.z)
        )
        self.membership.spawn_all()
        # Replacements during start-up are bounded by max_respawns x join timeout.
        deadline = started + self.options.join_timeout_seconds * (self.options.max_respawns + 1)
        while not self.membership.all_joined():
            self._poll(deadline, "workers to join")

    def _iterate(self) -> tuple[list[IterationRecord], bool]:
        history = self.history
        started = time.monotonic()
        converged = False
        slots = self.transport.slots
        while not converged and self.iteration < self.spec.max_iter:
            self.iteration += 1
            self.arrived = set()
            slots.open_iteration(self.iteration, z=self.z, rho=self.rho)
            self.transport.ledger.open(self.iteration)
            self.opened_at = time.monotonic()
            accelerated = self.mix.coefficients.shape[0] > 1
            snapshot = self.rho_rule.snapshot_due(self.iteration)
            self.transport.broadcaster.send(
                Iterate(
                    iteration=self.iteration,
                    rho=self.rho,
                    rho_prev=self.rho_prev,
                    z=self.z,
                    mix=self.mix.coefficients,
                    restart=self.mix.restart,
                    snapshot=snapshot,
                )
            )
            deadline = self.opened_at + self.options.iteration_timeout_seconds
            # Sync: all W updates of this iteration.  Async (Zhang & Kwok 2014): a quorum of
            # fresh updates, and no contribution older than τ iterations.
            oldest_allowed = self.iteration - self.spec.staleness_bound + 1
            while len(self.arrived) < self.spec.quorum or slots.oldest_iteration() < oldest_allowed:
                self._poll(deadline, f"the updates of iteration {self.iteration}")
            reduction = slots.reduce(rho=self.rho, iteration=self.iteration)
            self.mix = self.mixer.next_mix(
                omega_sum=reduction.omega_sum, gram_row=reduction.gram_row
            )
            step = global_step(
                omega_sum=self.mix.base_sum,
                primal_sq_sum=reduction.primal_sq_sum,
                z_prev=self.z,
                rho=self.rho,
                num_workers=self.spec.workers,
                penalty=self.z_penalty,
                dual_residual_form=self.spec.dual_residual,
                rho_bounds=self.rho_bounds,
            )
            objective = self._objective(reduction)
            residuals = Residuals(
                iteration=self.iteration,
                primal_residual=step.primal_residual,
                dual_residual=step.dual_residual,
                rho=self.rho,
                x_norm=math.sqrt(reduction.x_sq_sum),
                z_norm=float(np.linalg.norm(step.z)),
                dual_norm=math.sqrt(reduction.dual_sq_sum),
                objective=objective,
            )
            targets = self.stop_rule.tolerances(residuals) if self.stop_rule.on_residuals else None
            record = IterationRecord(
                iteration=self.iteration,
                primal_residual=step.primal_residual,
                dual_residual=step.dual_residual,
                rho=self.rho,
                wall_seconds=time.monotonic() - started,
                objective=objective,
                accelerated=accelerated,
                primal_tolerance=None if targets is None else targets[0],
                dual_tolerance=None if targets is None else targets[1],
            )
            history.append(record)
            if self.on_iteration is not None:
                self.on_iteration(record)
            converged = self.stop_rule.met(residuals)
            terms = reduction.curvature if snapshot and not self.skip_estimate else None
            self.skip_estimate = self.skip_estimate and not snapshot
            rho_next = self.rho_rule.next_rho(
                iteration=self.iteration, rho=self.rho, step=step, terms=terms
            )
            if rho_next != self.rho:  # another map: the acceleration's window is void
                self.mix = self.mixer.restart_now(self.mix)
            self.z = step.z
            self.rho_prev, self.rho = self.rho, rho_next
        return history, converged

    def change_problem(self, spec: SolveSpec) -> None:
        """Iterate on under ``spec``'s penalty and stopping rule (a regularization path's next
        λ): the acceleration restarts (another map), the stopping rule forgets the objective's
        history, and the next ρ estimate, whose secants would span both penalties, is skipped.
        """
        self.spec = spec
        self.penalty = penalty_of(spec.model)
        self.z_penalty = (
            self.penalty
            if self.scaling is None
            else penalty_in_scaled_coordinates(self.penalty, self.scaling)
        )
        self.mixer.request_restart()
        self.stop_rule = StopRule(spec)
        self.skip_estimate = True

    def _objective(self, reduction: Reduction) -> float | None:
        """``Σ_w f_w(z) + h(z)`` at the z of this iteration (None when the losses are of
        different z's: async mode)."""
        if reduction.loss_sum is None:
            return None
        return reduction.loss_sum + self.z_penalty.value(self.z)

    def _finish(self, reason: str) -> dict[int, LossReport]:
        self.phase = Phase.FINISHING
        self.transport.ledger.open(-1)  # no update is accepted any more
        self.transport.broadcaster.send(
            Terminate(iteration=self.iteration, z=self.z, reason=reason)
        )
        deadline = time.monotonic() + self.options.final_timeout_seconds
        while len(self.reports) < self.spec.workers:
            self._poll(deadline, "the workers' final losses")
        return self.reports

    def run(self) -> SolveResult:
        started = time.monotonic()
        self._join_all()
        setup_seconds = time.monotonic() - started
        self.phase = Phase.ITERATING
        solve_started = time.monotonic()
        history, rule_met = self._iterate()
        reports = self._finish("converged" if rule_met else "max_iter")
        x = self.z if self.scaling is None else self.scaling.to_original(self.z)
        check = check_at_stop(
            z=x,
            reports=reports_in_original_coordinates(reports, self.scaling),
            penalty=self.penalty,
            eps_kkt=self.spec.eps_kkt,
        )
        reason = stop_reason(rule_met=rule_met, max_iter=self.spec.max_iter, check=check)
        coefficients, intercept = split_intercept(x, fit_intercept=self.spec.fit_intercept)
        return SolveResult(
            solve_id=self.solve_id,
            x=coefficients,
            intercept=intercept,
            objective=check.objective,
            iterations=self.iteration,
            converged=reason is None,
            reason=reason,
            optimality=check.optimality,
            optimality_tolerance=check.tolerance,
            objective_at_zero=check.objective_at_zero,
            primal_residual=history[-1].primal_residual,
            dual_residual=history[-1].dual_residual,
            rho=history[-1].rho,
            history=tuple(history),
            worker_iterations=tuple(self.worker_iterations),
            cold_start_seconds=self.membership.cold_start_seconds(),
            setup_seconds=setup_seconds,
            solve_seconds=time.monotonic() - solve_started,
            dropped_messages=self.transport.drops.count,
            traffic=self.transport.traffic(num_workers=self.spec.workers),
            replacements=self.membership.replacements,
        )
