"""What the four estimators share: validating, fitting on workers, and the fitted state.

Every estimator solves ``(1/N) Σ_n ℓ(b_n, <a_n, β> + β₀) + l1‖β‖₁ + (l2/2)‖β‖²``, the
average loss (``sample_weights='uniform'``), so that the stopping tolerances mean the same
at every N; each one converts its scikit-learn parameters to ``l1`` and ``l2``
(:meth:`ADMMLinearModel._penalty_weights`) so that the same parameters give the same
coefficients as scikit-learn.

``tol`` sets the ADMM residual tolerances ``eps_primal = eps_dual = tol`` on that averaged
problem, and the check at the stop ``eps_kkt = KKT_PER_TOL · tol``: a fit that ends without
both (``max_iter``) keeps its coefficients, says ``converged_ = False`` and warns with a
:class:`~sklearn.exceptions.ConvergenceWarning` naming the reason, as scikit-learn does.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted, validate_data

from runtime.local_data import LocalData
from scheduler_host.estimators.backends import FitOutcome, FitRequest, solve_locally
from scheduler_host.estimators.lambda_backend import solve_on_lambda
from scheduler_host.estimators.loading import averaged_weights, load_model_for
from scheduler_host.estimators.parameters import CommonParameters, validated
from scheduler_host.model_file import Model
from scheduler_host.solve import SolveFailed

#: The check at the stop, ``eps_kkt``, for a given ``tol``: the least subgradient of the
#: averaged objective at the answer must be below ``KKT_PER_TOL · tol`` in every coordinate
#: (relative to max(1, |∂_i f(0)|)).
KKT_PER_TOL = 10.0
#: scikit-learn accepts these sparse formats; all become CSR for the shards.
SPARSE_FORMATS = ("csr", "csc", "coo")


def keep_parameters(estimator: BaseEstimator, given: dict[str, Any]) -> None:
    """Store ``__init__``'s arguments (its ``locals()``) unchanged, as scikit-learn requires:
    validation is ``fit``'s job."""
    for name, value in given.items():
        if name not in ("self", "__class__"):
            setattr(estimator, name, value)


class ADMMLinearModel(BaseEstimator):
    """A linear model fitted by consensus ADMM; subclasses name the loss and the penalty."""

    _loss: ClassVar[str]
    _parameters: ClassVar[type[CommonParameters]]

    # Set by fit.
    coef_: np.ndarray
    intercept_: Any
    n_features_in_: int

    def _penalty_weights(self, parameters: Any, num_samples: int) -> tuple[float, float]:
        """``(l1, l2)`` of the averaged objective for the estimator's own parameters."""
        raise NotImplementedError

    @classmethod
    def _parameters_for(cls, l1: float, l2: float, num_samples: int) -> dict[str, Any]:
        """The inverse of :meth:`_penalty_weights`: the parameters of an averaged ``(l1, l2)``.

        Raises
        ------
        ValueError
            If no value of the estimator's parameters gives that penalty.
        """
        raise NotImplementedError

    def _set_fitted(self, model: Model) -> None:
        """The fitted attributes of a loaded model."""
        raise NotImplementedError

    @classmethod
    def from_model_dir(cls, directory: Path | str) -> Any:
        """The fitted estimator of a result directory (``model.json`` and ``x.npy``).

        Raises
        ------
        ValueError
            If the directory holds no valid model, a model of another loss, or a penalty
            that the estimator's parameters cannot express (a group lasso, a box).
        """
        model = load_model_for(cls, directory, cls._loss)
        l1, l2 = averaged_weights(model.file.spec)
        samples = int(model.file.spec["samples"])
        fit_intercept = model.file.intercept is not None
        estimator = cls(**cls._parameters_for(l1, l2, samples), fit_intercept=fit_intercept)
        estimator.n_features_in_ = model.file.num_features
        estimator.converged_ = model.file.converged
        estimator._set_fitted(model)
        return estimator

    def _validated_parameters(self) -> Any:
        return validated(self._parameters, type(self).__name__, self.get_params())

    def _solve(self, features: Any, labels: np.ndarray) -> FitOutcome:
        """Fit ``features`` (n, d, validated) to ``labels`` (n,); returns the solve's result."""
        parameters = self._validated_parameters()
        # Dense columns with an intercept are centered: the same model (the intercept takes
        # up μ·β), far better conditioned for ADMM when the columns' means are large. Sparse
        # data keeps its zeros (centering would fill them in).
        means = (
            np.asarray(features.mean(axis=0)).ravel()
            if parameters.fit_intercept and not sp.issparse(features)
            else None
        )
        data = LocalData(
            features=sp.csr_matrix(features if means is None else features - means),
            labels=np.ascontiguousarray(labels, dtype=np.float64),
        )
        l1, l2 = self._penalty_weights(parameters, data.num_samples)
        fields = {
            "loss": self._loss,
            "l1": l1,
            "l2": l2,
            "sample_weights": "uniform",
            "fit_intercept": parameters.fit_intercept,
            "max_iter": parameters.max_iter,
            "eps_primal": parameters.tol,
            "eps_dual": parameters.tol,
            "eps_kkt": KKT_PER_TOL * parameters.tol,
        }
        request = FitRequest(
            data=data, fields=fields, initial_x=self._warm_start_point(data, means)
        )
        workers = min(parameters.n_workers, data.num_samples)
        try:
            if parameters.backend == "lambda":
                result = solve_on_lambda(
                    request,
                    workers=workers,
                    api=parameters.api,
                    data_uri=parameters.data_uri,
                    region=parameters.region,
                )
            else:
                result = solve_locally(request, backend=parameters.backend, workers=workers)
        except (SolveFailed, RuntimeError) as error:
            raise RuntimeError(f"{type(self).__name__}: the solve failed: {error}") from None
        if not result.converged:
            warnings.warn(
                f"{type(self).__name__} did not converge ({result.reason}); raise max_iter "
                f"(now {parameters.max_iter}) or tol (now {parameters.tol:g})",
                ConvergenceWarning,
                stacklevel=3,
            )
        self.objective_ = result.objective
        self.converged_ = result.converged
        if means is not None and result.intercept is not None:  # back from centered columns
            result = replace(result, intercept=result.intercept - float(means @ result.x))
        return result

    def _warm_start_point(self, data: LocalData, means: np.ndarray | None) -> np.ndarray | None:
        """The last fit's ``(β, β₀)`` when ``warm_start`` and the shapes still fit (with
        centered columns, the intercept is ``β₀ + μ·β``)."""
        if not (self.warm_start and hasattr(self, "coef_")):
            return None
        coefficients = np.ravel(self.coef_).astype(np.float64)
        if coefficients.shape != (data.num_features,):
            return None
        if not self.fit_intercept:
            return coefficients
        intercept = float(np.ravel(self.intercept_)[0])
        if means is not None:
            intercept += float(means @ coefficients)
        return np.append(coefficients, intercept)

    def _validate_for_fit(self, X: Any, y: Any, *, y_numeric: bool) -> tuple[Any, np.ndarray]:
        features, targets = validate_data(
            self, X, y, accept_sparse=SPARSE_FORMATS, dtype=np.float64, y_numeric=y_numeric
        )
        return features, targets

    def _linear_scores(self, X: Any) -> np.ndarray:
        """``X β + β₀``, shape (n,)."""
        check_is_fitted(self)
        features = validate_data(
            self, X, accept_sparse=SPARSE_FORMATS, dtype=np.float64, reset=False
        )
        scores = features @ np.ravel(self.coef_) + float(np.ravel(self.intercept_)[0])
        return np.asarray(scores, dtype=np.float64).ravel()

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
