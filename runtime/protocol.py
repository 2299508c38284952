"""The wire protocol between workers and the scheduler: how the messages of
:mod:`runtime.messages` travel, defined once for both sides.

Every message is one msgpack map (arrays via msgpack-numpy) carrying a protocol
version, a message type, the solve id, the worker index and the iteration; a broadcast is two
frames, the PUB topic (the solve id) and the body, sealed once for every worker when the solve
uses a broadcast key (:mod:`runtime.sealed_broadcast`), its z dense, sparse or a delta,
whichever is smallest (:mod:`runtime.vector_codec`).

Decoding never trusts the peer: a frame that is not exactly what the type
requires raises :class:`ProtocolError`, and nothing is ever unpickled. The message classes
are re-exported here, so that code speaking the protocol imports one module.
"""

from __future__ import annotations

from typing import Any

import msgpack
import msgpack_numpy
import numpy as np

from runtime.anderson import MAX_WINDOW
from runtime.messages import (  # re-exported: the protocol's vocabulary
    CURVATURE_TERMS,
    LOCAL_STOP_REASONS,
    MAX_REASON_CHARS,
    MESSAGE_OVERHEAD_BYTES,
    Broadcast,
    Direct,
    Failed,
    Header,
    Iterate,
    Join,
    LossReport,
    MessageType,
    Refuse,
    Report,
    Retire,
    Terminate,
    Update,
    Welcome,
    WorkerMessage,
    max_message_bytes,
    max_worker_message_bytes,
)
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

__all__ = [
    "CURVATURE_TERMS",
    "LOCAL_STOP_REASONS",
    "MAX_REASON_CHARS",
    "MAX_WINDOW",
    "MESSAGE_OVERHEAD_BYTES",
    "Broadcast",
    "Direct",
    "Failed",
    "Header",
    "Iterate",
    "Join",
    "LossReport",
    "MessageType",
    "ProtocolError",
    "Refuse",
    "Report",
    "Retire",
    "Terminate",
    "Update",
    "Welcome",
    "WorkerMessage",
    "decode_broadcast",
    "decode_direct",
    "decode_worker_message",
    "encode_broadcast",
    "encode_direct",
    "encode_worker_message",
    "max_message_bytes",
    "max_worker_message_bytes",
]


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
