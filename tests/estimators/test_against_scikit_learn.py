"""The estimators against scikit-learn's: the same parameters give the same coefficients.

Conversions are the estimators' own (scheduler_host/estimators); the references run at tight
tolerances. Everything runs on worker threads (the ``local`` backend at this size).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import ElasticNet, Lasso, LogisticRegression
from sklearn.svm import LinearSVC

from scheduler_host.estimators import (
    ADMMElasticNet,
    ADMMLasso,
    ADMMLinearSVC,
    ADMMLogisticRegression,
)

TIGHT = {"tol": 1e-8, "max_iter": 20_000}


def _regression() -> tuple[np.ndarray, np.ndarray]:
    features, targets = make_regression(
        n_samples=500, n_features=25, n_informative=8, noise=3.0, random_state=1
    )
    features[:, 4] *= 50.0  # a column in other units
    return features, targets + 12.0


def _classification() -> tuple[np.ndarray, np.ndarray]:
    return make_classification(
        n_samples=600, n_features=20, n_informative=6, weights=[0.7, 0.3], random_state=2
    )


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
def test_lasso_same_alpha_same_coefficients(fit_intercept: bool, sparse: bool) -> None:
    features, targets = _regression()
    given = sp.csr_matrix(features) if sparse else features
    ours = ADMMLasso(alpha=0.7, fit_intercept=fit_intercept, n_workers=3, **TIGHT)
    ours.fit(given, targets)
    reference = Lasso(alpha=0.7, fit_intercept=fit_intercept, tol=1e-14, max_iter=10**6)
    reference.fit(features, targets)
    assert ours.converged_
    np.testing.assert_allclose(ours.coef_, reference.coef_, rtol=0, atol=1e-6)
    assert ours.intercept_ == pytest.approx(reference.intercept_, abs=1e-6)
    assert 0 < np.count_nonzero(ours.coef_) < 25
    np.testing.assert_allclose(ours.predict(given), reference.predict(features), atol=1e-5)


def test_elastic_net_same_alpha_and_l1_ratio_same_coefficients() -> None:
    features, targets = _regression()
    ours = ADMMElasticNet(alpha=0.4, l1_ratio=0.25, n_workers=2, **TIGHT).fit(features, targets)
    reference = ElasticNet(alpha=0.4, l1_ratio=0.25, tol=1e-14, max_iter=10**6)
    reference.fit(features, targets)
    np.testing.assert_allclose(ours.coef_, reference.coef_, rtol=0, atol=1e-6)
    assert ours.intercept_ == pytest.approx(reference.intercept_, abs=1e-6)
    assert ours.score(features, targets) == pytest.approx(reference.score(features, targets))


def test_l1_logistic_same_c_same_coefficients_as_liblinear() -> None:
    features, classes = _classification()
    ours = ADMMLogisticRegression(C=0.3, l1_ratio=1.0, fit_intercept=False, n_workers=3, **TIGHT)
    ours.fit(features, classes)
    reference = LogisticRegression(
        C=0.3, l1_ratio=1.0, solver="liblinear", fit_intercept=False, tol=1e-12, max_iter=10**5
    ).fit(features, classes)
    assert ours.coef_.shape == (1, 20) and ours.intercept_.shape == (1,)
    np.testing.assert_allclose(ours.coef_, reference.coef_, rtol=0, atol=1e-6)
    assert (ours.coef_ == 0).any()
    np.testing.assert_allclose(
        ours.predict_proba(features), reference.predict_proba(features), atol=1e-6
    )
    np.testing.assert_array_equal(ours.predict(features), reference.predict(features))


@pytest.mark.parametrize("l1_ratio", [0.0, 1.0])
def test_logistic_with_an_intercept_matches_saga(l1_ratio: float) -> None:
    # liblinear would penalize the intercept; saga, like us, does not.
    features, classes = _classification()
    ours = ADMMLogisticRegression(C=0.5, l1_ratio=l1_ratio, n_workers=2, **TIGHT)
    ours.fit(features, classes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # saga's ConvergenceWarning at this tol
        reference = LogisticRegression(
            C=0.5, l1_ratio=l1_ratio, solver="saga", tol=1e-12, max_iter=10**5
        ).fit(features, classes)
    np.testing.assert_allclose(ours.coef_, reference.coef_, rtol=0, atol=1e-6)
    np.testing.assert_allclose(ours.intercept_, reference.intercept_, rtol=0, atol=1e-6)


@pytest.mark.parametrize("penalty", ["l1", "l2"])
def test_linear_svc_same_c_same_coefficients(penalty: str) -> None:
    features, classes = _classification()
    ours = ADMMLinearSVC(C=0.2, penalty=penalty, fit_intercept=False, n_workers=2, **TIGHT)
    ours.fit(features, classes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # liblinear's ConvergenceWarning at tol 1e-12 (l1)
        reference = LinearSVC(
            C=0.2, penalty=penalty, dual=False, fit_intercept=False, tol=1e-12, max_iter=10**6
        ).fit(features, classes)
    np.testing.assert_allclose(ours.coef_, reference.coef_, rtol=0, atol=1e-6)
    np.testing.assert_allclose(
        ours.decision_function(features), reference.decision_function(features), atol=1e-5
    )


def test_labels_of_any_two_classes_keep_their_names() -> None:
    features, classes = _classification()
    names = np.array(["spam", "ham"])[classes]  # sorted: 'ham' < 'spam', so 'spam' is positive
    model = ADMMLogisticRegression(C=1.0).fit(features, names)
    numeric = ADMMLogisticRegression(C=1.0).fit(features, 1 - classes)
    np.testing.assert_array_equal(model.classes_, ["ham", "spam"])
    np.testing.assert_allclose(model.coef_, numeric.coef_, atol=1e-12)
    assert set(model.predict(features)) == {"ham", "spam"}


def test_dense_columns_far_from_zero_are_centered_so_the_intercept_converges() -> None:
    # Columns with mean 100 and spread 1 make β and β₀ nearly collinear: uncentered, ADMM
    # stopped at max_iter 1000 with optimality 0.9 (scikit-learn's check_fit_idempotent data).
    rng = np.random.default_rng(0)
    features = rng.normal(loc=100.0, size=(200, 3))
    targets = features @ np.array([1.5, 0.0, -2.0]) + rng.normal(size=200)
    ours = ADMMLasso(alpha=0.05, **TIGHT).fit(features, targets)
    reference = Lasso(alpha=0.05, tol=1e-14, max_iter=10**6).fit(features, targets)
    assert ours.converged_ and ours.n_iter_ < 100
    np.testing.assert_allclose(ours.coef_, reference.coef_, rtol=0, atol=1e-6)
    assert ours.intercept_ == pytest.approx(reference.intercept_, abs=1e-4)  # μ·β: 100×
    warm = ADMMLasso(alpha=0.05, warm_start=True, **TIGHT).fit(features, targets)
    warm.fit(features, targets)  # from its own answer, moved into the centered coordinates
    assert warm.n_iter_ < ours.n_iter_  # (the duals start at 0 again: not in 1 iteration)
    np.testing.assert_allclose(warm.coef_, reference.coef_, rtol=0, atol=1e-6)
    assert warm.intercept_ == pytest.approx(reference.intercept_, abs=1e-4)
