"""The spectral penalty rule (Xu et al. 2017) against closed forms, and its safeguards."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scheduler_host.solve.global_step import GlobalStep, RhoBounds
from scheduler_host.solve.penalty_rule import (
    CurvatureEstimate,
    PenaltyRule,
    SpectralPenalty,
    curvature_estimate,
    safeguarded,
    spectral_choice,
)


def test_a_quadratic_gives_its_curvature() -> None:
    # Δg = 3 Δv exactly: steepest descent and minimum gradient both say 3.
    step = np.array([1.0, -2.0, 0.5])
    estimate = curvature_estimate(
        inner=float(step @ (3 * step)),
        gradient_sq=float(9 * step @ step),
        step_sq=float(step @ step),
    )
    assert estimate.value == pytest.approx(3.0)
    assert estimate.correlation == pytest.approx(1.0)


def test_the_hybrid_takes_steepest_minus_half_min_gradient_when_they_disagree() -> None:
    # steepest = 10/1 = 10, min_gradient = 1/1 = 1: 2·1 <= 10, so 10 - 1/2.
    estimate = curvature_estimate(inner=1.0, gradient_sq=10.0, step_sq=1.0)
    assert estimate.value == 9.5
    assert estimate.correlation == pytest.approx(1 / math.sqrt(10))


@pytest.mark.parametrize(
    "inner, gradient_sq, step_sq",
    [(-1.0, 1.0, 1.0), (0.0, 1.0, 1.0), (1.0, 0.0, 1.0), (math.nan, 1.0, 1.0), (1.0, math.inf, 1)],
)
def test_a_negative_zero_or_non_finite_estimate_is_no_estimate(
    inner: float, gradient_sq: float, step_sq: float
) -> None:
    estimate = curvature_estimate(inner=inner, gradient_sq=gradient_sq, step_sq=step_sq)
    assert estimate == CurvatureEstimate(value=None, correlation=0.0)


def test_the_choice_falls_back_from_both_to_one_to_none() -> None:
    good_f = CurvatureEstimate(value=4.0, correlation=0.9)
    good_h = CurvatureEstimate(value=1.0, correlation=0.9)
    uncorrelated = CurvatureEstimate(value=100.0, correlation=0.1)
    missing = CurvatureEstimate(value=None, correlation=0.0)
    assert spectral_choice(7.0, f=good_f, h=good_h) == 2.0  # √(4·1)
    assert spectral_choice(7.0, f=good_f, h=uncorrelated) == 4.0
    assert spectral_choice(7.0, f=missing, h=good_h) == 1.0
    assert spectral_choice(7.0, f=uncorrelated, h=missing) == 7.0  # keep ρ


def test_safeguards_round_limit_and_bound() -> None:
    bounds = RhoBounds(lower=0.1, upper=10.0)
    # rounded to a power of 2^(1/4): 1.9 -> 2^(4/4)·1 (log2 1.9 = 0.93 -> 4 quarter steps)
    assert safeguarded(1.0, 1.9, iteration=2, bounds=bounds) == 2.0
    assert safeguarded(1.0, 1.05, iteration=2, bounds=bounds) == 1.0  # under an eighth octave
    assert safeguarded(1.0, 1e6, iteration=2, bounds=bounds) == 10.0  # bounded
    assert safeguarded(1.0, 1e-6, iteration=2, bounds=bounds) == 0.1
    assert safeguarded(1.0, math.nan, iteration=2, bounds=bounds) == 1.0
    assert safeguarded(1.0, -3.0, iteration=2, bounds=bounds) == 1.0
    # late, the 1 + C/k² limit binds: k = 1e6 allows a factor 1.01, which rounds to none
    assert safeguarded(1.0, 8.0, iteration=10**6, bounds=bounds) == 1.0


def _terms(a: float, b: float, workers: int, *, step_x: float, step_z: float) -> np.ndarray:
    """The summed secant terms of W workers with f_w = (a/2)‖x‖², h = (b/2)‖z‖² (d = 3):
    Δ∇f_w = a·Δx, and the workers' shares of ∂h(z) sum to b·Δz (each holds b/W of it)."""
    dx, dz = np.full(3, step_x), np.full(3, step_z)
    dg, dy = a * dx, (b / workers) * dz
    per_worker = [dx @ dg, dg @ dg, dx @ dx, dz @ dy, dy @ dy, dz @ dz]
    return workers * np.array(per_worker)


def test_the_spectral_rule_recovers_the_two_curvatures() -> None:
    """W=2 workers with f_w = (a/2)‖x‖² and h = (b/2)‖z‖²: the estimates are α = a and
    β = b/W (the constraint x_w = z holds W times), and ρ moves to √(αβ), rounded to a
    quarter octave."""
    a, b, rho, workers = 4.0, 9.0, 1.0, 2
    rule = SpectralPenalty(bounds=None)
    assert rule.snapshot_due(1) and rule.snapshot_due(2) and not rule.snapshot_due(3)
    # the first snapshot has nothing to compare with: the workers send no terms
    assert rule.next_rho(iteration=1, rho=rho, terms=None) == rho
    terms = _terms(a, b, workers, step_x=1.0, step_z=-0.25)
    proposal = rule.next_rho(iteration=2, rho=rho, terms=terms)
    # √(4 · 9/2) = 4.24: log2 = 2.08, 8 quarter octaves from ρ = 1
    assert proposal == safeguarded(rho, math.sqrt(a * b / workers), iteration=2, bounds=None)
    assert proposal == 4.0


def test_terms_off_a_snapshot_iteration_are_ignored() -> None:
    rule = SpectralPenalty(bounds=None)
    terms = _terms(4.0, 9.0, 2, step_x=1.0, step_z=-0.25)
    assert rule.next_rho(iteration=3, rho=2.0, terms=terms) == 2.0


def test_uncorrelated_terms_keep_rho() -> None:
    rng = np.random.default_rng(0)
    rule = SpectralPenalty(bounds=RhoBounds(lower=0.01, upper=100.0))
    for iteration in range(2, 10, 2):
        # inner products far below the norms: correlations under 0.2 on both sides
        norms = 1.0 + rng.random(4)
        terms = np.array([1e-3, norms[0], norms[1], -1e-3, norms[2], norms[3]])
        assert rule.next_rho(iteration=iteration, rho=1.5, terms=terms) == 1.5


def test_balance_takes_the_global_steps_rho() -> None:
    step = GlobalStep(z=np.zeros(2), primal_residual=1.0, dual_residual=0.0, rho_next=4.0)
    rule = PenaltyRule("balance", bounds=None)
    assert not rule.snapshot_due(1)
    assert rule.next_rho(iteration=3, rho=2.0, step=step, terms=None) == 4.0
