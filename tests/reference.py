"""An independent serial reference solver for ``min_x Σ_n w_n ℓ(b_n, <a_n, x>) + h(x)``.

It shares nothing with the ADMM code path except the loss objects' values and derivatives
(checked on their own in ``test_losses.py``): it is scipy's L-BFGS-B with tight tolerances,

* on ``x`` itself with bounds ``[lower, upper]`` when ``l1 = 0`` (``h`` is then smooth on the
  box);
* on the split ``x = x⁺ - x⁻``, ``x⁺, x⁻ >= 0``, when ``l1 > 0``, where ``l1 ||x||_1`` becomes
  the linear term ``l1 Σ (x⁺ + x⁻)``. A box then becomes ``x⁺ <= max(upper, 0)`` and
  ``x⁻ <= max(-lower, 0)``. That is exact only if ``lower <= 0 <= upper``: at an optimum
  ``x⁺_j x⁻_j = 0`` (lowering both by their minimum keeps ``x`` and strictly lowers the L1
  term, and stays inside such bounds), so ``x_j`` is ``x⁺_j`` or ``-x⁻_j``, inside the box.
  A box excluding 0 would need the coupled constraint ``lower <= x⁺ - x⁻``, so it is refused.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import minimize

from runtime.local_data import LocalData
from runtime.losses import Loss, data_objective
from runtime.penalties import Penalty

_OPTIONS = {"ftol": 1e-15, "gtol": 1e-10, "maxiter": 100_000, "maxfun": 200_000, "maxcor": 30}


def reference_optimum(data: LocalData, loss: Loss, penalty: Penalty) -> tuple[np.ndarray, float]:
    """``(x*, objective(x*))`` for ``Σ_n w_n ℓ(b_n, <a_n, x>) + h(x)``.

    Parameters
    ----------
    data : LocalData
        ``A`` (n, d), ``b`` (n,), ``w`` (n,) or None.
    loss : Loss
    penalty : Penalty

    Returns
    -------
    x : np.ndarray, shape (d,)
    objective : float

    Raises
    ------
    NotImplementedError
        If ``l1 > 0`` and the box does not contain 0.
    RuntimeError
        If L-BFGS-B reports failure.
    """
    features, labels, weights = data.features, data.labels, data.weights
    num_features = data.num_features
    features_t = features.T.tocsr()

    def smooth(x: np.ndarray) -> tuple[float, np.ndarray]:
        margins = features @ x
        value, residual = loss.value_and_derivative(margins, labels, weights)
        gradient = features_t @ residual
        if penalty.l2:
            value += 0.5 * penalty.l2 * float(np.dot(x, x))
            gradient = gradient + penalty.l2 * x
        return value, gradient

    def bound(value: float) -> float | None:
        return value if math.isfinite(value) else None

    if penalty.l1 == 0:
        result = minimize(
            smooth,
            np.zeros(num_features),
            jac=True,
            method="L-BFGS-B",
            bounds=[(bound(penalty.lower), bound(penalty.upper))] * num_features,
            options=_OPTIONS,
        )
        x = np.asarray(result.x, dtype=np.float64)
    else:
        if not penalty.lower <= 0 <= penalty.upper:
            raise NotImplementedError(
                "the split reference needs lower <= 0 <= upper when l1 > 0, got "
                f"lower={penalty.lower}, upper={penalty.upper}"
            )

        def split(parts: np.ndarray) -> tuple[float, np.ndarray]:
            positive, negative = parts[:num_features], parts[num_features:]
            value, gradient = smooth(positive - negative)
            value += penalty.l1 * float(np.sum(parts))
            return value, np.concatenate([gradient + penalty.l1, -gradient + penalty.l1])

        upper_positive = bound(max(penalty.upper, 0.0))
        upper_negative = bound(max(-penalty.lower, 0.0))
        result = minimize(
            split,
            np.zeros(2 * num_features),
            jac=True,
            method="L-BFGS-B",
            bounds=[(0.0, upper_positive)] * num_features + [(0.0, upper_negative)] * num_features,
            options=_OPTIONS,
        )
        x = np.asarray(result.x[:num_features] - result.x[num_features:], dtype=np.float64)
    if not result.success and "ABNORMAL" not in str(result.message):
        raise RuntimeError(f"reference L-BFGS-B failed: {result.message}")
    return x, data_objective(data, loss, x) + penalty.value(x)


def group_lasso_optimum(
    data: LocalData, loss: Loss, *, weight: float, group_size: int, iterations: int = 20_000
) -> tuple[np.ndarray, float]:
    """``(x*, objective(x*))`` for ``Σ_n w_n ℓ(b_n, <a_n, x>) + weight Σ_g ‖x_g‖₂``.

    FISTA (Beck & Teboulle 2009) with the constant step ``1/L``,
    ``L = curvature_bound · max_n w_n · ‖A‖₂²``, and block soft thresholding written out
    here group by group (contiguous groups of ``group_size``, the last one shorter), so it
    shares nothing with :mod:`runtime.group_lasso`.

    Parameters
    ----------
    data : LocalData
        ``A`` (n, d), ``b`` (n,), ``w`` (n,) or None.
    loss : Loss
    weight : float, ``> 0``
    group_size : int, ``>= 1``
    iterations : int
        FISTA iterations (no early stop: the count is the accuracy knob).

    Returns
    -------
    x : np.ndarray, shape (d,)
    objective : float
    """
    features, labels, weights = data.features, data.labels, data.weights
    features_t = features.T.tocsr()
    groups = [slice(start, start + group_size) for start in range(0, data.num_features, group_size)]
    spectral_norm = float(np.linalg.norm(features.toarray(), 2))
    step = 1.0 / (loss.curvature_bound * data.max_weight * spectral_norm**2)

    def prox(v: np.ndarray) -> np.ndarray:
        result = np.zeros_like(v)
        for group in groups:
            norm = math.sqrt(float(np.dot(v[group], v[group])))
            if norm > step * weight:
                result[group] = v[group] * (1.0 - step * weight / norm)
        return result

    x = np.zeros(data.num_features)
    extrapolated, momentum = x.copy(), 1.0
    for _ in range(iterations):
        residual = loss.derivative(features @ extrapolated, labels, weights)
        x_next = prox(extrapolated - step * (features_t @ residual))
        momentum_next = (1.0 + math.sqrt(1.0 + 4.0 * momentum**2)) / 2.0
        extrapolated = x_next + ((momentum - 1.0) / momentum_next) * (x_next - x)
        x, momentum = x_next, momentum_next
    penalty_value = weight * sum(math.sqrt(float(np.dot(x[g], x[g]))) for g in groups)
    return x, data_objective(data, loss, x) + penalty_value


def intercept_optimum(
    data: LocalData, loss: Loss, *, l1: float, l2: float = 0.0
) -> tuple[np.ndarray, float, float]:
    """``(β*, β₀*, objective)`` for ``Σ_n w_n ℓ(b_n, <a_n, β> + β₀) + l1‖β‖₁ + (l2/2)‖β‖²``.

    scipy's L-BFGS-B on the split ``β = β⁺ - β⁻`` (``β⁺, β⁻ >= 0``), with the intercept β₀
    free and unpenalized; it shares nothing with the ADMM code but the loss's formulas.
    """
    features, labels, weights = data.features, data.labels, data.weights
    features_t = features.T.tocsr()
    num_features = data.num_features

    def split(parts: np.ndarray) -> tuple[float, np.ndarray]:
        positive, negative = parts[:num_features], parts[num_features:-1]
        beta = positive - negative
        margins = features @ beta + parts[-1]
        value, residual = loss.value_and_derivative(margins, labels, weights)
        gradient = features_t @ residual + l2 * beta
        value += l1 * float(np.sum(parts[:-1])) + 0.5 * l2 * float(beta @ beta)
        return value, np.concatenate([gradient + l1, -gradient + l1, [residual.sum()]])

    result = minimize(
        split,
        np.zeros(2 * num_features + 1),
        jac=True,
        method="L-BFGS-B",
        bounds=[(0.0, None)] * (2 * num_features) + [(None, None)],
        options=_OPTIONS,
    )
    if not result.success and "ABNORMAL" not in str(result.message):
        raise RuntimeError(f"reference L-BFGS-B failed: {result.message}")
    beta = np.asarray(result.x[:num_features] - result.x[num_features:-1], dtype=np.float64)
    intercept = float(result.x[-1])
    objective = (
        loss.value(features @ beta + intercept, labels, weights)
        + l1 * float(np.abs(beta).sum())
        + 0.5 * l2 * float(beta @ beta)
    )
    return beta, intercept, objective
