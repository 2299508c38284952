"""The registry: names, tagged penalty kinds, capability checks before solving."""

from __future__ import annotations

import typing

import numpy as np
import pytest
import scipy.sparse as sp
from pydantic import ValidationError

from runtime.local_data import LocalData
from runtime.local_solver import solve_local
from runtime.losses import SOLVER_NEEDS as LOSS_NEEDS
from runtime.penalties import OPTIMALITY_NEEDS, Penalty
from runtime.penalties import SOLVER_NEEDS as PENALTY_NEEDS
from runtime.penalty_specs import ElasticNetSpec, GroupLassoSpec
from runtime.registry import (
    LOSSES,
    PENALTIES,
    PenaltySpec,
    build_penalty,
    get_loss,
    loss_names,
    penalty_kinds,
    require,
)
from runtime.specs import LocalSolverSpec, ModelSpec


def test_every_registered_loss_has_what_the_solver_needs() -> None:
    assert loss_names() == ("logistic", "squared", "squared_hinge")
    for name in LOSSES:
        loss = get_loss(name)
        assert loss.name == name
        require(loss, LOSS_NEEDS, role="loss", solver="test")
        assert isinstance(loss.signed_labels, bool)


def test_the_tagged_union_has_one_member_per_registered_kind() -> None:
    assert penalty_kinds() == ("elastic_net", "group_lasso")
    union, _ = typing.get_args(PenaltySpec)
    members = typing.get_args(union)
    assert {member.model_fields["kind"].default for member in members} == set(PENALTIES)
    assert set(members) == {spec for spec, _ in PENALTIES.values()}


def test_every_registered_penalty_has_what_the_z_step_and_the_check_need() -> None:
    for spec in (ElasticNetSpec(l1=1.0), GroupLassoSpec(weight=1.0, group_size=2)):
        require(build_penalty(spec), PENALTY_NEEDS, role="penalty", solver="test")
        require(build_penalty(spec), OPTIMALITY_NEEDS, role="penalty", solver="test")
    assert build_penalty(ElasticNetSpec(l1=0.5, box_lower=-1, box_upper=2)) == Penalty(
        l1=0.5, lower=-1.0, upper=2.0
    )


def test_model_spec_takes_the_tagged_penalty_by_kind() -> None:
    model = ModelSpec.model_validate(
        {"loss": "squared", "penalty": {"kind": "group_lasso", "weight": 0.5, "group_size": 3}}
    )
    assert model.penalty == GroupLassoSpec(weight=0.5, group_size=3)
    assert ModelSpec().penalty == ElasticNetSpec()
    assert ModelSpec.model_json_schema()["properties"]["loss"]["enum"] == list(LOSSES)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"loss": "hinge"}, "Input should be 'logistic', 'squared' or 'squared_hinge'"),
        (
            {"penalty": {"kind": "lasso"}},
            "Input tag 'lasso' found using 'kind' does not match any of the expected tags: "
            "'elastic_net', 'group_lasso'",
        ),
        (
            {"penalty": {"kind": "elastic_net", "box_lower": 1.0, "box_upper": 0.0}},
            "box_lower: the lower bound must be <= the upper bound (0.0), got 1.0",
        ),
    ],
)
def test_model_spec_lists_the_registered_names(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError) as raised:
        ModelSpec.model_validate(fields)
    assert message in str(raised.value)


def test_get_loss_and_build_penalty_refuse_unknown_things() -> None:
    with pytest.raises(ValueError, match=r"^loss must be one of 'logistic', 'squared', "):
        get_loss("hinge")
    with pytest.raises(
        ValueError,
        match=r"^penalty kind must be one of 'elastic_net' or 'group_lasso', got Penalty$",
    ):
        build_penalty(Penalty(l1=1.0))  # type: ignore[arg-type]


class _ValueOnlyLoss:
    name = "value_only"
    curvature_bound = 1.0
    signed_labels = False

    def value(self, margins: np.ndarray, labels: np.ndarray, weights: object) -> float:
        return 0.0


def test_the_local_solver_checks_the_loss_before_solving() -> None:
    data = LocalData(features=sp.csr_matrix(np.eye(2)), labels=np.ones(2))
    with pytest.raises(
        TypeError,
        match=r"^the local FISTA solver needs loss.value_and_derivative, loss.value_change, "
        r"which _ValueOnlyLoss lacks$",
    ):
        solve_local(
            data,
            _ValueOnlyLoss(),  # type: ignore[arg-type]
            rho=1.0,
            center=np.zeros(2),
            x0=np.zeros(2),
            options=LocalSolverSpec(),
        )
