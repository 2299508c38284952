"""Workers that die, retire, never arrive, straggle or are delivered twice (real processes)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from runtime.specs import FaultPlan, FaultRule, WorkerAssignment
from scheduler_host.results import SolveResult
from scheduler_host.solve import SchedulerOptions, run_solve
from scheduler_host.solve_spec import SolveSpec
from scheduler_host.spawners.local import LocalProcessSpawner

SPEC = SolveSpec(
    samples=8000,
    features=100,
    density=0.05,
    workers=4,
    l1=1.0,
    eps_primal=1e-5,
    eps_dual=1e-5,
    eps_grad=1e-8,
    max_iter=500,
)
#: The configuration whose hand-off is exact: residual balancing takes ρ from r and s alone,
#: and no Anderson window is lost with a worker. (The default's spectral rule and Anderson
#: acceleration keep state on the workers: a replacement restarts the acceleration and
#: misses one curvature estimate, so its path differs within the tolerances.)
EXACT_SPEC = SPEC.model_copy(update={"rho_rule": "balance", "acceleration": "none"})
FAST_FAILOVER = {"worker_deadline_floor_seconds": 2.0, "join_timeout_seconds": 20.0}
EXIT_WAIT_SECONDS = 15.0  # for workers to exit by themselves after the solve


@pytest.fixture(scope="module")
def fault_free(tmp_path_factory: pytest.TempPathFactory) -> SolveResult:
    logs = tmp_path_factory.mktemp("clean")
    return run_solve(SPEC, spawner=LocalProcessSpawner(log_directory=logs))


@pytest.fixture(scope="module")
def exact_fault_free(tmp_path_factory: pytest.TempPathFactory) -> SolveResult:
    logs = tmp_path_factory.mktemp("clean-exact")
    return run_solve(EXACT_SPEC, spawner=LocalProcessSpawner(log_directory=logs))


def _solve(
    tmp_path: Path,
    spawner: LocalProcessSpawner | None = None,
    *,
    spec: SolveSpec = SPEC,
    **options,
) -> SolveResult:
    return run_solve(
        spec,
        spawner=spawner or LocalProcessSpawner(log_directory=tmp_path),
        options=SchedulerOptions(**{**FAST_FAILOVER, **options}),
    )


def _assert_same_solve(result: SolveResult, reference: SolveResult, *, extra: int = 5) -> None:
    """Same optimum; at most ``extra`` more iterations (a replacement restarts the Anderson
    acceleration, and under ``--local-solver fista`` starts without its predecessor's
    step-size estimate, so the path may differ inside the tolerances, and may as well be
    shorter; with EXACT_SPEC it is the same path, below)."""
    assert result.converged
    assert abs(result.objective - reference.objective) <= 1e-6 * abs(reference.objective)
    assert result.iterations <= reference.iterations + extra


def test_sigkill_one_then_two_workers(fault_free: SolveResult, tmp_path: Path) -> None:
    plan = FaultPlan(
        rules=(
            FaultRule(kind="kill", worker=1, iteration=3),
            FaultRule(kind="kill", worker=2, iteration=7),
            FaultRule(kind="kill", worker=3, iteration=7),
        )
    )
    result = _solve(tmp_path, faults=plan)
    _assert_same_solve(result, fault_free)
    assert result.replacements == 3
    assert (tmp_path / "worker-00001-1.log").exists()  # the replacement of slot 1 ran


def test_a_killed_and_replaced_newton_run_is_the_fault_free_run(
    exact_fault_free: SolveResult, tmp_path: Path
) -> None:
    """The exact hand-off (issue 9): the Newton x-update keeps nothing between iterations, so
    a replacement resuming from (x, u) computes what its predecessor would have. Only rounding
    differs, as the scheduler rebuilds (x, u) from the ω's it keeps."""
    fault_free = exact_fault_free
    assert EXACT_SPEC.local_solver == "newton"
    # with over-relaxation (the slots rebuild x from x̂)
    assert EXACT_SPEC.relaxation == 1.6
    plan = FaultPlan(
        rules=(
            FaultRule(kind="kill", worker=1, iteration=3),
            FaultRule(kind="kill", worker=3, iteration=10),
        )
    )
    result = _solve(tmp_path, faults=plan, spec=EXACT_SPEC)
    assert result.replacements == 2
    assert result.converged and result.iterations == fault_free.iterations
    assert [record.rho for record in result.history] == [
        record.rho for record in fault_free.history
    ]
    scale = float(np.max(np.abs(fault_free.x)))
    np.testing.assert_allclose(result.x, fault_free.x, rtol=0, atol=1e-12 * scale)
    assert abs(result.objective - fault_free.objective) <= 1e-13 * abs(fault_free.objective)


def test_retirement_every_few_iterations_loses_nothing(
    exact_fault_free: SolveResult, tmp_path: Path
) -> None:
    plan = FaultPlan(rules=tuple(FaultRule(kind="retire", iteration=k) for k in (2, 5, 8, 11, 14)))
    result = _solve(tmp_path, faults=plan, spec=EXACT_SPEC)
    _assert_same_solve(result, exact_fault_free, extra=0)  # no iteration lost
    assert result.replacements == 4 * 5


