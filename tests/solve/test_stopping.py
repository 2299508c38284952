"""The stopping rules against their formulas (Boyd et al. 2011, §3.3.1 for the relative one)."""

from __future__ import annotations

import math

import pytest

from scheduler_host.solve.stopping import Residuals, StopRule
from scheduler_host.solve_spec import SolveSpec


def _step(iteration: int = 5, **fields: float | None) -> Residuals:
    values: dict = dict(
        iteration=iteration,
        primal_residual=1.0,
        dual_residual=1.0,
        rho=2.0,
        x_norm=100.0,
        z_norm=40.0,
        dual_norm=10.0,
        objective=None,
    )
    values.update(fields)
    return Residuals(**values)


def test_the_absolute_rule_is_the_papers() -> None:
    rule = StopRule(SolveSpec(eps_primal=0.5, eps_dual=0.25))
    assert rule.tolerances(_step()) == (0.5, 0.25)
    assert rule.met(_step(primal_residual=0.5, dual_residual=0.25))
    assert not rule.met(_step(primal_residual=0.5, dual_residual=0.26))
    assert not rule.met(_step(iteration=1, primal_residual=0.0, dual_residual=0.0))


def test_the_relative_rule_scales_with_the_iterates() -> None:
    spec = SolveSpec(stop_rule="relative", tol_abs=1e-4, tol_rel=1e-2, workers=4, features=25)
    rule = StopRule(spec)
    step = _step()
    primal, dual = rule.tolerances(step)
    size = math.sqrt(4 * 25) * 1e-4
    assert primal == pytest.approx(size + 1e-2 * max(100.0, math.sqrt(4) * 40.0))
    assert dual == pytest.approx(size + 1e-2 * 2.0 * 10.0)
    assert rule.met(_step(primal_residual=primal, dual_residual=dual))
    assert not rule.met(_step(primal_residual=primal * 1.01, dual_residual=dual))
    # the same solve in other units (everything ×1000) stops at the same point
    scaled = _step(x_norm=1e5, z_norm=4e4, dual_norm=1e4)
    assert rule.tolerances(scaled)[0] == pytest.approx(1000 * primal, rel=1e-3)


def test_the_objective_rule_compares_a_window_of_iterations() -> None:
    rule = StopRule(SolveSpec(stop_rule="objective", tol_objective=1e-6, objective_window=3))
    objectives = [100.0, 50.0, 40.0, 40.00001, 40.00002, 40.000021, 40.000022]
    verdicts = [rule.met(_step(iteration=k, objective=f)) for k, f in enumerate(objectives, 1)]
    # from k = 4 on, the verdict is |F_k - F_{k-3}| <= 1e-6·|F_k|
    changes = [abs(objectives[k] - objectives[k - 3]) / objectives[k] for k in range(3, 7)]
    assert verdicts == [False, False, False] + [change <= 1e-6 for change in changes]


def test_the_objective_rule_is_refused_in_async_mode() -> None:
    with pytest.raises(ValueError, match="stop_rule: 'objective' needs every worker's loss"):
        SolveSpec(stop_rule="objective", mode="async")


def test_anderson_acceleration_is_refused_in_async_mode_and_off_by_auto() -> None:
    with pytest.raises(ValueError, match="acceleration: Anderson acceleration needs every"):
        SolveSpec(acceleration="anderson", mode="async")
    assert SolveSpec(mode="async").worker_anderson_memory == 0
    assert SolveSpec().worker_anderson_memory == SolveSpec().anderson_memory
