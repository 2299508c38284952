"""The wire protocol between workers and the scheduler, defined once for both sides.

Every message is one msgpack map (arrays via msgpack-numpy) carrying a protocol
version, a message type, the solve id, the worker index and the iteration.

Worker -> scheduler (DEALER -> ROUTER front):
    ``join``   the worker has loaded its rows and is ready;
    ``update`` Algorithm 2's output for one iteration: ``omega = x + u`` and ``q = ‖x - z‖²``;
    ``loss``   the data term ``f_w = Σ_{n in w} w_n loss_n`` and its gradient at the final z
               and at 0, for the reported objective and the optimality check at the stop;
    ``retire`` no time left for the open iteration: a successor must take the slot;
    ``failed`` the worker raised (possibly before it joined): its reason, and whether a
               replacement would fail the same way (bad data or spec: ``deterministic``).

Scheduler -> workers (PUB, topic = solve id):
    ``iterate``   ``(k, rho, rho_prev, z)``: compute iteration k;
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

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import msgpack
import msgpack_numpy
import numpy as np

from runtime.protocol_fields import (
    ProtocolError,
    bool_field,
    float_field,
    int_field,
    positive_field,
    str_field,
    vector_field,
)
from runtime.specs import PROTOCOL_VERSION

#: The longest failure reason a worker sends (it truncates longer ones).
MAX_REASON_CHARS = 1000

#: Bytes a message may take beyond its float64 vectors (header and scalars).
MESSAGE_OVERHEAD_BYTES = 4096


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
    header: Header
    omega: np.ndarray
    primal_sq: float
    compute_seconds: float
    idle_seconds: float
    local_iterations: int
    retiring: bool = False  # notice: the next update will be this worker's last
    final: bool = False  # this worker exits after this update; its successor takes over


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
    iteration: int
    rho: float
    rho_prev: float
    z: np.ndarray


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
            omega=np.ascontiguousarray(message.omega, dtype=np.float64),
            q=float(message.primal_sq),
            compute_s=float(message.compute_seconds),
            idle_s=float(message.idle_seconds),
            local_iters=int(message.local_iterations),
            retiring=bool(message.retiring),
            final=bool(message.final),
        )
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


def encode_broadcast(message: Broadcast, *, solve_id: str) -> list[bytes]:
    """Two frames: the PUB topic (the solve id) and the body."""
    body: dict[str, Any] = {"v": PROTOCOL_VERSION, "solve": solve_id, "iter": message.iteration}
    z = np.ascontiguousarray(message.z, dtype=np.float64)
    if isinstance(message, Iterate):
        body.update(type=str(MessageType.ITERATE), rho=message.rho, rho_prev=message.rho_prev, z=z)
    elif isinstance(message, Report):
        body.update(type=str(MessageType.REPORT), z=z)
    else:
        body.update(type=str(MessageType.TERMINATE), z=z, reason=message.reason)
    return [solve_id.encode(), _pack(body)]


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


def _unpack(raw: bytes, *, max_bytes: int) -> dict[str, Any]:
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


def _unpack_for(raw: bytes, *, max_bytes: int, solve_id: str) -> tuple[dict[str, Any], str]:
    """The body of a message of this solve, and its type; header fields type-checked first."""
    body = _unpack(raw, max_bytes=max_bytes)
    solve, kind = body.get("solve"), body.get("type")
    if not isinstance(solve, str) or solve != solve_id:
        raise ProtocolError(f"unknown solve id {solve!r}")
    if not isinstance(kind, str):
        raise ProtocolError(f"unknown message type {kind!r}")
    return body, kind


def decode_worker_message(
    raw: bytes, *, solve_id: str, num_workers: int, num_features: int, max_iteration: int
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
            omega=vector_field(body, "omega", length=num_features),
            primal_sq=float_field(body, "q", low=0.0),
            compute_seconds=float_field(body, "compute_s", low=0.0),
            idle_seconds=float_field(body, "idle_s", low=0.0),
            local_iterations=int_field(body, "local_iters", low=0, high=2**31),
            retiring=bool_field(body, "retiring"),
            final=bool_field(body, "final"),
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


def decode_broadcast(frames: list[bytes], *, solve_id: str, num_features: int) -> Broadcast:
    """Decode and validate one broadcast (a worker checks what it receives too)."""
    if len(frames) != 2 or frames[0] != solve_id.encode():
        raise ProtocolError("broadcast must be [solve id topic, body]")
    body, kind = _unpack_for(
        frames[1], max_bytes=max_message_bytes(num_features), solve_id=solve_id
    )
    iteration = int_field(body, "iter", low=0, high=2**31)
    z = vector_field(body, "z", length=num_features)
    if kind == MessageType.ITERATE:
        return Iterate(
            iteration=iteration,
            rho=positive_field(body, "rho"),
            rho_prev=positive_field(body, "rho_prev"),
            z=z,
        )
    if kind == MessageType.TERMINATE:
        reason = body.get("reason")
        if not isinstance(reason, str):
            raise ProtocolError(f"field 'reason' must be a string, got {reason!r}")
        return Terminate(iteration=iteration, z=z, reason=reason)
    if kind == MessageType.REPORT:
        return Report(iteration=iteration, z=z)
    raise ProtocolError(f"unknown broadcast type {kind!r}")


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
