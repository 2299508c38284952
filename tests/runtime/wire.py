"""The wire a decoder is configured for, and what a decoded message must satisfy.

:class:`Wire` decodes for one solve; :func:`check_worker_message` and :func:`check_broadcast` are
the invariants the scheduler and the workers rely on once a message decoded, and
:func:`outcome` decodes under the pickle tripwire (any payload built with :data:`PICKLE_PAYLOADS`
records itself in :data:`UNPICKLED` if it is ever unpickled).  Shared by the protocol fuzz tests
(``tests/runtime/test_protocol_fuzz.py``) and the live scheduler fuzz tests
(``tests/solve/test_scheduler_fuzz.py``).
"""

from __future__ import annotations

import math
import pickle
import struct
import typing
from dataclasses import dataclass
from typing import Any

import msgpack
import msgpack_numpy
import numpy as np
from hypothesis import HealthCheck, event, settings

from runtime import protocol
from runtime.protocol import (
    MAX_REASON_CHARS,
    Failed,
    Iterate,
    Join,
    LossReport,
    MessageType,
    ProtocolError,
    Terminate,
    Update,
    decode_broadcast,
    decode_worker_message,
    encode_broadcast,
    encode_worker_message,
    max_worker_message_bytes,
)

EPOCH_MAX = 2**31
INT_MAX = 2**31  # the bound on broadcast iterations and local iteration counts
MSGPACK_INT_MIN, MSGPACK_INT_MAX = -(2**63), 2**64 - 1

HEADER_KEYS = ("v", "type", "solve", "worker", "epoch", "iter")
KEYS_OF = {
    MessageType.UPDATE: (
        *HEADER_KEYS,
        "omega",
        "q",
        "compute_s",
        "idle_s",
        "local_iters",
        "loss_z",
        "xsq",
        "usq",
        "gram",
        "curv",
        "local_stop",
    ),
    MessageType.JOIN: (*HEADER_KEYS, "rows"),
    MessageType.LOSS: (*HEADER_KEYS, "loss", "grad", "loss0", "grad0"),
    MessageType.FAILED: (*HEADER_KEYS, "reason", "deterministic"),
    MessageType.ITERATE: (
        "v",
        "type",
        "solve",
        "iter",
        "rho",
        "rho_prev",
        "z",
        "mix",
        "restart",
        "snapshot",
    ),
    MessageType.TERMINATE: ("v", "type", "solve", "iter", "z", "reason"),
}
WORKER_KEYS = tuple(
    dict.fromkeys(
        KEYS_OF[MessageType.UPDATE]
        + KEYS_OF[MessageType.JOIN]
        + KEYS_OF[MessageType.LOSS]
        + KEYS_OF[MessageType.FAILED]
    )
)
BROADCAST_KEYS = tuple(dict.fromkeys(KEYS_OF[MessageType.ITERATE] + KEYS_OF[MessageType.TERMINATE]))
OTHER_KEYS = ("retiring", "final", "x", "u", "nd")  # fields of other or future messages

FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# --- the tripwire: unpickling any payload built here calls _trip ---------------------------

UNPICKLED: list[str] = []


def _trip(note: str) -> str:
    UNPICKLED.append(note)
    return note


class Tripwire:
    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (_trip, ("network bytes were unpickled",))


PICKLE_PAYLOADS = (
    pickle.dumps(Tripwire(), protocol=2),
    pickle.dumps(Tripwire()),
    pickle.dumps(np.array([Tripwire()], dtype=object)),
)


# --- the solve a decoder is configured for ------------------------------------------------


@dataclass(frozen=True)
class Wire:
    solve_id: str
    workers: int
    features: int
    max_iteration: int

    @property
    def limit(self) -> int:
        return max_worker_message_bytes(self.features)

    def decode(self, raw: bytes) -> protocol.WorkerMessage:
        return decode_worker_message(
            raw,
            solve_id=self.solve_id,
            num_workers=self.workers,
            num_features=self.features,
            max_iteration=self.max_iteration,
        )

    def decode_broadcast(self, frames: list[bytes]) -> protocol.Broadcast:
        return decode_broadcast(frames, solve_id=self.solve_id, num_features=self.features)


def packed(body: Any, *, use_bin_type: bool = True) -> bytes:
    raw: bytes = msgpack.packb(body, default=msgpack_numpy.encode, use_bin_type=use_bin_type)
    return raw


# --- invariants ---------------------------------------------------------------------------


def _check_float(value: object, *, low: float = -math.inf) -> None:
    assert type(value) is float and math.isfinite(value) and value >= low, value


