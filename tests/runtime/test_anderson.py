"""The worker's Anderson window and Algorithm 2's step (runtime.anderson, runtime.admm_state)."""

from __future__ import annotations

import numpy as np
import pytest

from runtime.admm_state import AdmmState
from runtime.anderson import AndersonHistory
from runtime.protocol import Iterate


def test_the_window_keeps_memory_plus_one_points_and_their_gram_row() -> None:
    history = AndersonHistory(memory=2)
    residuals = [np.array([1.0, 0.0]), np.array([0.0, 2.0]), np.array([1.0, 1.0])]
    rows = [history.record(np.full(2, float(k)), g) for k, g in enumerate(residuals)]
    assert [row.tolist() for row in rows] == [[1.0], [0.0, 4.0], [1.0, 2.0, 2.0]]
    assert len(history) == 3
    # a fourth point pushes the first out: its row covers the three newest
    assert history.record(np.full(2, 3.0), np.array([2.0, 0.0])).tolist() == [0.0, 2.0, 4.0]
    # combinations reach back over the newest points, oldest first
    np.testing.assert_array_equal(history.combine(np.array([0.5, 0.5])), np.full(2, 2.5))
    np.testing.assert_array_equal(history.combine(np.array([-1.0, 1.0, 1.0])), np.full(2, 4.0))


def test_a_window_cannot_combine_points_it_does_not_hold() -> None:
    history = AndersonHistory(memory=3)
    history.record(np.ones(2), np.ones(2))
    assert not history.can_mix(np.array([0.5, 0.5]))
    assert not history.can_mix(np.zeros(0))
    with pytest.raises(ValueError, match="a mix of 2 points, but the window holds 1"):
        history.combine(np.array([0.5, 0.5]))
    history.clear()
    assert len(history) == 0


def test_memory_is_bounded() -> None:
    with pytest.raises(ValueError, match=r"memory must be in \[0, 63\], got 64"):
        AndersonHistory(memory=64)


def _shift(target: np.ndarray):
    """The x-update of f(x) = ½‖x - t‖²: (t + ρ·center) / (1 + ρ)."""
    return lambda rho, center, _x0: (target + rho * center) / (1.0 + rho)


@pytest.mark.parametrize("alpha", [1.0, 1.6])
def test_the_plain_step_is_algorithm_2_to_the_bit(alpha: float) -> None:
    """The worker's arithmetic, written out: what the paper demo's bit-identity rests on."""
    rng = np.random.default_rng(3)
    target = rng.normal(size=4)
    state = AdmmState(4, relaxation=alpha, memory=0)
    x, u, rho_prev = np.zeros(4), np.zeros(4), 1.0
    for iteration, rho in enumerate([1.0, 2.0, 2.0, 0.5], start=1):
        z = rng.normal(size=4)
        outcome = state.step(
            Iterate(iteration=iteration, rho=rho, rho_prev=rho_prev, z=z), _shift(target)
        )
        primal = x - z
        u = (u + primal) * (rho_prev / rho)
        dual_sq = float(u @ u)
        x_prev_sq = float(x @ x)
        x = (target + rho * (z - u)) / (1.0 + rho)
        if alpha != 1.0:
            u = u + (alpha - 1.0) * (x - z)
        assert outcome.omega.tobytes() == (x + u).tobytes()
        assert (outcome.primal_sq, outcome.x_sq, outcome.dual_sq) == (
            float(primal @ primal),
            x_prev_sq,
            dual_sq,
        )
        assert outcome.gram.size == 0 and outcome.curvature.size == 0
        rho_prev = rho


def test_an_accelerated_step_starts_from_the_combination_of_sent_points() -> None:
    target = np.array([1.0, -2.0, 0.5])
    state = AdmmState(3, relaxation=1.0, memory=2)
    sent = []
    for iteration in (1, 2):
        z = np.full(3, 0.1 * iteration)
        sent.append(
            state.step(Iterate(iteration=iteration, rho=1.0, rho_prev=1.0, z=z), _shift(target))
        )
    z = np.full(3, 0.3)
    mix = np.array([-0.5, 1.5])
    base = -0.5 * sent[0].omega + 1.5 * sent[1].omega
    outcome = state.step(
        Iterate(iteration=3, rho=1.0, rho_prev=1.0, z=z, mix=mix, restart=True), _shift(target)
    )
    u = base - z
    x = (target + (z - u)) / 2.0
    np.testing.assert_allclose(outcome.omega, x + u, rtol=0, atol=1e-15)
    # the window restarted after the combination: the new point alone, its own row
    assert outcome.gram.shape == (1,)
    np.testing.assert_allclose(outcome.gram[0], float((x - z) @ (x - z)))


def test_a_replacement_that_cannot_follow_a_combination_takes_the_plain_step() -> None:
    target = np.array([1.0, 2.0])
    state = AdmmState(2, relaxation=1.0, memory=3)
    state.resume(np.array([0.5, 0.5]), np.array([0.1, -0.1]))
    z = np.array([0.2, 0.4])
    outcome = state.step(
        Iterate(iteration=5, rho=2.0, rho_prev=2.0, z=z, mix=np.array([0.5, 0.5])),
        _shift(target),
    )
    plain = AdmmState(2, relaxation=1.0, memory=3)
    plain.resume(np.array([0.5, 0.5]), np.array([0.1, -0.1]))
    expected = plain.step(Iterate(iteration=5, rho=2.0, rho_prev=2.0, z=z), _shift(target))
    assert outcome.omega.tobytes() == expected.omega.tobytes()
    assert outcome.gram.shape == (1,)  # a shorter row than the others': the scheduler restarts


def test_curvature_terms_are_exact_secants_of_f_and_of_h() -> None:
    """f_w(x) = (a/2)‖x‖²: g = ρ(z - u - x) is ∇f_w(x) = a·x after an exact x-update, so the
    f-terms are a‖Δx‖², a²‖Δx‖², ‖Δx‖²; y = ρ_prev(p - z) is the worker's share of ∂h(z),
    here with p the last ω sent (the plain step). The first snapshot reports none."""
    a = 3.0
    state = AdmmState(2, relaxation=1.0, memory=0)

    def scaled(rho: float, center: np.ndarray, _x0: np.ndarray) -> np.ndarray:
        return rho * center / (a + rho)

    def snapshot(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        base, z_copy = state.x + state.dual, z.copy()
        return base, z_copy

    z1 = np.array([1.0, 2.0])
    base1, _ = snapshot(z1)
    first = state.step(Iterate(iteration=1, rho=1.0, rho_prev=1.0, z=z1, snapshot=True), scaled)
    x_first, y_first = state.x.copy(), 1.0 * (base1 - z1)
    state.step(Iterate(iteration=2, rho=1.0, rho_prev=1.0, z=np.array([0.5, 0.5])), scaled)
    z3 = np.array([-1.0, 0.0])
    base3, _ = snapshot(z3)
    second = state.step(Iterate(iteration=3, rho=1.0, rho_prev=1.0, z=z3, snapshot=True), scaled)
    assert first.curvature.size == 0
    step, change_y, step_z = state.x - x_first, (base3 - z3) - y_first, z3 - z1
    np.testing.assert_allclose(
        second.curvature,
        [
            a * (step @ step),
            a * a * (step @ step),
            step @ step,
            step_z @ change_y,
            change_y @ change_y,
            step_z @ step_z,
        ],
        rtol=1e-12,
    )
