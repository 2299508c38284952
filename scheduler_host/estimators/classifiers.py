"""``ADMMLogisticRegression`` and ``ADMMLinearSVC``: binary linear classifiers.

Conversions to the averaged objective ``(1/N) Σ ℓ + l1‖β‖₁ + (l2/2)‖β‖²``:

* scikit-learn's ``LogisticRegression`` minimizes ``C Σ_n log(1 + exp(−y_n m_n)) +
  l1_ratio‖β‖₁ + ((1 − l1_ratio)/2)‖β‖²``; divided by ``C N``: ``l1 = l1_ratio/(C N)``,
  ``l2 = (1 − l1_ratio)/(C N)``. With ``fit_intercept=False`` the same ``C`` gives the same
  coefficients as ``LogisticRegression(l1_ratio=1, solver="liblinear")``; with an intercept,
  liblinear penalizes the intercept and we do not (as ``lbfgs`` and ``saga`` do not).
* ``LinearSVC(loss="squared_hinge")`` minimizes ``C Σ_n max(0, 1 − y_n m_n)² + r(β)`` with
  ``r = ½‖β‖²`` (``penalty="l2"``) or ``‖β‖₁`` (``"l1"``); divided by ``C N`` likewise.

The labels are any two classes; ``classes_`` sorts them and the second is the positive one,
as in scikit-learn.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import expit
from sklearn.base import ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from scheduler_host.estimators.backends import Backend
from scheduler_host.estimators.base import ADMMLinearModel, keep_parameters
from scheduler_host.estimators.loading import classes_of
from scheduler_host.estimators.parameters import LinearSVCParameters, LogisticParameters
from scheduler_host.model_file import Model


class _ADMMBinaryClassifier(ClassifierMixin, ADMMLinearModel):
    classes_: np.ndarray

    def fit(self, X: Any, y: Any) -> Any:
        """Fit to ``X`` (n, d), dense or sparse, and labels ``y`` (n,) of two classes.

        Raises
        ------
        ValueError
            For a parameter out of its range (naming it), or labels of other than two classes.
        """
        features, labels = self._validate_for_fit(X, y, y_numeric=False)
        check_classification_targets(labels)
        classes = np.unique(labels)
        if classes.size != 2:
            # scikit-learn's checks look for its own phrase; the rest says what was found.
            raise ValueError(
                f"{type(self).__name__}: Only binary classification is supported. y has "
                f"{classes.size} class{'' if classes.size == 1 else 'es'} (allowed: exactly two)"
            )
        self.classes_ = classes
        result = self._solve(features, np.searchsorted(classes, labels).astype(np.float64))
        self.coef_ = result.x.reshape(1, -1)
        self.intercept_ = np.array([0.0 if result.intercept is None else result.intercept])
        self.n_iter_ = np.array([result.iterations])
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """``X β + β₀``, shape (n,): positive for ``classes_[1]``."""
        return self._linear_scores(X)

    def predict(self, X: Any) -> np.ndarray:
        """The class of each row, shape (n,)."""
        check_is_fitted(self)
        return self.classes_[(self.decision_function(X) > 0).astype(int)]

    def _penalty_weights(self, parameters: Any, num_samples: int) -> tuple[float, float]:
        share = self._l1_share(parameters)
        scale = parameters.C * num_samples
        return share / scale, (1.0 - share) / scale

    def _l1_share(self, parameters: Any) -> float:
        raise NotImplementedError

    def _set_fitted(self, model: Model) -> None:
        self.classes_ = classes_of(model)
        self.coef_ = model.coefficients.reshape(1, -1)
        self.intercept_ = np.array([model.file.intercept or 0.0])
        self.n_iter_ = np.array([model.file.iterations])

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False  # binary: the losses take ±1 labels
        return tags


_COMMON_DOC = """
    fit_intercept : bool, default=True
        Fit an unpenalized intercept.
    tol : float, default=1e-4
        ADMM's residual tolerances on the averaged objective, in (0, 1]; the answer must
        also pass the optimality check at ``10·tol``.
    max_iter : int, default=1000
        ADMM iterations at most, in [1, 100000].
    warm_start : bool, default=False
        Start from the previous fit's coefficients.
    n_workers : int, default=1
        W, the number of workers (each gets a contiguous share of the rows).
    backend : {"local", "threads", "processes", "lambda"}, default="local"
        Where the workers run (:mod:`scheduler_host.estimators.backends`): ``lambda`` on
        the Lambda workers of a deployed stack.
    api : str, optional
        lambda: the stack's API URL (``ApiUrl``), e.g. ``https://<id>.execute-api...``.
    data_uri : str, optional
        lambda: an ``s3://bucket/prefix`` (the stack's bucket) for the fits' shards.
    region : str, optional
        lambda: the API's AWS region (default: the AWS configuration's).

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
    coef_ : ndarray of shape (1, n_features)
    intercept_ : ndarray of shape (1,)
    n_iter_ : ndarray of shape (1,)
        ADMM iterations.
    objective_ : float
        The averaged objective at the answer.
    converged_ : bool
        Whether the residual rule held and the answer passed the optimality check.
