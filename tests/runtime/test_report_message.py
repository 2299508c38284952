"""The ``report`` broadcast of a path: on the wire, and which broadcast a worker acts on."""

from __future__ import annotations

import numpy as np

from runtime.connection import newer_broadcast
from runtime.protocol import Iterate, Report, Terminate, decode_broadcast, encode_broadcast

Z = np.array([0.5, -1.0, 2.0])


def test_a_report_round_trips() -> None:
    frames = encode_broadcast(Report(iteration=7, z=Z), solve_id="s1")
    decoded = decode_broadcast(frames, solve_id="s1", num_features=3)
    assert isinstance(decoded, Report) and decoded.iteration == 7
    np.testing.assert_array_equal(decoded.z, Z)


def test_a_report_follows_its_iteration_and_yields_to_the_next() -> None:
    iterate = Iterate(iteration=7, rho=1.0, rho_prev=1.0, z=Z)
    report = Report(iteration=7, z=Z)
    following = Iterate(iteration=8, rho=1.0, rho_prev=1.0, z=Z)
    terminate = Terminate(iteration=7, z=Z, reason="done")
    assert newer_broadcast(iterate, report) is report
    assert newer_broadcast(report, iterate) is report
    assert newer_broadcast(report, following) is following
    assert newer_broadcast(following, report) is following
    assert newer_broadcast(report, terminate) is terminate
    assert newer_broadcast(terminate, report) is terminate
