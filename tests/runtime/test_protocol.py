"""The wire protocol: round trips, and every way a peer can send something wrong."""

from __future__ import annotations

import re

import msgpack
import numpy as np
import pytest

from runtime import protocol

SOLVE = "solve-1"
D = 5


def _decode(raw: bytes):
    return protocol.decode_worker_message(
        raw, solve_id=SOLVE, num_workers=4, num_features=D, max_iteration=50
    )


def _update(**overrides) -> protocol.Update:
    fields = dict(
        header=protocol.Header(
            type=protocol.MessageType.UPDATE, solve_id=SOLVE, worker_index=3, iteration=7
        ),
        omega=np.linspace(-1, 1, D),
        primal_sq=0.25,
        compute_seconds=0.5,
        idle_seconds=0.1,
        local_iterations=12,
        loss_at_z=41.5,
        x_sq=2.0,
        dual_sq=0.5,
        gram=np.array([0.25, -0.125, 1.0]),
        curvature=np.array([1.0, 2.0, 0.5, -1.0, 4.0, 0.25]),
    )
    fields.update(overrides)
    return protocol.Update(**fields)


def _body(**overrides) -> bytes:
    body = {
        "v": protocol.PROTOCOL_VERSION,
        "type": "update",
        "solve": SOLVE,
        "worker": 0,
        "epoch": 0,
        "iter": 1,
        "omega": np.zeros(D),
        "q": 0.0,
        "compute_s": 0.0,
        "idle_s": 0.0,
        "local_iters": 1,
        "loss_z": 0.0,
        "xsq": 0.0,
        "usq": 0.0,
        "gram": np.zeros(0),
        "curv": np.zeros(0),
    }
    body.update(overrides)
    import msgpack_numpy

    return msgpack.packb(body, default=msgpack_numpy.encode, use_bin_type=True)


def test_update_round_trip_is_exact() -> None:
    decoded = _decode(protocol.encode_worker_message(_update()))
    assert isinstance(decoded, protocol.Update)
    np.testing.assert_array_equal(decoded.omega, np.linspace(-1, 1, D))
    assert (decoded.primal_sq, decoded.local_iterations, decoded.header.worker_index) == (
        0.25,
        12,
        3,
    )


@pytest.mark.parametrize("reason", [None, *protocol.LOCAL_STOP_REASONS])
def test_an_update_carries_why_the_local_solver_stopped(reason: str | None) -> None:
    decoded = _decode(protocol.encode_worker_message(_update(local_stop=reason)))
    assert isinstance(decoded, protocol.Update)
    assert decoded.local_stop == reason


def test_the_stop_reasons_on_the_wire_are_the_local_solvers() -> None:
    from typing import get_args

    from runtime.local_solver import StopReason

    assert get_args(StopReason) == protocol.LOCAL_STOP_REASONS


@pytest.mark.parametrize("value", ["converged", "", None, 1, ["gradient"], b"gradient"])
def test_an_unknown_local_stop_reason_is_refused(value: object) -> None:
    with pytest.raises(protocol.ProtocolError) as refused:
        _decode(_body(local_stop=value))
    assert str(refused.value) == (
        "field 'local_stop' must be one of gradient, relative_decrease, max_iterations, "
        f"got {value!r}"
    )


def _loss_report() -> protocol.LossReport:
    return protocol.LossReport(
        header=protocol.Header(protocol.MessageType.LOSS, SOLVE, 2, 9),
        loss=123.5,
        gradient=np.linspace(-2, 2, D),
        loss_at_zero=200.25,
        gradient_at_zero=np.arange(D, dtype=np.float64),
    )


def test_join_and_loss_round_trip() -> None:
    join = protocol.Join(
        header=protocol.Header(protocol.MessageType.JOIN, SOLVE, 1, 0), row_start=10, row_stop=20
    )
    assert _decode(protocol.encode_worker_message(join)) == join
    loss = _decode(protocol.encode_worker_message(_loss_report()))
    assert isinstance(loss, protocol.LossReport)
    assert (loss.header, loss.loss, loss.loss_at_zero) == (_loss_report().header, 123.5, 200.25)
    np.testing.assert_array_equal(loss.gradient, np.linspace(-2, 2, D))
    np.testing.assert_array_equal(loss.gradient_at_zero, np.arange(D))


