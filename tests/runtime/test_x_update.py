"""The worker's x-update by either method, cross-checked: Newton-CG, FISTA and scipy agree."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import minimize

from runtime.local_data import LocalData
from runtime.local_solver import solve_local
from runtime.losses import Loss
from runtime.newton_solver import NEWTON_NEEDS
from runtime.registry import get_loss, loss_names
from runtime.specs import LocalSolverSpec
from runtime.x_update import XUpdate

NEWTON = LocalSolverSpec(method="newton", newton_tol=1e-13)
FISTA = LocalSolverSpec(method="fista", grad_tol=1e-10, rel_tol=0.0, max_iterations=100_000)


def _problem(seed: int, *, weighted: bool) -> tuple[LocalData, np.ndarray]:
    """Sparse rows with column scales over two decades, labels for every loss; a center."""
    rng = np.random.default_rng(seed)
    features = sp.random(120, 30, density=0.2, format="csr", random_state=rng)
    features = features @ sp.diags(10.0 ** rng.uniform(-1, 1, size=30))
    labels = np.where(rng.random(120) < 0.5, -1.0, 1.0)
    weights = rng.uniform(0.2, 3.0, size=120) if weighted else None
    return LocalData(features=features.tocsr(), labels=labels, weights=weights), rng.normal(size=30)


def _scipy_optimum(data: LocalData, loss: Loss, rho: float, center: np.ndarray) -> float:
    def value_and_gradient(x: np.ndarray) -> tuple[float, np.ndarray]:
        margins = data.features @ x
        value, residual = loss.value_and_derivative(margins, data.labels, data.weights)
        offset = x - center
        return value + 0.5 * rho * offset @ offset, data.features.T @ residual + rho * offset

    result = minimize(
        value_and_gradient,
        np.zeros(data.num_features),
        jac=True,
        method="L-BFGS-B",
        options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 100_000, "maxcor": 30},
    )
    return float(result.fun)


def test_every_registered_loss_has_what_newton_needs() -> None:
    for name in loss_names():
        loss = get_loss(name)
        assert all(hasattr(loss, attribute) for attribute in NEWTON_NEEDS), name


@pytest.mark.parametrize("name", loss_names())
@pytest.mark.parametrize(
    ("seed", "rho", "weighted"), [(1, 0.05, False), (2, 1.0, True), (3, 20.0, False)]
)
def test_newton_fista_and_scipy_agree(name: str, seed: int, rho: float, weighted: bool) -> None:
    data, center = _problem(seed, weighted=weighted)
    loss = get_loss(name)
    x0 = np.random.default_rng(seed + 100).normal(size=data.num_features)
    newton = XUpdate(NEWTON, loss).solve(data, rho=rho, center=center, x0=x0)
    fista = XUpdate(FISTA, loss).solve(data, rho=rho, center=center, x0=x0)
    assert newton.stop_reason != "max_iterations" and fista.stop_reason != "max_iterations"
    assert newton.iterations < min(60, fista.iterations)  # the curvature pays
    # F is ρ-strongly convex: ||x - x*|| <= ||∇F(x)|| / ρ for both.
    assert newton.gradient_norm <= 1e-9 and fista.gradient_norm <= 1e-10
    np.testing.assert_allclose(newton.x, fista.x, rtol=0, atol=2e-9 / rho)
    reference = _scipy_optimum(data, loss, rho, center)
    for report in (newton, fista):
        assert reference - 1e-9 * abs(reference) <= report.objective
        assert report.objective <= reference + 1e-12 * abs(reference)


def test_newton_stops_at_its_relative_tolerance() -> None:
    data, center = _problem(4, weighted=False)
    loss, x0 = get_loss("logistic"), np.zeros(data.num_features)
    margins = data.features @ x0
    residual = loss.derivative(margins, data.labels, data.weights)
    start_norm = float(np.linalg.norm(data.features.T @ residual + 0.5 * (x0 - center)))
    for tol in (1e-1, 1e-3, 1e-8):
        spec = LocalSolverSpec(method="newton", newton_tol=tol)
        report = XUpdate(spec, loss).solve(data, rho=0.5, center=center, x0=x0)
        assert report.stop_reason == "gradient"
        assert report.gradient_norm <= tol * start_norm


def test_newton_keeps_nothing_between_calls() -> None:
    """What makes a hand-off exact: a fresh worker's x-update equals a long-running one's."""
    data, center = _problem(5, weighted=True)
    loss = get_loss("logistic")
    long_running = XUpdate(LocalSolverSpec(), loss)
    x = np.zeros(data.num_features)
    for rho in (1.0, 0.5, 2.0):
        x = long_running.solve(data, rho=rho, center=center * rho, x0=x).x
    after_history = long_running.solve(data, rho=2.0, center=center, x0=x)
    fresh = XUpdate(LocalSolverSpec(), loss).solve(data, rho=2.0, center=center, x0=x)
    np.testing.assert_array_equal(after_history.x, fresh.x)
    assert after_history.iterations == fresh.iterations


def test_fista_is_the_paper_solver_with_its_lipschitz_estimate_carried() -> None:
    data, center = _problem(6, weighted=False)
    loss, spec, x0 = get_loss("logistic"), LocalSolverSpec(method="fista"), np.zeros(30)
    update = XUpdate(spec, loss)
    first = update.solve(data, rho=1.0, center=center, x0=x0)
    second = update.solve(data, rho=1.0, center=2 * center, x0=first.x)
    direct_first = solve_local(data, loss, rho=1.0, center=center, x0=x0, options=spec)
    direct_second = solve_local(
        data,
        loss,
        rho=1.0,
        center=2 * center,
        x0=direct_first.x,
        options=spec,
        lipschitz0=direct_first.lipschitz,
    )
    np.testing.assert_array_equal(first.x, direct_first.x)
    np.testing.assert_array_equal(second.x, direct_second.x)


def test_each_method_checks_the_loss_before_solving() -> None:
    with pytest.raises(
        TypeError,
        match=r"^the local Newton-CG solver needs loss.value_and_derivative, "
        r"loss.value_change, loss.second_derivative, which object lacks$",
    ):
        XUpdate(LocalSolverSpec(method="newton"), object())  # type: ignore[arg-type]
    with pytest.raises(
        TypeError,
        match=r"^the local FISTA solver needs loss.curvature_bound, loss.value, "
        r"loss.value_and_derivative, loss.value_change, which object lacks$",
    ):
        XUpdate(LocalSolverSpec(method="fista"), object())  # type: ignore[arg-type]
