"""Cross-validation over a path against the same folds fitted by scikit-learn's Lasso.

The folds are the rows of each worker's shard at places k, k + K, ... (no row moves); here
they are recomputed from the shard ranges, each fold's training rows fitted by ``Lasso``
(whose averaged loss is the fold's problem at the same alpha), and glmnet's cvm, cvsd,
λ_min and λ_1se computed from the held-out squared errors, independently.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import make_regression
from sklearn.linear_model import Lasso

from runtime.generator import row_ranges
from scheduler_host.estimators.backends import IN_PROCESS
from scheduler_host.solve.cross_validation import cross_validate, fold_sizes
from scheduler_host.spawners.threads import ThreadSpawner
from tests.solve.svmlight import spec_on_shards

TIGHT = {"eps_primal": 1e-9, "eps_dual": 1e-9, "max_iter": 3000}


def test_cv_errors_and_lambdas_match_scikit_learn_on_the_same_folds(tmp_path: Path) -> None:
    features, targets = make_regression(
        n_samples=301, n_features=30, n_informative=5, noise=20.0, random_state=7
    )
    workers, folds = 3, 4
    spec = spec_on_shards(
        tmp_path,
        features,
        targets,
        workers=workers,
        loss="squared",
        sample_weights="uniform",
        fit_intercept=True,
        **TIGHT,
    )
    lambdas = list(np.geomspace(30.0, 0.05, 8))
    result = cross_validate(
        spec,
        lambdas=lambdas,
        folds=folds,
        spawner_for=lambda fold: ThreadSpawner(),
        options=IN_PROCESS,
    )
    place = np.concatenate([np.arange(stop - start) for start, stop in row_ranges(301, workers)])
    errors = np.zeros((folds, len(lambdas)))
    for fold in range(folds):
        held = place % folds == fold
        for j, alpha in enumerate(lambdas):
            model = Lasso(alpha=alpha, tol=1e-14, max_iter=10**6)
            model.fit(features[~held], targets[~held])
            residual = model.predict(features[held]) - targets[held]
            errors[fold, j] = 0.5 * np.mean(residual**2)
    np.testing.assert_allclose(result.errors, errors, rtol=1e-6)
    sizes = np.array([np.sum(place % folds == fold) for fold in range(folds)])
    assert fold_sizes(row_ranges(301, workers), folds).tolist() == sizes.tolist()
    weights = sizes / sizes.sum()
    cvm = weights @ errors
    cvsd = np.sqrt(weights @ (errors - cvm) ** 2 / (folds - 1))
    np.testing.assert_allclose(result.cvm, cvm, rtol=1e-6)
    np.testing.assert_allclose(result.cvsd, cvsd, rtol=1e-5)
    best = int(np.argmin(cvm))
    assert result.lambda_min == lambdas[best]
    assert result.lambda_1se == max(
        value for value, mean in zip(lambdas, cvm, strict=True) if mean <= cvm[best] + cvsd[best]
    )
    assert result.lambda_1se >= result.lambda_min and result.converged
    assert 0 < best < len(lambdas) - 1  # a real minimum inside the path, not at an end


def test_more_folds_than_rows_in_a_shard_are_refused(tmp_path: Path) -> None:
    spec = spec_on_shards(tmp_path, np.eye(6), np.arange(6.0), workers=2, loss="squared", **TIGHT)
    with pytest.raises(ValueError) as raised:
        cross_validate(spec, lambdas=[1.0], folds=4, spawner_for=lambda fold: ThreadSpawner())
    assert str(raised.value) == (
        "cv: fold 3 would be empty: the smallest shard has 3 rows (allowed: at most 3 folds)"
    )
