"""The scheduler's global step against closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest

from runtime.penalties import Penalty
from scheduler_host.solve.global_step import RhoBounds, global_step, has_converged, next_rho


def _step_from_zero(omega_sum: np.ndarray, *, primal_sq_sum: float, rho: float, **kwargs):
    """The paper-form global step from ``z_prev = 0``."""
    return global_step(
        omega_sum=omega_sum,
        primal_sq_sum=primal_sq_sum,
        z_prev=np.zeros_like(omega_sum),
        rho=rho,
        dual_residual_form="paper",
        **kwargs,
    )


def test_l1_z_update_is_soft_threshold_with_lambda_over_w_rho() -> None:
    omega_sum = np.array([4.0, -0.4, 0.1, -8.0])  # W=4 -> mean [1, -0.1, 0.025, -2]
    step = _step_from_zero(
        omega_sum, primal_sq_sum=9.0, rho=0.5, num_workers=4, penalty=Penalty(l1=1.0)
    )
    threshold = 1.0 / (4 * 0.5)
    np.testing.assert_allclose(step.z, [1 - threshold, 0.0, 0.0, -2 + threshold])
    assert step.primal_residual == 3.0
    assert step.dual_residual == pytest.approx(0.5 * np.linalg.norm(step.z))


def test_consensus_dual_residual_scales_with_sqrt_w() -> None:
    kwargs = dict(
        omega_sum=np.full(3, 9.0),
        primal_sq_sum=1.0,
        z_prev=np.ones(3),
        rho=2.0,
        num_workers=9,
        penalty=Penalty(),
    )
    paper = global_step(dual_residual_form="paper", **kwargs)
    consensus = global_step(dual_residual_form="consensus", **kwargs)
    assert paper.dual_residual == 0.0  # mean is 1 = z_prev
    kwargs["z_prev"] = np.zeros(3)
    paper = global_step(dual_residual_form="paper", **kwargs)
    consensus = global_step(dual_residual_form="consensus", **kwargs)
    assert paper.dual_residual == pytest.approx(2.0 * math.sqrt(3))
    assert consensus.dual_residual == pytest.approx(3 * paper.dual_residual)


def test_ridge_z_update_closed_form() -> None:
    omega_sum = np.array([2.0, -6.0])
    step = _step_from_zero(
        omega_sum, primal_sq_sum=0.0, rho=1.0, num_workers=2, penalty=Penalty(l2=3.0)
    )
    # argmin (3/2)|z|^2 + (W rho / 2)|z - mean|^2  =>  z = W rho mean / (W rho + 3)
    np.testing.assert_allclose(step.z, 2 * np.array([1.0, -3.0]) / 5)


@pytest.mark.parametrize(
    ("primal", "dual", "expected"),
    [(11.0, 1.0, 2.0), (1.0, 11.0, 0.5), (10.0, 1.0, 1.0), (1.0, 10.0, 1.0), (0.0, 0.0, 1.0)],
)
def test_residual_balancing(primal: float, dual: float, expected: float) -> None:
    assert next_rho(1.0, primal_residual=primal, dual_residual=dual) == expected


def test_never_converged_at_the_first_iteration() -> None:
    assert not has_converged(
        iteration=1, primal_residual=0.0, dual_residual=0.0, eps_primal=1, eps_dual=1
    )
    assert has_converged(
        iteration=2, primal_residual=0.0, dual_residual=0.0, eps_primal=1, eps_dual=1
    )
    assert not has_converged(
        iteration=2, primal_residual=2.0, dual_residual=0.0, eps_primal=1, eps_dual=1
    )


@pytest.mark.parametrize(
    ("rho", "primal", "dual", "expected"),
    [(8.0, 11.0, 1.0, 10.0), (0.15, 1.0, 11.0, 0.1), (3.0, 11.0, 1.0, 6.0), (5.0, 1.0, 1.0, 5.0)],
)
def test_residual_balancing_stays_within_the_rho_bounds(
    rho: float, primal: float, dual: float, expected: float
) -> None:
    bounds = RhoBounds(lower=0.1, upper=10.0)
    assert next_rho(rho, primal_residual=primal, dual_residual=dual, bounds=bounds) == expected


def test_a_long_imbalance_ends_at_the_bound_around_the_curvature() -> None:
    bounds = RhoBounds.around(2.0)
    assert (bounds.lower, bounds.upper) == (2e-4, 2e4)
    rho = 1.0
    for _ in range(100):
        rho = next_rho(rho, primal_residual=0.0, dual_residual=1.0, bounds=bounds)
    assert rho == 2e-4
    step = _step_from_zero(
        np.zeros(3),
        primal_sq_sum=1e6,
        rho=1.5e4,
        num_workers=1,
        penalty=Penalty(),
        rho_bounds=bounds,
    )
    assert step.rho_next == 2e4


def test_rho_bounds_must_be_ordered_and_positive() -> None:
    with pytest.raises(ValueError, match=r"^rho bounds must satisfy 0 < lower <= upper < inf"):
        RhoBounds(lower=0.0, upper=1.0)