def test_a_loss_report_with_both_gradients_fits_the_fronts_limit() -> None:
    features = 100_000
    big = protocol.LossReport(
        header=protocol.Header(protocol.MessageType.LOSS, SOLVE, 2, 9),
        loss=1.0,
        gradient=np.ones(features),
        loss_at_zero=1.0,
        gradient_at_zero=np.ones(features),
    )
    raw = protocol.encode_worker_message(big)
    assert (
        protocol.max_message_bytes(features)
        < len(raw)
        <= protocol.max_worker_message_bytes(features) - 3000
    )
    assert protocol.max_worker_message_bytes(features) == 16 * features + 4096


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (
            {"grad": np.zeros(D + 1)},
            "field 'grad' must be float64 of shape (5,), got float64 of shape (6,)",
        ),
        ({"grad": [0.0] * D}, "field 'grad' must be an array, got list"),
        ({"grad": np.array([0, 0, np.inf, 0, 0.0])}, "field 'grad' has non-finite entries"),
        ({"grad0": np.array([np.nan, 0, 0, 0, 0.0])}, "field 'grad0' has non-finite entries"),
        ({"grad0": None}, "field 'grad0' must be an array, got NoneType"),
        ({"loss0": float("inf")}, "field 'loss0' must be a finite number >= -inf, got inf"),
        ({"loss0": "1"}, "field 'loss0' must be a finite number >= -inf, got '1'"),
        ({"loss": float("nan")}, "field 'loss' must be a finite number >= -inf, got nan"),
    ],
)
def test_a_malformed_loss_report_is_refused(change: dict, error: str) -> None:
    import msgpack_numpy

    body = msgpack.unpackb(
        protocol.encode_worker_message(_loss_report()), object_hook=msgpack_numpy.decode, raw=False
    )
    raw = msgpack.packb({**body, **change}, default=msgpack_numpy.encode, use_bin_type=True)
    with pytest.raises(protocol.ProtocolError, match="^" + re.escape(error) + "$"):
        _decode(raw)


