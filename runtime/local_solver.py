"""The worker's x-update of consensus ADMM (Algorithm 2, step 3; Boyd et al. 2011, eq. 7.6):

    x_w = argmin_x F(x),   F(x) = Σ_n w_n ℓ(b_n, <a_n, x>) + (ρ/2) ||x - c||²,

with ``c = z - u_w`` the ``center``. ``F`` is smooth and ρ-strongly convex, so it is minimized
by accelerated gradient descent: FISTA (Beck & Teboulle 2009) with

* backtracking on the Lipschitz estimate ``L`` that may also shrink it (×0.9 per accepted step,
  ×2 per rejected trial), so steps stay as long as the local curvature allows;
* the strongly convex momentum of Chambolle & Pock (2016, Acta Numerica, Alg. 5) with
  ``q = ρ/L``, which tends to the constant momentum ``(1 - √q)/(1 + √q)``;
* the gradient restart of O'Donoghue & Candès (2015): momentum is dropped whenever
  ``<∇F(y_k), x_{k+1} - x_k> > 0``, which adapts to curvature larger than ρ.

Cost per iteration: one ``A^T r`` and one ``A g`` product. Margins at the extrapolated point
and at every backtracking trial are linear combinations of margins already known
(``A y = A x + β (A x - A x_prev)``, ``A (y - g/L) = A y - (A g)/L``), so a rejected trial costs
only one pass over the rows (:meth:`Loss.value_change`, which computes ``F``'s change without
cancellation, so the sufficient-decrease test stays exact near the optimum). ``A^T`` is taken
from :attr:`LocalData.features_transposed` (CSR, built on first use and cached on the data
object, so later calls of an ADMM run reuse it). Row-sized work arrays are allocated once per
call and updated in place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from runtime.local_data import LocalData
from runtime.losses import SOLVER_NEEDS, Loss
from runtime.registry import require
from runtime.specs import LocalSolverSpec

StopReason = Literal["gradient", "relative_decrease", "max_iterations"]

_GROW = 2.0  # L ← 2L after a rejected trial
_SHRINK = 0.9  # L ← 0.9L after an accepted step
# Margins are updated by linear recurrences; recompute them exactly this often so rounding
# errors cannot accumulate over long runs.
_REFRESH_PERIOD = 100


@dataclass(frozen=True)
class LocalSolveReport:
    """Result of :func:`solve_local`.

    Attributes
    ----------
    x : np.ndarray, shape (d,)
        The returned point (the one at which the stopping test passed).
    iterations : int
        Gradient steps taken.
    gradient_norm : float
        ``||∇F(x)||_2`` at the returned ``x``.
    objective : float
        ``F(x)`` at the returned ``x``.
    lipschitz : float
        The current Lipschitz estimate (the last accepted one, possibly already shrunk by 0.9
        for the next step); pass it as ``lipschitz0`` to the next call.
    stop_reason : {"gradient", "relative_decrease", "max_iterations"}
        Which test ended the solve.
    """

    x: np.ndarray
    iterations: int
    gradient_norm: float
    objective: float
    lipschitz: float
    stop_reason: StopReason = "gradient"

    @property
    def converged(self) -> bool:
        """True unless the iteration cap ended the solve."""
        return self.stop_reason != "max_iterations"


def solve_local(
    data: LocalData,
    loss: Loss,
    *,
    rho: float,
    center: np.ndarray,
    x0: np.ndarray,
    options: LocalSolverSpec,
    lipschitz0: float | None = None,
) -> LocalSolveReport:
    """Minimize ``F(x) = Σ_n w_n ℓ(b_n, <a_n, x>) + (ρ/2)||x - c||²`` from ``x0``.

    Parameters
    ----------
    data : LocalData
        ``A`` (n, d), ``b`` (n,), ``w`` (n,) or None.
    loss : Loss
        The per-sample loss ``ℓ``.
    rho : float
        ADMM penalty ``ρ > 0``; also ``F``'s strong convexity constant.
    center : np.ndarray, shape (d,)
        ``c = z - u_w``.
    x0 : np.ndarray, shape (d,)
        Warm start (the previous ``x_w``).
    options : LocalSolverSpec
        Stopping rule: at least ``min_iterations`` (``K_w``) gradient steps, then stop when
        ``||∇F||_2 <= grad_tol`` (``ε_g``), when a step decreases ``F`` by at most
        ``rel_tol · max(1, |F|)`` (``ε_f``), or after ``max_iterations``. The gradient test
        is applied at the extrapolated point ``y_k`` whose gradient each iteration computes
        anyway, and that point is returned; the relative
        decrease is measured from ``y_k`` to ``x_{k+1} = y_k - ∇F(y_k)/L`` (a pure gradient
        step, so it is never negative despite FISTA's non-monotone ``F(x_k)``).
    lipschitz0 : float, optional
        Initial Lipschitz estimate (e.g. the previous report's ``lipschitz``). Default: the
        lower bound ``ρ + curvature_bound · max_n w_n · max_j ||A e_j||²``; backtracking
        raises it as needed.

    Returns
    -------
    LocalSolveReport

    Raises
    ------
    TypeError
        If ``loss`` lacks one of :data:`runtime.losses.SOLVER_NEEDS`.
    ValueError
        If ``rho`` or ``lipschitz0`` is not a finite positive number, or ``center``/``x0``
        are not finite vectors of shape (d,).
    """
    num_features = data.num_features
    require(loss, SOLVER_NEEDS, role="loss", solver="the local FISTA solver")
    _check_inputs(rho, center, x0, num_features, lipschitz0)
    features = data.features
    features_t = data.features_transposed
    labels, weights = data.labels, data.weights
    lipschitz = _initial_lipschitz(data, loss, rho) if lipschitz0 is None else float(lipschitz0)

    # Row-sized buffers, reused every iteration (fresh megabyte temporaries cost page faults).
    num_samples = data.num_samples
    margins_x: np.ndarray = features @ np.asarray(x0, dtype=np.float64)  # A x_k
    margins_y: np.ndarray = margins_x.copy()  # A y_k
    margins_new: np.ndarray = np.empty(num_samples)  # A x_{k+1} (trial)
    residual = np.empty(num_samples)  # r at y_k
    workspace = np.empty(num_samples)

    x = np.array(x0, dtype=np.float64)  # x_k
    y = x.copy()  # y_k, the extrapolated point
    momentum_t = 1.0
    iterations = 0
    while True:
        # F and ∇F at y_k.
        loss_y, _ = loss.value_and_derivative(
            margins_y, labels, weights, out=residual, workspace=workspace
        )
        offset_y = y - center
        offset_sq = float(np.dot(offset_y, offset_y))
        objective_y = loss_y + 0.5 * rho * offset_sq
        gradient = features_t @ residual
        gradient += rho * offset_y
        gradient_sq = float(np.dot(gradient, gradient))
        if iterations >= options.min_iterations and math.sqrt(gradient_sq) <= options.grad_tol:
            return LocalSolveReport(
                y, iterations, math.sqrt(gradient_sq), objective_y, lipschitz, "gradient"
            )

        # Backtracking: accept x_{k+1} = y_k - g/L once F(x_{k+1}) - F(y_k) <= -||g||²/(2L).
        # The change of F is computed directly (Loss.value_change, and ||y - g/L - c||²
        # expanded), not as a difference of two values, so the test stays exact near the
        # optimum, where F's rounding error exceeds the decrease being tested.
        gradient_margins = features @ gradient
        offset_dot_gradient = float(np.dot(offset_y, gradient))
        lipschitz_before, trials = lipschitz, 0
        while True:
            step = 1.0 / lipschitz
            np.multiply(gradient_margins, -step, out=margins_new)  # δ = A(x_{k+1} - y_k)
            change = loss.value_change(
                margins_y, margins_new, labels, weights, workspace=workspace
            ) + rho * step * (0.5 * step * gradient_sq - offset_dot_gradient)
            if change <= -0.5 * step * gradient_sq:
                break
            trials += 1
            if trials > _MAX_BACKTRACKS:
                # No step decreases F measurably: y is the optimum to rounding (a forced
                # min_iterations gets here). Growing L further would only overflow it.
                return _final_report(
                    data,
                    loss,
                    rho=rho,
                    center=center,
                    x=y,
                    iterations=iterations,
                    lipschitz=lipschitz_before,
                    reason="relative_decrease",
                )
            lipschitz *= _GROW
        margins_new += margins_y
        objective_new = objective_y + change
        x_new = y - step * gradient
        iterations += 1

        relative_stop = -change <= options.rel_tol * max(1.0, abs(objective_new))
        if iterations >= options.min_iterations and (
            relative_stop or iterations >= options.max_iterations
        ):
            reason: StopReason = "relative_decrease" if relative_stop else "max_iterations"
            return _final_report(
                data,
                loss,
                rho=rho,
                center=center,
                x=x_new,
                iterations=iterations,
                lipschitz=lipschitz,
                reason=reason,
            )

        # Momentum (Chambolle & Pock 2016, Alg. 5 with μ = ρ), or a gradient restart.
        step_taken = x_new - x
        if float(np.dot(gradient, step_taken)) > 0.0:
            momentum_t, beta = 1.0, 0.0
        else:
            q = min(rho / lipschitz, 1.0)
            shrink = 1.0 - q * momentum_t * momentum_t
            t_next = 0.5 * (shrink + math.sqrt(shrink * shrink + 4.0 * momentum_t * momentum_t))
            beta = (momentum_t - 1.0) / t_next * (1.0 - t_next * q) / (1.0 - q) if q < 1 else 0.0
            momentum_t = t_next
        y = x_new + beta * step_taken
        if iterations % _REFRESH_PERIOD == 0:
            # Both afresh: the recurrence below from an exact A x_{k+1} and the drifted A x_k
            # would make the drift a velocity, which the momentum integrates (by ~1/(1 - β)
            # per refresh: to a wrong gradient test on long, ill-conditioned solves).
            margins_new = features @ x_new
            margins_y[:] = features @ y
        else:
            # A y_{k+1} = A x_{k+1} + β (A x_{k+1} - A x_k), into the buffer A y_k no longer needs.
            np.subtract(margins_new, margins_x, out=margins_y)
            margins_y *= beta
            margins_y += margins_new
        x = x_new
        margins_x, margins_new = margins_new, margins_x
        lipschitz *= _SHRINK


#: Doublings of L (a factor of 2^50 ≈ 1e15) without a measurable decrease end the solve.
_MAX_BACKTRACKS = 50


def _final_report(
    data: LocalData,
    loss: Loss,
    *,
    rho: float,
    center: np.ndarray,
    x: np.ndarray,
    iterations: int,
    lipschitz: float,
    reason: StopReason,
) -> LocalSolveReport:
    """The report at ``x``, with ``F`` and ``∇F`` computed afresh from ``A x``."""
    margins = data.features @ x
    value, residual = loss.value_and_derivative(margins, data.labels, data.weights)
    offset = x - center
    gradient = data.features_transposed @ residual + rho * offset
    objective = value + 0.5 * rho * float(np.dot(offset, offset))
    return LocalSolveReport(
        x, iterations, float(np.linalg.norm(gradient)), objective, lipschitz, reason
    )


def _initial_lipschitz(data: LocalData, loss: Loss, rho: float) -> float:
    """``ρ + curvature_bound · max_n w_n · max_j ||A e_j||²``, a lower bound on ``F``'s ``L``."""
    if data.nnz == 0:
        return rho
    column_sq_norms = np.bincount(
        data.features.indices, weights=data.features.data**2, minlength=data.num_features
    )
    return rho + loss.curvature_bound * data.max_weight * float(np.max(column_sq_norms))


def _check_inputs(
    rho: float,
    center: np.ndarray,
    x0: np.ndarray,
    num_features: int,
    lipschitz0: float | None,
) -> None:
    if not (rho > 0 and math.isfinite(rho)):
        raise ValueError(f"rho must be a finite number > 0, got {rho}")
    for name, vector in (("center", center), ("x0", x0)):
        if np.shape(vector) != (num_features,):
            raise ValueError(
                f"{name} must have shape ({num_features},) to match the data, "
                f"got {np.shape(vector)}"
            )
        if not np.all(np.isfinite(vector)):
            raise ValueError(f"{name} must be finite (found NaN or inf)")
    if lipschitz0 is not None and not (lipschitz0 > 0 and math.isfinite(lipschitz0)):
        raise ValueError(f"lipschitz0 must be a finite number > 0, got {lipschitz0}")