def _check_int(value: object, low: int, high: int) -> None:
    assert type(value) is int and low <= value <= high, value


def _check_short_vector(value: object) -> None:
    assert isinstance(value, np.ndarray)
    assert value.dtype == np.float64 and value.ndim == 1, value
    assert value.shape[0] <= protocol.MAX_WINDOW, value.shape
    assert np.isfinite(value).all(), value


def _check_vector(wire: Wire, value: object) -> None:
    assert isinstance(value, np.ndarray)
    assert value.dtype == np.float64 and value.shape == (wire.features,), value
    assert np.isfinite(value).all(), value


def check_worker_message(wire: Wire, message: object) -> None:
    """What the scheduler may rely on once a message decoded."""
    assert isinstance(message, typing.get_args(protocol.WorkerMessage))
    header = message.header
    assert header.solve_id == wire.solve_id
    assert isinstance(header.type, MessageType)
    _check_int(header.worker_index, 0, wire.workers - 1)
    _check_int(header.iteration, 0, wire.max_iteration)
    _check_int(header.slot_epoch, 0, EPOCH_MAX)
    if isinstance(message, Update):
        assert header.type is MessageType.UPDATE
        _check_vector(wire, message.omega)
        _check_float(message.primal_sq, low=0.0)
        _check_float(message.compute_seconds, low=0.0)
        _check_float(message.idle_seconds, low=0.0)
        _check_int(message.local_iterations, 0, INT_MAX)
        _check_float(message.loss_at_z)
        _check_float(message.x_sq, low=0.0)
        _check_float(message.dual_sq, low=0.0)
        _check_short_vector(message.gram)
        _check_short_vector(message.curvature)
        assert message.curvature.shape[0] <= protocol.CURVATURE_TERMS
        assert message.local_stop is None or message.local_stop in protocol.LOCAL_STOP_REASONS
    elif isinstance(message, Join):
        assert header.type is MessageType.JOIN
        _check_int(message.row_start, MSGPACK_INT_MIN, MSGPACK_INT_MAX)
        _check_int(message.row_stop, MSGPACK_INT_MIN, MSGPACK_INT_MAX)
    elif isinstance(message, LossReport):
        assert header.type is MessageType.LOSS
        _check_float(message.loss)
        _check_vector(wire, message.gradient)
        _check_float(message.loss_at_zero)
        _check_vector(wire, message.gradient_at_zero)
    elif isinstance(message, Failed):
        assert header.type is MessageType.FAILED
        assert isinstance(message.reason, str) and len(message.reason) <= MAX_REASON_CHARS
        assert type(message.deterministic) is bool
    # Whatever was accepted re-encodes to the very same message.
    assert_same_message(wire.decode(encode_worker_message(message)), message)


def check_broadcast(wire: Wire, message: object) -> None:
    """What a worker may rely on once a broadcast decoded."""
    assert isinstance(message, Iterate | Terminate)
    _check_int(message.iteration, 0, INT_MAX)
    _check_vector(wire, message.z)
    if isinstance(message, Iterate):
        _check_float(message.rho, low=0.0)
        _check_float(message.rho_prev, low=0.0)
        assert message.rho > 0.0 and message.rho_prev > 0.0  # workers divide by them
        _check_short_vector(message.mix)
        assert type(message.restart) is bool and type(message.snapshot) is bool
    else:
        assert isinstance(message.reason, str)
    assert_same_message(
        wire.decode_broadcast(encode_broadcast(message, solve_id=wire.solve_id)), message
    )


def _bits(value: object) -> object:
    """Exact identity: floats by their bits (-0.0 is not 0.0), arrays by dtype, shape, bytes."""
    if isinstance(value, float):
        return ("float", struct.pack("<d", value))
    if isinstance(value, np.ndarray):
        return ("array", value.dtype.str, value.shape, value.tobytes())
    return value


def assert_same_message(decoded: object, original: object) -> None:
    assert type(decoded) is type(original)
    for name in original.__dataclass_fields__:  # type: ignore[attr-defined]
        assert _bits(getattr(decoded, name)) == _bits(getattr(original, name)), name


def outcome(decode: Any, payload: Any) -> object | None:
    """The decoded message, or None for a ProtocolError; any other exception fails."""
    try:
        message = decode(payload)
    except ProtocolError as error:
        event(f"refused: {str(error).split(':')[0][:40]}")
        return None
    finally:
        assert not UNPICKLED, "network bytes were unpickled"
    event(f"accepted: {type(message).__name__}")
    return message
