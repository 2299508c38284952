"""Property tests of the wire decoders: whatever the bytes, a valid message or ProtocolError.

``decode_worker_message`` and ``decode_broadcast`` take bytes from the network.
For arbitrary bytes, for msgpack that is structured but wrong (the right keys
with wrong types and values, arrays of the wrong dtype or shape, NaN/inf, huge
integers, nested junk, msgpack-numpy dicts with object dtypes and pickle
payloads, extension types), for truncated and byte-damaged valid messages and
for valid messages with one or a few fields changed, decoding either returns a
message whose invariants hold or raises :class:`ProtocolError`, never anything
else, and nothing is ever unpickled.  Valid messages round-trip exactly.

The strategies are in ``tests/runtime/strategies.py`` and the invariants in
``tests/runtime/wire.py``, both shared with ``tests/solve/test_scheduler_fuzz.py``, which
fires the same frames at a live scheduler.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime import protocol
from runtime.protocol import (
    MessageType,
    ProtocolError,
    decode_broadcast,
    encode_broadcast,
    encode_worker_message,
)
from runtime.sealed_broadcast import BroadcastSeal
from runtime.specs import PROTOCOL_VERSION
from tests.runtime.mutations import DELETE, body_of
from tests.runtime.strategies import WireStrategies
from tests.runtime.wire import (
    BROADCAST_KEYS,
    FUZZ,
    KEYS_OF,
    WORKER_KEYS,
    Wire,
    assert_same_message,
    check_broadcast,
    check_worker_message,
    outcome,
    packed,
)

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
        body = body_of(encode_broadcast(message, solve_id=WIRE.solve_id)[1])
    else:
        body = body_of(encode_worker_message(message))
    value = draw(st.one_of(S.near_misses[key], S.near_misses[key], st.just(DELETE)))
    if value is DELETE:
        body.pop(key, None)  # an optional field may be absent already
    else:
        body[key] = value
    return packed(body)


_WORKER_KINDS = (MessageType.UPDATE, MessageType.JOIN, MessageType.LOSS, MessageType.FAILED)
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


# --- sparse and delta vectors (runtime/vector_codec.py) --------------------------------------


@FUZZ
@given(S.messages[MessageType.UPDATE], S.encoded_misses())
def test_an_update_whose_omega_is_a_malformed_sparse_or_delta_map_is_refused_or_valid(
    message: protocol.Update, encoded: dict[str, Any]
) -> None:
    body = body_of(encode_worker_message(message))
    body["omega"] = encoded
    _worker_outcome(packed(body))


@FUZZ
@given(S.broadcasts, S.encoded_misses())
def test_a_broadcast_whose_z_is_a_malformed_sparse_or_delta_map_is_refused_or_valid(
    message: protocol.Broadcast, encoded: dict[str, Any]
) -> None:
    body = body_of(encode_broadcast(message, solve_id=WIRE.solve_id)[1])
    body["z"] = encoded
    _broadcast_outcome([WIRE.solve_id.encode(), packed(body)])


# --- the sealed broadcast (runtime/sealed_broadcast.py) --------------------------------------

SEAL = BroadcastSeal.generate()
_SEALED: dict[str, Any] = {"solve_id": WIRE.solve_id, "num_features": WIRE.features, "seal": SEAL}


@FUZZ
@given(_broadcast_bodies)
def test_anything_not_sealed_with_the_key_is_refused_by_a_sealed_receiver(body: bytes) -> None:
    """Junk, damaged and valid plain bodies alike: without the key, nothing is acted on."""
    with pytest.raises(ProtocolError):
        decode_broadcast([WIRE.solve_id.encode(), body], **_SEALED)


@FUZZ
@given(S.broadcasts, st.data())
def test_a_sealed_broadcast_with_any_byte_damage_is_refused(
    message: protocol.Broadcast, data: st.DataObject
) -> None:
    topic, body = encode_broadcast(message, solve_id=WIRE.solve_id, seal=SEAL)
    assert_same_message(decode_broadcast([topic, body], **_SEALED), message)
    damaged = data.draw(S.byte_damage(st.just(body)).filter(lambda raw: raw != body), "damaged")
    with pytest.raises(ProtocolError):
        decode_broadcast([topic, damaged], **_SEALED)


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
