"""The validated parameters of each penalty kind: the tagged ``penalty`` of a model spec.

Pure pydantic (no numpy), like :mod:`runtime.specs`: the intake and the CLI validate a
penalty without importing the numerical code. Each kind's implementation is built from
its parameters by :func:`runtime.registry.build_penalty`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


def check_box(lower: float | None, upper: float | None) -> None:
    """``lower <= upper`` when both are given; None is an open side (a one-sided box, e.g.
    nonnegativity ``box_lower = 0``); messages name the field.

    Raises
    ------
    ValueError
        ``"box_lower: ..."``, the form model-level checks use.
    """
    if lower is not None and upper is not None and lower > upper:
        raise ValueError(
            f"box_lower: the lower bound must be <= the upper bound ({upper}), got {lower}"
        )


class _PenaltyParameters(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ElasticNetSpec(_PenaltyParameters):
    """``h(x) = l1 ‖x‖₁ + (l2/2) ‖x‖² + ι(box_lower <= x <= box_upper)``."""

    kind: Literal["elastic_net"] = "elastic_net"
    l1: float = Field(default=0.0, ge=0.0, allow_inf_nan=False, description="λ1 of λ1‖x‖₁")
    l2: float = Field(default=0.0, ge=0.0, allow_inf_nan=False, description="λ2 of (λ2/2)‖x‖²")
    box_lower: float | None = Field(default=None, allow_inf_nan=False)
    box_upper: float | None = Field(default=None, allow_inf_nan=False)

    @model_validator(mode="after")
    def _box_is_ordered(self) -> ElasticNetSpec:
        check_box(self.box_lower, self.box_upper)
        return self


class GroupLassoSpec(_PenaltyParameters):
    """``h(x) = weight · Σ_g ‖x_g‖₂`` over contiguous groups of ``group_size`` features.

    The groups are ``[0, G), [G, 2G), ...``; when ``G`` does not divide ``d`` the last
    group is the shorter remainder ``[G⌊d/G⌋, d)``.
    """

    kind: Literal["group_lasso"] = "group_lasso"
    weight: float = Field(gt=0.0, allow_inf_nan=False, description="λ of λ Σ_g ‖x_g‖₂")
    group_size: int = Field(ge=1, le=10**7, description="G, features per group")
