"""Update slots and the iteration ledger as units: hand-off state, re-expression, torn reads."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest

from runtime.protocol import Header, MessageType, Update
from scheduler_host.solve.masters import IterationLedger
from scheduler_host.solve.slots import SlotRegistry, SlotState, UpdateSlots

SOLVE = "s" * 32


def _update(
    worker: int,
    iteration: int,
    omega: np.ndarray,
    primal_sq: float = 0.0,
    *,
    loss_at_z: float = 0.0,
    gram: np.ndarray | None = None,
) -> Update:
    return Update(
        header=Header(
            type=MessageType.UPDATE, solve_id=SOLVE, worker_index=worker, iteration=iteration
        ),
        omega=omega,
        primal_sq=primal_sq,
        compute_seconds=0.0,
        idle_seconds=0.0,
        local_iterations=1,
        loss_at_z=loss_at_z,
        x_sq=primal_sq + 1.0,
        dual_sq=2.0 * primal_sq,
        gram=np.zeros(0) if gram is None else gram,
        curvature=np.zeros(0),
        retiring=False,
        final=False,
    )


def _worker_step(x, u, *, z, rho, rho_last, alpha=1.0):
    """Algorithm 2 steps 1-2, a stand-in x-update and the over-relaxation of the dual
    (runtime.worker): what a real worker sends is ``x + u``."""
    u = (u + x - z) * (rho_last / rho)
    x = z - u + 0.1 * np.arange(len(z))  # any new x will do
    if alpha != 1.0:
        u = u + (alpha - 1.0) * (x - z)
    return x, u


@pytest.mark.parametrize("alpha", [1.0, 1.6])
def test_state_of_rebuilds_the_workers_x_and_u_exactly(alpha: float) -> None:
    rng = np.random.default_rng(0)
    slots = UpdateSlots(num_workers=1, num_features=5, rho0=1.0, relaxation=alpha)
    x, u, rho_last = np.zeros(5), np.zeros(5), 1.0
    for iteration, rho in enumerate([1.0, 2.0, 2.0, 0.5], start=1):
        z = rng.normal(size=5)
        slots.open_iteration(iteration, z=z, rho=rho)
        x, u = _worker_step(x, u, z=z, rho=rho, rho_last=rho_last, alpha=alpha)
        rho_last = rho
        slots.store(_update(0, iteration, x + u))
        done, x_held, u_held = slots.state_of(0)
        assert done == iteration
        np.testing.assert_allclose(x_held, x, rtol=0, atol=1e-13)
        np.testing.assert_allclose(u_held, u, rtol=0, atol=1e-13)


def test_a_slot_that_never_reported_resumes_from_zero() -> None:
    slots = UpdateSlots(num_workers=2, num_features=3, rho0=1.0)
    assert [a.tolist() if hasattr(a, "tolist") else a for a in slots.state_of(1)] == [
        0,
        [0.0] * 3,
        [0.0] * 3,
    ]


def test_stale_updates_are_re_expressed_in_the_current_rho() -> None:
    slots = UpdateSlots(num_workers=2, num_features=2, rho0=1.0)
    z1 = np.array([1.0, -1.0])
    slots.open_iteration(1, z=z1, rho=1.0)
    x0, u0 = _worker_step(np.zeros(2), np.zeros(2), z=z1, rho=1.0, rho_last=1.0)
    slots.store(_update(0, 1, x0 + u0, primal_sq=1.0))
    slots.store(_update(1, 1, x0 + u0, primal_sq=2.0))
    slots.open_iteration(2, z=z1, rho=4.0)  # ρ quadrupled; worker 1 is still at iteration 1
    x1, u1 = _worker_step(x0, u0, z=z1, rho=4.0, rho_last=1.0)
    slots.store(_update(0, 2, x1 + u1, primal_sq=0.5))
    reduction = slots.reduce(rho=4.0, iteration=2)
    np.testing.assert_allclose(reduction.omega_sum, (x1 + u1) + (x0 + u0 * 1.0 / 4.0), atol=1e-14)
    assert reduction.primal_sq_sum == 2.5
    assert reduction.loss_sum is None  # the two updates were computed at two z's


def test_a_reduction_sums_the_scalars_and_the_gram_rows_in_worker_order() -> None:
    slots = UpdateSlots(num_workers=3, num_features=2, rho0=1.0)
    slots.open_iteration(1, z=np.zeros(2), rho=1.0)
    for worker in (2, 0, 1):  # arrival order does not matter
        slots.store(
            _update(
                worker,
                1,
                np.full(2, float(worker)),
                primal_sq=0.1 * worker,
                loss_at_z=10.0**worker,
                gram=np.array([1.0, float(worker)]),
            )
        )
    reduction = slots.reduce(rho=1.0, iteration=1)
    assert reduction.omega_sum.tolist() == [3.0, 3.0]
    primal_sq = [0.1 * worker for worker in range(3)]
    assert reduction.primal_sq_sum == math.fsum(primal_sq)  # exactly rounded
    assert reduction.x_sq_sum == math.fsum(value + 1.0 for value in primal_sq)
    assert reduction.dual_sq_sum == math.fsum(2.0 * value for value in primal_sq)
    assert reduction.loss_sum == 111.0
    assert reduction.gram_row is not None and reduction.gram_row.tolist() == [3.0, 3.0]
    # a worker that could not follow the window (a replacement) sends a shorter row
    slots.open_iteration(2, z=np.zeros(2), rho=1.0)
    slots.store(_update(1, 2, np.zeros(2), gram=np.array([5.0])))
    mixed = slots.reduce(rho=1.0, iteration=2)
    assert mixed.gram_row is None
    assert mixed.loss_sum is None  # workers 0 and 2 are still at iteration 1


def test_history_is_forgotten_once_no_update_refers_to_it() -> None:
    slots = UpdateSlots(num_workers=1, num_features=1, rho0=1.0)
    for iteration in (1, 2, 3):
        slots.open_iteration(iteration, z=np.full(1, float(iteration)), rho=1.0)
        slots.store(_update(0, iteration, np.zeros(1)))
    assert sorted(slots._z_of) == [2, 3]  # iteration 1's z can no longer be asked for


def test_a_sum_never_sees_half_an_update() -> None:
    """Masters store while the coordinator sums (async mode). Each update is a constant
    vector, so a sum of whole updates is constant too; a torn read is not."""
    num_workers, num_features = 4, 200_000
    slots = UpdateSlots(num_workers=num_workers, num_features=num_features, rho0=1.0)
    slots.open_iteration(1, z=np.zeros(num_features), rho=1.0)
    stop = threading.Event()
    vectors = [np.full(num_features, float(value)) for value in range(1, 9)]

    def hammer() -> None:
        count = 0
        while not stop.is_set():
            count += 1
            slots.store(_update(count % num_workers, 1, vectors[count % len(vectors)]))

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        torn = 0
        for _ in range(300):
            omega_sum = slots.reduce(rho=1.0, iteration=1).omega_sum
            torn += int(omega_sum.min() != omega_sum.max())
    finally:
        stop.set()
        thread.join()
    assert torn == 0


@pytest.mark.parametrize(
    ("max_delay", "open_at", "claims", "refusals"),
    [
        # sync: only the open iteration, once per worker
        (
            1,
            3,
            [(0, 3), (0, 3), (1, 2), (1, 4)],
            [
                None,
                "duplicate update from worker 0 for iteration 3",
                "stale update for iteration 2 (open: 3)",
                "stale update for iteration 4 (open: 3)",
            ],
        ),
        # async: the last τ iterations, each worker's strictly increasing
        (
            3,
            5,
            [(0, 3), (0, 5), (0, 4), (1, 2)],
            [
                None,
                None,
                "duplicate update from worker 0 for iteration 4",
                "stale update for iteration 2 (open: 5)",
            ],
        ),
    ],
)
def test_the_ledger_counts_each_update_once(max_delay, open_at, claims, refusals) -> None:
    ledger = IterationLedger(max_delay=max_delay)
    assert ledger.claim(0, 1) == "stale update for iteration 1 (open: -1)"  # nothing open yet
    ledger.open(open_at)
    assert [ledger.claim(worker, iteration) for worker, iteration in claims] == refusals


def test_the_registry_admits_only_the_holder_at_its_epoch() -> None:
    registry = SlotRegistry(num_workers=2)
    slot = registry.slots[1]
    assert registry.admits(1, 0, b"a") == "message from a worker that does not hold slot 1"
    registry.set_holder(slot, epoch=0, peer=b"a", state=SlotState.JOINED)
    assert registry.admits(1, 0, b"a") is None
    assert registry.admits(1, 0, b"b") == "message from a worker that does not hold slot 1"
    registry.set_holder(slot, epoch=1, peer=b"b", state=SlotState.JOINED)
    assert registry.admits(1, 0, b"a") == "message from worker 1 of epoch 0 (slot is at 1)"
