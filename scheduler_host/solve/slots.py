"""Worker slots: who holds each slot, and the state a replacement resumes from.

A slot is one share of the rows.  Its holder is identified by the slot epoch
(bumped at every replacement) and the ZMQ routing id of the joined worker, so
a duplicate delivery of the same spawn request, or a worker declared dead that
is in fact only slow, is refused and its messages are ignored.

State for a replacement is rebuilt from what the scheduler already has, with
no extra traffic: after iteration j a worker holds ``ω^j = x^j + u^j`` (sent),
and its dual is ``u^j = (ω^{j-1} - z^j)·ρ_{j-1}/ρ_j`` (Algorithm 2, steps 1-2).
So keeping the previous ω and u per slot gives ``(x^j, u^j)`` for any slot,
whether or not it has reported the open iteration.

With over-relaxation (α ≠ 1, Boyd et al. §3.4.3) a worker sends ``ω^j = x^j + v^j`` with
``v^j = u^j + (α - 1)(x^j - z^j)``, the dual before the z-step, which it keeps as its
dual; then ``ω^j - u^j = x̂^j = α x^j + (1 - α) z^j`` and ``x^j = (x̂^j - (1 - α) z^j)/α``,
and a replacement is handed ``(x^j, v^j)``.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from runtime.protocol import CURVATURE_TERMS, Update


class SlotState(StrEnum):
    SPAWNED = "spawned"  # spawn requested, not joined yet
    JOINED = "joined"  # holder computing or waiting
    RETIRING = "retiring"  # holder gave notice; a successor is being spawned
    VACANT = "vacant"  # holder gone (retired or dead); successor not welcomed yet


@dataclass
class Slot:
    index: int
    epoch: int = 0
    state: SlotState = SlotState.SPAWNED
    peer: bytes | None = None
    spawned_at: float = 0.0
    active_since: float = 0.0  # when the current holder was welcomed
    respawns: int = 0  # replacements after failures (planned hand-offs do not count)
    spawn_epoch: int = 0  # the highest epoch spawned for this slot
    successor_epoch: int | None = None
    successor_peer: bytes | None = None
    successor_spawned_at: float = 0.0
    recent_compute: deque[float] = field(default_factory=lambda: deque(maxlen=5))


class SlotRegistry:
    """Slot holders; the coordinator changes them, masters ask :meth:`admits`."""

    def __init__(self, *, num_workers: int) -> None:
        self._lock = threading.Lock()
        self.slots = [Slot(index=index) for index in range(num_workers)]

    def admits(self, worker_index: int, epoch: int, peer: bytes) -> str | None:
        """None if this peer holds the slot at this epoch, else why its message is dropped."""
        with self._lock:
            slot = self.slots[worker_index]
            if epoch != slot.epoch:
                return (
                    f"message from worker {worker_index} of epoch {epoch} (slot is at {slot.epoch})"
                )
            if peer != slot.peer or slot.state not in (SlotState.JOINED, SlotState.RETIRING):
                return f"message from a worker that does not hold slot {worker_index}"
            return None

    def set_holder(self, slot: Slot, *, epoch: int, peer: bytes | None, state: SlotState) -> None:
        with self._lock:
            slot.epoch, slot.peer, slot.state = epoch, peer, state


@dataclass(frozen=True)
class Reduction:
    """One global step's sums over the slots, each added in worker order.

    Attributes
    ----------
    omega_sum : np.ndarray, shape (d,)
        ``Σ_w ω_w``, each stale ω re-expressed in the current ρ (:meth:`UpdateSlots.reduce`).
    primal_sq_sum, x_sq_sum, dual_sq_sum : float
        ``Σ_w q_w``, ``Σ_w ‖x_w‖²``, ``Σ_w ‖u_w‖²``.
    loss_sum : float or None
        ``Σ_w f_w(z)`` when every slot's update is of the iteration reduced (one z), else None.
    gram_row : np.ndarray or None
        ``Σ_w`` of the workers' Anderson Gram rows when they all have one length, else None.
    curvature : np.ndarray or None
        ``Σ_w`` of the workers' curvature terms (the spectral ρ rule's f-part) when every
        slot sent them for the iteration reduced, else None.
    """

    omega_sum: np.ndarray
    primal_sq_sum: float
    x_sq_sum: float
    dual_sq_sum: float
    loss_sum: float | None
    gram_row: np.ndarray | None
    curvature: np.ndarray | None = None


class UpdateSlots:
    """Per slot: the latest ``ω`` and ``q``, the ``ω`` before it, and the iterations they used;
    and the z and ρ of the iterations those updates may refer to.

    A worker's update for iteration j used ``z^j`` and ``ρ_j``; before it, the worker
    rescaled its dual by its own previous ``ρ`` (that of its previous update, j'):
    ``u = (ω^{j'} - z^j)·ρ_{j'}/ρ_j`` and ``x = ω^j - u``.  That holds in sync mode
    (j' = j - 1) and in async mode alike, so a replacement resumes exactly.

    Masters store while the coordinator sums (async mode keeps accepting updates during
    a global step), so every access holds one lock: a sum never sees half an update.
    """

    def __init__(
        self, *, num_workers: int, num_features: int, rho0: float, relaxation: float = 1.0
    ) -> None:
        self._lock = threading.Lock()
        self._relaxation = relaxation
        self._omega = np.zeros((num_workers, num_features))
        self._omega_before = np.zeros((num_workers, num_features))
        self._primal_sq = np.zeros(num_workers)
        self._x_sq = np.zeros(num_workers)
        self._dual_sq = np.zeros(num_workers)
        self._loss_at_z = np.zeros(num_workers)
        self._gram: list[np.ndarray] = [np.zeros(0)] * num_workers
        self._curvature: list[np.ndarray] = [np.zeros(0)] * num_workers
        self._iteration = np.zeros(num_workers, dtype=np.int64)
        self._iteration_before = np.zeros(num_workers, dtype=np.int64)
        self._z_of: dict[int, np.ndarray] = {}
        self._rho_of: dict[int, float] = {0: rho0}

    def open_iteration(self, iteration: int, *, z: np.ndarray, rho: float) -> None:
        """Record the z and ρ broadcast for ``iteration``; forget z's no update can refer to."""
        with self._lock:
            self._z_of[iteration], self._rho_of[iteration] = z, rho
            oldest = int(self._iteration.min())
            for old in [k for k in self._z_of if k < oldest]:
                del self._z_of[old]

    def store(self, update: Update) -> None:
        """One worker's update (each slot is written by one master at a time)."""
        index = update.header.worker_index
        with self._lock:
            self._omega_before[index] = self._omega[index]
            self._iteration_before[index] = self._iteration[index]
            self._omega[index] = update.omega
            self._primal_sq[index] = update.primal_sq
            self._x_sq[index] = update.x_sq
            self._dual_sq[index] = update.dual_sq
            self._loss_at_z[index] = update.loss_at_z
            self._gram[index] = update.gram
            self._curvature[index] = update.curvature
            self._iteration[index] = update.header.iteration

    def reduce(self, *, rho: float, iteration: int) -> Reduction:
        """The sums of the global step of ``iteration`` (bit-reproducible: worker order, the
        scalars summed exactly), with each stale ``ω = x + u`` re-expressed in the current ρ.

        An update computed at ρ_j carries ``u`` scaled by ``1/ρ_j``; the z-update at ρ
        needs ``x + u·ρ_j/ρ`` (async mode, where ρ may have changed since).  In sync mode
        every update used ρ and nothing is re-expressed.
        """
        with self._lock:
            omega = self._omega
            stale = [
                index
                for index in range(len(omega))
                if self._iteration[index] > 0 and self._rho_of[int(self._iteration[index])] != rho
            ]
            if stale:
                omega = omega.copy()
                for index in stale:
                    done = int(self._iteration[index])
                    _, _, dual = self._state_of(index)
                    omega[index] += dual * (self._rho_of[done] / rho - 1.0)
            lengths = {row.shape[0] for row in self._gram}
            one_z = bool(np.all(self._iteration == iteration))
            curvature_complete = one_z and all(
                terms.shape[0] == CURVATURE_TERMS for terms in self._curvature
            )
            return Reduction(
                omega_sum=omega.sum(axis=0),
                primal_sq_sum=math.fsum(self._primal_sq),
                x_sq_sum=math.fsum(self._x_sq),
                dual_sq_sum=math.fsum(self._dual_sq),
                loss_sum=math.fsum(self._loss_at_z) if one_z else None,
                gram_row=np.sum(self._gram, axis=0) if len(lengths) == 1 else None,
                curvature=np.sum(self._curvature, axis=0) if curvature_complete else None,
            )

    def oldest_iteration(self) -> int:
        with self._lock:
            return int(self._iteration.min())

    def state_of(self, index: int) -> tuple[int, np.ndarray, np.ndarray]:
        """``(last iteration done, x, u)`` of a slot, from the z and ρ of past iterations."""
        with self._lock:
            return self._state_of(index)

    def _state_of(self, index: int) -> tuple[int, np.ndarray, np.ndarray]:
        done = int(self._iteration[index])
        if done == 0:
            return 0, np.zeros_like(self._omega[index]), np.zeros_like(self._omega[index])
        before = int(self._iteration_before[index])
        dual = (self._omega_before[index] - self._z_of[done]) * (
            self._rho_of[before] / self._rho_of[done]
        )
        omega = self._omega[index]
        if self._relaxation == 1.0:
            return done, omega - dual, dual
        alpha, z = self._relaxation, self._z_of[done]
        x = (omega - dual - (1.0 - alpha) * z) / alpha
        return done, x, omega - x
