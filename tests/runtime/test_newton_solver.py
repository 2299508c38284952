"""The Newton-CG x-update against closed forms, scipy, and FISTA, on badly scaled real data."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize
from sklearn.datasets import load_breast_cancer

from runtime.local_data import LocalData
from runtime.local_solver import solve_local
from runtime.newton_solver import NewtonOptions, solve_local_newton
from runtime.registry import get_loss
from runtime.specs import LocalSolverSpec


@pytest.fixture(scope="module")
def breast_cancer() -> LocalData:
    """scikit-learn's breast_cancer, unscaled: column scales from 2.6e-3 to 5.7e2."""
    features, labels = load_breast_cancer(return_X_y=True)
    return LocalData.from_arrays(features, np.where(labels > 0, 1.0, -1.0))


def _newton(data, loss, *, rho, center, x0, tol):
    return solve_local_newton(
        data, loss, rho=rho, center=center, x0=x0, options=NewtonOptions(grad_tol=tol)
    )


def _objective(data: LocalData, name: str, rho: float, center: np.ndarray):
    loss = get_loss(name)
    dense = data.features.toarray()

    def value_and_gradient(x: np.ndarray) -> tuple[float, np.ndarray]:
        margins = dense @ x
        value, residual = loss.value_and_derivative(margins, data.labels, data.weights)
        return value + 0.5 * rho * (x - center) @ (x - center), dense.T @ residual + rho * (
            x - center
        )

    return value_and_gradient


@pytest.mark.parametrize("rho", [5e-4, 1.0, 100.0])
def test_logistic_on_unscaled_data_reaches_a_tiny_gradient(
    breast_cancer: LocalData, rho: float
) -> None:
    center = np.random.default_rng(0).normal(size=30) * 1e-2
    report = _newton(
        breast_cancer, get_loss("logistic"), rho=rho, center=center, x0=np.zeros(30), tol=1e-9
    )
    assert report.stop_reason == "gradient" and report.iterations < 60
    value_and_gradient = _objective(breast_cancer, "logistic", rho, center)
    value, gradient = value_and_gradient(report.x)
    assert np.linalg.norm(gradient) <= 1e-9
    reference = scipy.optimize.minimize(
        value_and_gradient,
        report.x,
        jac=True,
        method="L-BFGS-B",
        options={"ftol": 0.0, "gtol": 1e-12, "maxiter": 10_000},
    )
    assert value <= reference.fun + 1e-12 * abs(reference.fun)


def test_newton_beats_fista_on_unscaled_data(breast_cancer: LocalData) -> None:
    """Why the second-order solver exists: FISTA's L/ρ is ~1e9 here (issue 9), so 5,000
    FISTA steps leave a gradient a million times Newton's, which takes fewer than 60."""
    center, rho = np.zeros(30), 5e-4
    fista = solve_local(
        breast_cancer,
        get_loss("logistic"),
        rho=rho,
        center=center,
        x0=np.zeros(30),
        options=LocalSolverSpec(grad_tol=1e-6, rel_tol=0.0, max_iterations=5_000),
    )
    newton = _newton(
        breast_cancer, get_loss("logistic"), rho=rho, center=center, x0=np.zeros(30), tol=1e-6
    )
    assert newton.gradient_norm <= 1e-6 and newton.iterations < 60
    assert fista.stop_reason == "max_iterations" and fista.gradient_norm > 1.0
    assert newton.objective < fista.objective < 394.0  # x = 0 gives 394


def test_squared_loss_matches_the_normal_equations() -> None:
    rng = np.random.default_rng(1)
    scales = 10.0 ** rng.uniform(-3, 3, size=40)
    dense = rng.normal(size=(300, 40)) * scales
    data = LocalData.from_arrays(dense, rng.normal(size=300), rng.uniform(0.5, 2, size=300))
    rho, center = 0.3, rng.normal(size=40)
    report = _newton(data, get_loss("squared"), rho=rho, center=center, x0=np.zeros(40), tol=1e-8)
    weighted = dense.T * data.weights
    exact = np.linalg.solve(
        weighted @ dense + rho * np.eye(40), weighted @ data.labels + rho * center
    )
    np.testing.assert_allclose(report.x, exact, rtol=1e-8, atol=1e-10)


def test_squared_hinge_agrees_with_scipy() -> None:
    rng = np.random.default_rng(2)
    dense = rng.normal(size=(400, 25)) * 10.0 ** rng.uniform(-2, 2, size=25)
    labels = np.where(dense @ rng.normal(size=25) + rng.normal(size=400) > 0, 1.0, -1.0)
    data = LocalData.from_arrays(dense, labels)
    rho, center = 0.1, np.zeros(25)
    report = _newton(
        data, get_loss("squared_hinge"), rho=rho, center=center, x0=np.zeros(25), tol=1e-8
    )
    value_and_gradient = _objective(data, "squared_hinge", rho, center)
    reference = scipy.optimize.minimize(
        value_and_gradient,
        np.zeros(25),
        jac=True,
        method="L-BFGS-B",
        options={"ftol": 0.0, "gtol": 1e-11, "maxiter": 50_000},
    )
    assert abs(report.objective - reference.fun) <= 1e-9 * abs(reference.fun)


def test_a_warm_start_at_the_optimum_takes_no_step(breast_cancer: LocalData) -> None:
    loss, center = get_loss("logistic"), np.zeros(30)
    first = _newton(breast_cancer, loss, rho=1.0, center=center, x0=np.zeros(30), tol=1e-8)
    again = _newton(breast_cancer, loss, rho=1.0, center=center, x0=first.x, tol=1e-8)
    assert again.iterations == 0
    np.testing.assert_array_equal(again.x, first.x)


def test_bad_options_name_the_field() -> None:
    with pytest.raises(ValueError, match=r"^grad_tol must be a finite number > 0, got 0.0$"):
        NewtonOptions(grad_tol=0.0)
    with pytest.raises(ValueError, match=r"^max_cg_iterations must be >= 1, got 0$"):
        NewtonOptions(max_cg_iterations=0)


@pytest.mark.parametrize("name", ["logistic", "squared", "squared_hinge"])
def test_second_derivatives_are_the_derivatives_slopes(name: str) -> None:
    rng = np.random.default_rng(3)
    margins = rng.normal(size=200) * 3
    labels = np.where(rng.normal(size=200) > 0, 1.0, -1.0)
    weights = rng.uniform(0.1, 2.0, size=200)
    margins = margins[np.abs(labels * margins - 1.0) > 1e-3]  # away from the hinge's kink
    labels, weights = labels[: len(margins)], weights[: len(margins)]
    loss, step = get_loss(name), 1e-6
    slope = (
        loss.derivative(margins + step, labels, weights)
        - loss.derivative(margins - step, labels, weights)
    ) / (2 * step)
    np.testing.assert_allclose(
        loss.second_derivative(margins, labels, weights), slope, rtol=1e-6, atol=1e-9
    )


def test_logistic_curvature_vanishes_without_overflow_far_out() -> None:
    curvature = get_loss("logistic").second_derivative(np.array([-1e4, 0.0, 1e4]), np.ones(3), None)
    assert curvature.tolist() == [0.0, 0.25, 0.0]
