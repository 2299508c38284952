"""The solve spec's penalty: the flat elastic-net shorthand or a tagged penalty, never both."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from runtime.group_lasso import GroupLasso
from runtime.penalties import Penalty
from runtime.penalty_specs import ElasticNetSpec, GroupLassoSpec
from scheduler_host.solve.global_step import penalty_of
from scheduler_host.solve_spec import SolveSpec, describe_validation_error

GROUP_LASSO = {"kind": "group_lasso", "weight": 0.1, "group_size": 5}


def _error(**fields: Any) -> str:
    with pytest.raises(ValidationError) as raised:
        SolveSpec(**fields)
    return describe_validation_error(raised.value)


def test_the_default_is_the_papers_l1_penalty() -> None:
    spec = SolveSpec()
    assert spec.penalty is None
    assert spec.model.penalty == ElasticNetSpec(l1=1.0)
    assert penalty_of(spec.model) == Penalty(l1=1.0)


def test_the_flat_shorthand_builds_an_elastic_net_with_a_box() -> None:
    spec = SolveSpec(l1=0.5, l2=2.0, box_lower=-1.0, box_upper=1.0)
    assert spec.model.penalty == ElasticNetSpec(l1=0.5, l2=2.0, box_lower=-1.0, box_upper=1.0)
    assert penalty_of(spec.model) == Penalty(l1=0.5, l2=2.0, lower=-1.0, upper=1.0)


def test_a_tagged_penalty_zeroes_the_shorthand_and_reaches_the_z_step() -> None:
    spec = SolveSpec(penalty=GROUP_LASSO, loss="squared")
    assert (spec.l1, spec.l2, spec.box_lower, spec.box_upper) == (0.0, 0.0, None, None)
    assert spec.model.penalty == GroupLassoSpec(weight=0.1, group_size=5)
    assert penalty_of(spec.model) == GroupLasso(weight=0.1, group_size=5)


def test_a_tagged_elastic_net_is_stored_as_the_shorthand() -> None:
    spec = SolveSpec(penalty={"kind": "elastic_net", "l2": 3.0, "box_lower": 0, "box_upper": 1})
    assert spec.penalty is None
    assert (spec.l1, spec.l2, spec.box_lower, spec.box_upper) == (0.0, 3.0, 0.0, 1.0)
    assert SolveSpec(penalty=ElasticNetSpec(l1=2.0)).model == SolveSpec(l1=2.0).model


@pytest.mark.parametrize(
    "spec",
    [
        SolveSpec(penalty=GROUP_LASSO),
        SolveSpec(penalty={"kind": "elastic_net", "l1": 0.5}),
        SolveSpec(l1=0.0, l2=1.0),
    ],
)
def test_dumped_specs_validate_again_to_the_same_model(spec: SolveSpec) -> None:
    # The intake stores the full dump; ``submit`` sends the non-default fields.
    assert SolveSpec.model_validate(spec.model_dump(mode="json")) == spec
    assert SolveSpec.model_validate_json(spec.model_dump_json(exclude_defaults=True)) == spec


@pytest.mark.parametrize(
    ("flat", "field"),
    [
        ({"l1": 1.0}, "l1"),
        ({"l2": 0.5}, "l2"),
        ({"box_lower": -1.0, "box_upper": 1.0}, "box_lower"),
    ],
)
def test_flat_fields_with_a_tagged_penalty_are_refused(flat: dict[str, float], field: str) -> None:
    assert _error(penalty=GROUP_LASSO, **flat) == (
        f"{field}: give either the flat l1, l2, box_lower, box_upper (an elastic_net penalty) "
        "or a tagged penalty (here 'group_lasso'), not both"
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"l1": -1.0}, "l1: Input should be greater than or equal to 0 (got -1.0)"),
        (
            {"penalty": {"kind": "elastic_net", "l1": -1.0}},
            "l1: Input should be greater than or equal to 0 (got -1.0)",
        ),
        (
            {"penalty": {"kind": "elastic_net", "weight": 1.0}},
            "penalty: unknown field 'weight' of an elastic_net penalty "
            "(allowed: l1, l2, box_lower, box_upper)",
        ),
        (
            {"penalty": {"kind": "group_lasso", "weight": 0.1}},
            "penalty.group_lasso.group_size: Field required",
        ),
        (
            {"penalty": {**GROUP_LASSO, "weight": -1}},
            "penalty.group_lasso.weight: Input should be greater than 0 (got -1)",
        ),
        (
            {"penalty": {"kind": "lasso"}},
            "penalty: Input tag 'lasso' found using 'kind' does not match any of the expected "
            "tags: 'elastic_net', 'group_lasso' (got {'kind': 'lasso'})",
        ),
        (
            {"loss": "hinge"},
            "loss: Input should be 'logistic', 'squared' or 'squared_hinge' (got 'hinge')",
        ),
    ],
)
def test_bad_penalties_and_losses_name_the_field(fields: dict[str, Any], message: str) -> None:
    assert _error(**fields) == message
