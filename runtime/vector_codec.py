"""Lossless encodings of the d-vectors on the wire: dense, sparse, or a delta.

z is often sparse (an L1 solution, and the early iterations), and ω = x + u of a worker
whose rows touch few columns is sparse where z is.  Each vector is sent in the smallest
of three forms, all exact to the bit:

* **dense**: msgpack-numpy's float64 array, 8·d bytes (what every decoder always took);
* **sparse**: ``{"enc": "sparse", "idx": uint32[], "val": float64[]}``, the entries whose
  bits are not all zero (so ``-0.0`` is kept), 12 bytes each;
* **delta** (broadcasts only): ``{"enc": "delta", "base": k, "idx": ..., "val": ...}``, the
  entries whose bits differ from the z of broadcast k, which the receiver holds; it
  replaces them (no arithmetic, so nothing is rounded).

Decoding is strict: indices strictly increasing and below d, values finite, the two
arrays of equal length, and a delta only against the base the receiver holds; anything
else is a :class:`ProtocolError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from runtime.protocol_fields import ProtocolError

#: Bytes of one entry of a sparse or delta vector (a uint32 index and a float64 value).
ENTRY_BYTES = 12
#: The map keys of the sparse and delta forms.
ENCODING_KEYS = ("enc", "idx", "val", "base")


@dataclass(frozen=True)
class Base:
    """The z of broadcast ``iteration``, which a delta may refer to."""

    iteration: int
    vector: np.ndarray


def _entries(vector: np.ndarray, where: np.ndarray, **extra: Any) -> dict[str, Any]:
    indices = np.flatnonzero(where).astype("<u4")
    return {
        **extra,
        "idx": indices.tobytes(),
        "val": np.ascontiguousarray(vector[indices], dtype="<f8").tobytes(),
    }


def encode_vector(vector: np.ndarray, *, base: Base | None = None, compress: bool = True) -> Any:
    """The smallest lossless form of ``vector`` (shape (d,)) for msgpack: the float64 array
    itself (dense), or a sparse or delta map (a delta only with ``base``, of the same d)."""
    dense = np.ascontiguousarray(vector, dtype=np.float64)
    if not compress:
        return dense
    bits = dense.view(np.uint64)
    # An entry costs 12 bytes in a sparse or delta map against 8 dense: worth it below 2/3.
    budget = (2 * dense.size) // 3
    best: tuple[int, Any] = (budget, dense)
    nonzero = bits != 0
    count = int(np.count_nonzero(nonzero))
    if count < best[0]:
        best = (count, _entries(dense, nonzero, enc="sparse"))
    if base is not None and base.vector.shape == dense.shape:
        changed = bits != base.vector.view(np.uint64)
        count = int(np.count_nonzero(changed))
        if count < best[0]:
            best = (count, _entries(dense, changed, enc="delta", base=base.iteration))
    return best[1]


def decode_vector(
    value: Any, *, name: str, length: int, base: Base | None = None
) -> np.ndarray | None:
    """The vector an encoded map stands for, shape (length,); None if ``value`` is not a
    sparse or delta map (a dense array is checked by the caller)."""
    if not isinstance(value, dict) or "enc" not in value:
        return None
    encoding = value["enc"]
    expected = {"sparse": {"enc", "idx", "val"}, "delta": {"enc", "idx", "val", "base"}}
    if encoding not in expected or set(value) != expected[encoding]:
        raise ProtocolError(
            f"field {name!r} must be a sparse map (enc, idx, val) or a delta map "
            f"(enc, base, idx, val), got keys {sorted(map(str, value))}"
        )
    indices, values = _index_value_arrays(value, name=name, length=length)
    if encoding == "sparse":
        vector = np.zeros(length)
    else:
        referred = value["base"]
        if base is None or type(referred) is not int or referred != base.iteration:
            held = None if base is None else base.iteration
            raise ProtocolError(
                f"field {name!r} is a delta against iteration {referred!r}, "
                f"but the receiver holds {held!r}"
            )
        if base.vector.shape != (length,):
            raise ProtocolError(f"field {name!r}: the base has another length")
        vector = base.vector.copy()
    vector[indices] = values
    return vector


def _index_value_arrays(
    value: dict[str, Any], *, name: str, length: int
) -> tuple[np.ndarray, np.ndarray]:
    raw_indices, raw_values = value["idx"], value["val"]
    if not isinstance(raw_indices, bytes) or not isinstance(raw_values, bytes):
        raise ProtocolError(f"field {name!r}: 'idx' and 'val' must be binary")
    if len(raw_indices) % 4 or len(raw_values) % 8 or len(raw_indices) // 4 != len(raw_values) // 8:
        raise ProtocolError(
            f"field {name!r}: 'idx' must be uint32 and 'val' float64 entries, as many of each"
        )
    indices = np.frombuffer(raw_indices, dtype="<u4")
    values = np.frombuffer(raw_values, dtype="<f8")
    if indices.size > length:
        raise ProtocolError(f"field {name!r} has more entries than its length {length}")
    if indices.size and (indices[-1] >= length or np.any(np.diff(indices.astype(np.int64)) <= 0)):
        raise ProtocolError(
            f"field {name!r}: indices must be strictly increasing and below {length}"
        )
    if not np.isfinite(values).all():
        raise ProtocolError(f"field {name!r} has non-finite entries")
    return indices.astype(np.intp), values


def encoding_of(value: Any) -> str:
    """``"dense"``, ``"sparse"`` or ``"delta"``: which form :func:`encode_vector` chose."""
    if isinstance(value, dict):
        return str(value["enc"])
    return "dense"
