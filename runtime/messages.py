"""The messages between workers and the scheduler, defined once for both sides.

How they travel is :mod:`runtime.protocol`'s (one msgpack map each, validated on receipt).

Worker -> scheduler (DEALER -> ROUTER front):
    ``join``   the worker has loaded its rows and is ready;
    ``update`` Algorithm 2's output for one iteration: ``omega = x + u`` and ``q = ‖x - z‖²``,
               the data term at the iteration's z (the objective's trace), the scales of the
               relative stopping rule, and its row of the Anderson Gram matrix;
    ``loss``   the data term ``f_w = Σ_{n in w} w_n loss_n`` and its gradient at the final z
               and at 0, for the reported objective and the optimality check at the stop;
    ``retire`` no time left for the open iteration: a successor must take the slot;
    ``failed`` the worker raised (possibly before it joined): its reason, and whether a
               replacement would fail the same way (bad data or spec: ``deterministic``).

Scheduler -> workers (PUB, topic = solve id):
    ``iterate``   ``(k, rho, rho_prev, z, mix, restart)``: compute iteration k (from the
                  Anderson combination ``mix`` of the last points, when it is not empty);
    ``terminate`` the final z: report the local loss and gradient, then exit;
    ``report``    a z to report the local loss and gradient at, staying for more iterations
                  (a regularization path reports at each λ on the same workers).

Scheduler -> one worker (ROUTER, answering its ``join``):
    ``welcome``   start; a replacement also gets its slot's state ``(k, x, u)``;
    ``refuse``    another worker already holds this slot (at-least-once delivery): exit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

#: The longest failure reason a worker sends (it truncates longer ones).
MAX_REASON_CHARS = 1000

#: The terms of a worker's curvature report (``Update.curvature``).
CURVATURE_TERMS = 6

#: Bytes a message may take beyond its float64 vectors (header and scalars).
MESSAGE_OVERHEAD_BYTES = 4096

#: Why a worker's local solver stopped (``runtime.local_solver.StopReason``), as an update
#: may say: its stopping test held, or it ran out of iterations.
LOCAL_STOP_REASONS = ("gradient", "relative_decrease", "max_iterations")


class MessageType(StrEnum):
    JOIN = "join"
    UPDATE = "update"
    LOSS = "loss"
    RETIRE = "retire"
    ITERATE = "iterate"
    TERMINATE = "terminate"
    REPORT = "report"
    WELCOME = "welcome"
    REFUSE = "refuse"
    FAILED = "failed"


def max_message_bytes(num_features: int, *, vectors: int = 1) -> int:
    """The ``ZMQ_MAXMSGSIZE`` of a d-dimensional solve: its vectors plus a generous 4 KiB.

    Real messages stay far below it (the header and scalars take about 150 bytes),
    also after CURVE adds its ~33 bytes per frame, which the limit counts.
    """
    return 8 * vectors * num_features + MESSAGE_OVERHEAD_BYTES


def max_worker_message_bytes(num_features: int) -> int:
    """The limit of the scheduler's front: the largest worker message, the loss report, with
    its two d-vectors ∇f_w(z) and ∇f_w(0)."""
    return max_message_bytes(num_features, vectors=2)


@dataclass(frozen=True)
class Header:
    type: MessageType
    solve_id: str
    worker_index: int
    iteration: int
    slot_epoch: int = 0


@dataclass(frozen=True)
class Join:
    header: Header
    row_start: int
    row_stop: int


@dataclass(frozen=True)
class Update:
    """One iteration's result (:class:`runtime.admm_state.StepOutcome`) with its timings.

    ``loss_at_z`` is ``f_w`` at the iteration's z; ``x_sq`` and ``dual_sq`` are ``‖x_prev‖²``
    and ``‖u‖²``; ``gram`` is the worker's row of the Anderson Gram matrix (may be empty);
    ``curvature`` its part of the spectral ρ rule's estimate of f's curvature (may be empty).
    """

    header: Header
    omega: np.ndarray
    primal_sq: float
    compute_seconds: float
    idle_seconds: float
    local_iterations: int
    loss_at_z: float
    x_sq: float
    dual_sq: float
    gram: np.ndarray
    curvature: np.ndarray  # the spectral rule's six secant terms (AdmmState), or empty
    retiring: bool = False  # notice: the next update will be this worker's last
    final: bool = False  # this worker exits after this update; its successor takes over
    local_stop: str | None = None  # one of LOCAL_STOP_REASONS (None: no local solver said)


@dataclass(frozen=True)
class LossReport:
    """The data term ``f_w`` and its gradient (shape (d,)) at the final z and at 0."""

    header: Header
    loss: float
    gradient: np.ndarray
    loss_at_zero: float
    gradient_at_zero: np.ndarray
    holdout_loss: float | None = None  # Σ ℓ over the held-out rows (cross-validation)


@dataclass(frozen=True)
class Retire:
    """Leaving before computing; ``header.iteration`` is the last iteration completed."""

    header: Header


@dataclass(frozen=True)
class Failed:
    """The worker raised; ``header.iteration`` is the last iteration it completed."""

    header: Header
    reason: str
    deterministic: bool  # bad data, bad spec, checksum mismatch: a replacement fails too

    @classmethod
    def of(cls, header: Header, reason: str, *, deterministic: bool) -> Failed:
        """A failure report with its reason cut to :data:`MAX_REASON_CHARS`."""
        if len(reason) > MAX_REASON_CHARS:
            reason = reason[: MAX_REASON_CHARS - 3] + "..."
        return cls(header=header, reason=reason, deterministic=deterministic)


@dataclass(frozen=True)
class Iterate:
    """Compute iteration k at ``z``; ``mix``: Anderson coefficients over the worker's newest
    points (empty: the plain step); ``restart``: forget the window after using it;
    ``snapshot``: the spectral ρ rule estimates at this iteration."""

    iteration: int
    rho: float
    rho_prev: float
    z: np.ndarray
    mix: np.ndarray = field(default_factory=lambda: np.zeros(0))
    restart: bool = False
    snapshot: bool = False  # report the curvature since the last snapshot, and take one


@dataclass(frozen=True)
class Terminate:
    iteration: int
    z: np.ndarray
    reason: str


@dataclass(frozen=True)
class Report:
    """Report ``f_w`` and ``∇f_w`` at ``z`` (as for :class:`Terminate`) and stay."""

    iteration: int
    z: np.ndarray


@dataclass(frozen=True)
class Welcome:
    """Go ahead; ``x``/``u`` are the slot's state after ``last_iteration`` (None: fresh start)."""

    last_iteration: int
    x: np.ndarray | None = None
    u: np.ndarray | None = None


@dataclass(frozen=True)
class Refuse:
    reason: str


WorkerMessage = Join | Update | LossReport | Retire | Failed
Broadcast = Iterate | Terminate | Report
Direct = Welcome | Refuse
