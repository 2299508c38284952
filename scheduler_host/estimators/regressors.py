"""``ADMMLasso`` and ``ADMMElasticNet``: scikit-learn's objectives, solved by consensus ADMM.

scikit-learn's ``ElasticNet`` minimizes

    (1/(2N)) ‖y − Xβ − β₀‖² + α·l1_ratio‖β‖₁ + (α(1 − l1_ratio)/2)‖β‖²,

(``Lasso``: ``l1_ratio = 1``), which is our averaged squared loss with ``l1 = α·l1_ratio``
and ``l2 = α(1 − l1_ratio)``: the same ``alpha`` gives the same coefficients.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import RegressorMixin

from scheduler_host.estimators.backends import Backend
from scheduler_host.estimators.base import ADMMLinearModel, keep_parameters
from scheduler_host.estimators.parameters import ElasticNetParameters, LassoParameters
from scheduler_host.model_file import Model


class _ADMMRegressor(RegressorMixin, ADMMLinearModel):
    _loss = "squared"

    def fit(self, X: Any, y: Any) -> Any:
        """Fit to ``X`` (n, d), dense or sparse, and real targets ``y`` (n,).

        Raises
        ------
        ValueError
            For a parameter out of its range (naming it) or unusable data.
        """
        features, targets = self._validate_for_fit(X, y, y_numeric=True)
        result = self._solve(features, targets)
        self.coef_ = result.x
        self.intercept_ = 0.0 if result.intercept is None else result.intercept
        self.n_iter_ = result.iterations
        return self

    def predict(self, X: Any) -> np.ndarray:
        """``X β + β₀``, shape (n,)."""
        return self._linear_scores(X)

    def _set_fitted(self, model: Model) -> None:
        self.coef_ = model.coefficients
        self.intercept_ = model.file.intercept or 0.0
        self.n_iter_ = model.file.iterations


class ADMMElasticNet(_ADMMRegressor):
    """Linear regression with a combined L1 and L2 penalty, scikit-learn's ``ElasticNet``.

    Parameters
    ----------
    alpha : float, default=1.0
        The penalty's weight, ``>= 0``.
    l1_ratio : float, default=0.5
        The L1 share of it, in [0, 1].
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
    coef_ : ndarray of shape (n_features,)
    intercept_ : float
    n_iter_ : int
        ADMM iterations.
    objective_ : float
        The averaged objective at the answer.
    converged_ : bool
        Whether the residual rule held and the answer passed the optimality check.
    """

    _parameters = ElasticNetParameters

    def __init__(
        self,
        alpha: float = 1.0,
        *,
        l1_ratio: float = 0.5,
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

    def _penalty_weights(self, parameters: Any, num_samples: int) -> tuple[float, float]:
        alpha, ratio = parameters.alpha, parameters.l1_ratio
        return alpha * ratio, alpha * (1.0 - ratio)

    @classmethod
    def _parameters_for(cls, l1: float, l2: float, num_samples: int) -> dict[str, Any]:
        alpha = l1 + l2
        return {"alpha": alpha, "l1_ratio": l1 / alpha if alpha else 1.0}


class ADMMLasso(_ADMMRegressor):
    """Linear regression with an L1 penalty, scikit-learn's ``Lasso``:
    ``(1/(2N))‖y − Xβ − β₀‖² + α‖β‖₁``.

    Parameters and attributes as :class:`ADMMElasticNet`, without ``l1_ratio``.
    """

    _parameters = LassoParameters

    def __init__(
        self,
        alpha: float = 1.0,
        *,
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

    def _penalty_weights(self, parameters: Any, num_samples: int) -> tuple[float, float]:
        return parameters.alpha, 0.0

    @classmethod
    def _parameters_for(cls, l1: float, l2: float, num_samples: int) -> dict[str, Any]:
        if l2:
            raise ValueError(
                f"ADMMLasso: the model has an L2 penalty (l2 = {l2:g} per sample) "
                "(allowed: none; load it with ADMMElasticNet)"
            )
        return {"alpha": l1}
