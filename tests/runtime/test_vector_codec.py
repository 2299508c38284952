"""Lossless vector encodings (runtime/vector_codec.py): exact round trips, the smallest form,
strict decoding, and solves bit-identical to the dense path."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from runtime import vector_codec
from runtime.protocol import ProtocolError
from runtime.vector_codec import Base, decode_vector, encode_vector, encoding_of
from scheduler_host.solve import SchedulerOptions, run_solve
from scheduler_host.solve_spec import SolveSpec
from scheduler_host.spawners.threads import ThreadSpawner

D = 30


def _round_trip(vector: np.ndarray, base: Base | None = None) -> tuple[str, np.ndarray]:
    encoded = encode_vector(vector, base=base)
    if encoding_of(encoded) == "dense":
        return "dense", encoded
    decoded = decode_vector(encoded, name="z", length=vector.size, base=base)
    assert decoded is not None
    return encoding_of(encoded), decoded


def test_a_sparse_vector_goes_sparse_and_comes_back_bit_for_bit() -> None:
    vector = np.zeros(D)
    vector[[0, 7, 29]] = [1.5, -0.0, -2.25e-300]  # -0.0 is a nonzero bit pattern: kept
    form, decoded = _round_trip(vector)
    assert form == "sparse"
    assert decoded.tobytes() == vector.tobytes()
    assert np.signbit(decoded[7])


def test_a_dense_vector_stays_dense() -> None:
    vector = np.linspace(1.0, 2.0, D)
    form, decoded = _round_trip(vector)
    assert form == "dense"
    assert decoded.tobytes() == vector.tobytes()


def test_a_vector_close_to_its_base_goes_as_a_delta() -> None:
    previous = np.linspace(1.0, 2.0, D)
    vector = previous.copy()
    vector[[3, 4]] = np.nextafter(vector[[3, 4]], 10.0)  # one ulp: changed bits are sent
    form, decoded = _round_trip(vector, Base(iteration=4, vector=previous))
    assert form == "delta"
    assert decoded.tobytes() == vector.tobytes()


def test_the_smallest_form_wins_and_dense_below_the_break_even() -> None:
    """12 bytes an entry against 8: sparse only below 2/3 nonzeros."""
    vector = np.zeros(D)
    vector[: 2 * D // 3] = 1.0
    assert encoding_of(encode_vector(vector)) == "dense"
    vector[2 * D // 3 - 1] = 0.0
    assert encoding_of(encode_vector(vector)) == "sparse"
    previous = vector.copy()
    vector[0] = 3.0
    assert encoding_of(encode_vector(vector, base=Base(iteration=1, vector=previous))) == "delta"


def _entries(indices: list[int], values: list[float], **extra: object) -> dict[str, object]:
    return {
        "enc": "sparse",
        "idx": np.array(indices, dtype="<u4").tobytes(),
        "val": np.array(values, dtype="<f8").tobytes(),
        **extra,
    }


@pytest.mark.parametrize(
    ("encoded", "error"),
    [
        (_entries([1, 1], [1.0, 2.0]), "'z': indices must be strictly increasing and below 30"),
        (_entries([5, 2], [1.0, 2.0]), "'z': indices must be strictly increasing and below 30"),
        (_entries([30], [1.0]), "'z': indices must be strictly increasing and below 30"),
        (_entries([1], [np.nan]), "'z' has non-finite entries"),
        (_entries([1, 2], [1.0]), "'z': 'idx' must be uint32 and 'val' float64 entries"),
        (
            {"enc": "sparse", "idx": b"\x00\x00\x00", "val": b""},
            "'z': 'idx' must be uint32 and 'val' float64 entries",
        ),
        ({"enc": "sparse", "idx": [1], "val": [1.0]}, "'z': 'idx' and 'val' must be binary"),
        (_entries(list(range(31)), [0.0] * 31), "'z' has more entries than its length 30"),
        (_entries([1], [1.0], extra=1), "must be a sparse map (enc, idx, val) or a delta map"),
        ({"enc": "zip", "data": b""}, "must be a sparse map (enc, idx, val) or a delta map"),
        (
            {**_entries([1], [1.0]), "enc": "delta", "base": 3},
            "'z' is a delta against iteration 3, but the receiver holds None",
        ),
    ],
)
def test_malformed_encodings_are_refused_naming_the_field(encoded: object, error: str) -> None:
    with pytest.raises(ProtocolError, match=error.replace("(", r"\(").replace(")", r"\)")):
        decode_vector(encoded, name="z", length=D)


def test_a_delta_against_another_base_is_refused() -> None:
    held = Base(iteration=2, vector=np.zeros(D))
    encoded = {**_entries([1], [1.0]), "enc": "delta", "base": 1}
    with pytest.raises(ProtocolError, match="delta against iteration 1, but the receiver holds 2"):
        decode_vector(encoded, name="z", length=D, base=held)


def _dense_only(vector: np.ndarray, *, base: Base | None = None, compress: bool = True):
    return np.ascontiguousarray(vector, dtype=np.float64)


# Each worker's rows touch a fraction of the columns, so its ω is sparse where z is.
SPARSE_SPEC = SolveSpec(
    samples=2000, features=2000, density=0.001, workers=8, l1=0.5, max_iter=25, eps_grad=1e-6
)
IN_PROCESS = SchedulerOptions(
    bind_host="inproc", secure=False, scheduler_silence_seconds=5.0, max_rebroadcast_seconds=1.0
)


def test_a_solve_with_compressed_vectors_is_bit_identical_to_the_dense_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A sparse optimum (l1 large): z and ω go sparse or as deltas, and nothing changes but the
    bytes on the wire."""
    compressed = run_solve(SPARSE_SPEC, spawner=ThreadSpawner(), options=IN_PROCESS)
    monkeypatch.setattr(vector_codec, "encode_vector", _dense_only)
    monkeypatch.setattr("runtime.protocol.encode_vector", _dense_only)
    monkeypatch.setattr("scheduler_host.solve.broadcast.encode_vector", _dense_only)
    dense = run_solve(SPARSE_SPEC, spawner=ThreadSpawner(), options=IN_PROCESS)
    assert compressed.traffic is not None and dense.traffic is not None
    assert set(dense.traffic.broadcast_encodings) == {"dense"}
    assert "dense" not in compressed.traffic.broadcast_encodings
    assert compressed.traffic.broadcast_encodings["delta"] > 0
    assert compressed.traffic.broadcast_bytes < 0.75 * dense.traffic.broadcast_bytes
    assert compressed.traffic.received_bytes < dense.traffic.received_bytes
    assert compressed.x.tobytes() == dense.x.tobytes()
    assert compressed.objective == dense.objective
    assert [dataclasses.astuple(r)[:4] for r in compressed.history] == [
        dataclasses.astuple(r)[:4] for r in dense.history
    ]
    assert 0 < np.count_nonzero(compressed.x) < SPARSE_SPEC.features // 2
