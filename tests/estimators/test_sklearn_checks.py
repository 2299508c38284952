"""scikit-learn's own estimator checks (``sklearn.utils.estimator_checks``) on the four
estimators, as ``check_estimator`` runs them: every check, no exclusion."""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from scheduler_host.estimators import (
    ADMMElasticNet,
    ADMMLasso,
    ADMMLinearSVC,
    ADMMLogisticRegression,
)

ESTIMATORS = [ADMMLogisticRegression(), ADMMLasso(), ADMMElasticNet(), ADMMLinearSVC()]


@parametrize_with_checks(ESTIMATORS)
def test_scikit_learn_estimator_checks(estimator, check) -> None:  # type: ignore[no-untyped-def]
    check(estimator)
