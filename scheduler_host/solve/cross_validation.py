"""K-fold cross-validation over a path of λ1, as glmnet's ``cv.glmnet`` reports it.

Fold k of worker w is the rows of its shard whose place in the shard is k modulo K
(:func:`runtime.rows.split_holdout`): no row moves. For each fold, one path on one set of
warm workers (:func:`scheduler_host.solve.path.run_path` with a holdout) trains on the other
folds and reports the loss on fold k at every λ.

Each fold's problem is the whole problem's on fewer rows: with the loss summed over
``N_k`` training rows instead of N, the same λ1 would weigh the penalty ``N/N_k`` times more,
so the fold solves ``λ1·N_k/N`` (glmnet averages the loss, which comes to the same). Its error
at λ is the mean loss per held-out row; over the folds (Friedman, Hastie & Tibshirani 2010,
and glmnet's ``cvm``/``cvsd``):

    cvm(λ) = Σ_k s_k e_k(λ) / N,   cvsd(λ) = sqrt(Σ_k s_k (e_k(λ) − cvm(λ))² / N / (K − 1)),

with ``s_k`` the size of fold k. ``λ_min`` minimizes cvm; ``λ_1se`` is the largest λ whose
cvm is within one cvsd of the minimum.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from runtime.specs import Holdout
from scheduler_host.assignments import resolve_dataset
from scheduler_host.solve.options import SchedulerOptions, SolveFailed
from scheduler_host.solve.path import PathResult, run_path
from scheduler_host.solve_spec import SolveSpec
from scheduler_host.spawners.base import Spawner


@dataclass(frozen=True)
class CrossValidation:
    """Held-out errors per fold and λ (``errors`` shape (K, n)), and glmnet's summary."""

    folds: int
    lambdas: tuple[float, ...]
    errors: np.ndarray = field(repr=False)
    cvm: np.ndarray = field(repr=False)
    cvsd: np.ndarray = field(repr=False)
    lambda_min: float
    lambda_1se: float
    converged: bool
    fold_paths: tuple[PathResult, ...] = field(repr=False)


def fold_sizes(rows: list[tuple[int, int]], folds: int) -> np.ndarray:
    """How many rows each fold holds: per shard, the places ``k, k + K, ...`` below its size."""
    sizes = np.zeros(folds, dtype=np.int64)
    for start, stop in rows:
        count = stop - start
        sizes += [max(0, (count - fold + folds - 1) // folds) for fold in range(folds)]
    return sizes


def summarize(errors: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """glmnet's ``(cvm, cvsd)`` of per-fold errors (K, n) weighted by the fold sizes (K,)."""
    weights = sizes / sizes.sum()
    cvm = weights @ errors
    cvsd = np.sqrt((weights @ (errors - cvm) ** 2) / (errors.shape[0] - 1))
    return cvm, cvsd


def cross_validate(
    spec: SolveSpec,
    *,
    lambdas: list[float],
    folds: int,
    spawner_for: Callable[[int], Spawner],
    options: SchedulerOptions | None = None,
) -> CrossValidation:
    """The K fold paths at ``lambdas`` (decreasing), each on its own warm workers.

    Raises
    ------
    ValueError
        ``"cv: must be between 2 and 100, got 1"``, or a fold without rows (``"cv: fold 3
        would be empty: the smallest shard has 2 rows (allowed: at most 2 folds)"``).
    SolveFailed
        As :func:`run_path`.
    """
    if not 2 <= folds <= 100:
        raise ValueError(f"cv: must be between 2 and 100, got {folds}")
    try:
        resolved, rows = resolve_dataset(spec)
    except (ValueError, OSError) as error:
        raise SolveFailed(str(error)) from None
    smallest = min(stop - start for start, stop in rows)
    if smallest < folds:
        raise ValueError(
            f"cv: fold {smallest} would be empty: the smallest shard has {smallest} rows "
            f"(allowed: at most {smallest} folds)"
        )
    sizes = fold_sizes(rows, folds)
    paths = []
    for fold in range(folds):
        share = (resolved.samples - sizes[fold]) / resolved.samples
        paths.append(
            run_path(
                spec,
                spawner=spawner_for(fold),
                l1_values=[value * share for value in lambdas],
                holdout=Holdout(folds=folds, fold=fold),
                options=options,
            )
        )
    errors = np.array(
        [
            [(point.holdout_loss or 0.0) / sizes[k] for point in path.points]
            for k, path in enumerate(paths)
        ]
    )
    cvm, cvsd = summarize(errors, sizes)
    best = int(np.argmin(cvm))
    within = [
        value for value, mean in zip(lambdas, cvm, strict=True) if mean <= cvm[best] + cvsd[best]
    ]
    return CrossValidation(
        folds=folds,
        lambdas=tuple(lambdas),
        errors=errors,
        cvm=cvm,
        cvsd=cvsd,
        lambda_min=lambdas[best],
        lambda_1se=max(within),
        converged=all(point.converged for path in paths for point in path.points),
        fold_paths=tuple(paths),
    )
