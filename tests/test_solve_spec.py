"""The solve spec's local-solver knobs are LocalSolverSpec's: one set of bounds and defaults.

A value is accepted or refused alike by the worker's model (LocalSolverSpec), by the flat
spec of the CLI and the API (SolveSpec), and by the CLI, each error naming its own field.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from runtime.specs import LocalSolverSpec
from scheduler_host.cli.app import app
from scheduler_host.cli.spec_flags import flag_of
from scheduler_host.solve_spec import LOCAL_SOLVER_FIELDS, SolveSpec, describe_validation_error

SMALL = ["--samples", "2000", "--features", "50", "--density", "0.1"]

#: (flat field, value): values just outside each knob's range.
REFUSED = [
    ("min_local_iter", -1),
    ("min_local_iter", 1_000_001),
    ("max_local_iter", 0),
    ("max_local_iter", 1_000_001),
    ("eps_grad", 0.0),
    ("eps_grad", -1e-3),
    ("eps_grad", math.inf),
    ("eps_rel", -1e-12),
    ("eps_rel", math.nan),
    ("local_solver", "lbfgs"),
    ("newton_tol", 0.0),
    ("newton_tol", 1.0),
    ("newton_tol", math.nan),
]
#: And just inside.
ACCEPTED = [
    ("min_local_iter", 0),
    ("max_local_iter", 1),
    ("max_local_iter", 1_000_000),
    ("eps_grad", 1e-300),
    ("eps_rel", 0.0),
    ("local_solver", "fista"),
    ("local_solver", "newton"),
    ("newton_tol", 1e-300),
    ("newton_tol", 0.999),
]


def _refusal(model: type[LocalSolverSpec] | type[SolveSpec], **fields: object) -> str:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(fields)
    return describe_validation_error(caught.value)


@pytest.mark.parametrize(("flat", "value"), REFUSED)
def test_a_value_refused_by_one_is_refused_by_all_naming_the_field(
    flat: str, value: float | str, tmp_path: Path
) -> None:
    inner = LOCAL_SOLVER_FIELDS[flat]
    worker_side = _refusal(LocalSolverSpec, **{inner: value})
    spec_side = _refusal(SolveSpec, **{flat: value})
    assert worker_side.startswith(f"{inner}: ")
    assert spec_side == worker_side.replace(inner, flat, 1)

    out = tmp_path / "out"
    text = str(value)  # the flag parser spells nan and inf as Python does
    result = CliRunner().invoke(app, ["solve", *SMALL, f"--{flat.replace('_', '-')}", text])
    assert result.exit_code == 2
    assert result.output == f"error: {spec_side.replace(flat, flag_of(flat), 1)}\n"
    assert not out.exists()


@pytest.mark.parametrize(("flat", "value"), ACCEPTED)
def test_a_value_accepted_by_one_is_accepted_by_all(flat: str, value: float | str) -> None:
    spec = SolveSpec.model_validate({flat: value, "min_local_iter": 0})
    assert getattr(spec.local_solver_spec, LOCAL_SOLVER_FIELDS[flat]) == value
    LocalSolverSpec.model_validate({LOCAL_SOLVER_FIELDS[flat]: value, "min_iterations": 0})


def test_the_knobs_share_one_definition() -> None:
    for flat, inner in LOCAL_SOLVER_FIELDS.items():
        spec_field = SolveSpec.model_fields[flat]
        worker_field = LocalSolverSpec.model_fields[inner]
        assert spec_field.metadata == worker_field.metadata, flat
        assert spec_field.description == worker_field.description and spec_field.description
        assert spec_field.default == worker_field.default, flat
    assert SolveSpec().local_solver_spec == LocalSolverSpec()


def test_min_above_max_is_refused_by_both_naming_the_field() -> None:
    assert _refusal(LocalSolverSpec, min_iterations=10, max_iterations=5) == (
        "min_iterations: must be <= max_iterations (5), got 10"
    )
    assert _refusal(SolveSpec, min_local_iter=10, max_local_iter=5) == (
        "min_local_iter: must be <= max_local_iter (5), got 10"
    )
