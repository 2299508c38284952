"""The scheduler's half of Anderson acceleration, with workers simulated by AdmmState.

The split computation (each worker its window and Gram row, the scheduler the sums) must
accelerate a linear fixed-point iteration the way Anderson acceleration of the whole stacked
vector does: on an affine map in n dimensions, memory n solves it exactly.
"""

from __future__ import annotations

import numpy as np
import pytest

from runtime.admm_state import AdmmState
from runtime.protocol import Iterate
from scheduler_host.solve.acceleration import AndersonMixer


def _quadratic_workers(workers: int, dimension: int, seed: int = 0):
    """Workers with f_w(x) = ½ xᵀ Q_w x - b_wᵀ x (ill-conditioned Q_w): exact x-updates."""
    rng = np.random.default_rng(seed)
    problems = []
    for _ in range(workers):
        basis, _ = np.linalg.qr(rng.normal(size=(dimension, dimension)))
        curvature = basis @ np.diag(np.logspace(-3, 1, dimension)) @ basis.T
        problems.append((curvature, rng.normal(size=dimension)))

    def x_update(index: int):
        matrix, linear = problems[index]
        return lambda rho, center, _x0: np.linalg.solve(
            matrix + rho * np.eye(dimension), linear + rho * center
        )

    solution = np.linalg.solve(sum(q for q, _ in problems), sum(b for _, b in problems))
    return x_update, solution


def _solve(*, memory: int, iterations: int, workers: int = 3, dimension: int = 4):
    """ADMM for min Σ f_w (h = 0): z = mean of the bases; the distance to x* per iteration."""
    x_update, solution = _quadratic_workers(workers, dimension)
    states = [AdmmState(dimension, relaxation=1.0, memory=memory) for _ in range(workers)]
    mixer = AndersonMixer(memory=memory)
    z = np.zeros(dimension)
    mix = np.zeros(0)
    restart = False
    errors = []
    for iteration in range(1, iterations + 1):
        message = Iterate(iteration=iteration, rho=1.0, rho_prev=1.0, z=z, mix=mix, restart=restart)
        outcomes = [state.step(message, x_update(w)) for w, state in enumerate(states)]
        omega_sum = np.sum([outcome.omega for outcome in outcomes], axis=0)
        gram_row = np.sum([outcome.gram for outcome in outcomes], axis=0) if memory else None
        chosen = mixer.next_mix(omega_sum=omega_sum, gram_row=gram_row)
        z = chosen.base_sum / workers
        mix, restart = chosen.coefficients, chosen.restart
        errors.append(float(np.linalg.norm(z - solution)))
    return errors, mixer


def test_without_memory_the_steps_are_plain() -> None:
    errors, mixer = _solve(memory=0, iterations=30)
    assert errors[-1] > 1e-3  # plain ADMM is slow on this conditioning
    assert mixer.restarts == 0


def test_the_split_acceleration_solves_an_affine_map_in_a_few_steps() -> None:
    """The stacked map is affine in W·d = 12 dimensions: memory 12 is GMRES-like."""
    plain, _ = _solve(memory=0, iterations=40)
    accelerated, _ = _solve(memory=12, iterations=40)
    assert accelerated[-1] < 1e-9 < plain[-1]


def test_inconsistent_rows_restart_the_window() -> None:
    mixer = AndersonMixer(memory=3)
    first = mixer.next_mix(omega_sum=np.ones(2), gram_row=np.array([1.0]))
    assert first.coefficients.size == 0 and not first.restart
    second = mixer.next_mix(omega_sum=np.full(2, 2.0), gram_row=np.array([0.5, 0.9]))
    assert second.coefficients.shape == (2,) and abs(second.coefficients.sum() - 1.0) < 1e-12
    # a replacement's row is shorter: everyone takes the plain step and forgets the window
    third = mixer.next_mix(omega_sum=np.full(2, 3.0), gram_row=None)
    assert third.restart and third.coefficients.size == 0
    np.testing.assert_array_equal(third.base_sum, np.full(2, 3.0))
    assert mixer.restarts == 1


def test_a_restart_asked_for_by_the_coordinator_happens_at_the_next_step() -> None:
    mixer = AndersonMixer(memory=3)
    mixer.next_mix(omega_sum=np.ones(1), gram_row=np.array([1.0]))
    mixer.request_restart()
    assert mixer.next_mix(omega_sum=np.ones(1), gram_row=np.array([1.0, 0.5])).restart


def test_the_safeguard_falls_back_to_the_plain_step_from_the_base_before() -> None:
    mixer = AndersonMixer(memory=3)
    mixer.next_mix(omega_sum=np.zeros(1), gram_row=np.array([1.0]))
    accelerated = mixer.next_mix(omega_sum=np.ones(1), gram_row=np.array([0.0, 0.25]))
    assert accelerated.coefficients.size == 2
    # the accelerated base's residual is far beyond D·‖g⁰‖: reject it
    rejected = mixer.next_mix(omega_sum=np.full(1, 9.0), gram_row=np.array([0.0, 0.0, 1e14]))
    assert rejected.restart
    assert rejected.coefficients.tolist() == [1.0, 0.0]
    np.testing.assert_array_equal(rejected.base_sum, np.ones(1))  # the sum of T^{k-1}


@pytest.mark.parametrize("memory", [1, 5])
def test_rho_changes_restart_the_window(memory: int) -> None:
    mixer = AndersonMixer(memory=memory)
    mix = mixer.next_mix(omega_sum=np.ones(1), gram_row=np.array([1.0]))
    restarted = mixer.restart_now(mix)
    assert restarted.restart and mixer.restarts == 1
    assert mixer.restart_now(restarted) is restarted  # once is enough
