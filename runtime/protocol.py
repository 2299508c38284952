"""The wire protocol between workers and the scheduler, defined once for both sides.

Every message is one msgpack map (arrays via msgpack-numpy) carrying a protocol
version, a message type, the solve id, the worker index and the iteration.

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

Decoding never trusts the peer: a frame that is not exactly what the type
requires raises :class:`ProtocolError`, and nothing is ever unpickled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import msgpack
import msgpack_numpy
import numpy as np

from runtime.anderson import MAX_WINDOW
from runtime.protocol_fields import (
    ProtocolError,
    bool_field,
    float_field,
    int_field,
    positive_field,
    short_vector_field,
    str_field,
    vector_field,
)
from runtime.sealed_broadcast import BroadcastSeal
from runtime.specs import PROTOCOL_VERSION
from runtime.vector_codec import Base, decode_vector, encode_vector

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


def _pack(body: dict[str, Any]) -> bytes:
    packed: bytes = msgpack.packb(body, default=msgpack_numpy.encode, use_bin_type=True)
    return packed


def _header_fields(header: Header) -> dict[str, Any]:
    return {
        "v": PROTOCOL_VERSION,
        "type": str(header.type),
        "solve": header.solve_id,
        "worker": header.worker_index,
        "epoch": header.slot_epoch,
        "iter": header.iteration,
    }


def encode_worker_message(message: WorkerMessage) -> bytes:
    body = _header_fields(message.header)
    if isinstance(message, Join):
        body.update(rows=[message.row_start, message.row_stop])
    elif isinstance(message, Update):
        body.update(
            omega=encode_vector(message.omega),
            q=float(message.primal_sq),
            compute_s=float(message.compute_seconds),
            idle_s=float(message.idle_seconds),
            local_iters=int(message.local_iterations),
            loss_z=float(message.loss_at_z),
            xsq=float(message.x_sq),
            usq=float(message.dual_sq),
            gram=np.ascontiguousarray(message.gram, dtype=np.float64),
            curv=np.ascontiguousarray(message.curvature, dtype=np.float64),
            retiring=bool(message.retiring),
            final=bool(message.final),
        )
        if message.local_stop is not None:
            body.update(local_stop=str(message.local_stop))
    elif isinstance(message, LossReport):
        body.update(
            loss=float(message.loss),
            grad=np.ascontiguousarray(message.gradient, dtype=np.float64),
            loss0=float(message.loss_at_zero),
            grad0=np.ascontiguousarray(message.gradient_at_zero, dtype=np.float64),
        )
        if message.holdout_loss is not None:
            body.update(hloss=float(message.holdout_loss))
    elif isinstance(message, Failed):
        body.update(reason=str(message.reason), deterministic=bool(message.deterministic))
    return _pack(body)


def encode_broadcast(
    message: Broadcast,
    *,
    solve_id: str,
    seal: BroadcastSeal | None = None,
    base: Base | None = None,
) -> list[bytes]:
    """Two frames: the PUB topic (the solve id) and the body, sealed with ``seal`` if given
    (:mod:`runtime.sealed_broadcast`).  z goes dense, sparse, or (an iterate, with ``base``)
    as a delta against the z the workers hold, whichever is smallest
    (:mod:`runtime.vector_codec`)."""
    body: dict[str, Any] = {"v": PROTOCOL_VERSION, "solve": solve_id, "iter": message.iteration}
    z = encode_vector(message.z, base=base if isinstance(message, Iterate) else None)
    if isinstance(message, Iterate):
        mix = np.ascontiguousarray(message.mix, dtype=np.float64)
        body.update(
            type=str(MessageType.ITERATE),
            rho=message.rho,
            rho_prev=message.rho_prev,
            z=z,
            mix=mix,
            restart=bool(message.restart),
            snapshot=bool(message.snapshot),
        )
    elif isinstance(message, Report):
        body.update(type=str(MessageType.REPORT), z=z)
    else:
        body.update(type=str(MessageType.TERMINATE), z=z, reason=message.reason)
    topic = solve_id.encode()
    packed = _pack(body)
    return [topic, packed if seal is None else seal.seal(topic, packed)]


def _decode_array(obj: dict[Any, Any]) -> Any:
    """msgpack-numpy's array format, decoded strictly: float64 vectors only.

    ``msgpack_numpy.decode`` itself would ``pickle.loads`` an array of kind ``'O'``,
    which must never happen to bytes from the network.
    """
    if b"nd" not in obj:
        return obj
    if obj.get(b"nd") is not True or obj.get(b"type") != "<f8" or obj.get(b"kind") != b"":
        raise ProtocolError("arrays must be float64 vectors")
    shape, data = obj.get(b"shape"), obj.get(b"data")
    if not (isinstance(shape, list) and len(shape) == 1 and type(shape[0]) is int):
        raise ProtocolError(f"array shape must be one integer, got {shape!r}")
    if not isinstance(data, bytes) or len(data) != 8 * shape[0]:
        raise ProtocolError("array data does not match its shape")
    return np.frombuffer(data, dtype="<f8")


def encode_direct(message: Direct, *, solve_id: str) -> bytes:
    body: dict[str, Any] = {"v": PROTOCOL_VERSION, "solve": solve_id}
    if isinstance(message, Refuse):
        body.update(type=str(MessageType.REFUSE), reason=message.reason)
        return _pack(body)
    body.update(type=str(MessageType.WELCOME), iter=message.last_iteration)
    if message.x is not None and message.u is not None:
        body.update(
            x=np.ascontiguousarray(message.x, dtype=np.float64),
            u=np.ascontiguousarray(message.u, dtype=np.float64),
        )
    return _pack(body)


def _unpack(raw: bytes | memoryview, *, max_bytes: int) -> dict[str, Any]:
    if len(raw) > max_bytes:
        raise ProtocolError(f"message of {len(raw)} bytes exceeds the limit of {max_bytes}")
    try:
        body = msgpack.unpackb(
            raw,
            object_hook=_decode_array,
            raw=False,
            strict_map_key=True,
            max_bin_len=max_bytes,
            max_str_len=4096,
            max_array_len=16,
            max_map_len=32,
            max_ext_len=0,
        )
    except ProtocolError:
        raise
    except Exception as error:  # msgpack raises many types on garbage
        raise ProtocolError(f"undecodable message: {type(error).__name__}: {error}") from None
    if not isinstance(body, dict):
        raise ProtocolError(f"message must be a map, got {type(body).__name__}")
    version = body.get("v")
    if type(version) is not int or version != PROTOCOL_VERSION:
        raise ProtocolError(f"protocol version must be {PROTOCOL_VERSION}, got {version!r}")
    return body


def _unpack_for(
    raw: bytes | memoryview, *, max_bytes: int, solve_id: str
) -> tuple[dict[str, Any], str]:
    """The body of a message of this solve, and its type; header fields type-checked first."""
    body = _unpack(raw, max_bytes=max_bytes)
    solve, kind = body.get("solve"), body.get("type")
    if not isinstance(solve, str) or solve != solve_id:
        raise ProtocolError(f"unknown solve id {solve!r}")
    if not isinstance(kind, str):
        raise ProtocolError(f"unknown message type {kind!r}")
    return body, kind


def decode_worker_message(
    raw: bytes | memoryview,
    *,
    solve_id: str,
    num_workers: int,
    num_features: int,
    max_iteration: int,
) -> WorkerMessage:
    """Decode and validate one worker message for the solve described by the keywords."""
    body, type_name = _unpack_for(
        raw, max_bytes=max_worker_message_bytes(num_features), solve_id=solve_id
    )
    try:
        kind = MessageType(type_name)
    except ValueError:
        raise ProtocolError(f"unknown message type {type_name!r}") from None
    header = Header(
        type=kind,
        solve_id=solve_id,
        worker_index=int_field(body, "worker", low=0, high=num_workers - 1),
        iteration=int_field(body, "iter", low=0, high=max_iteration),
        slot_epoch=int_field(body, "epoch", low=0, high=2**31),
    )
    if kind is MessageType.JOIN:
        rows = body.get("rows")
        if not (isinstance(rows, list) and len(rows) == 2 and all(type(r) is int for r in rows)):
            raise ProtocolError(f"field 'rows' must be two integers, got {rows!r}")
        return Join(header=header, row_start=rows[0], row_stop=rows[1])
    if kind is MessageType.UPDATE:
        return Update(
            header=header,
            omega=_vector(body, "omega", length=num_features),
            primal_sq=float_field(body, "q", low=0.0),
            compute_seconds=float_field(body, "compute_s", low=0.0),
            idle_seconds=float_field(body, "idle_s", low=0.0),
            local_iterations=int_field(body, "local_iters", low=0, high=2**31),
            loss_at_z=float_field(body, "loss_z"),
            x_sq=float_field(body, "xsq", low=0.0),
            dual_sq=float_field(body, "usq", low=0.0),
            gram=short_vector_field(body, "gram", max_length=MAX_WINDOW),
            curvature=short_vector_field(body, "curv", max_length=CURVATURE_TERMS),
            retiring=bool_field(body, "retiring"),
            final=bool_field(body, "final"),
            local_stop=_local_stop(body),
        )
    if kind is MessageType.LOSS:
        return LossReport(
            header=header,
            loss=float_field(body, "loss"),
            gradient=vector_field(body, "grad", length=num_features),
            loss_at_zero=float_field(body, "loss0"),
            gradient_at_zero=vector_field(body, "grad0", length=num_features),
            holdout_loss=float_field(body, "hloss", low=0.0) if "hloss" in body else None,
        )
    if kind is MessageType.RETIRE:
        return Retire(header=header)
    if kind is MessageType.FAILED:
        if type(body.get("deterministic")) is not bool:
            raise ProtocolError(
                f"field 'deterministic' must be a boolean, got {body.get('deterministic')!r}"
            )
        return Failed(
            header=header,
            reason=str_field(body, "reason", max_length=MAX_REASON_CHARS),
            deterministic=bool_field(body, "deterministic"),
        )
    raise ProtocolError(f"message type {kind} is not sent by workers")


def _local_stop(body: dict[str, Any]) -> str | None:
    """An update's optional ``local_stop``: absent, or one of :data:`LOCAL_STOP_REASONS`."""
    if "local_stop" not in body:
        return None
    value = body["local_stop"]
    if not isinstance(value, str) or value not in LOCAL_STOP_REASONS:
        raise ProtocolError(
            f"field 'local_stop' must be one of {', '.join(LOCAL_STOP_REASONS)}, got {value!r:.80}"
        )
    return value


