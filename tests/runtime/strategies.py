"""Hypothesis strategies for valid, almost valid and plainly wrong wire messages.

:class:`WireStrategies` draws them for one :class:`~tests.runtime.wire.Wire`; the protocol fuzz
tests decode them, and ``tests/solve/test_scheduler_fuzz.py`` fires the same frames at a live
scheduler.
"""

from __future__ import annotations

import math
from typing import Any

import msgpack
import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from runtime import protocol
from runtime.specs import PROTOCOL_VERSION
from tests.runtime.mutations import (
    byte_damage,
    cast,
    changed_bodies,
    fake_arrays,
    finite_floats,
    msgpack_ints,
    nonnegative_floats,
    poisoned,
    positive_floats,
)
from tests.runtime.wire import (
    BROADCAST_KEYS,
    EPOCH_MAX,
    INT_MAX,
    MSGPACK_INT_MAX,
    MSGPACK_INT_MIN,
    OTHER_KEYS,
    WORKER_KEYS,
    Tripwire,
    Wire,
    packed,
)


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
        # Dense, and mostly zero (±0.0) so that the codec sends them sparse.
        self.vectors = st.one_of(
            hnp.arrays(np.float64, d, elements=finite_floats),
            hnp.arrays(
                np.float64,
                d,
                elements=st.one_of(st.sampled_from([0.0, 0.0, 0.0, -0.0]), finite_floats),
            ),
        )
        self.short_vectors = hnp.arrays(
            np.float64, st.integers(0, protocol.MAX_WINDOW), elements=finite_floats
        )

        def headers(kind: protocol.MessageType) -> st.SearchStrategy[protocol.Header]:
            return st.builds(
                protocol.Header,
                type=st.just(kind),
                solve_id=st.just(wire.solve_id),
                worker_index=worker_indices or st.integers(0, wire.workers - 1),
                iteration=iterations or st.integers(0, wire.max_iteration),
                slot_epoch=st.integers(0, EPOCH_MAX),
            )

        self.messages: dict[protocol.MessageType, st.SearchStrategy[Any]] = {
            protocol.MessageType.UPDATE: st.builds(
                protocol.Update,
                header=headers(protocol.MessageType.UPDATE),
                omega=self.vectors,
                primal_sq=nonnegative_floats,
                compute_seconds=nonnegative_floats,
                idle_seconds=nonnegative_floats,
                local_iterations=st.integers(0, INT_MAX),
                loss_at_z=finite_floats,
                x_sq=nonnegative_floats,
                dual_sq=nonnegative_floats,
                gram=self.short_vectors,
                curvature=hnp.arrays(
                    np.float64,
                    st.sampled_from([0, protocol.CURVATURE_TERMS]),
                    elements=finite_floats,
                ),
                local_stop=st.one_of(st.none(), st.sampled_from(protocol.LOCAL_STOP_REASONS)),
            ),
            protocol.MessageType.JOIN: st.builds(
                protocol.Join,
                header=headers(protocol.MessageType.JOIN),
                row_start=msgpack_ints,
                row_stop=msgpack_ints,
            ),
            protocol.MessageType.LOSS: st.builds(
                protocol.LossReport,
                header=headers(protocol.MessageType.LOSS),
                loss=finite_floats,
                gradient=self.vectors,
                loss_at_zero=finite_floats,
                gradient_at_zero=self.vectors,
            ),
            protocol.MessageType.FAILED: st.builds(
                protocol.Failed,
                header=headers(protocol.MessageType.FAILED),
                reason=st.one_of(
                    st.text(max_size=64),
                    st.text(min_size=protocol.MAX_REASON_CHARS, max_size=protocol.MAX_REASON_CHARS),
                ),
                deterministic=st.booleans(),
            ),
            protocol.MessageType.ITERATE: st.builds(
                protocol.Iterate,
                iteration=st.integers(0, INT_MAX),
                rho=positive_floats,
                rho_prev=positive_floats,
                z=self.vectors,
                mix=self.short_vectors,
                restart=st.booleans(),
                snapshot=st.booleans(),
            ),
            protocol.MessageType.TERMINATE: st.builds(
                protocol.Terminate,
                iteration=st.integers(0, INT_MAX),
                z=self.vectors,
                reason=st.text(max_size=64),
            ),
        }
        self.worker_messages = st.one_of(
            *(
                self.messages[kind]
                for kind in (
                    protocol.MessageType.UPDATE,
                    protocol.MessageType.JOIN,
                    protocol.MessageType.LOSS,
                    protocol.MessageType.FAILED,
                )
            )
        )
        self.broadcasts = st.one_of(
            self.messages[protocol.MessageType.ITERATE],
            self.messages[protocol.MessageType.TERMINATE],
        )
        self.tricky_scalars = st.sampled_from(
            [
                PROTOCOL_VERSION,
                PROTOCOL_VERSION + 1,
                wire.solve_id,
                wire.solve_id.encode(),
                *(str(kind) for kind in protocol.MessageType),
                *(str(kind).encode() for kind in protocol.MessageType),
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
            st.just(np.array([Tripwire(), 1], dtype=object)),
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
            "loss0": self._float_misses(),
            "grad": self._vector_misses(),
            "grad0": self._vector_misses(),
            "rho": self._float_misses(),
            "rho_prev": self._float_misses(),
            "local_iters": self._int_misses(INT_MAX),
            "loss_z": self._float_misses(),
            "xsq": self._float_misses(),
            "usq": self._float_misses(),
            "gram": self._short_vector_misses(),
            "mix": self._short_vector_misses(),
            "curv": self._short_vector_misses(),
            "snapshot": st.sampled_from([None, 0, 1, "true", b"\x01", [True]]),
            "restart": st.sampled_from([None, 0, 1, "true", b"\x01", [True]]),
            "local_stop": st.one_of(
                st.sampled_from(["", "Gradient", "max_iteration", "converged", None, 1, True]),
                st.sampled_from([b"gradient", ["gradient"], {"gradient": 1}]),
                st.text(max_size=20),
                self.junk_values,
            ),
            "reason": st.one_of(
                st.text(max_size=8),
                st.text(
                    min_size=protocol.MAX_REASON_CHARS + 1, max_size=protocol.MAX_REASON_CHARS + 8
                ),
                self.junk_values,
            ),
            "deterministic": st.one_of(
                st.sampled_from([None, 0, 1, "true", b"\x01", [True]]), self.tricky_scalars
            ),
        }
        self.valid_worker_raw = self.worker_messages.map(protocol.encode_worker_message)
        self.valid_broadcast_bodies = self.broadcasts.map(
            lambda message: protocol.encode_broadcast(message, solve_id=wire.solve_id)[1]
        )

    # near misses: almost what a field must be ------------------------------------------

    def _vector_misses(self) -> st.SearchStrategy[Any]:
        """A float64 d-vector but for one NaN/inf entry, or its length, shape, dtype, order."""
        d = self.wire.features
        return st.one_of(
            st.builds(
                poisoned,
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
                cast,
                self.vectors,
                st.sampled_from([">f8", "<f4", "<i8", "<c16", "?", "O"]),
            ),
            self.vectors.map(np.ndarray.tolist),
            self.vectors.map(np.ndarray.tobytes),
            self.fake_arrays(),
            self.encoded_misses(),
        )

    def _short_vector_misses(self) -> st.SearchStrategy[Any]:
        """A short float64 vector but for one NaN/inf entry, too many entries, or its dtype."""
        window = protocol.MAX_WINDOW
        return st.one_of(
            st.builds(
                poisoned,
                hnp.arrays(np.float64, st.integers(1, window), elements=finite_floats),
                st.just(0),
                st.sampled_from([math.nan, math.inf, -math.inf]),
            ),
            hnp.arrays(np.float64, st.sampled_from([(window + 1,), (2, 2), (1, 1)])),
            st.builds(cast, self.short_vectors, st.sampled_from([">f8", "<f4", "<i8", "O"])),
            self.short_vectors.map(np.ndarray.tolist),
            self.fake_arrays(),
        )

    def encoded_misses(self) -> st.SearchStrategy[dict[str, Any]]:
        """Sparse and delta maps (runtime/vector_codec.py) that are almost right: a wrong form
        or key set, indices out of range, repeated or unsorted, lengths that do not match,
        non-finite values, more entries than d, or a delta (the receiver holds no base)."""
        d = self.wire.features
        indices = st.lists(st.integers(0, 2 * d), max_size=d + 2)
        values = st.lists(st.floats(), max_size=d + 2)

        def entries(index_list: list[int], value_list: list[float], dtype: str) -> dict[str, Any]:
            return {
                "idx": np.array(index_list, dtype=dtype).tobytes(),
                "val": np.array(value_list, dtype="<f8").tobytes(),
            }

        maps = st.builds(
            lambda form, body, extra: {"enc": form, **body, **extra},
            st.sampled_from(["sparse", "delta", "dense", "zip", b"sparse", 1, None]),
            st.builds(entries, indices, values, st.sampled_from(["<u4", "<u2", "<i8", ">u4"])),
            st.one_of(
                st.just({}),
                st.fixed_dictionaries({"base": st.one_of(msgpack_ints, self.tricky_scalars)}),
                st.dictionaries(self.map_keys, self.tricky_scalars, max_size=2),
            ),
        )
        wrong_types = st.fixed_dictionaries(
            {
                "enc": st.just("sparse"),
                "idx": st.one_of(self.junk_values, st.binary(max_size=8)),
                "val": st.one_of(self.junk_values, st.binary(max_size=16)),
            }
        )
        return st.one_of(maps, wrong_types)

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
        return fake_arrays(self)

    def changed_bodies(
        self, valid_raw: st.SearchStrategy[bytes], keys: tuple[str, ...]
    ) -> st.SearchStrategy[Any]:
        """A valid body (from the real encoder) with one, sometimes a few, fields changed."""
        return changed_bodies(self, valid_raw, keys)

    def byte_damage(self, valid_raw: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
        """A valid message truncated, or with bytes overwritten, inserted or deleted."""
        return byte_damage(valid_raw)

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