def test_retirement_restarts_the_acceleration_and_keeps_the_optimum(
    fault_free: SolveResult, tmp_path: Path
) -> None:
    """Under the defaults every hand-off restarts the Anderson window: the same optimum, at
    the price of at most the unaccelerated run's iterations."""
    plan = FaultPlan(rules=tuple(FaultRule(kind="retire", iteration=k) for k in (2, 5, 8)))
    result = _solve(tmp_path, faults=plan)
    unaccelerated = run_solve(
        SPEC.model_copy(update={"acceleration": "none"}),
        spawner=LocalProcessSpawner(log_directory=tmp_path / "plain"),
    )
    _assert_same_solve(result, fault_free, extra=unaccelerated.iterations)
    assert result.replacements == 4 * 3


def test_retirement_on_a_real_time_limit(exact_fault_free: SolveResult, tmp_path: Path) -> None:
    # First-generation workers take 0.1 s more per iteration (about 6 s for the whole
    # solve), so a 3 s limit makes each of them hand off at least once. The notice comes
    # 2 s ahead, longer than a successor's process start even on a loaded machine: with
    # less (it was 1 s limits, 0.3 s ahead), the others sat out a successor's start past
    # their own limits, retired before computing (counted as failures: the slot's
    # max_respawns ran out) or did so in turn, and the solve failed or never ended.
    slow_first_generation = FaultPlan(rules=(FaultRule(kind="delay", seconds=0.1),))
    result = _solve(
        tmp_path,
        faults=slow_first_generation,
        spec=EXACT_SPEC,
        worker_time_limit_seconds=3.0,
        retire_margin_seconds=0.05,
        handoff_lead_seconds=2.0,
    )
    _assert_same_solve(result, exact_fault_free, extra=0)
    assert result.replacements >= 4  # every worker outlived its limit at least once


class _DeliveredTwice(LocalProcessSpawner):
    """At-least-once delivery: every spawn request arrives twice."""

    def __init__(self, *, log_directory: Path) -> None:
        super().__init__(log_directory=log_directory)
        self.twins = LocalProcessSpawner(log_directory=log_directory / "twins")
        # Both copies of a request start at once (a twin still importing would come after
        # the solve, not during it).
        assert self.wait_ready(timeout=60) and self.twins.wait_ready(timeout=60)

    def spawn(self, assignments: list[WorkerAssignment]) -> None:
        super().spawn(assignments)
        self.twins.spawn(assignments)  # same slot, same epoch, same keys; another process

    def close(self) -> None:
        # Every copy exits by itself, the refused ones too; but on a loaded machine one may
        # still be shutting down as the solve ends, and close() would SIGTERM it (exit -15).
        deadline = time.monotonic() + EXIT_WAIT_SECONDS
        while time.monotonic() < deadline and None in (
            *self.exit_codes().values(),
            *self.twins.exit_codes().values(),
        ):
            time.sleep(0.05)
        super().close()
        self.twins.close()


def test_a_duplicate_worker_for_a_live_slot_is_refused(
    fault_free: SolveResult, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spawner = _DeliveredTwice(log_directory=tmp_path)
    with caplog.at_level("WARNING", logger="lambda_admm.scheduler"):
        result = _solve(tmp_path, spawner=spawner)
    assert result.objective == fault_free.objective  # untouched, bit for bit
    assert result.replacements == 0
    refusals = [r.getMessage() for r in caplog.records if "refused a join" in r.getMessage()]
    assert len(refusals) == 4
    # Whichever copy lost the race was told to exit, and did so by itself, cleanly.
    refused = [
        path
        for path in tmp_path.glob("**/worker-*-0.log")
        if "refused by the scheduler: slot" in path.read_text()
    ]
    assert len(refused) == 4
    for path in refused:
        owner = spawner.twins if path.parent.name == "twins" else spawner
        slot = int(path.name.split("-")[1])
        assert owner.exit_codes()[slot, 0] == 0


class _LosesFirstRequest(LocalProcessSpawner):
    """The first spawn request for slot 2 is lost on the way."""

    def spawn(self, assignments: list[WorkerAssignment]) -> None:
        kept = [a for a in assignments if (a.worker_index, a.slot_epoch) != (2, 0)]
        super().spawn(kept)


def test_a_worker_that_never_arrives_is_replaced(fault_free: SolveResult, tmp_path: Path) -> None:
    result = _solve(
        tmp_path, spawner=_LosesFirstRequest(log_directory=tmp_path), join_timeout_seconds=3.0
    )
    assert result.objective == fault_free.objective
    assert result.replacements == 1


def test_a_straggler_past_its_deadline_is_replaced_and_ignored(
    fault_free: SolveResult, tmp_path: Path
) -> None:
    plan = FaultPlan(rules=(FaultRule(kind="delay", worker=0, iteration=4, seconds=6.0),))
    result = _solve(tmp_path, faults=plan, worker_deadline_floor_seconds=1.0)
    _assert_same_solve(result, fault_free)
    assert result.replacements == 1
