"""A second-order x-update: line-search Newton-CG with a diagonal preconditioner.

Minimizes the same ``F(x) = Σ_n w_n ℓ(b_n, <a_n, x>) + (ρ/2)||x - c||²`` as
:func:`runtime.local_solver.solve_local`, but with the curvature of the data:
each step solves ``H p = -∇F`` approximately by preconditioned conjugate
gradients, with ``H = A^T diag(D) A + ρI`` applied as Hessian-vector products on
the sparse rows (``D`` from :meth:`Loss.second_derivative`), and the Jacobi
preconditioner ``diag(H) = (A∘A)^T D + ρ`` (as liblinear's TRON does since 2.2;
Hsia, Chiang & Lin, ACML 2017).  The preconditioner undoes column scaling, so
the iteration count does not grow with the spread of the feature scales,
which is where FISTA's ``L/ρ`` does.  The CG tolerance follows the forcing
sequence ``η_k = min(0.1, sqrt(||∇F_k|| / ||∇F_0||))`` (Eisenstat & Walker
1996; Nocedal & Wright, Alg. 7.1; capped at TRON's 0.1 rather than 1/2, because
the worker's warm starts are already where Newton converges fast, and a loose
first step there costs a whole extra step), and the step length the Armijo rule
on the exact change of ``F`` (:meth:`Loss.value_change`), so the test stays
meaningful next to the optimum.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from runtime.local_data import LocalData
from runtime.local_solver import LocalSolveReport, StopReason
from runtime.losses import Loss
from runtime.registry import require

#: What this solver asks of a loss (checked before it starts).
NEWTON_NEEDS = ("value_and_derivative", "value_change", "second_derivative")

_ARMIJO = 1e-4
_MAX_HALVINGS = 60
_FORCING_CAP = 0.1  # η_k's upper bound
_REFRESH_PERIOD = 20  # recompute the margins exactly every so many steps

_squared_transposed: weakref.WeakKeyDictionary[LocalData, sp.csr_matrix] = (
    weakref.WeakKeyDictionary()
)


@dataclass(frozen=True, kw_only=True)
class NewtonOptions:
    """Stopping rule of :func:`solve_local_newton`.

    Parameters
    ----------
    grad_tol : float
        Stop when ``||∇F||_2 <= grad_tol`` (> 0), an absolute floor.
    relative_tol : float
        Or when ``||∇F||_2 <= relative_tol · ||∇F(x0)||_2`` (in [0, 1); 0: no relative test).
    max_iterations : int
        Cap on Newton steps (>= 1).
    max_cg_iterations : int
        Cap on conjugate-gradient iterations per step (>= 1).
    """

    grad_tol: float = 1e-2
    relative_tol: float = 0.0
    max_iterations: int = 200
    max_cg_iterations: int = 500

    def __post_init__(self) -> None:
        if not (self.grad_tol > 0 and math.isfinite(self.grad_tol)):
            raise ValueError(f"grad_tol must be a finite number > 0, got {self.grad_tol}")
        if not 0.0 <= self.relative_tol < 1.0:
            raise ValueError(f"relative_tol must be in [0, 1), got {self.relative_tol}")
        if self.max_iterations < 1:
            raise ValueError(f"max_iterations must be >= 1, got {self.max_iterations}")
        if self.max_cg_iterations < 1:
            raise ValueError(f"max_cg_iterations must be >= 1, got {self.max_cg_iterations}")


def solve_local_newton(
    data: LocalData,
    loss: Loss,
    *,
    rho: float,
    center: np.ndarray,
    x0: np.ndarray,
    options: NewtonOptions,
) -> LocalSolveReport:
    """The same x-update as :func:`runtime.local_solver.solve_local`, by Newton-CG.

    Parameters
    ----------
    data : LocalData
        The worker's rows.
    loss : Loss
        Needs :data:`NEWTON_NEEDS`.
    rho : float
        The ADMM penalty, > 0.
    center, x0 : np.ndarray, shape (d,)
        ``c = z - u``, and where to start.

    Returns
    -------
    LocalSolveReport
        ``iterations`` counts Newton steps; ``lipschitz`` is NaN (not used here).
    """
    require(loss, NEWTON_NEEDS, role="loss", solver="the local Newton-CG solver")
    if not (rho > 0 and math.isfinite(rho)):
        raise ValueError(f"rho must be a finite number > 0, got {rho}")
    features, transposed = data.features, data.features_transposed
    labels, weights = data.labels, data.weights
    x = np.array(x0, dtype=np.float64, copy=True)
    margins = features @ x
    initial_norm = tolerance = math.nan
    for step in range(options.max_iterations + 1):
        loss_value, residual = loss.value_and_derivative(margins, labels, weights)
        offset = x - center
        gradient = transposed @ residual + rho * offset
        gradient_norm = float(np.linalg.norm(gradient))
        objective = loss_value + 0.5 * rho * float(offset @ offset)
        if step == 0:
            initial_norm = gradient_norm
            tolerance = max(options.grad_tol, options.relative_tol * initial_norm)
        if gradient_norm <= tolerance or step == options.max_iterations:
            reason: StopReason = "gradient" if gradient_norm <= tolerance else "max_iterations"
            return LocalSolveReport(x, step, gradient_norm, objective, math.nan, reason)
        curvature = loss.second_derivative(margins, labels, weights)
        diagonal = _squared(data) @ curvature + rho
        forcing = min(_FORCING_CAP, math.sqrt(gradient_norm / initial_norm))
        direction = _conjugate_gradients(
            _hessian_product(features, transposed, curvature, rho),
            -gradient,
            diagonal,
            tolerance=forcing * gradient_norm,
            max_iterations=options.max_cg_iterations,
        )
        margin_step = features @ direction
        slope = float(gradient @ direction)
        length = _armijo(
            loss,
            data,
            margins=margins,
            margin_step=margin_step,
            offset=offset,
            direction=direction,
            rho=rho,
            slope=slope,
        )
        if length == 0.0:  # no representable decrease: x is the optimum to rounding
            return LocalSolveReport(
                x, step, gradient_norm, objective, math.nan, "relative_decrease"
            )
        x += length * direction
        if (step + 1) % _REFRESH_PERIOD == 0:
            margins = features @ x
        else:
            margins += length * margin_step
    raise AssertionError("unreachable")  # the loop returns at max_iterations


def _hessian_product(
    features: sp.csr_matrix, transposed: sp.csr_matrix, curvature: np.ndarray, rho: float
) -> Callable[[np.ndarray], np.ndarray]:
    """``v -> (A^T diag(D) A + ρI) v``: two sparse products."""
    return lambda vector: transposed @ (curvature * (features @ vector)) + rho * vector


def _armijo(
    loss: Loss,
    data: LocalData,
    *,
    margins: np.ndarray,
    margin_step: np.ndarray,
    offset: np.ndarray,
    direction: np.ndarray,
    rho: float,
    slope: float,
) -> float:
    """The first of 1, 1/2, 1/4, ... with ``F(x + t p) - F(x) <= 1e-4 t <∇F, p>``, else 0."""
    along, squared_length = float(offset @ direction), float(direction @ direction)
    length = 1.0
    for _ in range(_MAX_HALVINGS):
        change = loss.value_change(margins, length * margin_step, data.labels, data.weights)
        change += rho * length * along + 0.5 * rho * length * length * squared_length
        if change <= _ARMIJO * length * slope:
            return length
        length *= 0.5
    return 0.0


def _conjugate_gradients(
    apply: Callable[[np.ndarray], np.ndarray],
    right_hand_side: np.ndarray,
    diagonal: np.ndarray,
    *,
    tolerance: float,
    max_iterations: int,
) -> np.ndarray:
    """Jacobi-preconditioned CG for ``H p = rhs`` until ``||H p - rhs|| <= tolerance``."""
    solution = np.zeros_like(right_hand_side)
    residual = right_hand_side.copy()
    preconditioned = residual / diagonal
    direction = preconditioned.copy()
    inner = float(residual @ preconditioned)
    for _ in range(max_iterations):
        if float(np.linalg.norm(residual)) <= tolerance:
            break
        product = apply(direction)
        curvature = float(direction @ product)
        if curvature <= 0.0:  # cannot happen for ρ > 0 but in rounding; keep what we have
            break
        step = inner / curvature
        solution += step * direction
        residual -= step * product
        np.divide(residual, diagonal, out=preconditioned)
        inner, previous = float(residual @ preconditioned), inner
        direction *= inner / previous
        direction += preconditioned
    return solution


def _squared(data: LocalData) -> sp.csr_matrix:
    """``(A∘A)^T`` as CSR, built once per data object."""
    cached = _squared_transposed.get(data)
    if cached is None:
        cached = data.features_transposed.power(2).tocsr()
        _squared_transposed[data] = cached
    return cached
