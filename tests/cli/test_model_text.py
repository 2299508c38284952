"""The objective as the summary and result.json state it: every term, its weight, the box."""

from __future__ import annotations

import pytest

from scheduler_host.cli.model_text import LOSS_TERMS, describe_model, model_json
from scheduler_host.solve_spec import SolveSpec

LOGISTIC = "minimize logistic loss Σ_n log(1 + exp(−b_n·a_nᵀx))"
SQUARED = "minimize squared loss Σ_n ½(a_nᵀx − b_n)²"


@pytest.mark.parametrize(
    ("fields", "text"),
    [
        ({}, f"{LOGISTIC} + 1·‖x‖₁"),
        ({"l1": 0.0}, LOGISTIC),
        ({"loss": "squared", "l1": 0.0, "l2": 10.0}, f"{SQUARED} + (10/2)·‖x‖₂²"),
        (
            {"loss": "squared", "l2": 10.0, "box_lower": -1.0, "box_upper": 1.0},
            f"{SQUARED} + 1·‖x‖₁ + (10/2)·‖x‖₂² subject to -1 ≤ x_i ≤ 1",
        ),
        ({"l1": 0.5, "box_lower": 0.0}, f"{LOGISTIC} + 0.5·‖x‖₁ subject to x_i ≥ 0"),
        ({"l1": 2e-5, "box_upper": 3.0}, f"{LOGISTIC} + 2e-05·‖x‖₁ subject to x_i ≤ 3"),
        (
            {"loss": "squared", "sample_weights": "uniform"},
            "minimize squared loss (1/N)Σ_n ½(a_nᵀx − b_n)² + 1·‖x‖₁",
        ),
        (
            {"loss": "squared_hinge", "l1": 0.0, "l2": 1.0},
            "minimize squared hinge loss Σ_n max(0, 1 − b_n·a_nᵀx)² + (1/2)·‖x‖₂²",
        ),
        (
            {"penalty": {"kind": "group_lasso", "weight": 0.1, "group_size": 5}},
            f"{LOGISTIC} + 0.1·Σ_g ‖x_g‖₂ (groups of 5 contiguous features)",
        ),
    ],
)
def test_the_model_says_every_term_with_its_weight(fields: dict[str, object], text: str) -> None:
    assert describe_model(SolveSpec(**fields).model) == text


def test_every_registered_loss_has_its_formula() -> None:
    from runtime.registry import loss_names

    assert set(LOSS_TERMS) == set(loss_names())


def test_the_json_form_names_the_parts() -> None:
    spec = SolveSpec(loss="squared", l1=0.0, l2=3.0, sample_weights="uniform")
    assert model_json(spec.model) == {
        "objective": "minimize squared loss (1/N)Σ_n ½(a_nᵀx − b_n)² + (3/2)·‖x‖₂²",
        "loss": "squared",
        "sample_weights": "uniform",
        "penalty": {
            "kind": "elastic_net",
            "l1": 0.0,
            "l2": 3.0,
            "box_lower": None,
            "box_upper": None,
        },
    }
