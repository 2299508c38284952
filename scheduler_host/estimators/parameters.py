"""The estimators' parameters as validated models: one error per bad value, naming it.

scikit-learn's convention is that ``__init__`` and ``set_params`` store what they are given
and ``fit`` validates it; :func:`validated` is that check, and its ``ValueError`` names the
parameter and its allowed range, e.g. ``"ADMMLasso: alpha: Input should be greater than or
equal to 0 (got -1.0)"``.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from scheduler_host.estimators.backends import Backend
from scheduler_host.solve_spec import describe_validation_error

#: The largest ``max_iter`` a spec takes (``SolveSpec.max_iter``).
MAX_ITERATIONS = 100_000


class CommonParameters(BaseModel):
    """What every estimator takes besides its penalty."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    fit_intercept: bool
    tol: float = Field(gt=0.0, le=1.0, allow_inf_nan=False)
    max_iter: int = Field(ge=1, le=MAX_ITERATIONS)
    warm_start: bool
    n_workers: int = Field(ge=1, le=10_000)
    backend: Backend
    api: str | None = Field(pattern=r"^https?://", description="lambda: the stack's API URL")
    data_uri: str | None = Field(
        pattern=r"^s3://[^/]+", description="lambda: where the fit's shards go"
    )
    region: str | None

    @model_validator(mode="after")
    def _lambda_needs_its_places(self) -> CommonParameters:
        if self.backend != "lambda":
            return self
        for name in ("api", "data_uri"):
            if getattr(self, name) is None:
                raise ValueError(f"{name}: required with backend 'lambda'")
        if self.warm_start:
            raise ValueError(
                "warm_start: not available with backend 'lambda' (allowed: False; a "
                "submitted solve starts at 0)"
            )
        return self


class LassoParameters(CommonParameters):
    alpha: float = Field(ge=0.0, allow_inf_nan=False)


class ElasticNetParameters(LassoParameters):
    l1_ratio: float = Field(ge=0.0, le=1.0, allow_inf_nan=False)


class LogisticParameters(CommonParameters):
    C: float = Field(gt=0.0, allow_inf_nan=False)
    l1_ratio: float = Field(ge=0.0, le=1.0, allow_inf_nan=False)


class LinearSVCParameters(CommonParameters):
    C: float = Field(gt=0.0, allow_inf_nan=False)
    penalty: Literal["l1", "l2"]


Parameters = TypeVar("Parameters", bound=CommonParameters)


def validated(model: type[Parameters], owner: str, values: dict[str, Any]) -> Parameters:
    """``values`` (an estimator's ``get_params()``) checked against ``model``.

    Raises
    ------
    ValueError
        ``"<owner>: <parameter>: <problem> (got <value>)"``, one clause per bad parameter.
    """
    try:
        return model.model_validate(values)
    except ValidationError as error:
        raise ValueError(f"{owner}: {describe_validation_error(error)}") from None