"""


class ADMMLogisticRegression(_ADMMBinaryClassifier):
    __doc__ = (
        """Binary logistic regression with an elastic-net penalty, scikit-learn's
    ``LogisticRegression``.

    Parameters
    ----------
    C : float, default=1.0
        Inverse regularization strength, > 0.
    l1_ratio : float, default=0.0
        The L1 share of the penalty, in [0, 1] (scikit-learn's default 0 is the L2 penalty;
        1 is the L1-logistic regression of the paper).
"""
        + _COMMON_DOC
    )

    _loss = "logistic"
    _parameters = LogisticParameters

    def __init__(
        self,
        C: float = 1.0,
        *,
        l1_ratio: float = 0.0,
        fit_intercept: bool = True,
        tol: float = 1e-4,
        max_iter: int = 1000,
        warm_start: bool = False,
        n_workers: int = 1,
        backend: Backend = "local",
        api: str | None = None,
        data_uri: str | None = None,
        region: str | None = None,
    ) -> None:
        keep_parameters(self, locals())

    def _l1_share(self, parameters: Any) -> float:
        return float(parameters.l1_ratio)

    @classmethod
    def _parameters_for(cls, l1: float, l2: float, num_samples: int) -> dict[str, Any]:
        total = l1 + l2  # = 1/(C N)
        if not total:
            raise ValueError(
                "ADMMLogisticRegression: the model has no penalty (allowed: C < inf, i.e. "
                "l1 + l2 > 0)"
            )
        return {"C": 1.0 / (total * num_samples), "l1_ratio": l1 / total}

    def predict_proba(self, X: Any) -> np.ndarray:
        """``[P(classes_[0]), P(classes_[1])]`` per row, shape (n, 2)."""
        positive = expit(self.decision_function(X))
        return np.column_stack([1.0 - positive, positive])

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """The log of :meth:`predict_proba`, computed without underflow."""
        scores = self.decision_function(X)
        return np.column_stack([-np.logaddexp(0.0, scores), -np.logaddexp(0.0, -scores)])


class ADMMLinearSVC(_ADMMBinaryClassifier):
    __doc__ = (
        """The L2-loss (squared hinge) linear SVM, scikit-learn's ``LinearSVC``.

    Parameters
    ----------
    C : float, default=1.0
        Inverse regularization strength, > 0.
    penalty : {"l2", "l1"}, default="l2"
        ``½‖β‖²`` or ``‖β‖₁``.
"""
        + _COMMON_DOC
    )

    _loss = "squared_hinge"
    _parameters = LinearSVCParameters

    def __init__(
        self,
        C: float = 1.0,
        *,
        penalty: str = "l2",
        fit_intercept: bool = True,
        tol: float = 1e-4,
        max_iter: int = 1000,
        warm_start: bool = False,
        n_workers: int = 1,
        backend: Backend = "local",
        api: str | None = None,
        data_uri: str | None = None,
        region: str | None = None,
    ) -> None:
        keep_parameters(self, locals())

    def _l1_share(self, parameters: Any) -> float:
        return 1.0 if parameters.penalty == "l1" else 0.0

    @classmethod
    def _parameters_for(cls, l1: float, l2: float, num_samples: int) -> dict[str, Any]:
        if (l1 > 0) == (l2 > 0):
            raise ValueError(
                f"ADMMLinearSVC: the model's penalty has l1 = {l1:g} and l2 = {l2:g} per sample "
                "(allowed: exactly one of them > 0)"
            )
        return {"C": 1.0 / ((l1 + l2) * num_samples), "penalty": "l1" if l1 else "l2"}
