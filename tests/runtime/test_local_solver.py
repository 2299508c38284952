"""The worker's x-update (FISTA) against scipy's L-BFGS-B on the same objective."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from pydantic import ValidationError
from scipy.optimize import minimize

from runtime.generator import generate_rows
from runtime.local_data import LocalData
from runtime.local_solver import LocalSolveReport, solve_local
from runtime.losses import LogisticLoss, Loss, SquaredLoss
from runtime.specs import LocalSolverSpec

TIGHT = LocalSolverSpec(grad_tol=1e-10, rel_tol=0.0, max_iterations=100_000)


def _random_problem(seed: int, *, weighted: bool, rows: int = 80, columns: int = 25) -> LocalData:
    rng = np.random.default_rng(seed)
    features = sp.random(rows, columns, density=0.2, format="csr", random_state=rng)
    features.data = rng.normal(scale=2.0, size=features.nnz)
    labels = np.where(rng.random(rows) < 0.5, -1.0, 1.0)
    weights = rng.uniform(0.2, 3.0, size=rows) if weighted else None
    return LocalData(features=features, labels=labels, weights=weights)


def _objective_and_gradient(
    data: LocalData, loss: Loss, rho: float, center: np.ndarray, x: np.ndarray
) -> tuple[float, np.ndarray]:
    margins = data.features @ x
    value = loss.value(margins, data.labels, data.weights) + 0.5 * rho * np.sum((x - center) ** 2)
    residual = loss.derivative(margins, data.labels, data.weights)
    gradient = data.features.T @ residual + rho * (x - center)
    return value, gradient


def _scipy_optimum(data: LocalData, loss: Loss, rho: float, center: np.ndarray) -> np.ndarray:
    result = minimize(
        lambda x: _objective_and_gradient(data, loss, rho, center, x),
        np.zeros(data.num_features),
        jac=True,
        method="L-BFGS-B",
        options={"ftol": 1e-15, "gtol": 1e-11, "maxiter": 100_000},
    )
    return np.asarray(result.x)


@pytest.mark.parametrize("loss", [LogisticLoss(), SquaredLoss()], ids=lambda loss: loss.name)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize(("seed", "rho"), [(1, 0.1), (2, 1.0), (3, 10.0)])
def test_matches_scipy(loss: Loss, weighted: bool, seed: int, rho: float) -> None:
    data = _random_problem(seed, weighted=weighted)
    rng = np.random.default_rng(seed + 100)
    center = rng.normal(size=data.num_features)
    x0 = rng.normal(size=data.num_features)
    report = solve_local(data, loss, rho=rho, center=center, x0=x0, options=TIGHT)
    expected = _scipy_optimum(data, loss, rho, center)
    np.testing.assert_allclose(report.x, expected, atol=1e-7 * (1 + np.abs(expected).max()))
    assert report.converged


@pytest.mark.parametrize("loss", [LogisticLoss(), SquaredLoss()], ids=lambda loss: loss.name)
def test_report_is_consistent_with_returned_point(loss: Loss) -> None:
    data = _random_problem(7, weighted=True)
    center = np.full(data.num_features, 0.3)
    options = LocalSolverSpec(grad_tol=1e-3)
    report = solve_local(
        data, loss, rho=0.5, center=center, x0=np.zeros(data.num_features), options=options
    )
    value, gradient = _objective_and_gradient(data, loss, 0.5, center, report.x)
    assert report.stop_reason == "gradient"
    assert report.objective == pytest.approx(value, rel=1e-12)
    assert report.gradient_norm == pytest.approx(np.linalg.norm(gradient), rel=1e-9, abs=1e-12)
    assert report.gradient_norm <= 1e-3
    assert report.iterations >= 1
    assert report.lipschitz > 0
    assert isinstance(report, LocalSolveReport)


def test_relative_decrease_stop_reports_true_gradient() -> None:
    data = _random_problem(8, weighted=False)
    options = LocalSolverSpec(grad_tol=1e-300, rel_tol=1e-6)
    zeros = np.zeros(data.num_features)
    report = solve_local(data, LogisticLoss(), rho=1.0, center=zeros, x0=zeros, options=options)
    _, gradient = _objective_and_gradient(data, LogisticLoss(), 1.0, zeros, report.x)
    assert report.stop_reason == "relative_decrease"
    assert report.gradient_norm == pytest.approx(np.linalg.norm(gradient), rel=1e-9)


def test_min_iterations_are_taken_even_at_the_optimum() -> None:
    data = _random_problem(4, weighted=False)
    center = np.zeros(data.num_features)
    optimum = solve_local(data, SquaredLoss(), rho=1.0, center=center, x0=center, options=TIGHT).x
    loose = LocalSolverSpec(grad_tol=1e-6, min_iterations=5)
    report = solve_local(data, SquaredLoss(), rho=1.0, center=center, x0=optimum, options=loose)
    assert report.iterations == 5
    none_required = LocalSolverSpec(grad_tol=1e-6, min_iterations=0)
    report = solve_local(
        data, SquaredLoss(), rho=1.0, center=center, x0=optimum, options=none_required
    )
    assert report.iterations == 0
    np.testing.assert_array_equal(report.x, optimum)


def test_max_iterations_ends_unconverged() -> None:
    data = _random_problem(5, weighted=False)
    zeros = np.zeros(data.num_features)
    options = LocalSolverSpec(grad_tol=1e-12, rel_tol=0.0, max_iterations=3)
    report = solve_local(data, LogisticLoss(), rho=0.01, center=zeros, x0=zeros, options=options)
    assert report.iterations == 3
    assert report.stop_reason == "max_iterations"
    assert not report.converged


def test_warm_start_with_lipschitz_is_cheaper_than_cold_start() -> None:
    data = generate_rows(samples=4000, features=400, density=0.01, seed=5, start=0, stop=4000)
    zeros = np.zeros(data.num_features)
    options = LocalSolverSpec(grad_tol=1e-6, rel_tol=0.0)
    cold = solve_local(data, LogisticLoss(), rho=1.0, center=zeros, x0=zeros, options=options)
    warm = solve_local(
        data,
        LogisticLoss(),
        rho=1.0,
        center=zeros + 1e-3,  # ADMM moves the center a little between iterations
        x0=cold.x,
        options=options,
        lipschitz0=cold.lipschitz,
    )
    assert warm.gradient_norm <= 1e-6
    assert warm.iterations < cold.iterations


def test_generated_instance_matches_scipy() -> None:
    data = generate_rows(samples=3000, features=300, density=0.02, seed=9, start=0, stop=3000)
    center = np.random.default_rng(0).normal(scale=0.1, size=data.num_features)
    report = solve_local(
        data, LogisticLoss(), rho=0.5, center=center, x0=np.zeros(300), options=TIGHT
    )
    expected = _scipy_optimum(data, LogisticLoss(), 0.5, center)
    np.testing.assert_allclose(report.x, expected, atol=1e-7)


def test_no_rows_gives_the_center() -> None:
    data = LocalData(features=sp.csr_matrix((0, 4)), labels=np.zeros(0))
    center = np.array([1.0, -2.0, 0.5, 0.0])
    report = solve_local(
        data, LogisticLoss(), rho=2.0, center=center, x0=np.zeros(4), options=TIGHT
    )
    np.testing.assert_allclose(report.x, center, atol=1e-12)


def test_transpose_is_cached_on_the_data() -> None:
    data = _random_problem(6, weighted=False)
    first = data.features_transposed
    assert first is data.features_transposed
    assert first.format == "csr"
    np.testing.assert_array_equal(first.toarray(), data.features.toarray().T)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rho": 0.0}, r"^rho must be a finite number > 0, got 0.0$"),
        ({"rho": float("nan")}, r"^rho must be a finite number > 0, got nan$"),
        (
            {"center": np.zeros(3)},
            r"^center must have shape \(25,\) to match the data, got \(3,\)$",
        ),
        ({"x0": np.full(25, np.inf)}, r"^x0 must be finite \(found NaN or inf\)$"),
        ({"lipschitz0": -1.0}, r"^lipschitz0 must be a finite number > 0, got -1.0$"),
    ],
)
def test_solve_local_rejects_bad_inputs(kwargs: dict[str, object], message: str) -> None:
    data = _random_problem(1, weighted=False)
    arguments: dict[str, object] = {
        "rho": 1.0,
        "center": np.zeros(25),
        "x0": np.zeros(25),
        "options": LocalSolverSpec(),
        "lipschitz0": None,
    }
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        solve_local(data, LogisticLoss(), **arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_iterations": -1}, "min_iterations\n  Input should be greater than or equal to 0"),
        ({"grad_tol": 0.0}, "grad_tol\n  Input should be greater than 0"),
        ({"grad_tol": math.inf}, "grad_tol\n  Input should be a finite number"),
        ({"rel_tol": -1e-3}, "rel_tol\n  Input should be greater than or equal to 0"),
        ({"max_iterations": 0}, "max_iterations\n  Input should be greater than or equal to 1"),
        (
            {"min_iterations": 10, "max_iterations": 5},
            "min_iterations: must be <= max_iterations (5), got 10",
        ),
    ],
)
def test_options_validation(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        LocalSolverSpec(**kwargs)  # type: ignore[arg-type]
    assert message in str(caught.value)


def test_forced_iterations_at_the_optimum_keep_a_finite_step() -> None:
    """min_iterations beyond convergence must not grow L to inf (a worker once crashed so)."""
    data = generate_rows(samples=400, features=20, density=0.3, seed=4, start=0, stop=400)
    center = np.zeros(20)
    options = LocalSolverSpec(min_iterations=1, grad_tol=1e-12, rel_tol=0.0)
    converged = solve_local(
        data, LogisticLoss(), rho=1.0, center=center, x0=center, options=options
    )
    forced = solve_local(
        data,
        LogisticLoss(),
        rho=1.0,
        center=center,
        x0=converged.x,
        options=LocalSolverSpec(min_iterations=300, grad_tol=1e-2),
        lipschitz0=converged.lipschitz,
    )
    assert math.isfinite(forced.lipschitz) and forced.lipschitz < 1e6
    np.testing.assert_allclose(forced.x, converged.x, atol=1e-9)
    again = solve_local(  # the estimate is usable as the next call's warm start
        data,
        LogisticLoss(),
        rho=1.0,
        center=center,
        x0=forced.x,
        options=options,
        lipschitz0=forced.lipschitz,
    )
    assert again.gradient_norm <= 1e-12 or again.stop_reason == "relative_decrease"


def test_the_reported_gradient_is_the_true_one_after_many_margin_refreshes() -> None:
    """Margins are refreshed from A every 100 iterations; a refresh once fed the drift of
    A x_k into the momentum, which amplified it until the gradient test passed at a point
    far from the optimum (seen on columns scaled over two decades, with a small ρ)."""
    data = _random_problem(1, weighted=False)
    scaled = LocalData(
        features=(data.features @ sp.diags(10.0 ** np.linspace(-1, 1, 25))).tocsr(),
        labels=data.labels,
    )
    rng = np.random.default_rng(2)
    center, x0 = rng.normal(size=25), rng.normal(size=25)
    loss, rho = LogisticLoss(), 0.05
    report = solve_local(scaled, loss, rho=rho, center=center, x0=x0, options=TIGHT)
    assert report.stop_reason == "gradient" and report.iterations > 300  # several refreshes
    _, gradient = _objective_and_gradient(scaled, loss, rho, center, report.x)
    assert np.linalg.norm(gradient) <= 1e-9
