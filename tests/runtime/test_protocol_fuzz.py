"""Property tests of the wire decoders: whatever the bytes, a valid message or ProtocolError.

``decode_worker_message`` and ``decode_broadcast`` take bytes from the network.
For arbitrary bytes, for msgpack that is structured but wrong (the right keys
with wrong types and values, arrays of the wrong dtype or shape, NaN/inf, huge
integers, nested junk, msgpack-numpy dicts with object dtypes and pickle
payloads, extension types), for truncated and byte-damaged valid messages and
for valid messages with one or a few fields changed, decoding either returns a
message whose invariants hold or raises :class:`ProtocolError`, never anything
else, and nothing is ever unpickled.  Valid messages round-trip exactly.

:class:`WireStrategies` is shared with ``tests/test_scheduler_fuzz.py``, which
fires the same frames at a live scheduler.
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
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from runtime import protocol
from runtime.protocol import (
    Header,
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
    max_message_bytes,
)
from runtime.specs import PROTOCOL_VERSION

EPOCH_MAX = 2**31
INT_MAX = 2**31  # the bound on broadcast iterations and local iteration counts
MSGPACK_INT_MIN, MSGPACK_INT_MAX = -(2**63), 2**64 - 1

HEADER_KEYS = ("v", "type", "solve", "worker", "epoch", "iter")
KEYS_OF = {
    MessageType.UPDATE: (*HEADER_KEYS, "omega", "q", "compute_s", "idle_s", "local_iters"),
    MessageType.JOIN: (*HEADER_KEYS, "rows"),
    MessageType.LOSS: (*HEADER_KEYS, "loss"),
    MessageType.ITERATE: ("v", "type", "solve", "iter", "rho", "rho_prev", "z"),
    MessageType.TERMINATE: ("v", "type", "solve", "iter", "z", "reason"),
}
WORKER_KEYS = tuple(
    dict.fromkeys(
        KEYS_OF[MessageType.UPDATE] + KEYS_OF[MessageType.JOIN] + KEYS_OF[MessageType.LOSS]
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


class _Tripwire:
    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (_trip, ("network bytes were unpickled",))


PICKLE_PAYLOADS = (
    pickle.dumps(_Tripwire(), protocol=2),
    pickle.dumps(_Tripwire()),
    pickle.dumps(np.array([_Tripwire()], dtype=object)),
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
        return max_message_bytes(self.features)

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


# --- strategies ---------------------------------------------------------------------------

finite_floats = st.floats(allow_nan=False, allow_infinity=False)
nonnegative_floats = st.floats(min_value=0.0, allow_nan=False, allow_infinity=False)
positive_floats = st.floats(min_value=0.0, exclude_min=True, allow_nan=False, allow_infinity=False)
msgpack_ints = st.integers(MSGPACK_INT_MIN, MSGPACK_INT_MAX)
_DELETE = object()


def packed(body: Any, *, use_bin_type: bool = True) -> bytes:
    raw: bytes = msgpack.packb(body, default=msgpack_numpy.encode, use_bin_type=use_bin_type)
    return raw


def _body_of(raw: bytes) -> dict[str, Any]:
    """The map a real encoder produced (arrays decoded), to change."""
    body: dict[str, Any] = msgpack.unpackb(raw, object_hook=msgpack_numpy.decode, raw=False)
    return body


def _poisoned(vector: np.ndarray, index: int, value: float) -> np.ndarray:
    vector = vector.copy()
    vector[index % len(vector)] = value
    return vector


def _cast(vector: np.ndarray, dtype: str) -> np.ndarray:
    with np.errstate(all="ignore"):
        return vector.astype(dtype)


class WireStrategies:
    """Valid, almost valid and plainly wrong messages for one :class:`Wire`.

    ``iterations`` and ``worker_indices`` draw the header fields of the *valid*
    worker messages (a live test keeps them away from iterations that could count).
    """

    def __init__(
        self,
        wire: Wire,
        *,
        iterations: st.SearchStrategy[int] | None = None,
        worker_indices: st.SearchStrategy[int] | None = None,
    ) -> None:
        self.wire = wire
        d = wire.features
        self.vectors = hnp.arrays(np.float64, d, elements=finite_floats)

        def headers(kind: MessageType) -> st.SearchStrategy[Header]:
            return st.builds(
                Header,
                type=st.just(kind),
                solve_id=st.just(wire.solve_id),
                worker_index=worker_indices or st.integers(0, wire.workers - 1),
                iteration=iterations or st.integers(0, wire.max_iteration),
                slot_epoch=st.integers(0, EPOCH_MAX),
            )

        self.messages: dict[MessageType, st.SearchStrategy[Any]] = {
            MessageType.UPDATE: st.builds(
                Update,
                header=headers(MessageType.UPDATE),
                omega=self.vectors,
                primal_sq=nonnegative_floats,
                compute_seconds=nonnegative_floats,
                idle_seconds=nonnegative_floats,
                local_iterations=st.integers(0, INT_MAX),
            ),
            MessageType.JOIN: st.builds(
                Join,
                header=headers(MessageType.JOIN),
                row_start=msgpack_ints,
                row_stop=msgpack_ints,
            ),
            MessageType.LOSS: st.builds(
                LossReport, header=headers(MessageType.LOSS), loss=finite_floats
            ),
            MessageType.ITERATE: st.builds(
                Iterate,
                iteration=st.integers(0, INT_MAX),
                rho=positive_floats,
                rho_prev=positive_floats,
                z=self.vectors,
            ),
            MessageType.TERMINATE: st.builds(
                Terminate,
                iteration=st.integers(0, INT_MAX),
                z=self.vectors,
                reason=st.text(max_size=64),
            ),
        }
        self.worker_messages = st.one_of(
            *(
                self.messages[kind]
                for kind in (MessageType.UPDATE, MessageType.JOIN, MessageType.LOSS)
            )
        )
        self.broadcasts = st.one_of(
            self.messages[MessageType.ITERATE], self.messages[MessageType.TERMINATE]
        )
        self.tricky_scalars = st.sampled_from(
            [
                PROTOCOL_VERSION,
                PROTOCOL_VERSION + 1,
                wire.solve_id,
                wire.solve_id.encode(),
                *(str(kind) for kind in MessageType),
                *(str(kind).encode() for kind in MessageType),
                0,
                -1,
                wire.workers - 1,
                wire.workers,
                wire.max_iteration,
                wire.max_iteration + 1,
                EPOCH_MAX,
                EPOCH_MAX + 1,
                MSGPACK_INT_MIN,
                MSGPACK_INT_MAX,
                True,
                False,
                None,
                0.0,
                -0.0,
                1.0,
                -1.0,
                math.nan,
                math.inf,
                -math.inf,
                5e-324,
                1.7976931348623157e308,
                "",
                b"",
            ]
        )
        small_side = min(d + 2, 8)
        self.numpy_arrays = st.one_of(
            hnp.arrays(
                st.sampled_from(
                    [
                        np.dtype("<f8"),
                        np.dtype(">f8"),
                        np.dtype("<f4"),
                        np.dtype("<f2"),
                        np.dtype("<i8"),
                        np.dtype("<u8"),
                        np.dtype("i1"),
                        np.dtype("?"),
                        np.dtype("<c16"),
                        np.dtype("S3"),
                        np.dtype("<U2"),
                        np.dtype([("a", "<f8"), ("b", "<i4")]),
                    ]
                ),
                hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=small_side),
            ),
            # float64 of exactly and almost the right length, NaN/inf allowed
            hnp.arrays(
                np.float64,
                st.sampled_from([(d,), (d - 1,), (d + 1,), (0,), (2,), (1, d)]),
                elements=st.floats(),
            ),
            st.just(np.array([_Tripwire(), 1], dtype=object)),
            st.just(np.array(["a", 1.5], dtype=object)),
        )
        numpy_scalars = st.one_of(
            st.floats().map(np.float64),
            st.floats(width=32).map(np.float32),
            st.integers(-(2**63), 2**63 - 1).map(np.int64),
            st.booleans().map(np.bool_),
        )
        ext_values = st.one_of(
            st.builds(msgpack.ExtType, st.integers(0, 127), st.binary(max_size=16)),
            st.builds(msgpack.Timestamp, st.integers(0, 2**32 - 1), st.integers(0, 999_999_999)),
        )
        leaf_values = st.one_of(
            st.none(),
            st.booleans(),
            msgpack_ints,
            st.floats(),
            st.floats(width=32),
            st.text(max_size=24),
            st.binary(max_size=24),
            st.complex_numbers(),
            self.tricky_scalars,
            self.numpy_arrays,
            numpy_scalars,
            self.fake_arrays(),
            ext_values,
        )
        self.map_keys = st.one_of(
            st.sampled_from(WORKER_KEYS + BROADCAST_KEYS + OTHER_KEYS),
            st.text(max_size=8),
            st.binary(max_size=8),
            st.integers(-5, 5),  # non-string keys: strict_map_key must refuse them
        )
        self.junk_values = st.recursive(
            leaf_values,
            lambda children: st.one_of(
                st.lists(children, max_size=20),
                st.dictionaries(self.map_keys, children, max_size=6),
            ),
            max_leaves=12,
        )
        header_misses = st.one_of(
            self.tricky_scalars,
            self.numpy_arrays,
            hnp.arrays(np.float64, st.integers(0, 3)),
            st.sampled_from(
                [
                    [PROTOCOL_VERSION],
                    {"v": PROTOCOL_VERSION},
                    [wire.solve_id],
                    wire.solve_id.upper(),
                ]
            ),
        )
        self.near_misses: dict[str, st.SearchStrategy[Any]] = {
            "v": header_misses,
            "type": header_misses,
            "solve": header_misses,
            "worker": self._int_misses(wire.workers - 1),
            "epoch": self._int_misses(EPOCH_MAX),
            "iter": st.one_of(self._int_misses(wire.max_iteration), self._int_misses(INT_MAX)),
            "rows": st.one_of(
                st.tuples(msgpack_ints, self.tricky_scalars).map(list),
                st.tuples(self.tricky_scalars, msgpack_ints).map(list),
                st.lists(st.one_of(msgpack_ints, self.tricky_scalars), max_size=3),
                st.tuples(msgpack_ints, st.floats()),
                header_misses,
            ),
            "omega": self._vector_misses(),
            "z": self._vector_misses(),
            "q": self._float_misses(),
            "compute_s": self._float_misses(),
            "idle_s": self._float_misses(),
            "loss": self._float_misses(),
            "rho": self._float_misses(),
            "rho_prev": self._float_misses(),
            "local_iters": self._int_misses(INT_MAX),
            "reason": st.one_of(st.text(max_size=8), self.junk_values),
        }
        self.valid_worker_raw = self.worker_messages.map(encode_worker_message)
        self.valid_broadcast_bodies = self.broadcasts.map(
            lambda message: encode_broadcast(message, solve_id=wire.solve_id)[1]
        )

    # near misses: almost what a field must be ------------------------------------------

    def _vector_misses(self) -> st.SearchStrategy[Any]:
        """A float64 d-vector but for one NaN/inf entry, or its length, shape, dtype, order."""
        d = self.wire.features
        return st.one_of(
            st.builds(
                _poisoned,
                self.vectors,
                st.integers(0, d - 1),
                st.sampled_from([math.nan, math.inf, -math.inf]),
            ),
            hnp.arrays(
                np.float64,
                st.sampled_from([(d - 1,), (d + 1,), (0,), (1, d), (d, 1)]),
                elements=finite_floats,
            ),
            st.builds(
                _cast,
                self.vectors,
                st.sampled_from([">f8", "<f4", "<i8", "<c16", "?", "O"]),
            ),
            self.vectors.map(np.ndarray.tolist),
            self.vectors.map(np.ndarray.tobytes),
            self.fake_arrays(),
        )

    def _int_misses(self, high: int) -> st.SearchStrategy[Any]:
        return st.one_of(
            st.sampled_from([-1, high + 1, True, False, 1.0, float(high), "1", None, [1]]),
            msgpack_ints,
            st.integers(0, high).map(np.int64),
            st.integers(0, high).map(lambda value: np.array([value], dtype=np.float64)),
        )

    def _float_misses(self) -> st.SearchStrategy[Any]:
        return st.one_of(
            st.sampled_from([math.nan, math.inf, -math.inf, -5e-324, -1.0]),
            st.sampled_from(["0.5", None, True, [], b"\x00"]),
            st.floats(),
            st.floats().map(np.float64),
            st.just(np.zeros(1)),
            msgpack_ints,
        )

    def fake_arrays(self) -> st.SearchStrategy[dict[bytes, Any]]:
        """msgpack-numpy's array map, hand-made: wrong dtype, shape, kind, length; pickles."""
        return _fake_arrays(self)

    def changed_bodies(
        self, valid_raw: st.SearchStrategy[bytes], keys: tuple[str, ...]
    ) -> st.SearchStrategy[Any]:
        """A valid body (from the real encoder) with one, sometimes a few, fields changed."""
        return _changed_bodies(self, valid_raw, keys)

    def byte_damage(self, valid_raw: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
        """A valid message truncated, or with bytes overwritten, inserted or deleted."""
        return _byte_damage(valid_raw)

    # composite frames ------------------------------------------------------------------

    def structured_junk(
        self, valid_raw: st.SearchStrategy[bytes], keys: tuple[str, ...]
    ) -> st.SearchStrategy[bytes]:
        """msgpack that parses (mostly) but is wrong: changed valid bodies, random maps, others."""
        bodies = st.one_of(
            self.changed_bodies(valid_raw, keys),
            st.dictionaries(
                st.one_of(st.sampled_from(keys), self.map_keys), self.junk_values, max_size=16
            ),
            self.junk_values,
        )
        return st.builds(packed, bodies, use_bin_type=st.booleans())

    def hostile_worker_frames(self) -> st.SearchStrategy[bytes]:
        """Every kind of wrong (and some right) single frame a peer may send to the front."""
        limit = self.wire.limit
        return st.one_of(
            st.binary(max_size=256),
            st.binary(min_size=limit - 4, max_size=limit + 4),
            self.structured_junk(self.valid_worker_raw, WORKER_KEYS),
            self.structured_junk(self.valid_worker_raw, WORKER_KEYS),
            self.byte_damage(self.valid_worker_raw),
            self.valid_worker_raw,
        )


@st.composite
def _fake_arrays(draw: st.DrawFn, s: WireStrategies) -> dict[bytes, Any]:
    d = s.wire.features
    shape = draw(
        st.one_of(
            st.just([d]),
            st.lists(st.one_of(msgpack_ints, s.tricky_scalars), max_size=3),
            s.tricky_scalars,
        )
    )
    length = shape[0] if isinstance(shape, list) and shape and type(shape[0]) is int else 0
    data = draw(
        st.one_of(
            st.sampled_from(PICKLE_PAYLOADS),
            st.binary(max_size=80),
            s.vectors.map(np.ndarray.tobytes),
            st.just(b"\x00" * (8 * length) if 0 <= length <= 8 * d else b""),
            st.just(b"\x00\x00\x00\x00\x00\x00\xf8\x7f" * d),  # NaN
            st.just(b"\x00\x00\x00\x00\x00\x00\xf0\x7f" * d),  # +inf
            s.tricky_scalars,
        )
    )
    fields = {
        b"nd": draw(st.sampled_from([True, False, 1, None, "yes", b"nd"])),
        b"type": draw(st.sampled_from(["<f8", ">f8", "|O", "<f4", "<i8", b"<f8", 1, None])),
        b"kind": draw(st.sampled_from([b"", b"O", b"V", "", None, 0])),
        b"shape": shape,
        b"data": data,
    }
    kept = draw(st.sets(st.sampled_from(sorted(fields)), min_size=1))
    return {key: fields[key] for key in fields if key in kept or key == b"nd"}


@st.composite
def _change(draw: st.DrawFn, s: WireStrategies, keys: tuple[str, ...]) -> Any:
    """One field set to a near miss for it, to junk, or deleted; or a stray key added."""
    if draw(st.integers(0, 9)) == 0:
        return draw(s.map_keys), draw(s.junk_values)
    key = draw(st.sampled_from(keys))
    near = s.near_misses[key]
    return key, draw(st.one_of(near, near, st.just(_DELETE), s.junk_values))


@st.composite
def _changed_bodies(
    draw: st.DrawFn,
    s: WireStrategies,
    valid_raw: st.SearchStrategy[bytes],
    keys: tuple[str, ...],
) -> Any:
    body = _body_of(draw(valid_raw))
    for key, value in draw(st.lists(_change(s, keys), min_size=1, max_size=3)):
        if value is _DELETE:
            body.pop(key, None)
        else:
            body[key] = value
    return body


@st.composite
def _byte_damage(draw: st.DrawFn, valid_raw: st.SearchStrategy[bytes]) -> bytes:
    raw = bytearray(draw(valid_raw))
    kind = draw(st.sampled_from(["truncate", "overwrite", "insert", "delete"]))
    position = draw(st.integers(0, max(len(raw) - 1, 0)))
    if kind == "truncate":
        return bytes(raw[:position])
    if kind == "overwrite":
        for offset, value in enumerate(draw(st.binary(min_size=1, max_size=4))):
            if position + offset < len(raw):
                raw[position + offset] = value
        return bytes(raw)
    if kind == "insert":
        return bytes(raw[:position] + draw(st.binary(min_size=1, max_size=4)) + raw[position:])
    return bytes(raw[:position] + raw[position + draw(st.integers(1, 8)) :])


# --- invariants ---------------------------------------------------------------------------


def _check_float(value: object, *, low: float = -math.inf) -> None:
    assert type(value) is float and math.isfinite(value) and value >= low, value


def _check_int(value: object, low: int, high: int) -> None:
    assert type(value) is int and low <= value <= high, value


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
    elif isinstance(message, Join):
        assert header.type is MessageType.JOIN
        _check_int(message.row_start, MSGPACK_INT_MIN, MSGPACK_INT_MAX)
        _check_int(message.row_stop, MSGPACK_INT_MIN, MSGPACK_INT_MAX)
    elif isinstance(message, LossReport):
        assert header.type is MessageType.LOSS
        _check_float(message.loss)
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


# --- worker -> scheduler ------------------------------------------------------------------

WIRE = Wire(solve_id="fuzz-solve", workers=4, features=6, max_iteration=50)
S = WireStrategies(WIRE)


def _worker_outcome(raw: bytes) -> None:
    message = outcome(WIRE.decode, raw)
    if message is not None:
        check_worker_message(WIRE, message)


def _broadcast_outcome(frames: list[bytes]) -> None:
    message = outcome(WIRE.decode_broadcast, frames)
    if message is not None:
        check_broadcast(WIRE, message)


@FUZZ
@given(
    st.one_of(
        st.binary(max_size=300),
        st.binary(min_size=WIRE.limit - 4, max_size=WIRE.limit + 4),  # around the size limit
    )
)
def test_arbitrary_bytes_are_a_message_or_a_protocol_error(raw: bytes) -> None:
    _worker_outcome(raw)


@FUZZ
@given(S.structured_junk(S.valid_worker_raw, WORKER_KEYS))
def test_structured_but_wrong_msgpack_is_refused_or_valid(raw: bytes) -> None:
    _worker_outcome(raw)


@FUZZ
@given(S.byte_damage(S.valid_worker_raw))
def test_truncated_or_byte_damaged_messages_are_refused_or_valid(raw: bytes) -> None:
    _worker_outcome(raw)


@st.composite
def _one_field_changed(draw: st.DrawFn, key: str, kinds: tuple[MessageType, ...]) -> bytes:
    kind = draw(st.sampled_from([kind for kind in kinds if key in KEYS_OF[kind]]))
    message = draw(S.messages[kind])
    if kind in (MessageType.ITERATE, MessageType.TERMINATE):
        body = _body_of(encode_broadcast(message, solve_id=WIRE.solve_id)[1])
    else:
        body = _body_of(encode_worker_message(message))
    value = draw(st.one_of(S.near_misses[key], S.near_misses[key], st.just(_DELETE)))
    if value is _DELETE:
        del body[key]
    else:
        body[key] = value
    return packed(body)


_WORKER_KINDS = (MessageType.UPDATE, MessageType.JOIN, MessageType.LOSS)
_BROADCAST_KINDS = (MessageType.ITERATE, MessageType.TERMINATE)


@pytest.mark.parametrize("key", WORKER_KEYS)
@settings(FUZZ, max_examples=60)
@given(data=st.data())
def test_a_valid_message_with_one_field_changed_is_refused_or_valid(
    key: str, data: st.DataObject
) -> None:
    _worker_outcome(data.draw(_one_field_changed(key, _WORKER_KINDS), label="raw"))


@FUZZ
@given(st.builds(packed, S.changed_bodies(S.valid_worker_raw, WORKER_KEYS)))
def test_a_valid_message_with_a_few_fields_changed_is_refused_or_valid(raw: bytes) -> None:
    _worker_outcome(raw)


@FUZZ
@given(S.worker_messages)
def test_valid_worker_messages_round_trip_exactly(message: protocol.WorkerMessage) -> None:
    decoded = WIRE.decode(encode_worker_message(message))
    assert_same_message(decoded, message)
    check_worker_message(WIRE, decoded)


# --- scheduler -> workers -----------------------------------------------------------------

_topics = st.one_of(st.just(WIRE.solve_id.encode()), st.binary(max_size=16))
_broadcast_bodies = st.one_of(
    st.binary(max_size=300),
    S.structured_junk(S.valid_broadcast_bodies, BROADCAST_KEYS),
    S.byte_damage(S.valid_broadcast_bodies),
    S.valid_broadcast_bodies,
)


@FUZZ
@given(
    st.one_of(
        st.tuples(st.just(WIRE.solve_id.encode()), _broadcast_bodies).map(list),
        st.lists(st.one_of(_topics, _broadcast_bodies), max_size=4),
    )
)
def test_any_broadcast_frames_are_a_broadcast_or_a_protocol_error(frames: list[bytes]) -> None:
    _broadcast_outcome(frames)


@pytest.mark.parametrize("key", BROADCAST_KEYS)
@settings(FUZZ, max_examples=60)
@given(data=st.data())
def test_a_valid_broadcast_with_one_field_changed_is_refused_or_valid(
    key: str, data: st.DataObject
) -> None:
    raw = data.draw(_one_field_changed(key, _BROADCAST_KINDS), label="raw")
    _broadcast_outcome([WIRE.solve_id.encode(), raw])


@FUZZ
@given(S.broadcasts)
def test_valid_broadcasts_round_trip_exactly(message: protocol.Broadcast) -> None:
    decoded = WIRE.decode_broadcast(encode_broadcast(message, solve_id=WIRE.solve_id))
    assert_same_message(decoded, message)
    check_broadcast(WIRE, decoded)


# --- arrays where the header expects scalars (a bug this file once found) -------------------


@pytest.mark.parametrize(
    ("target", "body"),
    [
        ("worker", {"v": np.zeros(2)}),
        ("worker", {"v": np.zeros(0)}),
        ("worker", {"v": PROTOCOL_VERSION, "solve": np.zeros(3)}),
        ("broadcast", {"v": PROTOCOL_VERSION, "solve": np.zeros(2)}),
        (
            "broadcast",
            {"v": 1, "solve": WIRE.solve_id, "iter": 1, "z": np.zeros(6), "type": np.zeros(2)},
        ),
    ],
)
def test_an_array_in_a_header_field_is_a_protocol_error(target: str, body: dict[str, Any]) -> None:
    raw = packed(body)
    with pytest.raises(ProtocolError):
        if target == "worker":
            WIRE.decode(raw)
        else:
            WIRE.decode_broadcast([WIRE.solve_id.encode(), raw])