def decode_broadcast(
    frames: list[bytes],
    *,
    solve_id: str,
    num_features: int,
    seal: BroadcastSeal | None = None,
    base: Base | None = None,
) -> Broadcast:
    """Decode and validate one broadcast (a worker checks what it receives too); with ``seal``,
    only a body sealed with that key for this solve is opened.  ``base`` is the last z the
    receiver decoded, which a delta may refer to (:mod:`runtime.vector_codec`)."""
    topic = solve_id.encode()
    if len(frames) != 2 or frames[0] != topic:
        raise ProtocolError("broadcast must be [solve id topic, body]")
    raw = frames[1] if seal is None else seal.open(topic, frames[1])
    body, kind = _unpack_for(raw, max_bytes=max_message_bytes(num_features), solve_id=solve_id)
    iteration = int_field(body, "iter", low=0, high=2**31)
    z = _vector(body, "z", length=num_features, base=base if kind == MessageType.ITERATE else None)
    if kind == MessageType.ITERATE:
        return Iterate(
            iteration=iteration,
            rho=positive_field(body, "rho"),
            rho_prev=positive_field(body, "rho_prev"),
            z=z,
            mix=short_vector_field(body, "mix", max_length=MAX_WINDOW),
            restart=bool_field(body, "restart"),
            snapshot=bool_field(body, "snapshot"),
        )
    if kind == MessageType.TERMINATE:
        reason = body.get("reason")
        if not isinstance(reason, str):
            raise ProtocolError(f"field 'reason' must be a string, got {reason!r}")
        return Terminate(iteration=iteration, z=z, reason=reason)
    if kind == MessageType.REPORT:
        return Report(iteration=iteration, z=z)
    raise ProtocolError(f"unknown broadcast type {kind!r}")


def _vector(
    body: dict[str, Any], name: str, *, length: int, base: Base | None = None
) -> np.ndarray:
    """A vector field in any of the codec's forms, validated."""
    decoded = decode_vector(body.get(name), name=name, length=length, base=base)
    return vector_field(body, name, length=length) if decoded is None else decoded


def decode_direct(raw: bytes, *, solve_id: str, num_features: int) -> Direct:
    """Decode and validate a message the scheduler addressed to this worker."""
    body, kind = _unpack_for(raw, max_bytes=2 * max_message_bytes(num_features), solve_id=solve_id)
    if kind == MessageType.REFUSE:
        reason = body.get("reason")
        if not isinstance(reason, str):
            raise ProtocolError(f"field 'reason' must be a string, got {reason!r}")
        return Refuse(reason=reason)
    if kind != MessageType.WELCOME:
        raise ProtocolError(f"unknown direct message type {kind!r}")
    last_iteration = int_field(body, "iter", low=0, high=2**31)
    if "x" not in body:
        return Welcome(last_iteration=last_iteration)
    return Welcome(
        last_iteration=last_iteration,
        x=vector_field(body, "x", length=num_features),
        u=vector_field(body, "u", length=num_features),
    )
