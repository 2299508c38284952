"""The scheduler's round at W = 64, 256, 1,024 (d = 10,000) next to its floors, same run.

A round is from the global step of iteration k to that of k+1 (the differences of
the history's ``wall_seconds``), with emulated workers whose x-update costs next
to nothing (:mod:`runtime.emulated`), so what is measured is the scheduler and
its transport.  Its median is set against two floors measured in the same run:

* **transport**: one ZMQ DEALER pair over loopback moving the same bytes, W messages
  of d float64 in, then W copies of the d-vector out (CURVE on that one connection
  for the CURVE mode);
* **compute**: the numpy sum of W d-vectors.

``SCHEDULER_ROUND_WORKERS=64,256`` (and ``SCHEDULER_ROUND_PER_MASTER=16,64``, W̄)
narrow or widen the grid for a quick comparison.  The machine is shared: its load
average is recorded before and after every solve.
"""

from __future__ import annotations

import itertools
import os
import statistics
import time

import numpy as np
import zmq

from bench.thread_cpu import CpuSampler
from scheduler_host.results import IterationRecord
from scheduler_host.solve import SchedulerOptions, run_solve
from scheduler_host.solve_spec import SolveSpec
from scheduler_host.spawners.emulated import EmulatedSpawner

WORKERS = (64, 256, 1024)
FEATURES = 10_000
#: Global steps per solve: ROUNDS - 1 round times each.
ROUNDS = 6
FLOOR_REPEATS = 5


def _grid(name: str, default: tuple[int, ...]) -> tuple[int, ...]:
    text = os.environ.get(name)
    return tuple(int(part) for part in text.split(",")) if text else default


def _load() -> float:
    return os.getloadavg()[0]


def solve_rounds(
    *,
    workers: int,
    secure: bool,
    workers_per_master: int,
    rho_rule: str = "balance",
    sealed_broadcast: bool = True,
) -> dict[str, object]:
    spec = SolveSpec(
        rho_rule=rho_rule,
        samples=10 * workers,
        features=FEATURES,
        workers=workers,
        workers_per_master=workers_per_master,
        max_iter=ROUNDS,
        eps_primal=1e-12,
        eps_dual=1e-12,
    )
    load_before = _load()
    spawner, cpu = EmulatedSpawner(), CpuSampler()

    def on_iteration(record: IterationRecord) -> None:
        cpu.helpers = spawner.pids
        cpu.sample()

    result = run_solve(
        spec,
        spawner=spawner,
        options=SchedulerOptions(secure=secure, sealed_broadcast=sealed_broadcast),
        on_iteration=on_iteration,
    )
    steps = [record.wall_seconds for record in result.history]
    rounds = [later - earlier for earlier, later in itertools.pairwise(steps)]
    return {
        "round_median_seconds": statistics.median(rounds),
        "round_seconds": rounds,
        "setup_seconds": result.setup_seconds,
        "dropped_messages": result.dropped_messages,
        "cpu_seconds_per_round": cpu.per_round(),
        "load_before": load_before,
        "load_after": _load(),
    }


def transport_floor(*, workers: int, secure: bool) -> float:
    """Median seconds to move W d-vectors in and W out over one loopback connection."""
    context = zmq.Context()
    server, client = context.socket(zmq.DEALER), context.socket(zmq.DEALER)
    try:
        for sock in (server, client):
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.SNDHWM, 0)
            sock.setsockopt(zmq.RCVHWM, 0)
        if secure:
            server_public, server_secret = zmq.curve_keypair()
            client_public, client_secret = zmq.curve_keypair()
            server.curve_server = True
            server.curve_secretkey, server.curve_publickey = server_secret, server_public
            client.curve_serverkey = server_public
            client.curve_secretkey, client.curve_publickey = client_secret, client_public
        port = server.bind_to_random_port("tcp://127.0.0.1")
        client.connect(f"tcp://127.0.0.1:{port}")
        client.send(b"hello")
        server.recv()
        payload = np.random.default_rng(0).random(FEATURES).tobytes()
        seconds = []
        for _ in range(FLOOR_REPEATS):
            started = time.perf_counter()
            for _ in range(workers):
                client.send(payload, copy=False)
            for _ in range(workers):
                server.recv(copy=False)
            for _ in range(workers):
                server.send(payload, copy=False)
            for _ in range(workers):
                client.recv(copy=False)
            seconds.append(time.perf_counter() - started)
        return statistics.median(seconds)
    finally:
        context.destroy(linger=0)


def compute_floor(*, workers: int) -> float:
    """Median seconds of the numpy sum of W d-vectors."""
    stacked = np.random.default_rng(0).random((workers, FEATURES))
    seconds = []
    for _ in range(FLOOR_REPEATS):
        started = time.perf_counter()
        stacked.sum(axis=0)
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def run() -> dict[str, object]:
    cases = []
    for workers in _grid("SCHEDULER_ROUND_WORKERS", WORKERS):
        compute = compute_floor(workers=workers)
        for secure in (True, False):
            transport = transport_floor(workers=workers, secure=secure)
            for per_master in _grid("SCHEDULER_ROUND_PER_MASTER", (16,)):
                measured = solve_rounds(
                    workers=workers, secure=secure, workers_per_master=per_master
                )
                median = measured["round_median_seconds"]
                assert isinstance(median, float)
                cases.append(
                    {
                        "workers": workers,
                        "features": FEATURES,
                        "curve": secure,
                        "workers_per_master": per_master,
                        **measured,
                        "transport_floor_seconds": transport,
                        "compute_floor_seconds": compute,
                        "round_over_transport_floor": median / transport,
                    }
                )
                print(
                    f"W={workers} curve={secure} W̄={per_master}: round {median:.3f} s, "
                    f"transport floor {transport:.3f} s, ratio {median / transport:.2f}",
                    flush=True,
                )
    return {"cases": cases, "cpus": os.cpu_count()}
