"""The progress line: residuals against their targets, the iterations left, only on a TTY."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

import pytest
from rich.console import Console

from scheduler_host.cli.progress import closed_fraction, iteration_progress, iterations_left
from scheduler_host.results import IterationRecord


def _record(iteration: int, primal: float, dual: float) -> IterationRecord:
    return IterationRecord(
        iteration=iteration, primal_residual=primal, dual_residual=dual, rho=2.0, wall_seconds=0.1
    )


@dataclass(frozen=True)
class _WithObjective(IterationRecord):
    """An iteration record that knows the objective (a field IterationRecord is getting)."""

    objective: float | None = None


@pytest.mark.parametrize(
    ("residuals", "target", "left"),
    [
        ([0.5**k for k in range(1, 6)], 1e-3, 5),  # halving: 0.5^10 <= 1e-3 < 0.5^9
        ([1e-1, 1e-2, 1e-3], 1e-6, 3),  # a decade per iteration
        ([0.0, 1e-1, 1e-2], 1e-4, 2),  # r = 0 at the first iteration is left out
        ([1e-2, 1e-2, 1e-2], 1e-3, None),  # stalled
        ([1e-3, 1e-2], 1e-4, None),  # rising
        ([1e-1], 1e-3, None),  # one point is no trend
        ([1e-1, 1e-4], 1e-3, 0),  # there
    ],
)
def test_iterations_left_follow_the_log_linear_trend(
    residuals: list[float], target: float, left: int | None
) -> None:
    assert iterations_left(residuals, target) == left


def test_the_bar_is_the_log_distance_closed() -> None:
    assert closed_fraction([0.0, 1.0, 0.1], 0.01) == pytest.approx(0.5)
    assert closed_fraction([1.0, 1e-3], 0.01) == 1.0
    assert closed_fraction([1e-3, 1e-1], 0.01) == 0.0  # started below, now above
    assert closed_fraction([0.0], 0.01) == 0.0


def _drawn(stream: io.StringIO) -> list[str]:
    """The lines rich drew, without its cursor controls."""
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", stream.getvalue())
    return [line for line in text.replace("\r", "\n").splitlines() if line.strip()]


def _terminal() -> tuple[Console, io.StringIO]:
    stream = io.StringIO()
    return Console(file=stream, force_terminal=True, width=160, color_system=None), stream


def test_a_terminal_shows_residuals_against_targets_and_the_iterations_left() -> None:
    console, stream = _terminal()
    with iteration_progress(eps_primal=1e-3, eps_dual=1e-4, console=console) as update:
        for iteration, (primal, dual) in enumerate([(0.0, 1.0), (1e-1, 1e-1), (1e-2, 1e-2)], 1):
            update(_record(iteration, primal, dual))
    last = _drawn(stream)[-1]
    assert "it 3  r 1.00e-02/1e-03  s 1.00e-02/1e-04  ρ 2  ~2 left" in last, last
    assert re.search(r"ADMM ━+", last)


def test_the_objective_is_shown_when_the_record_has_it() -> None:
    console, stream = _terminal()
    with iteration_progress(eps_primal=1e-3, eps_dual=1e-3, console=console) as update:
        update(_record(1, 0.0, 1.0))
        update(_WithObjective(2, 1e-1, 1e-1, 2.0, 0.2, objective=123.456789))
    assert "ρ 2  f 123.457  ? left" in _drawn(stream)[-1]


def test_both_residuals_at_their_targets_say_so() -> None:
    console, stream = _terminal()
    with iteration_progress(eps_primal=1e-1, eps_dual=1e-1, console=console) as update:
        update(_record(1, 0.0, 1.0))
        update(_record(2, 1e-2, 1e-2))
    assert _drawn(stream)[-1].startswith("ADMM ━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━ it 2 ")
    assert "ρ 2  at target" in _drawn(stream)[-1]


def test_nothing_is_drawn_without_a_terminal() -> None:
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=False)
    with iteration_progress(eps_primal=1e-3, eps_dual=1e-3, console=console) as update:
        update(_record(1, 0.0, 1.0))
    assert stream.getvalue() == ""
