"""Whole solves in one process: the real coordinator, masters and worker loop, over inproc://.

No OS process is started, so these run in a second or two; one test pins the
in-process solve to the process-based one bit for bit.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import dump_svmlight_file

from runtime.specs import FaultPlan, FaultRule
from scheduler_host.cli.datasets import prepare_dataset
from scheduler_host.solve import SchedulerOptions, SolveFailed, run_solve
from scheduler_host.solve.transport import SolveTransport
from scheduler_host.solve_spec import SolveSpec
from scheduler_host.spawners.local import LocalProcessSpawner
from scheduler_host.spawners.threads import ThreadSpawner

SPEC = SolveSpec(
    samples=3000,
    features=40,
    density=0.1,
    workers=3,
    l1=1.0,
    eps_primal=1e-4,
    eps_dual=1e-4,
    eps_grad=1e-8,
    max_iter=300,
)
IN_PROCESS = SchedulerOptions(
    bind_host="inproc", secure=False, scheduler_silence_seconds=5.0, max_rebroadcast_seconds=1.0
)


def _in_process(spec: SolveSpec = SPEC, spawner: ThreadSpawner | None = None, **options):
    spawner = spawner or ThreadSpawner()
    result = run_solve(
        spec,
        spawner=spawner,
        options=SchedulerOptions(
            **{**IN_PROCESS.__dict__, **options},
        ),
    )
    return result, spawner


def test_in_process_solve_equals_the_process_solve_bit_for_bit(tmp_path: Path) -> None:
    in_process, spawner = _in_process()
    processes = run_solve(SPEC, spawner=LocalProcessSpawner(log_directory=tmp_path))
    assert in_process.converged and processes.converged
    np.testing.assert_array_equal(in_process.x, processes.x)
    assert in_process.objective == processes.objective
    assert in_process.iterations == processes.iterations
    assert set(spawner.statuses.values()) == {"done"}


def test_a_retirement_hand_off_loses_nothing() -> None:
    reference, _ = _in_process()
    plan = FaultPlan(rules=(FaultRule(kind="retire", worker=1, iteration=3),))
    result, spawner = _in_process(faults=plan)
    assert result.replacements == 1
    assert spawner.statuses == {(0, 0): "done", (1, 0): "retired", (1, 1): "done", (2, 0): "done"}
    # the successor restarts the Anderson acceleration (tests/solve/test_fault_tolerance.py has
    # the exact hand-off, without it)
    assert result.iterations <= reference.iterations + 3
    assert abs(result.objective - reference.objective) <= 1e-9 * abs(reference.objective)


def test_a_second_delivery_of_a_spawn_request_is_refused() -> None:
    spawner = ThreadSpawner()
    original = spawner.spawn
    spawner.spawn = lambda assignments: (original(assignments), original(assignments))  # type: ignore[method-assign]
    result, _ = _in_process(spawner=spawner)
    reference, _ = _in_process()
    np.testing.assert_array_equal(result.x, reference.x)
    assert result.replacements == 0


def _corrupt_shards(tmp_path: Path) -> SolveSpec:
    rng = np.random.default_rng(1)
    features = rng.normal(size=(40, 5))
    dump_svmlight_file(features, np.where(features[:, 0] > 0, 1, -1), str(tmp_path / "d.svm"))
    manifest = prepare_dataset(tmp_path / "d.svm", str(tmp_path / "shards"), num_workers=2).manifest
    shard = tmp_path / "shards" / manifest.shards[0].file_name
    shard.write_bytes(shard.read_bytes()[:-7] + b"garbage")
    return SolveSpec(
        problem="shards", shards=str(tmp_path / "shards"), samples=40, features=5, workers=2
    )


def test_a_corrupt_shard_fails_the_solve_at_once_with_the_workers_reason(tmp_path: Path) -> None:
    # Before the worker reported failures, this cost the 300 s join timeout per replacement.
    spec = _corrupt_shards(tmp_path)
    expected = r"^worker 0 failed: ValueError: shard shard-00000.npz failed its sha256 check: .*$"
    started = time.monotonic()
    with pytest.raises(SolveFailed, match=expected):
        _in_process(spec, max_respawns=1)
    assert time.monotonic() - started < 20.0  # ~1 s alone; the bound allows a loaded machine


def test_a_worker_that_raises_transiently_is_replaced() -> None:
    reference, _ = _in_process()
    plan = FaultPlan(rules=(FaultRule(kind="raise", worker=1, iteration=2),))
    result, spawner = _in_process(faults=plan)
    assert result.replacements == 1
    assert (1, 1) in spawner.statuses and (1, 0) not in spawner.statuses
    # the replacement restarts the Anderson acceleration: the path differs within tolerance
    assert result.iterations <= reference.iterations + 3
    assert abs(result.objective - reference.objective) <= 1e-9 * abs(reference.objective)


def test_a_missing_dataset_is_refused_before_anything_starts(tmp_path: Path) -> None:
    missing = SolveSpec(
        problem="shards", shards=str(tmp_path), samples=10, features=3, workers=2, max_iter=5
    )
    spawner = ThreadSpawner()
    with pytest.raises(SolveFailed, match=r"^shards: no manifest.json in "):
        _in_process(missing, spawner=spawner)
    assert spawner.statuses == {}


def test_kill_faults_are_refused_in_process() -> None:
    plan = FaultPlan(rules=(FaultRule(kind="kill", worker=0, iteration=2),))
    with pytest.raises(ValueError, match=r"^faults: 'kill' would kill this process"):
        _in_process(faults=plan)


def test_curve_is_refused_on_an_in_process_transport() -> None:
    with pytest.raises(ValueError, match=r"^secure: CURVE does not apply to in-process"):
        SolveTransport(
            solve_id="x",
            num_workers=1,
            workers_per_master=1,
            num_features=1,
            max_iteration=1,
            bind_host="inproc",
            advertise_host="inproc",
            secure=True,
        )
