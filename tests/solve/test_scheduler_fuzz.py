"""A hostile peer fires hypothesis-generated frames at a live scheduler during real solves.

Each example is a real :func:`run_solve` (local worker processes, tight
tolerances) while a thread started by the spawner connects to the front port
with worker 0's CURVE keys (a compromised worker; plain TCP in insecure mode)
and sends two batches: one as the workers start, one when the solve reaches a
drawn iteration T (the coordinator's progress callback holds the solve until the
batch is out).  Batches mix random bytes, bad msgpack, wrong shapes, NaN/inf
vectors, multi-frame messages, replayed and duplicate updates for every worker
index, updates and losses claiming other workers, and oversized frames (over
``ZMQ_MAXMSGSIZE``, on their own socket: the transport disconnects the sender).

A compromised worker can of course lie about its *own* slot: a valid update for
the open iteration or a loss report for the final one, sent under worker w's
key before worker w's own, is rightly counted.  Frames that decode to such a
message are therefore left out (:func:`_verdict` decides with the real decoder,
knowing the reference's iteration count K and T); everything else is sent.

Every solve must converge to exactly the clean run's result (the reduction sums
in worker order, so it is bit-reproducible), count dropped messages, and log no
internal error but the known protocol bug (see tests/runtime/test_protocol_fuzz.py).
The peer is in ``tests/solve/hostile_peer.py``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, event, given, settings

from scheduler_host.results import SolveResult
from scheduler_host.solve import SchedulerOptions, run_solve
from scheduler_host.spawners.local import LocalProcessSpawner
from tests.solve.hostile_peer import SOLVE_ID, SPEC, TIMEOUTS, Attack, HostileSpawner, attacks

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> SolveResult:
    result = run_solve(
        SPEC,
        spawner=LocalProcessSpawner(log_directory=tmp_path_factory.mktemp("clean")),
        solve_id=SOLVE_ID,
        options=SchedulerOptions(**TIMEOUTS),
    )
    assert result.converged and result.dropped_messages == 0
    assert 20 < result.iterations < SPEC.max_iter  # room for T and for "never opened"
    return result


class _InternalErrors(logging.Handler):
    """Records the masters' ``log.exception`` calls (errors other than ProtocolError)."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.errors: list[BaseException | None] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.errors.append(record.exc_info[1] if record.exc_info else None)


@contextlib.contextmanager
def _internal_errors() -> Iterator[_InternalErrors]:
    handler = _InternalErrors()
    logger = logging.getLogger("lambda_admm.scheduler")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def _solve_under_attack(
    attack: Attack, clean: SolveResult, tmp_path_factory: pytest.TempPathFactory, *, secure: bool
) -> None:
    spawner = HostileSpawner(
        attack=attack,
        final=clean.iterations,
        secure=secure,
        log_directory=tmp_path_factory.mktemp("attacked"),
    )
    with _internal_errors() as internal:
        result = run_solve(
            SPEC,
            spawner=spawner,
            solve_id=SOLVE_ID,
            options=SchedulerOptions(secure=secure, **TIMEOUTS),
            on_iteration=spawner.on_iteration,
        )
    assert not spawner.errors, spawner.errors
    assert spawner.fired_during
    if spawner.sent["oversized"]:
        assert spawner.disconnects >= 1  # ZMQ_MAXMSGSIZE: the transport hung up
    for kind, count in spawner.sent.items():
        event(f"{kind} messages: {'0' if not count else '1-9' if count < 10 else '10+'}")
    event(f"dropped_messages: {'1-9' if result.dropped_messages < 10 else '10+'}")

    assert result.converged
    assert result.iterations == clean.iterations
    assert result.objective == pytest.approx(clean.objective, rel=1e-12, abs=0)
    np.testing.assert_array_equal(result.x, clean.x)
    assert [r.primal_residual for r in result.history] == [r.primal_residual for r in clean.history]
    assert len(result.worker_iterations) == SPEC.workers * clean.iterations

    # Each message that got through is dropped at most once; the two sure drops are counted.
    sent = spawner.sent
    assert 2 <= result.dropped_messages <= sent["refused"] + sent["harmless"] + sent["borderline"]
    assert not internal.errors, internal.errors


# No shrinking: each example is a live solve, and a failure is reported as drawn.
ATTACKS = settings(
    deadline=None,
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@settings(ATTACKS, max_examples=12)
@given(attack=attacks)
def test_a_compromised_worker_cannot_crash_or_bend_a_solve(
    attack: Attack, clean: SolveResult, tmp_path_factory: pytest.TempPathFactory
) -> None:
    _solve_under_attack(attack, clean, tmp_path_factory, secure=True)


@settings(ATTACKS, max_examples=2)
@given(attack=attacks)
def test_junk_on_an_insecure_scheduler_cannot_crash_or_bend_a_solve(
    attack: Attack, clean: SolveResult, tmp_path_factory: pytest.TempPathFactory
) -> None:
    _solve_under_attack(attack, clean, tmp_path_factory, secure=False)