def test_broadcast_round_trip() -> None:
    frames = protocol.encode_broadcast(
        protocol.Iterate(
            iteration=4,
            rho=2.0,
            rho_prev=1.0,
            z=np.ones(D),
            mix=np.array([-0.5, 1.5]),
            restart=True,
        ),
        solve_id=SOLVE,
    )
    decoded = protocol.decode_broadcast(frames, solve_id=SOLVE, num_features=D)
    assert isinstance(decoded, protocol.Iterate) and (decoded.rho, decoded.rho_prev) == (2.0, 1.0)
    assert decoded.mix.tolist() == [-0.5, 1.5] and decoded.restart is True
    final = protocol.decode_broadcast(
        protocol.encode_broadcast(
            protocol.Terminate(iteration=4, z=np.ones(D), reason="converged"), solve_id=SOLVE
        ),
        solve_id=SOLVE,
        num_features=D,
    )
    assert isinstance(final, protocol.Terminate) and final.reason == "converged"


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"\xc1garbage", "undecodable message"),
        (msgpack.packb([1, 2, 3]), "message must be a map, got list"),
        (_body(v=1), "protocol version must be 2, got 1"),
        (_body(solve="other"), "unknown solve id 'other'"),
        (_body(type="iterate"), "message type iterate is not sent by workers"),
        (_body(type="hello"), "unknown message type 'hello'"),
        (_body(worker=4), r"field 'worker' must be an integer in \[0, 3\], got 4"),
        (_body(worker=-1), r"field 'worker' must be an integer in \[0, 3\], got -1"),
        (_body(iter=51), r"field 'iter' must be an integer in \[0, 50\], got 51"),
        (_body(iter=1.0), r"field 'iter' must be an integer"),
        (
            _body(omega=np.zeros(D + 1)),
            r"must be float64 of shape \(5,\), got float64 of shape \(6,\)",
        ),
        (_body(omega=np.zeros(D, dtype=np.float32)), "arrays must be float64 vectors"),
        (_body(omega=np.array([0, 0, np.nan, 0, 0.0])), "field 'omega' has non-finite entries"),
        (_body(omega=np.array([0, 0, np.inf, 0, 0.0])), "field 'omega' has non-finite entries"),
        (_body(omega=[0.0] * D), "field 'omega' must be an array, got list"),
        (_body(q=-1.0), "field 'q' must be a finite number >= 0.0, got -1.0"),
        (_body(q=float("nan")), "field 'q' must be a finite number"),
        (_body(q="1"), "field 'q' must be a finite number"),
        (_body(usq=-1.0), "field 'usq' must be a finite number >= 0.0, got -1.0"),
        (_body(loss_z=float("inf")), "field 'loss_z' must be a finite number"),
        (
            _body(gram=np.zeros(protocol.MAX_WINDOW + 1)),
            "field 'gram' must be float64 of at most 64 entries, got float64 of shape",
        ),
        (_body(gram=np.array([1.0, np.nan])), "field 'gram' has non-finite entries"),
        (_body(gram=[1.0]), "field 'gram' must be an array, got list"),
        (
            _body(curv=np.zeros(7)),
            r"field 'curv' must be float64 of at most 6 entries, got float64 of shape \(7,\)",
        ),
    ],
)
def test_invalid_worker_messages_are_refused_with_the_reason(raw: bytes, error: str) -> None:
    with pytest.raises(protocol.ProtocolError, match=error):
        _decode(raw)


def test_object_arrays_are_never_unpickled() -> None:
    import pickle

    class Boom:
        def __reduce__(self):
            return (pytest.fail, ("unpickled data from the network",))

    evil = {b"nd": True, b"type": "|O", b"kind": b"O", b"shape": [1], b"data": pickle.dumps(Boom())}
    with pytest.raises(protocol.ProtocolError, match="arrays must be float64 vectors"):
        _decode(_body(omega=evil))


def test_oversized_messages_are_refused_before_decoding() -> None:
    raw = b"\x00" * (protocol.max_worker_message_bytes(D) + 1)
    with pytest.raises(
        protocol.ProtocolError, match=f"exceeds the limit of {protocol.max_worker_message_bytes(D)}"
    ):
        _decode(raw)


def _failed_header() -> protocol.Header:
    return protocol.Header(
        type=protocol.MessageType.FAILED, solve_id=SOLVE, worker_index=2, iteration=0
    )


def test_a_failure_report_round_trips_and_its_reason_is_cut_by_the_sender() -> None:
    failed = protocol.Failed.of(_failed_header(), "x" * 5000, deterministic=True)
    assert len(failed.reason) == protocol.MAX_REASON_CHARS and failed.reason.endswith("...")
    assert _decode(protocol.encode_worker_message(failed)) == failed
    short = protocol.Failed.of(_failed_header(), "ValueError: bad shard", deterministic=False)
    assert _decode(protocol.encode_worker_message(short)) == short


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (
            {"reason": "y" * 1001},
            "field 'reason' must be a string of at most 1000 characters, got 'yyyy",
        ),
        ({"reason": 7}, "field 'reason' must be a string of at most 1000 characters, got 7"),
        ({"deterministic": 1}, "field 'deterministic' must be a boolean, got 1"),
        ({"deterministic": None}, "field 'deterministic' must be a boolean, got None"),
    ],
)
def test_a_malformed_failure_report_is_refused(change: dict, error: str) -> None:
    body = msgpack.unpackb(
        protocol.encode_worker_message(
            protocol.Failed.of(_failed_header(), "r", deterministic=True)
        )
    )
    raw = msgpack.packb({**body, **change})
    with pytest.raises(protocol.ProtocolError, match="^" + re.escape(error)):
        _decode(raw)
