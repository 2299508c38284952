"""What :class:`~tests.runtime.strategies.WireStrategies` builds on: the scalar strategies, and
changes to valid wire messages (fields swapped for near misses or junk, bytes damaged, fake
msgpack-numpy arrays), which its methods expose (``changed_bodies``, ``byte_damage``,
``fake_arrays``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgpack
import msgpack_numpy
import numpy as np
from hypothesis import strategies as st

from tests.runtime.wire import (
    MSGPACK_INT_MAX,
    MSGPACK_INT_MIN,
    PICKLE_PAYLOADS,
)

if TYPE_CHECKING:
    from tests.runtime.strategies import WireStrategies

finite_floats = st.floats(allow_nan=False, allow_infinity=False)
nonnegative_floats = st.floats(min_value=0.0, allow_nan=False, allow_infinity=False)
positive_floats = st.floats(min_value=0.0, exclude_min=True, allow_nan=False, allow_infinity=False)
msgpack_ints = st.integers(MSGPACK_INT_MIN, MSGPACK_INT_MAX)
DELETE = object()


def body_of(raw: bytes) -> dict[str, Any]:
    """The map a real encoder produced (arrays decoded), to change."""
    body: dict[str, Any] = msgpack.unpackb(raw, object_hook=msgpack_numpy.decode, raw=False)
    return body


def poisoned(vector: np.ndarray, index: int, value: float) -> np.ndarray:
    vector = vector.copy()
    vector[index % len(vector)] = value
    return vector


def cast(vector: np.ndarray, dtype: str) -> np.ndarray:
    with np.errstate(all="ignore"):
        return vector.astype(dtype)


@st.composite
def fake_arrays(draw: st.DrawFn, s: WireStrategies) -> dict[bytes, Any]:
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
    return key, draw(st.one_of(near, near, st.just(DELETE), s.junk_values))


@st.composite
def changed_bodies(
    draw: st.DrawFn,
    s: WireStrategies,
    valid_raw: st.SearchStrategy[bytes],
    keys: tuple[str, ...],
) -> Any:
    body = body_of(draw(valid_raw))
    for key, value in draw(st.lists(_change(s, keys), min_size=1, max_size=3)):
        if value is DELETE:
            body.pop(key, None)
        else:
            body[key] = value
    return body


@st.composite
def byte_damage(draw: st.DrawFn, valid_raw: st.SearchStrategy[bytes]) -> bytes:
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
