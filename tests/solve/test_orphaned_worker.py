"""Lingering workers: an orphan leaves within the silence timeout (20 s, was 120 s), and
keep-alives while workers join keep a healthy early joiner from leaving."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import zmq

from runtime.protocol import Iterate, Welcome, encode_broadcast, encode_direct
from runtime.specs import SchedulerEndpoints, WorkerAssignment
from scheduler_host.assignments import build_assignment
from scheduler_host.solve import run_solve
from scheduler_host.solve.options import SchedulerOptions
from scheduler_host.solve_spec import SolveSpec
from scheduler_host.spawners.threads import ThreadSpawner

SPEC = SolveSpec(samples=200, features=10, density=0.3, workers=1)


def test_an_orphaned_worker_process_exits_within_the_silence_timeout() -> None:
    options = SchedulerOptions(scheduler_silence_seconds=3.0, max_rebroadcast_seconds=1.0)
    context = zmq.Context()
    front, pub = context.socket(zmq.ROUTER), context.socket(zmq.PUB)
    front_port = front.bind_to_random_port("tcp://127.0.0.1")
    pub_port = pub.bind_to_random_port("tcp://127.0.0.1")
    endpoints = SchedulerEndpoints(
        front=f"tcp://127.0.0.1:{front_port}", broadcast=f"tcp://127.0.0.1:{pub_port}"
    )
    assignment = build_assignment(
        SPEC,
        solve_id="orphan",
        worker_index=0,
        slot_epoch=0,
        rows=(0, 200),
        endpoints=endpoints,
        worker_options=options.worker_options(),
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "runtime.worker"],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stdin is not None
        worker.stdin.write(assignment.model_dump_json())
        worker.stdin.close()
        assert front.poll(30_000), "the worker never joined"
        peer, _ = front.recv_multipart()
        front.send_multipart([peer, encode_direct(Welcome(last_iteration=0), solve_id="orphan")])
        # Keep-alives (iteration 0) for longer than the silence timeout: the worker stays.
        for _ in range(5):
            pub.send_multipart(
                encode_broadcast(
                    Iterate(iteration=0, rho=1.0, rho_prev=1.0, z=np.zeros(10)), solve_id="orphan"
                )
            )
            last_heard = time.monotonic()
            time.sleep(1.0)
        assert worker.poll() is None
        front.close(linger=0)
        pub.close(linger=0)  # the scheduler is gone
        code = worker.wait(timeout=30)
        waited = time.monotonic() - last_heard
        assert code != 0
        assert 3.0 <= waited <= 6.0, waited  # before: 120 s by default, now 20 s
        assert worker.stderr is not None
        assert "no broadcast from the scheduler for 3.0 s" in worker.stderr.read()
    finally:
        if worker.poll() is None:
            worker.kill()
        context.term()


def test_the_silence_timeout_must_cover_three_rebroadcast_pauses() -> None:
    with pytest.raises(
        ValueError,
        match=r"^scheduler_silence_seconds must be >= 3 x max_rebroadcast_seconds = 15, got 10$",
    ):
        SchedulerOptions(scheduler_silence_seconds=10.0)
    assert SchedulerOptions().scheduler_silence_seconds == 20.0


class _SlowJoinerSpawner(ThreadSpawner):
    """Starts worker 1 later than the silence timeout, as a slow cold start would."""

    def spawn(self, assignments: list[WorkerAssignment]) -> None:
        early = [a for a in assignments if a.worker_index != 1]
        late = [a for a in assignments if a.worker_index == 1]
        super().spawn(early)
        if late:
            threading.Timer(3.0, super().spawn, args=(late,)).start()


def test_an_early_joiner_outlasts_a_slow_one_on_keep_alives() -> None:
    # Before the iteration-0 keep-alive, worker 0 heard nothing for 3 s and left.
    spec = SolveSpec(samples=600, features=10, density=0.3, workers=2, l1=0.5)
    options = SchedulerOptions(
        bind_host="inproc",
        secure=False,
        scheduler_silence_seconds=1.5,
        max_rebroadcast_seconds=0.5,
    )
    spawner = _SlowJoinerSpawner()
    result = run_solve(spec, spawner=spawner, options=options)
    assert result.converged and result.replacements == 0
    assert spawner.statuses == {(0, 0): "done", (1, 0): "done"}
