"""The ρ rule and over-relaxation: SolveSpec fields and CLI flags, validated alike; the
paper demo's FISTA run keeps the paper's rule."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from runtime.specs import SchedulerEndpoints
from scheduler_host.assignments import build_assignment
from scheduler_host.cli.app import app
from scheduler_host.cli.demo_command import demo_spec
from scheduler_host.solve_spec import SolveSpec, describe_validation_error

SMALL = ["--samples", "2000", "--features", "50", "--density", "0.1"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("relaxation", 2.0, "relaxation: Input should be less than 2 (got 2.0)"),
        ("relaxation", 0.0, "relaxation: Input should be greater than 0 (got 0.0)"),
        ("relaxation", math.nan, "relaxation: Input should be a finite number (got nan)"),
        ("rho_rule", "bb", "rho_rule: Input should be 'spectral' or 'balance' (got 'bb')"),
    ],
)
def test_a_bad_rule_or_relaxation_is_refused_naming_the_field_and_flag(
    field: str, value: object, message: str, tmp_path: Path
) -> None:
    with pytest.raises(ValidationError) as caught:
        SolveSpec.model_validate({field: value})
    assert describe_validation_error(caught.value) == message
    out = tmp_path / "out"
    flag = "--" + field.replace("_", "-")
    result = CliRunner().invoke(
        app, ["solve", *SMALL, flag, str(value), "--out", str(out)], terminal_width=400
    )
    assert result.exit_code == 2
    assert result.output == f"error: {message.replace(field, flag, 1)}\n"
    assert not out.exists()


def test_the_default_is_spectral_with_over_relaxation() -> None:
    spec = SolveSpec()
    assert (spec.rho_rule, spec.relaxation) == ("spectral", 1.6)


def test_the_workers_are_told_the_relaxation() -> None:
    spec = SolveSpec(samples=100, features=5, workers=2, relaxation=1.3)
    assignment = build_assignment(
        spec,
        solve_id="s",
        worker_index=1,
        slot_epoch=0,
        rows=(50, 100),
        endpoints=SchedulerEndpoints(front="tcp://h:1", broadcast="tcp://h:2"),
        worker_options={},
    )
    assert assignment.relaxation == 1.3


def test_the_demo_with_fista_keeps_the_papers_rule_and_newton_takes_the_default() -> None:
    fista = demo_spec(workers=4, local_solver="fista")
    assert (fista.rho_rule, fista.relaxation, fista.local_solver) == ("balance", 1.0, "fista")
    newton = demo_spec(workers=4, local_solver="newton")
    assert (newton.rho_rule, newton.relaxation) == ("spectral", 1.6)
