"""The estimators' own behaviour: parameter errors, warm starts, workers, backends."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning

from runtime.local_data import LocalData
from scheduler_host.estimators import (
    ADMMElasticNet,
    ADMMLasso,
    ADMMLinearSVC,
    ADMMLogisticRegression,
)
from scheduler_host.estimators.backends import THREADS_UP_TO_NONZEROS, resolved_backend

FEATURES, TARGETS = make_regression(n_samples=300, n_features=12, noise=1.0, random_state=3)
X_CLASS, Y_CLASS = make_classification(n_samples=300, n_features=8, random_state=3)


@pytest.mark.parametrize(
    ("estimator", "message"),
    [
        (
            ADMMLasso(alpha=-1),
            "ADMMLasso: alpha: Input should be greater than or equal to 0 (got -1)",
        ),
        (
            ADMMElasticNet(l1_ratio=1.5),
            "ADMMElasticNet: l1_ratio: Input should be less than or equal to 1 (got 1.5)",
        ),
        (ADMMLasso(tol=0), "ADMMLasso: tol: Input should be greater than 0 (got 0)"),
        (
            ADMMLasso(max_iter=0),
            "ADMMLasso: max_iter: Input should be greater than or equal to 1 (got 0)",
        ),
        (
            ADMMLasso(n_workers=0),
            "ADMMLasso: n_workers: Input should be greater than or equal to 1 (got 0)",
        ),
        (
            ADMMLasso(backend="gpu"),
            "ADMMLasso: backend: Input should be 'local', 'threads', 'processes' or 'lambda' "
            "(got 'gpu')",
        ),
        (
            ADMMLogisticRegression(C=0),
            "ADMMLogisticRegression: C: Input should be greater than 0 (got 0)",
        ),
        (
            ADMMLogisticRegression(C=float("inf")),
            "ADMMLogisticRegression: C: Input should be a finite number (got inf)",
        ),
        (ADMMLasso(backend="lambda"), "ADMMLasso: api: required with backend 'lambda'"),
        (
            ADMMLasso(backend="lambda", api="https://x.example/prod"),
            "ADMMLasso: data_uri: required with backend 'lambda'",
        ),
        (
            ADMMLasso(backend="lambda", api="https://x.example/prod", data_uri="bucket/p"),
            "ADMMLasso: data_uri: String should match pattern '^s3://[^/]+' (got 'bucket/p')",
        ),
        (
            ADMMLasso(
                backend="lambda", api="https://a.example", data_uri="s3://b/p", warm_start=True
            ),
            "ADMMLasso: warm_start: not available with backend 'lambda' (allowed: False; a "
            "submitted solve starts at 0)",
        ),
        (
            ADMMLinearSVC(penalty="elasticnet"),
            "ADMMLinearSVC: penalty: Input should be 'l1' or 'l2' (got 'elasticnet')",
        ),
    ],
)
def test_a_bad_parameter_is_named_with_its_range_and_nothing_is_fitted(
    estimator: ADMMLasso, message: str
) -> None:
    X, y = (X_CLASS, Y_CLASS) if "SVC" in message or "Logistic" in message else (FEATURES, TARGETS)
    with pytest.raises(ValueError) as raised:
        estimator.fit(X, y)
    assert str(raised.value) == message
    assert not hasattr(estimator, "coef_")


def test_three_classes_are_refused_by_name() -> None:
    with pytest.raises(ValueError) as raised:
        ADMMLogisticRegression().fit(X_CLASS, Y_CLASS % 2 + (X_CLASS[:, 0] > 1))
    assert str(raised.value) == (
        "ADMMLogisticRegression: Only binary classification is supported. y has 3 classes "
        "(allowed: exactly two)"
    )


def test_a_warm_start_begins_at_the_last_answer() -> None:
    cold = ADMMLasso(alpha=0.3, tol=1e-8, n_workers=2).fit(FEATURES, TARGETS)
    warm = ADMMLasso(alpha=0.3, tol=1e-8, n_workers=2, warm_start=True).fit(FEATURES, TARGETS)
    iterations_cold = warm.n_iter_
    warm.set_params(alpha=0.31).fit(FEATURES, TARGETS)  # the next fit starts near its answer
    again = ADMMLasso(alpha=0.31, tol=1e-8, n_workers=2).fit(FEATURES, TARGETS)
    print(f"cold {again.n_iter_} iterations, warm {warm.n_iter_}")
    assert warm.n_iter_ < again.n_iter_
    assert iterations_cold == cold.n_iter_
    np.testing.assert_allclose(warm.coef_, again.coef_, atol=1e-6)


def test_more_workers_than_rows_are_cut_to_one_row_each() -> None:
    from sklearn.linear_model import Lasso

    rows, targets = FEATURES[:7], TARGETS[:7]
    model = ADMMLasso(alpha=20.0, n_workers=50, tol=1e-6).fit(rows, targets)  # 7 workers
    reference = Lasso(alpha=20.0, tol=1e-12).fit(rows, targets)
    assert model.converged_
    np.testing.assert_allclose(model.coef_, reference.coef_, atol=1e-5)


def test_a_fit_stopped_by_max_iter_warns_and_says_so() -> None:
    with pytest.warns(ConvergenceWarning, match=r"^ADMMLasso did not converge \(max_iter 2 "):
        model = ADMMLasso(alpha=0.1, max_iter=2, tol=1e-10).fit(FEATURES, TARGETS)
    assert model.converged_ is False and model.n_iter_ == 2


def test_local_runs_threads_for_small_data_and_processes_for_large() -> None:
    small = LocalData.from_arrays(np.ones((3, 2)), np.zeros(3))
    assert resolved_backend("local", small) == "threads"
    assert resolved_backend("processes", small) == "processes"
    assert THREADS_UP_TO_NONZEROS == 4_000_000


@pytest.mark.slow
def test_process_workers_give_the_thread_workers_answer_bit_for_bit() -> None:
    threads = ADMMLogisticRegression(C=2.0, n_workers=2, backend="threads").fit(X_CLASS, Y_CLASS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # converged: no warning
        processes = ADMMLogisticRegression(C=2.0, n_workers=2, backend="processes")
        processes.fit(X_CLASS, Y_CLASS)
    np.testing.assert_array_equal(threads.coef_, processes.coef_)
    np.testing.assert_array_equal(threads.intercept_, processes.intercept_)
