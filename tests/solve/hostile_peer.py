"""The hostile peer of the scheduler fuzz tests: what it sends, and when.

:class:`HostileSpawner` spawns the real local workers, then connects a thread to the front port
with worker 0's CURVE keys (or plain TCP) and fires an :class:`Attack` drawn by :data:`attacks`:
one batch as the workers start, one when the solve reaches the attack's trigger iteration.  The
solve and its tolerances are :data:`SPEC`; see ``tests/solve/test_scheduler_fuzz.py``.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import zmq
from hypothesis import strategies as st
from zmq.utils.monitor import recv_monitor_message

from runtime.protocol import (
    Failed,
    Header,
    Join,
    LossReport,
    MessageType,
    ProtocolError,
    Update,
    encode_worker_message,
)
from runtime.specs import SchedulerEndpoints, WorkerAssignment
from scheduler_host.results import IterationRecord
from scheduler_host.solve_spec import SolveSpec
from scheduler_host.spawners.local import LocalProcessSpawner
from tests.runtime.strategies import WireStrategies
from tests.runtime.wire import Wire, packed

SPEC = SolveSpec(
    samples=2000,
    features=40,
    density=0.1,
    workers=3,
    workers_per_master=1,  # three masters validate in parallel
    l1=0.5,
    eps_primal=1e-10,  # ~29 iterations under the spectral rule: room for attacks mid-solve
    eps_dual=1e-10,
    eps_grad=1e-9,
    max_iter=1000,
)
SOLVE_ID = "scheduler-fuzz"
WIRE = Wire(
    solve_id=SOLVE_ID, workers=SPEC.workers, features=SPEC.features, max_iteration=SPEC.max_iter
)
STRATEGIES = WireStrategies(WIRE)
# A broken solve fails in seconds instead of the production defaults' minutes.
TIMEOUTS = {
    "join_timeout_seconds": 60.0,
    "iteration_timeout_seconds": 30.0,
    "final_timeout_seconds": 30.0,
}
#: CURVE adds ~33 bytes to each frame on the wire, and ZMQ_MAXMSGSIZE counts them.
CURVE_SLACK = 64
COMPROMISED = 0  # the worker whose keys the hostile peer holds
#: Sent for every worker index when the solve reaches T: stale, duplicate, next, final.
REPLAYS = (("update", "first"), ("update", "trigger"), ("update", "next"), ("loss", "final"))


# --- what the peer sends --------------------------------------------------------------------


@dataclass(frozen=True)
class Forged:
    """A well-formed update or loss report with garbage values, for some worker and iteration.

    ``when``: 0, 1, T (the trigger), T + 1 (open next), K (the final iteration),
    beyond K (never opened) or the largest allowed.
    """

    kind: str
    worker: int
    when: str
    fill: float


@dataclass(frozen=True)
class Oversized:
    size: int
    multipart: bool


Shot = bytes | tuple[bytes, ...] | Forged | Oversized


@dataclass(frozen=True)
class Attack:
    trigger: int
    early: tuple[Shot, ...]
    during: tuple[Shot, ...]


_single = STRATEGIES.hostile_worker_frames()
_shots: st.SearchStrategy[Shot] = st.one_of(
    _single,
    _single,
    st.lists(
        st.one_of(_single, STRATEGIES.valid_worker_raw, st.just(b"")), min_size=2, max_size=4
    ).map(tuple),
    st.builds(
        Forged,
        kind=st.sampled_from(["update", "loss"]),
        worker=st.integers(0, SPEC.workers - 1),
        when=st.sampled_from(["zero", "first", "trigger", "next", "final", "never", "max"]),
        fill=st.one_of(st.just(1e6), st.floats(-1e300, 1e300)),
    ),
    st.builds(
        Oversized,
        size=st.integers(WIRE.limit + 1, 4 * WIRE.limit),
        multipart=st.booleans(),
    ),
)
attacks = st.builds(
    Attack,
    trigger=st.integers(2, 20),
    early=st.lists(_shots, max_size=20).map(tuple),
    during=st.lists(_shots, max_size=20).map(tuple),
)


def _forge(shot: Forged, *, trigger: int, final: int) -> bytes:
    iteration = {
        "zero": 0,
        "first": 1,
        "trigger": trigger,
        "next": trigger + 1,
        "final": final,
        "never": final + 1,
        "max": SPEC.max_iter,
    }[shot.when]
    if shot.kind == "loss":
        header = Header(MessageType.LOSS, SOLVE_ID, shot.worker, iteration)
        gradient = np.full(SPEC.features, shot.fill)
        report = LossReport(
            header=header,
            loss=shot.fill,
            gradient=gradient,
            loss_at_zero=shot.fill,
            gradient_at_zero=gradient,
        )
        return encode_worker_message(report)
    header = Header(MessageType.UPDATE, SOLVE_ID, shot.worker, iteration)
    update = Update(
        header=header,
        omega=np.full(SPEC.features, shot.fill),
        primal_sq=abs(shot.fill),
        compute_seconds=0.0,
        idle_seconds=0.0,
        local_iterations=1,
        loss_at_z=0.0,
        x_sq=0.0,
        dual_sq=0.0,
        gram=np.zeros(0),
        curvature=np.zeros(0),
    )
    return encode_worker_message(update)


def _verdict(raw: bytes, *, owner: int | None, final: int, closed_up_to: int) -> str:
    """What sending ``raw`` means: "refused" (it must be dropped), "harmless" (it cannot
    change the result) or "withheld" (the compromised worker lying about its own slot,
    which the scheduler cannot tell from the truth: not sent).

    ``owner``: the slot the sender's key holds (None: insecure, any slot);
    ``closed_up_to``: iterations up to this one are complete when the frame is sent.
    """
    try:
        message = WIRE.decode(raw)
    except ProtocolError:
        return "refused"
    iteration = message.header.iteration
    if owner is not None and message.header.worker_index != owner:
        verdict = "refused"  # another worker's slot: the key check refuses it
    elif isinstance(message, Join):
        verdict = "harmless"  # it only times the cold start
    elif isinstance(message, LossReport):
        verdict = "withheld" if iteration == final else "harmless"  # other iterations are ignored
    elif isinstance(message, Failed):
        # Ignored unless for a slot's current epoch (0: no replacement here) and, once the
        # holder joined (closed_up_to >= 1), deterministic; else it fails or vacates the slot.
        ignored = message.header.slot_epoch != 0 or (
            closed_up_to >= 1 and not message.deterministic
        )
        verdict = "harmless" if ignored else "withheld"
    elif not isinstance(message, Update):
        verdict = "withheld"  # a message type this test does not know: do not risk it
    elif iteration == 0:
        verdict = "harmless"  # counted before iteration 1 opens (then overwritten), else stale
    elif iteration > final or iteration <= closed_up_to:
        verdict = "refused"  # stale, duplicate, or for an iteration never opened
    else:
        verdict = "withheld"
    return verdict


def _client_socket(context: zmq.Context, endpoints: SchedulerEndpoints) -> zmq.Socket:
    sock = context.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 1000)
    if endpoints.server_public_key:
        sock.curve_serverkey = endpoints.server_public_key.encode()
        sock.curve_publickey = (endpoints.client_public_key or "").encode()
        sock.curve_secretkey = (endpoints.client_secret_key or "").encode()
    sock.connect(endpoints.front)
    return sock


class HostileSpawner(LocalProcessSpawner):
    """Spawns the real workers, then attacks the front port from a thread."""

    def __init__(self, *, attack: Attack, final: int, secure: bool, log_directory: Path) -> None:
        super().__init__(log_directory=log_directory)
        self.attack = attack
        self.final = final
        self.owner = COMPROMISED if secure else None
        self.sent = dict.fromkeys(["refused", "harmless", "withheld", "oversized", "borderline"], 0)
        self.errors: list[BaseException] = []
        self._triggered = threading.Event()
        self._during_sent = threading.Event()
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        self.fired_during = False
        self.disconnects = 0

    def spawn(self, assignments: list[WorkerAssignment]) -> None:
        super().spawn(assignments)
        endpoints = assignments[COMPROMISED].scheduler
        self._thread = threading.Thread(target=self._attack, args=(endpoints,), name="hostile")
        self._thread.start()

    def on_iteration(self, record: IterationRecord) -> None:
        """The coordinator's progress callback: hold iteration T until the batch is out."""
        if record.iteration == self.attack.trigger:
            self._triggered.set()
            self._during_sent.wait(timeout=30)

    def close(self) -> None:
        self._closing.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
            if self._thread.is_alive():
                self.errors.append(RuntimeError("the hostile thread did not finish"))
        super().close()

    def _attack(self, endpoints: SchedulerEndpoints) -> None:
        context = zmq.Context()
        try:
            main, big = _client_socket(context, endpoints), _client_socket(context, endpoints)
            monitor = big.get_monitor_socket(zmq.EVENT_DISCONNECTED)
            # Always: frames that must be dropped, one of them the known protocol bug's.
            sure = (b"\xc1", packed({"v": np.zeros(2)}))
            self._fire(main, big, (*sure, *self.attack.early), closed_up_to=0)
            while not self._triggered.wait(0.02):
                if self._closing.is_set():
                    return
            replays = tuple(
                Forged(kind=kind, worker=worker, when=when, fill=1e6)
                for worker in range(SPEC.workers)
                for kind, when in REPLAYS
            )
            # A valid update for the iteration about to open, with one frame too many.
            valid_next = Forged("update", COMPROMISED, "next", 0.0)
            self._fire(
                main,
                big,
                (*replays, (self._forge(valid_next), b""), *self.attack.during),
                closed_up_to=self.attack.trigger,
            )
            self.fired_during = True
            self._during_sent.set()
            self.disconnects = _disconnects(monitor, expected=self.sent["oversized"] > 0)
        except BaseException as error:
            self.errors.append(error)
        finally:
            self._during_sent.set()
            context.destroy(linger=1000)

    def _forge(self, shot: Forged) -> bytes:
        return _forge(shot, trigger=self.attack.trigger, final=self.final)

    def _fire(
        self, main: zmq.Socket, big: zmq.Socket, shots: tuple[Shot, ...], *, closed_up_to: int
    ) -> None:
        for shot in shots:
            if isinstance(shot, Oversized):
                parts = [b"\x00" * shot.size]
                frames = (
                    [encode_worker_message(_sample_join()), *parts] if shot.multipart else parts
                )
                self._send(big, frames, "oversized")
                continue
            if isinstance(shot, tuple):
                frames, verdict = list(shot), "refused"  # a multi-frame message is one message
            else:
                raw = self._forge(shot) if isinstance(shot, Forged) else shot
                frames = [raw]
                verdict = _verdict(
                    raw, owner=self.owner, final=self.final, closed_up_to=closed_up_to
                )
            if verdict == "withheld":
                self.sent["withheld"] += 1  # counted, not sent
                continue
            if any(len(frame) > WIRE.limit for frame in frames):
                self._send(big, frames, "oversized")
            elif any(len(frame) > WIRE.limit - CURVE_SLACK for frame in frames):
                self._send(big, frames, "borderline")  # delivered or not, depending on CURVE
            else:
                self._send(main, frames, verdict)

    def _send(self, sock: zmq.Socket, frames: list[bytes], verdict: str) -> None:
        with contextlib.suppress(zmq.Again):  # the pipe is full: not sent, not counted
            sock.send_multipart(frames, flags=zmq.NOBLOCK)
            self.sent[verdict] += 1


def _disconnects(monitor: zmq.Socket, *, expected: bool) -> int:
    """How many times the scheduler hung up on the oversized socket (waits for one if expected)."""
    count, deadline = 0, time.monotonic() + (10.0 if expected else 0.0)
    while True:
        if monitor.poll(50):
            if recv_monitor_message(monitor)["event"] == zmq.EVENT_DISCONNECTED:
                count += 1
        elif count or time.monotonic() > deadline:
            return count


def _sample_join() -> Join:
    return Join(header=Header(MessageType.JOIN, SOLVE_ID, COMPROMISED, 0), row_start=0, row_stop=1)
